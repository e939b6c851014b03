/**
 * Write epochs per (keyspace version, Kafka partition). The first write of a
 * partition in each group generation takes a new epoch (lua/partition-epoch-1.lua);
 * every materialize call carries it, and the script refuses a call whose
 * partition fence holds a newer one. So at any time only the newest taker
 * writes a partition's entities, and it knows their versions and applied
 * offsets without reading them before each write.
 *
 * On a single node the epoch key is the fence: taking the epoch fences every
 * older holder at once. On a Cluster each slot has its own fence key (a call
 * touches one slot), moved to the caller's epoch by the slot's first call: an
 * older holder may still write a slot the new one has not written yet, but
 * only entities the new one loads from Redis (its cache of the partition is
 * dropped when someone else took an epoch in between), and the old holder's
 * commits are refused by Kafka (older generation), so the new owner replays
 * those events over whatever it loaded.
 *
 * The epoch alone (`coPartitioned`) is exact only with co-partitioned sources
 * (README, assigner.ts): all of an entity's events come from one partition
 * number. Otherwise each write also compares the entity's `_version`.
 */
import { FeaturestreamError } from '../errors.ts';
import type { Keys } from '../stores/keys.ts';
import { classifyRedisError, isCluster, type RedisClient } from '../stores/redis.ts';
import { scriptCall } from '../stores/scripts.ts';
import { keySlot } from '../stores/slot.ts';

/** Who may take an epoch, and when a taken one stops counting. */
export interface Ownership {
  /** Moves whenever the group membership changes (GroupMember.generationNumber). */
  generation(): number;
  /** Whether this member owns the partition in the current generation. */
  owns(partition: number): boolean;
  /**
   * Takes no epoch over one of a writer that does not yield (a backfill yields to the live workers),
   * and is not fenced by theirs: it writes beside them (lua/materialize-n.lua).
   */
  yields?: boolean;
}

/** A writer outside any consumer group (tests, tools): one epoch per partition for its lifetime. */
export const SOLE_OWNER: Ownership = { generation: () => 0, owns: () => true };

/** Epoch and fence keys outlive any pause of a partition's writer by far. */
const EPOCH_TTL_MS = 7 * 24 * 3_600_000;

interface Held {
  generation: number;
  epoch: Promise<number>;
}

export class PartitionEpochs {
  private readonly held = new Map<string, Held>();
  /** Last epoch this process took per version:partition, in whatever generation. */
  private readonly last = new Map<string, number>();

  constructor(
    private readonly redis: RedisClient,
    private readonly keys: Keys,
    private readonly ownership: Ownership,
  ) {}

  /**
   * The epoch to write partition `partition` of `version` with; the first call of a generation
   * takes a new one, calling `foreign` first when another writer took one since this process's
   * last (its cached states of the partition may be stale).
   */
  hold(version: number, partition: number, foreign: () => void): Promise<number> {
    const id = `${version}:${partition}`;
    const generation = this.ownership.generation();
    const held = this.held.get(id);
    if (held && held.generation === generation) return held.epoch;
    if (!this.ownership.owns(partition)) {
      return Promise.reject(new FeaturestreamError('FENCED', `partition ${partition} is not assigned to this member (rebalance)`, true, { details: { partition } }));
    }
    const epoch = this.take(version, partition).then(([previous, epoch]) => {
      if (previous !== this.last.get(id)) foreign();
      this.last.set(id, epoch);
      return epoch;
    });
    this.held.set(id, { generation, epoch });
    // A failed take is taken again by the next call.
    epoch.catch(() => {
      if (this.held.get(id)?.epoch === epoch) this.held.delete(id);
    });
    return epoch;
  }

  /** The fence key of the partition in the slot of `key`. */
  fenceKey(version: number, partition: number, key: string): string {
    return isCluster(this.redis) ? this.keys.partitionFence(partition, keySlot(key), version) : this.keys.partitionEpoch(partition, version);
  }

  readonly ttlMs = EPOCH_TTL_MS;

  private async take(version: number, partition: number): Promise<[previous: number, epoch: number]> {
    const call = scriptCall(this.redis, 'partitionEpoch');
    if (!call) throw new Error('Lua script partitionEpoch is not loaded: call loadScripts(client) first');
    let reply: unknown;
    try {
      reply = await call(this.keys.partitionEpoch(partition, version), EPOCH_TTL_MS, this.ownership.yields ? '1' : '0');
    } catch (err) {
      throw classifyRedisError(err instanceof Error ? err : new Error(String(err)));
    }
    const [previous, epoch] = (reply as Buffer[]).map((b) => Number(b.toString()));
    if (!Number.isSafeInteger(previous) || !Number.isSafeInteger(epoch)) throw new Error(`partition epoch script: unexpected reply ${String(reply)}`);
    return [previous!, epoch!];
  }
}
