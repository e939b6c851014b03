/**
 * Features computed at read time from the request time (UTC) and stored
 * values: no state, no I/O.
 */
import type { FeatureValue, Registry, TimeUnit } from '../schemas/registry.ts';

const UNIT_MS: Record<TimeUnit, number> = { ms: 1, s: 1_000, m: 60_000, h: 3_600_000, d: 86_400_000 };

/**
 * On-demand features of `entity`. `time_since` gives its default when the
 * input is missing or equals the input's own default (e.g. 0: no login seen),
 * and never a negative age (clock skew between writer and reader).
 * day_of_week counts from Monday = 0, like Python's `weekday()`.
 */
export function computeOnDemand(
  registry: Registry,
  entity: string,
  stored: Record<string, FeatureValue>,
  requestTimeMs: number,
): Record<string, FeatureValue> {
  const out: Record<string, FeatureValue> = {};
  const date = new Date(requestTimeMs);
  for (const f of registry.onDemand) {
    if (f.entity !== entity) continue;
    switch (f.kind) {
      case 'time_since': {
        const input = stored[f.input!];
        const missing = typeof input !== 'number' || !Number.isFinite(input) || input === registry.feature(f.input!)?.default;
        out[f.name] = missing
          ? f.default
          : Math.max(0, Math.floor((requestTimeMs - input * (f.inputUnit === 's' ? 1_000 : 1)) / UNIT_MS[f.unit]));
        break;
      }
      case 'hour_of_day':
        out[f.name] = date.getUTCHours();
        break;
      case 'day_of_week':
        out[f.name] = (date.getUTCDay() + 6) % 7;
        break;
      case 'is_weekend':
        out[f.name] = date.getUTCDay() % 6 === 0 ? 1 : 0;
        break;
    }
  }
  return out;
}
