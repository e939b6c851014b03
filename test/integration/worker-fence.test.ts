/**
 * The fenced write on its own, against a real Redis: overlapping redelivery,
 * a zombie with an old batch, and two owners racing on one partition all end
 * with every event counted exactly once and versions only moving forward; a
 * writer whose partition epoch was superseded is refused (retriable FENCED).
 */
import { describe, expect, it } from 'vitest';
import { WindowEngine } from '../../src/aggregations/engine.ts';
import { Materializer, type EntityWork } from '../../src/consumers/materializer.ts';
import { PartitionEpochs, SOLE_OWNER } from '../../src/consumers/partition-epoch.ts';
import { createLogger } from '../../src/logger.ts';
import { parseRegistry } from '../../src/schemas/registry.ts';
import { Keys } from '../../src/stores/keys.ts';
import { offsetField } from '../../src/stores/entity-state.ts';
import { loadScripts } from '../../src/stores/scripts.ts';
import { randomName } from '../helpers/names.ts';
import { onCluster, testRedisClient } from '../helpers/services.ts';
import { registryInput } from '../helpers/worker-fixtures.ts';
import { readGroup, storedValue } from '../helpers/vector-hash.ts';

describe.each([
  ['without a state cache', 0, false],
  ['with (stale) state caches', 100, false],
  ['with state caches, co-partitioned (no per-entity CAS)', 100, true],
])('fenced entity writes %s', (_, stateCacheSize, coPartitioned) => {
  it('counts each offset once across redelivery, zombies and racing writers', async () => {
    const prefix = `${randomName('fs-fence')}:`;
    const redis = await testRedisClient(prefix);
    loadScripts(redis);
    const registry = parseRegistry(registryInput({ tx: 'fence-tx', logins: 'fence-logins' }));
    const keys = new Keys({ prefix, hashTags: onCluster() });
    const make = () =>
      new Materializer({
        redis,
        keys,
        registry,
        engine: new WindowEngine(registry),
        keyspaceVersion: 1,
        logger: createLogger({ level: 'silent' }),
        stateCacheSize,
        coPartitioned,
      });
    const [a, b, c] = [make(), make(), make()];
    const now = Date.now();
    const ref = { entityType: 'user', entityId: 'u1' };
    const work = (from: number, to: number): EntityWork => ({
      ref,
      partition: 0,
      topic: 'fence-tx',
      events: Array.from({ length: to - from + 1 }, (_, k) => {
        const offset = from + k;
        // No event ids: only the offset fence can tell a redelivery from a new event.
        const fields = { user_id: 'u1', amount: 10, merchant_id: 'm1', ts: now - 1_000 };
        return { offset, message: { offset: String(offset) } as never, event: { source: 'tx', entityId: 'u1', eventTimeMs: now - 1_000, fields } };
      }),
    });
    const noDead = { deadLetter: async () => undefined };
    const vector = keys.vector(ref, 'features');
    const count = async () => Number(await storedValue(redis, registry, vector, 'tx_count_24h'));
    const version = async () => (await readGroup(redis, registry, vector))!.version!;
    const fence = async () => Number(await redis.hget(keys.state(ref), offsetField('fence-tx', 0)));
    const fenced = { code: 'FENCED', retriable: true };

    await a.run([work(0, 4)], now, noDead);
    expect(await count()).toBe(5);
    await b.run([work(0, 6)], now, noDead); // a new owner: redelivery overlapping new events
    expect(await count()).toBe(7);
    const v = await version();
    // The old owner, a zombie now: a replay of old offsets writes nothing, new ones are refused whatever its cache holds.
    await a.run([work(0, 2)], now, noDead);
    await expect(a.run([work(5, 12)], now, noDead)).rejects.toMatchObject(fenced);
    expect(await count()).toBe(7);
    expect(await version()).toBe(v);

    // An owner and the next one racing, each resuming from the same committed offset: whichever
    // writes lands, every offset up to the entity's fence is counted once, and the older writer
    // is refused once the newer one took its epoch.
    const raced = await Promise.allSettled([b.run([work(7, 20)], now, noDead), c.run([work(7, 30)], now, noDead), b.run([work(7, 40)], now, noDead)]);
    for (const r of raced) if (r.status === 'rejected') expect(r.reason).toMatchObject(fenced);
    expect(raced[1]!.status).toBe('fulfilled');
    expect(await count()).toBe((await fence()) + 1);
    // The newest owner goes on from its fence; once it wrote (on a Cluster: the entity's slot), the zombies stay refused.
    await c.run([work(7, 42)], now, noDead);
    await expect(b.run([work(41, 45)], now, noDead)).rejects.toMatchObject(fenced);
    expect(await count()).toBe(43);
    expect(await version()).toBeGreaterThan(v);
  });
});

describe('partition epochs', () => {
  it('never let a yielding writer (a backfill) take a partition over from a live one', async () => {
    const prefix = `${randomName('fs-epoch')}:`;
    const redis = await testRedisClient(prefix);
    loadScripts(redis);
    const keys = new Keys({ prefix, hashTags: onCluster() });
    const live = () => new PartitionEpochs(redis, keys, SOLE_OWNER);
    const backfill = () => new PartitionEpochs(redis, keys, { ...SOLE_OWNER, yields: true });
    const dropped: string[] = [];
    const first = await backfill().hold(2, 0, () => dropped.push('backfill'));
    const taken = await live().hold(2, 0, () => dropped.push('live'));
    expect(taken).toBeGreaterThan(first);
    // A backfill arriving after it gets the epoch just below the live one and leaves the key alone: it fences nobody.
    const beside = await backfill().hold(2, 0, () => dropped.push('beside'));
    expect([beside, beside % 2]).toEqual([taken - 1, 1]);
    expect(await redis.get(keys.partitionEpoch(0, 2))).toBe(String(taken));
    // Another partition, or a live writer after a live one, takes its epoch as before.
    expect(await backfill().hold(2, 1, () => undefined)).toBeGreaterThan(0);
    expect(await live().hold(2, 0, () => undefined)).toBeGreaterThan(taken);
    expect(dropped).toEqual(['backfill', 'live', 'beside']);
  });
});
