/**
 * Number arrays of doubles in one allocation. `new Array(n).fill(0)` holds
 * small integers, so the first hash or time stored in it (a double) makes
 * V8 reallocate its elements; a slice of a double array of zeros is a
 * double array from the start.
 */
let doubleZeros: number[] = [0.5].fill(0);

/** A double array of n zeros. */
export function zeros(n: number): number[] {
  while (doubleZeros.length < n) doubleZeros = doubleZeros.concat(doubleZeros);
  return doubleZeros.slice(0, n);
}
