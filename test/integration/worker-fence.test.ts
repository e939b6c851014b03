/**
 * The fenced write on its own, against a real Redis: overlapping redelivery,
 * a zombie with an old batch, and two writers racing on one entity all end
 * with every event counted exactly once and versions only moving forward.
 */
import { describe, expect, it } from 'vitest';
import { WindowEngine } from '../../src/aggregations/engine.ts';
import { Materializer, type EntityWork } from '../../src/consumers/materializer.ts';
import { createLogger } from '../../src/logger.ts';
import { parseRegistry } from '../../src/schemas/registry.ts';
import { Keys } from '../../src/stores/keys.ts';
import { loadScripts } from '../../src/stores/scripts.ts';
import { randomName } from '../helpers/names.ts';
import { onCluster, testRedisClient } from '../helpers/services.ts';
import { registryInput } from '../helpers/worker-fixtures.ts';
import { readGroup, storedValue } from '../helpers/vector-hash.ts';

describe.each([
  ['without a state cache', 0],
  ['with (stale) state caches', 100],
])('fenced entity writes %s', (_, stateCacheSize) => {
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
      });
    const [a, b] = [make(), make()];
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

    await a.run([work(0, 4)], now, noDead);
    expect(await count()).toBe(5);
    await b.run([work(0, 6)], now, noDead); // redelivery overlapping new events
    expect(await count()).toBe(7);
    const v = await version();
    await a.run([work(0, 2)], now, noDead); // a zombie replaying an old batch
    expect(await count()).toBe(7);
    expect(await version()).toBe(v);

    // Racing writers (an old and a new owner), each resuming from the same committed
    // offset as consumers do: CAS conflicts are reloaded and reapplied.
    await Promise.all([a.run([work(7, 20)], now, noDead), b.run([work(7, 30)], now, noDead), a.run([work(7, 40)], now, noDead)]);
    expect(await count()).toBe(41);
    expect(await version()).toBeGreaterThan(v);
  });
});
