/**
 * During a handover a backfill and a live worker both write version N of one
 * partition number: the live worker the topics it switched, the backfill the
 * ones it has not. A live worker's (newer, even) epoch must not fence the
 * backfill (which yields: odd epochs), or the backfill retries the partition
 * forever and the handover never completes (backfill-switch.test.ts hung so
 * under load). Both sides compare `_version` on a version under handover, so
 * neither overwrites the other's events from a stale cached state, even when
 * the live worker's sources are co-partitioned. A write-behind live worker
 * writes its states through on such a version: the backfill's CAS and loads
 * see only Redis. Live workers still fence each other.
 */
import { describe, expect, it } from 'vitest';
import { WindowEngine } from '../../src/aggregations/engine.ts';
import { Materializer, type EntityWork } from '../../src/consumers/materializer.ts';
import { SOLE_OWNER } from '../../src/consumers/partition-epoch.ts';
import { createLogger } from '../../src/logger.ts';
import { parseRegistry } from '../../src/schemas/registry.ts';
import { Keys } from '../../src/stores/keys.ts';
import { loadScripts } from '../../src/stores/scripts.ts';
import { randomName } from '../helpers/names.ts';
import { onCluster, testRedisClient } from '../helpers/services.ts';
import { registryInput } from '../helpers/worker-fixtures.ts';
import { readGroup } from '../helpers/vector-hash.ts';

const VERSION = 2;
const TOPICS = { tx: 'beside-tx', logins: 'beside-logins' };

/** One user's writers of version 2: the backfill (yields) and live workers (co-partitioned, write-behind or not). */
async function setup() {
  const prefix = `${randomName('fs-beside')}:`;
  const redis = await testRedisClient(prefix);
  loadScripts(redis);
  const registry = parseRegistry(registryInput(TOPICS));
  const keys = new Keys({ prefix, hashTags: onCluster() });
  const materializer = (o: { yields?: boolean; coPartitioned?: boolean; writeBehind?: boolean }) =>
    new Materializer({
      redis,
      keys,
      registry,
      engine: new WindowEngine(registry),
      keyspaceVersion: VERSION,
      logger: createLogger({ level: 'silent' }),
      stateCacheSize: 100,
      ownership: { ...SOLE_OWNER, ...(o.yields ? { yields: true } : {}) },
      ...(o.coPartitioned ? { coPartitioned: true, sharedVersion: (v: number) => v === VERSION } : {}),
      ...(o.writeBehind ? { writeBehind: true } : {}),
    });
  const now = Date.now();
  const work = (topic: 'tx' | 'logins', offset: number): EntityWork => {
    const ts = now - 60_000 + offset;
    const fields = topic === 'tx' ? { user_id: 'u1', amount: 10 + offset, merchant_id: `m${offset}`, ts } : { user_id: 'u1', ts };
    return {
      ref: { entityType: 'user', entityId: 'u1' },
      partition: 0,
      topic: TOPICS[topic],
      events: [{ offset, message: { offset: String(offset) } as never, event: { source: topic, entityId: 'u1', eventTimeMs: ts, fields } }],
    };
  };
  const features = async () => (await readGroup(redis, registry, keys.vector({ entityType: 'user', entityId: 'u1' }, 'features', VERSION)))?.values;
  return { materializer, work, now, features };
}

const noDead = { deadLetter: async () => undefined };

describe('a backfill beside the live workers of the version it hands over', () => {
  it('keeps writing the partition after a live worker took its epoch, and neither loses the other’s events', async () => {
    const { materializer, work, now, features } = await setup();
    const backfill = materializer({ yields: true });
    const live = materializer({ coPartitioned: true });

    await backfill.run([work('logins', 0)], now, noDead);
    await live.run([work('tx', 0)], now, noDead);
    // The live worker now holds the partition's epoch; the backfill still writes the topic it has not handed over.
    await backfill.run([work('logins', 1)], now, noDead);
    // The live worker's cached state misses that login: its write must lose the CAS and reload, not overwrite.
    await live.run([work('tx', 1)], now, noDead);

    // A backfill (a resumed one) that first writes the partition once a live worker holds it gets an epoch below theirs.
    await materializer({ yields: true }).run([work('logins', 2)], now, noDead);

    // By hand: three logins and two transactions of 10 and 11.
    expect(await features()).toMatchObject({ login_count_24h: 3, tx_count_24h: 2, tx_sum_24h: 21, tx_max_24h: 11 });

    // A newer live writer still fences an older one.
    const successor = materializer({ coPartitioned: true });
    await successor.run([work('tx', 2)], now, noDead);
    await expect(live.run([work('tx', 3)], now, noDead)).rejects.toMatchObject({ code: 'FENCED' });
  });

  it('with a write-behind live worker: neither writer works from a state missing the other’s events', async () => {
    const { materializer, work, now, features } = await setup();
    const backfill = materializer({ yields: true });
    const live = materializer({ coPartitioned: true, writeBehind: true });

    await backfill.run([work('logins', 0)], now, noDead);
    await live.run([work('tx', 0)], now, noDead);
    // The backfill's cached state misses the live worker's transaction: its write must lose the CAS and reload.
    await backfill.run([work('logins', 1)], now, noDead);
    expect(await features()).toMatchObject({ login_count_24h: 2, tx_count_24h: 1 });
    // The live worker's cached state misses that login.
    await live.run([work('tx', 1)], now, noDead);
    await live.checkpoint(0, now);
    await backfill.run([work('logins', 2)], now, noDead);

    expect(await features()).toMatchObject({ login_count_24h: 3, tx_count_24h: 2, tx_sum_24h: 21, tx_max_24h: 11 });
  });
});
