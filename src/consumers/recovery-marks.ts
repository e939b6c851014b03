/**
 * Recovery marks: per consumer group, topic-partition and Redis master, the
 * last offset whose writes that master acknowledged, written after a batch's
 * writes and before its commit. A master's data is a prefix of the commands
 * it acknowledged (AOF, snapshot, replica stream), so a mark m that survived a
 * restart, failover or snapshot restore proves every write of the partition
 * up to m survived on that master; a missing mark means it lost everything.
 *
 * On a Cluster each master gets its own mark key: a short hash tag is chosen
 * per master so the key lands in a slot that master serves. Single node: one key.
 */
import type { Cluster } from 'ioredis';
import { ServiceUnavailableError } from '../errors.ts';
import { keySlot } from '../stores/slot.ts';
import type { Keys } from '../stores/keys.ts';
import { isCluster, type RedisClient } from '../stores/redis.ts';

/** One master's mark: undefined = the key is missing. */
export interface NodeMark {
  tag: string | undefined;
  mark: number | undefined;
}

type SlotRange = [start: number, end: number];

/** Re-read the slot map this often: tags follow resharding, and a failover keeps slots with the promoted replica. */
const TOPOLOGY_TTL_MS = 10_000;

/** Pure: a short tag per master whose slot that master owns (brute force over `n0`, `n1`, ...). */
export function tagsForMasters(masters: Map<string, SlotRange[]>): string[] {
  const tags: string[] = [];
  for (const ranges of masters.values()) {
    for (let i = 0; ; i++) {
      const tag = `n${i}`;
      const slot = keySlot(`{${tag}}`);
      if (ranges.some(([start, end]) => slot >= start && slot <= end)) {
        tags.push(tag);
        break;
      }
    }
  }
  return tags;
}

export class RecoveryMarks {
  private tags: Array<string | undefined> | undefined;
  private readAt = Number.NEGATIVE_INFINITY;

  constructor(
    private readonly redis: RedisClient,
    private readonly keys: Keys,
    private readonly groupId: string,
  ) {}

  /** The mark of `topic`/`partition` on every master, in one parallel round trip. */
  async read(topic: string, partition: number): Promise<NodeMark[]> {
    const tags = await this.nodeTags();
    return redisCall(() =>
      Promise.all(
        tags.map(async (tag) => {
          const raw = await this.redis.get(this.keys.recoveryMark(this.groupId, topic, partition, tag));
          return { tag, mark: parseMark(raw) };
        }),
      ),
    );
  }

  /** Sets the mark on every master; returns each master's previous mark (SET ... GET). */
  async advance(topic: string, partition: number, offset: number): Promise<NodeMark[]> {
    const tags = await this.nodeTags();
    return redisCall(() =>
      Promise.all(
        tags.map(async (tag) => {
          const raw = await this.redis.set(this.keys.recoveryMark(this.groupId, topic, partition, tag), String(offset), 'GET');
          return { tag, mark: parseMark(raw) };
        }),
      ),
    );
  }

  /** Puts one master's mark back (a rollback seen after the write) or removes it (a loss seen after the write). */
  async reset(topic: string, partition: number, node: NodeMark): Promise<void> {
    const key = this.keys.recoveryMark(this.groupId, topic, partition, node.tag);
    await redisCall(async () => void (node.mark === undefined ? await this.redis.del(key) : await this.redis.set(key, String(node.mark))));
  }

  /** Sets the mark on every master where it is missing (NX): a partition's first batch. */
  async init(topic: string, partition: number, offset: number): Promise<void> {
    const tags = await this.nodeTags();
    await redisCall(() => Promise.all(tags.map((tag) => this.redis.set(this.keys.recoveryMark(this.groupId, topic, partition, tag), String(offset), 'NX'))));
  }

  /** Sets the mark on every master (after a recovery: the partition replays from offset + 1). */
  async set(topic: string, partition: number, offset: number): Promise<void> {
    const tags = await this.nodeTags();
    await redisCall(() => Promise.all(tags.map((tag) => this.redis.set(this.keys.recoveryMark(this.groupId, topic, partition, tag), String(offset)))));
  }

  private async nodeTags(): Promise<Array<string | undefined>> {
    if (!isCluster(this.redis)) return [undefined];
    if (this.tags && performance.now() - this.readAt < TOPOLOGY_TTL_MS) return this.tags;
    // CLUSTER SLOTS rows: start, end, then the master's [host, port, id] and its replicas'.
    const reply = await redisCall(() => (this.redis as Cluster).cluster('SLOTS'));
    const masters = new Map<string, SlotRange[]>();
    for (const [start, end, master] of reply) {
      if (!master) continue;
      const [host, port] = master;
      const id = `${host}:${port}`;
      masters.set(id, [...(masters.get(id) ?? []), [start, end]]);
    }
    this.tags = tagsForMasters(masters);
    this.readAt = performance.now();
    return this.tags;
  }
}

function parseMark(raw: string | null): number | undefined {
  if (raw === null) return undefined;
  const n = Number(raw);
  return Number.isSafeInteger(n) ? n : undefined;
}

async function redisCall<T>(call: () => Promise<T>): Promise<T> {
  try {
    return await call();
  } catch (err) {
    throw new ServiceUnavailableError('redis', `recovery marks: ${(err as Error).message}`, { cause: err });
  }
}
