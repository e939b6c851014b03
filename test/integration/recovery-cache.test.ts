/**
 * A batch retried across a Redis restart that cut back its last writes (AOF
 * with appendfsync everysec): the worker's state cache still holds what the
 * first attempt wrote, Redis holds the state from before it. The retry must
 * apply the batch again instead of trusting the cache's fence, which would
 * write nothing (so no version CAS could refuse it) and lose the batch.
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
import { storedValue } from '../helpers/vector-hash.ts';

describe('state cache after Redis rolled back', () => {
  it('re-applies a batch the cache says is applied but Redis lost', async () => {
    const prefix = `${randomName('fs-rollback-cache')}:`;
    const redis = await testRedisClient(prefix);
    loadScripts(redis);
    const registry = parseRegistry(registryInput({ tx: 'cache-tx', logins: 'cache-logins' }));
    const keys = new Keys({ prefix, hashTags: onCluster() });
    const materializer = new Materializer({
      redis,
      keys,
      registry,
      engine: new WindowEngine(registry),
      keyspaceVersion: 1,
      logger: createLogger({ level: 'silent' }),
      stateCacheSize: 100,
    });
    const now = Date.now();
    const ref = { entityType: 'user', entityId: 'u1' };
    const work = (from: number, to: number): EntityWork => ({
      ref,
      partition: 0,
      topic: 'cache-tx',
      events: Array.from({ length: to - from + 1 }, (_, k) => {
        const offset = from + k;
        const fields = { user_id: 'u1', amount: 10, merchant_id: 'm1', ts: now - 1_000 };
        return { offset, message: { offset: String(offset) } as never, event: { source: 'tx', entityId: 'u1', eventTimeMs: now - 1_000, fields } };
      }),
    });
    const noDead = { deadLetter: async () => undefined };
    const stored = [keys.state(ref, 1), keys.vector(ref, 'features', 1)];
    const count = async () => Number(await storedValue(redis, registry, keys.vector(ref, 'features', 1), 'tx_count_24h'));

    await materializer.run([work(0, 4)], now, noDead);
    // DUMP/RESTORE: the keys exactly as they were, whatever their type (a hash, a packed string).
    const before = await Promise.all(stored.map((key) => redis.dumpBuffer(key)));
    await materializer.run([work(5, 9)], now, noDead);
    expect(await count()).toBe(10);
    // The restart from the cut-back AOF: Redis holds the keys from before the second batch.
    for (const [i, key] of stored.entries()) await redis.restore(key, 0, before[i]!, 'REPLACE');
    expect(await count()).toBe(5);
    await materializer.run([work(5, 9)], now, noDead); // the batch retried after the restart
    expect(await count()).toBe(10);
  });
});
