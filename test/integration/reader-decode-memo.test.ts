import { describe, expect, it } from 'vitest';
import { metricValue, seedUsers, testReader } from './reader-fixtures.ts';

const setup = (extra: Parameters<typeof testReader>[1] = {}) => testReader('fs-memo', extra);

/** Stored features only, no vector: features depend on the stored vector alone, so they can be shared. */
const features = ['tx_count_1h', 'tx_sum_1h', 'recent_merchants'];

describe('reader decode memo (packed blobs read again unchanged)', () => {
  it('serves the vector decoded before while the blob is unchanged, and the new values once it is rewritten', async () => {
    const { redis, keys, reader } = await setup();
    await seedUsers(redis, keys, [['u1', { tx_count_1h: 1, tx_sum_1h: 2.5, recent_merchants: ['m1'] }]], { version: 1, updatedMs: Date.now() });

    const [first] = await reader.getMany('user', ['u1'], { features });
    const [again] = await reader.getMany('user', ['u1'], { features });

    expect(again!.source).toBe('redis');
    expect(again!.features).toBe(first!.features);
    expect(Object.isFrozen(again!.features)).toBe(true);

    await seedUsers(redis, keys, [['u1', { tx_count_1h: 2, tx_sum_1h: 2.5, recent_merchants: ['m1'] }]], { version: 2, updatedMs: Date.now() });
    const [rewritten] = await reader.getMany('user', ['u1'], { features });

    expect(rewritten).toMatchObject({ source: 'redis', version: 2, features: { tx_count_1h: 2, tx_sum_1h: 2.5, recent_merchants: ['m1'] } });
  });

  it('counts the defaults of a reused vector on every read', async () => {
    const { redis, keys, metrics, reader } = await setup();
    // Only the velocity group is written, with tx_sum_1h absent from its blob: one missing value per read.
    await seedUsers(redis, keys, [['u1', { tx_count_1h: 1, recent_merchants: ['m1'] }]]);

    for (let i = 0; i < 3; i++) expect((await reader.get('user', 'u1', { features })).defaulted).toEqual(['tx_sum_1h']);

    expect(await metricValue(metrics, 'featurestream_reader_defaulted_values_total', { reason: 'missing' })).toBe(3);
  });

  it('decodes every read afresh with decodeMemo: false', async () => {
    const { redis, keys, reader } = await setup({ decodeMemo: false });
    await seedUsers(redis, keys, [['u1', { tx_count_1h: 1, tx_sum_1h: 2.5 }]]);

    const first = await reader.get('user', 'u1', { features });
    const again = await reader.get('user', 'u1', { features });

    expect(again.features).toEqual(first.features);
    expect(again.features).not.toBe(first.features);
  });

  it('computes on-demand features at each request time from a reused vector', async () => {
    const { redis, keys, reader } = await setup();
    const DAY = 86_400_000;
    const t0 = Date.UTC(2026, 2, 15, 13, 30);
    await seedUsers(redis, keys, [['u1', { created_at: t0 - 10 * DAY }]]);

    const before = await reader.get('user', 'u1', { requestTimeMs: t0 });
    const later = await reader.get('user', 'u1', { requestTimeMs: t0 + 2 * DAY + 3_600_000 });

    expect(before.features).toMatchObject({ account_age_days: 10, hour_of_day: 13 });
    expect(later.features).toMatchObject({ account_age_days: 12, hour_of_day: 14 });
  });
});
