import { describe, expect, it } from 'vitest';
import { computeOnDemand } from '../../../src/aggregations/on-demand.ts';
import { defineConfig, loadRegistryFile, parseRegistry } from '../../../src/schemas/registry.ts';

const registry = await loadRegistryFile();
const DAY = 86_400_000;

describe('computeOnDemand (default registry)', () => {
  // Saturday 2025-03-08 13:45:10 UTC
  const now = Date.UTC(2025, 2, 8, 13, 45, 10);

  it('derives ages and calendar features from the request time in UTC', () => {
    const out = computeOnDemand(registry, 'user', { created_at: now - 547 * DAY - 5, last_login_ts: Math.floor(now / 1000) - 90 }, now);
    expect(out).toEqual({ account_age_days: 547, seconds_since_last_login: 90, hour_of_day: 13, day_of_week: 5, is_weekend: 1 });
  });

  it('serves defaults when the input is missing or still its default, and never a negative age', () => {
    const monday = Date.UTC(2025, 2, 10, 0, 0, 0);
    expect(computeOnDemand(registry, 'user', { created_at: 0 }, monday)).toEqual({
      account_age_days: 0,
      seconds_since_last_login: -1,
      hour_of_day: 0,
      day_of_week: 0,
      is_weekend: 0,
    });
    expect(computeOnDemand(registry, 'user', { created_at: monday + DAY }, monday).account_age_days).toBe(0);
  });

  it('returns nothing for an entity without on-demand features', () => {
    expect(computeOnDemand(registry, 'item', {}, 0)).toEqual({});
  });
});

describe('computeOnDemand: derived kinds, compute functions and the request context', () => {
  const r = parseRegistry(
    defineConfig({
      entities: [{ name: 'user' }],
      sources: [{ name: 'tx', entity: 'user', keyField: 'user_id', timeField: 'ts', schema: 'transactions' }],
      features: [
        { name: 'c1h', source: 'tx', op: 'count', window: '1h', type: 'int', default: 0 },
        { name: 'c24h', source: 'tx', op: 'count', window: '24h', type: 'int', default: 0 },
        { name: 'avg7d', source: 'tx', op: 'avg', field: 'amount', window: '7d', type: 'float', default: 0 },
        { name: 'sd7d', source: 'tx', op: 'stddev', field: 'amount', window: '7d', type: 'float', default: 0 },
      ],
      onDemand: [
        { name: 'ratio', entity: 'user', kind: 'ratio', numerator: 'c1h', denominator: 'c24h', default: -1 },
        { name: 'diff', entity: 'user', kind: 'difference', left: 'c24h', right: 'c1h', default: 0 },
        { name: 'z', entity: 'user', kind: 'zscore', contextField: 'amount', mean: 'avg7d', stddev: 'sd7d', default: 0 },
        { name: 'share', entity: 'user', compute: (f) => (f.c1h as number) / Math.max(1, f.c24h as number), default: 0 },
        { name: 'vs_avg', entity: 'user', compute: (f, ctx) => (ctx.amount as number) / (f.avg7d as number), default: 1 },
        {
          name: 'boom',
          entity: 'user',
          compute: () => {
            throw new Error('bug');
          },
          default: 7,
        },
      ],
    }),
  );

  it('computes ratio, difference, zscore and compute functions', () => {
    const errors: string[] = [];
    const out = computeOnDemand(r, 'user', { c1h: 3, c24h: 12, avg7d: 50, sd7d: 10 }, 0, { context: { amount: 80 }, onError: (f, why) => errors.push(`${f}:${why}`) });
    expect(out).toEqual({ ratio: 0.25, diff: 9, z: 3, share: 0.25, vs_avg: 1.6, boom: 7 });
    expect(errors).toEqual(['boom:threw']);
  });

  it('gives defaults on a zero denominator, a zero stddev, a missing context value or a non-finite result; the call never fails', () => {
    const errors: string[] = [];
    const out = computeOnDemand(r, 'user', { c1h: 0, c24h: 0, avg7d: 0, sd7d: 0 }, 0, { onError: (f, why) => errors.push(`${f}:${why}`) });
    expect(out).toEqual({ ratio: -1, diff: 0, z: 0, share: 0, vs_avg: 1, boom: 7 });
    expect(errors).toEqual(['vs_avg:not_finite', 'boom:threw']);
  });

  it('hands compute functions a frozen copy of the stored values', () => {
    const mutating = parseRegistry({
      entities: [{ name: 'user' }],
      sources: [],
      features: [],
      onDemand: [{ name: 'x', entity: 'user', compute: (f: Record<string, unknown>) => ((f.y = 1), 1), default: 0 }],
    });
    const stored = {};
    expect(computeOnDemand(mutating, 'user', stored, 0)).toEqual({ x: 0 });
    expect(stored).toEqual({});
  });
});
