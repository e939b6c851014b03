/**
 * How long on-demand features stay what they are. The cache keeps an
 * entity's finished features and recomputes them only when a request time
 * leaves the window in which every on-demand value is constant:
 *   hour_of_day                    the UTC hour
 *   day_of_week, is_weekend        the UTC day
 *   time_since (unit U, input x)   [x + kU, x + (k+1)U) for the current k;
 *                                  before x + U the value is 0 (clamped);
 *                                  forever when the input is missing
 * This mirrors computeOnDemand (aggregations/on-demand.ts); the reader's
 * cache test checks the two agree at random times.
 */
import type { FeatureValue, Registry, ResolvedOnDemandFeature, TimeUnit } from '../schemas/registry.ts';
import type { ServedValue } from './types.ts';

const UNIT_MS: Record<TimeUnit, number> = { ms: 1, s: 1_000, m: 60_000, h: 3_600_000, d: 86_400_000 };
const HOUR_MS = UNIT_MS.h;
const DAY_MS = UNIT_MS.d;

/** Half-open [from, until) in epoch ms. */
export interface TimeWindow {
  from: number;
  until: number;
}

export const ALWAYS: TimeWindow = { from: Number.NEGATIVE_INFINITY, until: Number.POSITIVE_INFINITY };

export function windowAt(
  registry: Registry,
  onDemand: readonly ResolvedOnDemandFeature[],
  stored: Readonly<Record<string, ServedValue>>,
  requestTimeMs: number,
): TimeWindow {
  let from = Number.NEGATIVE_INFINITY;
  let until = Number.POSITIVE_INFINITY;
  const clip = (start: number, end: number) => {
    if (start > from) from = start;
    if (end < until) until = end;
  };
  for (const f of onDemand) {
    switch (f.kind) {
      case 'hour_of_day': {
        const start = Math.floor(requestTimeMs / HOUR_MS) * HOUR_MS;
        clip(start, start + HOUR_MS);
        break;
      }
      case 'day_of_week':
      case 'is_weekend': {
        const start = Math.floor(requestTimeMs / DAY_MS) * DAY_MS;
        clip(start, start + DAY_MS);
        break;
      }
      case 'time_since': {
        const input = stored[f.input!];
        const missing = typeof input !== 'number' || !Number.isFinite(input) || input === (registry.feature(f.input!)?.default as FeatureValue);
        if (missing) break;
        const at = input * (f.inputUnit === 's' ? 1_000 : 1);
        // A fractional input time could put float rounding on a boundary: no window, recompute each time.
        if (!Number.isInteger(at)) {
          clip(requestTimeMs, requestTimeMs);
          break;
        }
        const unit = UNIT_MS[f.unit];
        const k = Math.floor((requestTimeMs - at) / unit);
        if (k < 1) clip(Number.NEGATIVE_INFINITY, at + unit);
        else clip(at + k * unit, at + (k + 1) * unit);
        break;
      }
    }
  }
  return { from, until };
}
