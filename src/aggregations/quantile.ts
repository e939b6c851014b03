/**
 * DDSketch-style log buckets for approx_quantile: a value x != 0 goes to
 * bucket ceil(log_gamma |x|) (signed by x), so every value in a bucket is
 * within ALPHA relative error of the bucket's representative value. Counts
 * per bucket merge across tiles by addition, so windows stay within the bound
 * at tile edges. The quantile q of n values is the value of rank
 * floor(q * (n - 1)) (0-based, ascending): returned within 1% of it.
 */
export const ALPHA = 0.01;
const GAMMA = (1 + ALPHA) / (1 - ALPHA);
const LOG_GAMMA = Math.log(GAMMA);
/** Magnitudes below this share the zero bucket (relative error does not apply to them). */
export const MIN_MAGNITUDE = 1e-9;
/** Bucket key of 0 and of values smaller than MIN_MAGNITUDE. */
const ZERO = 0;

/** A signed bucket key: +b for positive values, -b for negative, 0 for zero (b >= 1 after the offset). */
export function bucketOf(x: number): number {
  const m = Math.abs(x);
  if (m < MIN_MAGNITUDE) return ZERO;
  // Offset so every key of a magnitude >= MIN_MAGNITUDE is >= 1 (keeps the sign meaningful).
  const b = Math.ceil(Math.log(m) / LOG_GAMMA) - Math.ceil(Math.log(MIN_MAGNITUDE) / LOG_GAMMA) + 1;
  return x > 0 ? b : -b;
}

/** The representative value of a bucket: the midpoint (in relative terms) of its range. */
export function valueOf(key: number): number {
  if (key === ZERO) return 0;
  const b = Math.abs(key) - 1 + Math.ceil(Math.log(MIN_MAGNITUDE) / LOG_GAMMA);
  const v = (2 * GAMMA ** b) / (GAMMA + 1);
  return key > 0 ? v : -v;
}

/** The q-quantile of merged bucket counts, or undefined when empty. */
export function quantileOf(counts: Map<number, number>, q: number): number | undefined {
  let n = 0;
  for (const c of counts.values()) n += c;
  if (n === 0) return undefined;
  const rank = Math.floor(q * (n - 1));
  let seen = 0;
  // Keys are monotone in value (negative keys grow more negative with the magnitude), so numeric order is value order.
  for (const key of [...counts.keys()].sort((a, b) => a - b)) {
    seen += counts.get(key)!;
    if (seen > rank) return valueOf(key) + 0;
  }
  return undefined;
}
