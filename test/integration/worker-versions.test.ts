/**
 * CAS versions never go backwards, even after Redis lost an entity's keys: a
 * new version is at least the write time in microseconds, stored as a plain
 * integer string (never Lua's `1.7e+15`), equal in the state and every vector.
 */
import { describe, expect, it } from 'vitest';
import { WindowEngine } from '../../src/aggregations/engine.ts';
import { Materializer, type EntityWork } from '../../src/consumers/materializer.ts';
import { createLogger } from '../../src/logger.ts';
import { parseRegistry } from '../../src/schemas/registry.ts';
import { Keys } from '../../src/stores/keys.ts';
import { loadScripts } from '../../src/stores/scripts.ts';
import { VERSION_FIELD } from '../../src/stores/entity-state.ts';
import { randomName } from '../helpers/names.ts';
import { onCluster, testRedisClient } from '../helpers/services.ts';
import { registryInput } from '../helpers/worker-fixtures.ts';
import { readGroup } from '../helpers/vector-hash.ts';

describe('CAS versions', () => {
  it('are exact integers derived from time and keep rising after the keys are lost', async () => {
    const prefix = `${randomName('fs-ver')}:`;
    const redis = await testRedisClient(prefix);
    loadScripts(redis);
    const registry = parseRegistry(registryInput({ tx: 'ver-tx', logins: 'ver-logins' }));
    const keys = new Keys({ prefix, hashTags: onCluster() });
    const materializer = new Materializer({
      redis,
      keys,
      registry,
      engine: new WindowEngine(registry),
      keyspaceVersion: 1,
      logger: createLogger({ level: 'silent' }),
    });
    const ref = { entityType: 'user', entityId: 'u1' };
    const now = Date.now();
    const work = (offset: number): EntityWork => ({
      ref,
      partition: 0,
      topic: 'ver-tx',
      events: [
        {
          offset,
          message: { offset: String(offset) } as never,
          event: { source: 'tx', entityId: 'u1', eventTimeMs: now - 1_000, fields: { user_id: 'u1', amount: 1, merchant_id: 'm', ts: now - 1_000 } },
        },
      ],
    });
    const state = keys.state(ref);
    const vectors = registry.groupsOf('user').map((g) => keys.vector(ref, g.name));
    // Vector versions in the registry's layout (packed: an f64 in the blob), as decimal strings.
    const vectorVersion = async (g: string) => String((await readGroup(redis, registry, keys.vector(ref, g), g))?.version);
    const versions = async () => [await redis.hget(state, VERSION_FIELD), ...(await Promise.all(registry.groupsOf('user').map((g) => vectorVersion(g.name))))];
    const noDead = { deadLetter: async () => undefined };

    const before = Date.now() * 1_000;
    await materializer.run([work(0)], now, noDead);
    const first = await versions();
    expect(new Set(first).size).toBe(1);
    expect(first[0]).toMatch(/^[1-9]\d{15}$/);
    expect(Number(first[0])).toBeGreaterThanOrEqual(before);

    await materializer.run([work(1)], now, noDead);
    const second = await versions();
    expect(second[0]).toMatch(/^[1-9]\d{15}$/);
    expect(Number(second[0])).toBeGreaterThan(Number(first[0]));

    // Redis loses the entity (flush, failover to a lagging replica, old snapshot): the next write still moves up.
    for (const key of [state, ...vectors]) await redis.del(key);
    await materializer.run([work(2)], now, noDead);
    const third = await versions();
    expect(third[0]).toMatch(/^[1-9]\d{15}$/);
    expect(Number(third[0])).toBeGreaterThan(Number(second[0]));
    expect(new Set(third).size).toBe(1);
  });
});
