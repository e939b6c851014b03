/**
 * Write-behind without services (materializer.ts `writeBehind`, checkpoint-write.ts,
 * checkpoints.ts): what the script calls carry per batch and per checkpoint, that
 * no applied event is lost when a vector write fails, and that offsets commit
 * only after a checkpoint.
 */
import { describe, expect, it } from 'vitest';
import { WindowEngine } from '../../../src/aggregations/engine.ts';
import { Checkpoints } from '../../../src/consumers/checkpoints.ts';
import { Materializer, type EntityWork } from '../../../src/consumers/materializer.ts';
import { PartitionLock } from '../../../src/consumers/partition-lock.ts';
import { createLogger } from '../../../src/logger.ts';
import { parseRegistry } from '../../../src/schemas/registry.ts';
import { Keys } from '../../../src/stores/keys.ts';
import { registryInput } from '../../helpers/worker-fixtures.ts';
import { fakeRedis, type FakeCommand } from './fake-redis.ts';
import { unpack, type Unpacked } from './unpack.ts';

const registry = parseRegistry(registryInput({ tx: 'wb-tx', logins: 'wb-logins' }));
const keys = new Keys({ prefix: 'wb:' });
const SCRIPT = 'fs_materialize_v7';
const logger = createLogger({ level: 'silent' });
const now = Date.now();
const hooks = { deadLetter: async () => undefined };

function work(from: number, events: number): EntityWork {
  return {
    ref: { entityType: 'user', entityId: 'u1' },
    partition: 0,
    topic: 'wb-tx',
    events: Array.from({ length: events }, (_, i) => {
      const offset = from + i;
      const fields = { user_id: 'u1', amount: 1, merchant_id: 'm', ts: now - 1_000 };
      return { offset, message: { offset: String(offset) } as never, event: { source: 'tx', entityId: 'u1', eventTimeMs: now - 1_000, fields } };
    }),
  };
}

function setup(fail: (call: number) => boolean = () => false, ownership?: { generation: () => number; owns: (p: number) => boolean }) {
  let version = 10;
  let calls = 0;
  const { client, sent } = fakeRedis((c: FakeCommand) => {
    if (c.name === 'hgetallBuffer') return [null, {}];
    if (c.name === SCRIPT) return fail(calls++) ? [new Error('Connection is closed.'), null] : [null, [1, 1, ++version]];
    return [null, 1];
  });
  const materializer = new Materializer({ redis: client, keys, registry, engine: new WindowEngine(registry), keyspaceVersion: 1, logger, coPartitioned: true, writeBehind: true, ...(ownership ? { ownership } : {}) });
  // Entity blocks of every script call: [vectors, known version, state TTL, refresh state TTL, state, offsets, CAS, groups, keep version].
  const blocks = () => sent.flat().filter((c) => c.name === SCRIPT).map((c) => (unpack(c.args.at(-1) as Buffer) as Unpacked[])[3] as Unpacked[]);
  return { materializer, blocks };
}

describe('write-behind materializer', () => {
  it('writes vectors only per batch; the checkpoint writes the state with its applied offsets and no vector', async () => {
    const { materializer, blocks } = setup();
    await materializer.run([work(0, 2)], now, hooks);
    await materializer.run([work(2, 1)], now + 10, hooks);
    const [first, second] = blocks();
    expect([first![0], first![4], first![5]]).toEqual(['1', '', []]);
    expect([second![1], second![4]]).toEqual(['11', '']);
    expect(materializer.dirtyCount()).toBe(1);

    const written = await materializer.checkpoint(0, now + 20);
    expect([...written]).toEqual([[1, [{ entityType: 'user', entityId: 'u1' }]]]);
    const state = blocks()[2]!;
    // No vector, the version the vectors carry kept, every applied offset.
    expect([state[0], state[1], state[5], state[8]]).toEqual(['0', '12', ['o:wb-tx:0', '2'], '1']);
    expect(first![8]).toBe('0');
    expect((state[4] as string).length).toBeGreaterThan(0);
    expect(materializer.dirtyCount()).toBe(0);
  });

  it('keeps the events of a failed vector write in memory and writes them on the retry', async () => {
    const { materializer, blocks } = setup((call) => call === 1);
    await materializer.run([work(0, 2)], now, hooks);
    await expect(materializer.run([work(2, 3)], now, hooks)).rejects.toMatchObject({ retriable: true });
    // The retry of the batch: every event already applied in memory, the vectors still to write.
    await materializer.run([work(2, 3)], now, hooks);
    expect(blocks()).toHaveLength(3);
    expect(blocks()[2]![1]).toBe('11');
    await materializer.checkpoint(0, now);
    const state = blocks()[3]!;
    expect(state[5]).toEqual(['o:wb-tx:0', '4']);
    const engine = new WindowEngine(registry);
    const counted = engine.evaluate(engine.deserialize(Buffer.from(state[4] as string, 'latin1')), now);
    expect(Object.values(counted.groups).find((g) => 'tx_count_24h' in g)?.tx_count_24h).toBe(5);
  });

  it('refuses to run without co-partitioned sources', () => {
    const { client } = fakeRedis(() => [null, 1]);
    expect(() => new Materializer({ redis: client, keys, registry, engine: new WindowEngine(registry), keyspaceVersion: 1, logger, writeBehind: true })).toThrow(/co-partitioned/);
  });
});

describe('Checkpoints', () => {
  it('commits a partition only after its checkpoint, and after every event threshold', async () => {
    const { materializer } = setup();
    const commits: string[] = [];
    const enqueued: number[] = [];
    const checkpoints = new Checkpoints({
      materializer,
      lock: new PartitionLock(),
      sync: { enqueue: async (_, refs) => void enqueued.push(refs.length) },
      commit: (topic, partition, lastOffset) => commits.push(`${topic}:${partition}@${lastOffset}`),
      clock: () => now,
      logger,
      intervalMs: 60_000,
      maxEvents: 10,
    });
    await materializer.run([work(0, 4)], now, hooks);
    await checkpoints.afterBatch('wb-tx', 0, '3', () => false, 4);
    expect(commits).toEqual([]);
    await materializer.run([work(4, 6)], now, hooks);
    await checkpoints.afterBatch('wb-tx', 0, '9', () => false, 6);
    expect(commits).toEqual(['wb-tx:0@9']);
    expect(enqueued).toEqual([1]);
    expect(materializer.dirtyCount()).toBe(0);
    await materializer.run([work(10, 1)], now, hooks);
    await checkpoints.afterBatch('wb-tx', 0, '10', () => false, 1);
    await checkpoints.stop();
    expect(commits).toEqual(['wb-tx:0@9', 'wb-tx:0@10']);
  });

  it('drops the batches and dirty states of a partition this member lost', async () => {
    const owner = { generation: 0, owns: true };
    const { materializer } = setup(undefined, { generation: () => owner.generation, owns: () => owner.owns });
    const commits: string[] = [];
    const checkpoints = new Checkpoints({ materializer, lock: new PartitionLock(), commit: (t, p, o) => commits.push(`${t}:${p}@${o}`), clock: () => now, logger, intervalMs: 60_000, maxEvents: 1_000 });
    await materializer.run([work(0, 1)], now, hooks);
    await checkpoints.afterBatch('wb-tx', 0, '0', () => false, 1);
    Object.assign(owner, { generation: 1, owns: false });
    await checkpoints.flushAll();
    expect([commits, materializer.dirtyCount()]).toEqual([[], 0]);
  });

  it('commits nothing after a recovery cleared memory', async () => {
    const { materializer } = setup();
    const commits: string[] = [];
    const checkpoints = new Checkpoints({ materializer, lock: new PartitionLock(), commit: (t, p, o) => commits.push(`${t}:${p}@${o}`), clock: () => now, logger, intervalMs: 60_000, maxEvents: 1_000 });
    await materializer.run([work(0, 1)], now, hooks);
    await checkpoints.afterBatch('wb-tx', 0, '0', () => false, 1);
    materializer.clearCache();
    checkpoints.forget();
    await checkpoints.stop();
    expect(commits).toEqual([]);
  });
});
