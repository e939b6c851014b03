/**
 * Exact sums of decimal amounts. A tile's sum is kept as an integer count of
 * 10^-scale units (scale 0..6, the fewest decimals that reproduce every value
 * added), so 0.1 + 0.2 sums to exactly 0.3 whatever the order of arrival.
 * A value needing more decimals, or a sum beyond 2^47 units, switches that
 * tile to a plain float sum (scale FLOAT).
 */
export const FLOAT = 7;
/**
 * No event time yet, in a time field of state: a number, so the field stays
 * a double that V8 updates in place (`undefined` in it made every later
 * write allocate a heap number).
 */
export const NO_TIME = -Infinity;
export const MAX_DECIMALS = 6;
/** Keeps zigzag(n) * 8 below 2^53 in the state encoding. */
export const MAX_SCALED = 2 ** 47;
export const POW10 = [1, 10, 100, 1_000, 10_000, 100_000, 1_000_000];

/** Fewest decimals d with round(v * 10^d) / 10^d === v, or FLOAT. */
export function decimals(v: number): number {
  if (Number.isInteger(v)) return Math.abs(v) <= MAX_SCALED ? 0 : FLOAT;
  for (let d = 1; d <= MAX_DECIMALS; d++) {
    const r = Math.round(v * POW10[d]!);
    if (r / POW10[d]! === v) return Math.abs(r) <= MAX_SCALED ? d : FLOAT;
  }
  return FLOAT;
}

/** Adds v, which has `d` = decimals(v), to the sum whose units are a[at] and scale a[at + 1]. */
export function addToSum(a: number[], at: number, v: number, d: number): void {
  const s = a[at + 1]!;
  if (s === FLOAT) {
    a[at]! += v;
    return;
  }
  if (d === FLOAT) {
    a[at] = a[at]! / POW10[s]! + v;
    a[at + 1] = FLOAT;
    return;
  }
  let units = a[at]!;
  let sc = s;
  if (d > sc) {
    units *= POW10[d - sc]!;
    sc = d;
  }
  const next = units + Math.round(v * POW10[sc]!);
  if (Math.abs(next) > MAX_SCALED) {
    a[at] = units / POW10[sc]! + v;
    a[at + 1] = FLOAT;
  } else {
    a[at] = next;
    a[at + 1] = sc;
  }
}

/**
 * Sum over the (units, scale) pairs at a[j], a[j + 1] for j = from, from + stride, ... < to:
 * exact when every one is scaled and the total stays below 2^53 units.
 */
export function sumRange(a: readonly number[], stride: number, from: number, to: number): number {
  let top = 0;
  let float = false;
  for (let j = from; j < to; j += stride) {
    const s = a[j + 1]!;
    if (s === FLOAT) float = true;
    else if (s > top) top = s;
  }
  if (!float) {
    let units = 0;
    for (let j = from; j < to; j += stride) units += a[j]! * POW10[top - a[j + 1]!]!;
    if (Math.abs(units) <= Number.MAX_SAFE_INTEGER) return units / POW10[top]! + 0;
  }
  let total = 0;
  for (let j = from; j < to; j += stride) total += a[j + 1] === FLOAT ? a[j]! : a[j]! / POW10[a[j + 1]!]!;
  return total + 0;
}
