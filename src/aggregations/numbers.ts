/**
 * Exact sums of decimal amounts. A tile's sum is kept as an integer count of
 * 10^-scale units (scale 0..6, the fewest decimals that reproduce every value
 * added), so 0.1 + 0.2 sums to exactly 0.3 whatever the order of arrival.
 * A value needing more decimals, or a sum beyond 2^47 units, switches that
 * tile to a plain float sum (scale FLOAT).
 */
export const FLOAT = 7;
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

/** Adds v, which has `d` = decimals(v), to tile j of parallel (sum, scale) arrays. */
export function addToSum(sum: number[], scale: number[], j: number, v: number, d: number): void {
  const s = scale[j]!;
  if (s === FLOAT) {
    sum[j]! += v;
    return;
  }
  if (d === FLOAT) {
    sum[j] = sum[j]! / POW10[s]! + v;
    scale[j] = FLOAT;
    return;
  }
  let units = sum[j]!;
  let sc = s;
  if (d > sc) {
    units *= POW10[d - sc]!;
    sc = d;
  }
  const next = units + Math.round(v * POW10[sc]!);
  if (Math.abs(next) > MAX_SCALED) {
    sum[j] = units / POW10[sc]! + v;
    scale[j] = FLOAT;
  } else {
    sum[j] = next;
    scale[j] = sc;
  }
}

/** Sum of tiles [a, b): exact when every tile is scaled and the total stays below 2^53 units. */
export function sumRange(sum: readonly number[], scale: readonly number[], a: number, b: number): number {
  let top = 0;
  let float = false;
  for (let j = a; j < b; j++) {
    const s = scale[j]!;
    if (s === FLOAT) float = true;
    else if (s > top) top = s;
  }
  if (!float) {
    let units = 0;
    for (let j = a; j < b; j++) units += sum[j]! * POW10[top - scale[j]!]!;
    if (Math.abs(units) <= Number.MAX_SAFE_INTEGER) return units / POW10[top]! + 0;
  }
  let total = 0;
  for (let j = a; j < b; j++) total += scale[j] === FLOAT ? sum[j]! : sum[j]! / POW10[scale[j]!]!;
  return total + 0;
}
