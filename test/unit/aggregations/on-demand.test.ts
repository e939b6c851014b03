import { describe, expect, it } from 'vitest';
import { computeOnDemand } from '../../../src/aggregations/on-demand.ts';
import { loadRegistryFile } from '../../../src/schemas/registry.ts';

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
