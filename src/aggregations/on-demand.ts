/**
 * Features computed at read time from the request time (UTC), stored values
 * and the request context: no state, no I/O. A call never fails: a kind
 * whose inputs are missing gives its default, and so does a compute function
 * that throws or returns a non-finite number (reported through onError, for
 * a metric).
 */
import type { FeatureValue, Registry, RequestContext, ResolvedOnDemandFeature, StoredValues, TimeUnit } from '../schemas/registry.ts';

export interface OnDemandOptions {
  /** Request data (`getMany(..., { context })`), read by zscore's contextField and compute functions. */
  context?: RequestContext;
  /** Called once per feature that fell back to its default because its function threw or its result was not finite. */
  onError?: (feature: string, reason: 'threw' | 'not_finite', error?: unknown) => void;
}

const EMPTY_CONTEXT: RequestContext = Object.freeze({});

function num(v: unknown): number | undefined {
  return typeof v === 'number' && Number.isFinite(v) ? v : undefined;
}

/** ratio, difference, zscore: undefined when an input is missing or the division is by 0. */
function derived(f: ResolvedOnDemandFeature, stored: Record<string, FeatureValue>, context: RequestContext): number | undefined {
  switch (f.kind) {
    case 'ratio': {
      const [a, b] = [num(stored[f.numerator!]), num(stored[f.denominator!])];
      return a === undefined || b === undefined || b === 0 ? undefined : a / b;
    }
    case 'difference': {
      const [a, b] = [num(stored[f.left!]), num(stored[f.right!])];
      return a === undefined || b === undefined ? undefined : a - b;
    }
    default: {
      const x = num(f.input === undefined ? context[f.contextField!] : stored[f.input]);
      const [mean, sd] = [num(stored[f.mean!]), num(stored[f.stddev!])];
      return x === undefined || mean === undefined || sd === undefined || sd === 0 ? undefined : (x - mean) / sd;
    }
  }
}

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
  options: OnDemandOptions = {},
): Record<string, FeatureValue> {
  const out: Record<string, FeatureValue> = {};
  const date = new Date(requestTimeMs);
  const context = options.context ?? EMPTY_CONTEXT;
  let frozen: StoredValues | undefined;
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
      case 'ratio':
      case 'difference':
      case 'zscore': {
        const v = derived(f, stored, context);
        out[f.name] = v === undefined ? f.default : f.type === 'int' ? Math.trunc(v) : v;
        break;
      }
      case 'compute': {
        // The function sees a frozen copy: it cannot change what the caller (or a cache) holds.
        frozen ??= Object.freeze({ ...stored });
        let v: unknown;
        try {
          v = f.compute!(frozen, context);
        } catch (e) {
          options.onError?.(f.name, 'threw', e);
          out[f.name] = f.default;
          break;
        }
        if (typeof v !== 'number' || !Number.isFinite(v)) {
          options.onError?.(f.name, 'not_finite');
          out[f.name] = f.default;
        } else out[f.name] = f.type === 'int' ? Math.trunc(v) : v + 0;
        break;
      }
    }
  }
  return out;
}
