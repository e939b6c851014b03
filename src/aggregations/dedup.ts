/**
 * De-duplication memory of one entity, in arrival time: a 52-bit hash of
 * (source, event id) and the arrival time of the copy that counted, side by
 * side in one number array in insertion order plus, once large, an
 * open-addressing index keyed by the hash. No id strings are kept, so the
 * memory is ~16 bytes in RAM (~11 serialized) per id that arrived within one
 * horizon of the entity's newest arrival.
 *
 * Collision bound: ids are compared by hash only. With n ids in memory a new,
 * distinct id is taken for a duplicate with probability about n / 2^52, e.g.
 * 2e-12 per event for an entity with 10,000 ids in its horizon.
 */
import { zeros } from './arrays.ts';
import { NO_TIME } from './numbers.ts';
import type { Slot } from './state.ts';

/** Up to this many ids a linear scan of the hashes beats an index. */
const SCAN_MAX = 16;
const PRUNE_MIN = 32;
/** Up to this many ids the array grows one id at a time (memory per state: most entities hold a few), then doubles. */
const EXACT_UP_TO = 8;
const TWO_32 = 2 ** 32;
export const HASH_HIGH_LIMIT = 2 ** 20;

// cyrb53-style: two 32-bit lanes run over the text with one multiplier
// each, then avalanche into 52 bits (20 high bits of lane 2, all 32 of
// lane 1). The lanes in progress live here, so hashing allocates nothing.
// Stored in state, so these hashes must never change.
const M1 = 2654435761;
const M2 = 1597334677;
let lane1 = 0;
let lane2 = 0;

function start(): void {
  lane1 = 0xdeadbeef;
  lane2 = 0x41c6ce57;
}

function mix(text: string): void {
  let h1 = lane1;
  let h2 = lane2;
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    h1 = Math.imul(h1 ^ c, M1);
    h2 = Math.imul(h2 ^ c, M2);
  }
  lane1 = h1;
  lane2 = h2;
}

function finish52(): number {
  const h1 = Math.imul(lane1 ^ (lane1 >>> 16), 2246822507) ^ Math.imul(lane2 ^ (lane2 >>> 13), 3266489909);
  const h2 = Math.imul(lane2 ^ (lane2 >>> 16), 2246822507) ^ Math.imul(h1 ^ (h1 >>> 13), 3266489909);
  return (h2 >>> 12) * TWO_32 + (h1 >>> 0);
}

/** The lanes after hashing a source name and the separator: each event id's hash continues from them. */
export interface SourceSeed {
  lane1: number;
  lane2: number;
}

export function sourceSeed(source: string): SourceSeed {
  start();
  mix(source);
  // A separator no source name contains: ("ab", "c") and ("a", "bc") differ.
  mix('\x1f');
  return { lane1, lane2 };
}

/** eventKeyHash(source, id) for the source of `seed`, without hashing the source name again. */
export function seededKeyHash(seed: SourceSeed, id: string): number {
  lane1 = seed.lane1;
  lane2 = seed.lane2;
  mix(id);
  return finish52();
}

/** A 52-bit hash of (source, id): 20 high bits and 32 low bits, from two independent 32-bit lanes. */
export function eventKeyHash(source: string, id: string): number {
  return seededKeyHash(sourceSeed(source), id);
}

/** The same 52-bit hash of one value (approx_distinct); stored in state, so it must never change. */
export function valueHash(value: string): number {
  start();
  mix(value);
  return finish52();
}

/** Header slots of a memory's array. */
const CLOCK = 0;
const OLDEST = 1;
const PRUNE_AT = 2;
const COUNT = 3;
const HEAD = 4;

/**
 * One source's memory, the state's slot itself (no object around it, so a
 * probe reaches it in one step from the slots): a double array of a header
 * (the clock, the earliest arrival held, the size that triggers the next
 * prune, the number of ids), then per id in the order it counted
 * (serialize.ts writes them so) its hash and the arrival of the copy that
 * counted, side by side so that a probe reads one place. Its length is HEAD
 * plus its capacity: exact up to EXACT_UP_TO ids, then doubled as ids
 * arrive. Functions that may move it to a new array take the slots and its
 * position.
 */
export type DedupMemory = number[];

/** The array of a memory without ids. */
function header(): DedupMemory {
  const entries = zeros(HEAD);
  entries[CLOCK] = NO_TIME;
  entries[OLDEST] = Infinity;
  entries[PRUNE_AT] = PRUNE_MIN;
  return entries;
}

/** Shared by every state for the sources it has had no event of yet (memory per state); frozen: the engine replaces it before a first tick. */
export const UNUSED: DedupMemory = Object.freeze(header()) as DedupMemory;

/**
 * Position + 1 of each hash, by its low bits (0 = empty), of the memories
 * holding more than SCAN_MAX ids: few are that large, so the rest carry no
 * field for it.
 */
const indexes = new WeakMap<DedupMemory, Int32Array>();

export function newDedup(): DedupMemory {
  return header();
}

export const dedupSize = (m: DedupMemory): number => m[COUNT]!;

/** Newest arrival of any event of the entity (NO_TIME: none): the horizon is measured back from it. */
export const dedupClock = (m: DedupMemory): number => m[CLOCK]!;

export function setClock(m: DedupMemory, arrival: number): void {
  m[CLOCK] = arrival;
}

/** Hash of the i-th id held (i < size), in the order they counted. */
export const hashAt = (m: DedupMemory, i: number): number => m[HEAD + 2 * i]!;

/** Arrival of the copy of the i-th id that counted. */
export const arrivalAt = (m: DedupMemory, i: number): number => m[HEAD + 2 * i + 1]!;

/** `m` (header and ids) in an array with room for `capacity` numbers of ids. */
function resized(m: DedupMemory, capacity: number): DedupMemory {
  const out = zeros(HEAD + capacity);
  const used = Math.min(m.length, HEAD + 2 * m[COUNT]!);
  for (let j = 0; j < used; j++) out[j] = m[j]!;
  const index = indexes.get(m);
  if (index !== undefined) {
    indexes.delete(m);
    indexes.set(out, index);
  }
  return out;
}

/** Position of hash `h`, or -1. */
function find(m: DedupMemory, h: number): number {
  const index = m[COUNT]! > SCAN_MAX ? indexes.get(m) : undefined;
  if (index === undefined) {
    for (let j = HEAD, end = HEAD + 2 * m[COUNT]!; j < end; j += 2) if (m[j] === h) return (j - HEAD) >> 1;
    return -1;
  }
  const mask = index.length - 1;
  for (let k = h & mask; ; k = (k + 1) & mask) {
    const p = index[k]! - 1;
    if (p < 0 || m[HEAD + 2 * p] === h) return p;
  }
}

/** Moves the clock to `arrival` if later. */
export function tick(m: DedupMemory, arrival: number): void {
  if (arrival > m[CLOCK]!) m[CLOCK] = arrival;
}

/**
 * Whether hash `h` counted at an arrival within `horizonMs` of the clock of
 * the memory at slots[at] (tick first); if not, remembers it as counted at `arrival`.
 */
export function repeated(slots: Slot[], at: number, h: number, arrival: number, horizonMs: number): boolean {
  const m = slots[at] as DedupMemory;
  const from = m[CLOCK]! - horizonMs;
  const i = find(m, h);
  if (i >= 0 && m[HEAD + 2 * i + 1]! > from) return true;
  if (arrival <= from) return false;
  if (i >= 0) m[HEAD + 2 * i + 1] = arrival;
  else append(slots, at, h, arrival);
  const held = slots[at] as DedupMemory;
  if (held[COUNT]! > held[PRUNE_AT]!) prune(slots, at, horizonMs);
  return false;
}

/** Adds an entry as read from state (the hash must not be present). */
export function restore(slots: Slot[], at: number, h: number, arrival: number): boolean {
  if (find(slots[at] as DedupMemory, h) >= 0) return false;
  append(slots, at, h, arrival);
  return true;
}

function append(slots: Slot[], at: number, h: number, arrival: number): void {
  let m = slots[at] as DedupMemory;
  if (arrival < m[OLDEST]!) m[OLDEST] = arrival;
  const end = HEAD + 2 * m[COUNT]!;
  const held = end - HEAD;
  if (end === m.length) m = slots[at] = resized(m, held < 2 * EXACT_UP_TO ? held + 2 : 2 * held);
  m[end] = h;
  m[end + 1] = arrival;
  const n = ++m[COUNT]!;
  // Only memories past SCAN_MAX ids have an index: the others skip the WeakMap lookup (one per new id).
  const index = n > SCAN_MAX ? indexes.get(m) : undefined;
  if (index !== undefined && n * 2 <= index.length) place(index, h, n);
  else if (n > SCAN_MAX) reindex(m);
}

function place(index: Int32Array, h: number, position: number): void {
  const mask = index.length - 1;
  let k = h & mask;
  while (index[k] !== 0) k = (k + 1) & mask;
  index[k] = position;
}

/** An index at most half full until the next prune; none while a scan is cheaper. */
function reindex(m: DedupMemory): void {
  const n = m[COUNT]!;
  if (n <= SCAN_MAX) {
    indexes.delete(m);
    return;
  }
  let capacity = 64;
  while (capacity < Math.max(n, m[PRUNE_AT]!) * 2) capacity *= 2;
  // An index up to 4 times that size serves as well: an evict prunes on every write, and need not allocate each time.
  const held = indexes.get(m);
  let index: Int32Array;
  if (held !== undefined && held.length >= capacity && held.length <= 4 * capacity) index = held.fill(0);
  else indexes.set(m, (index = new Int32Array(capacity)));
  for (let i = 0; i < n; i++) place(index, m[HEAD + 2 * i]!, i + 1);
}

/** Forgets ids of the memory at slots[at] that counted a horizon or more before the clock, keeping the order of the rest. */
export function prune(slots: Slot[], at: number, horizonMs: number): void {
  const m = slots[at] as DedupMemory;
  if (m[CLOCK] === NO_TIME) return;
  const from = m[CLOCK]! - horizonMs;
  const n = m[COUNT]!;
  if (m[OLDEST]! > from) {
    m[PRUNE_AT] = Math.max(PRUNE_MIN, n * 2);
    return;
  }
  let w = HEAD;
  let oldest = Infinity;
  for (let j = HEAD; j < HEAD + 2 * n; j += 2) {
    const a = m[j + 1]!;
    if (a <= from) continue;
    if (a < oldest) oldest = a;
    m[w++] = m[j]!;
    m[w++] = a;
  }
  const left = (w - HEAD) / 2;
  m[OLDEST] = oldest;
  m[COUNT] = left;
  m[PRUNE_AT] = Math.max(PRUNE_MIN, left * 2);
  // Capacity follows the ids held: room for more than 4 times as many is cut to twice as many (one burst must not stay).
  const kept = m.length - HEAD > 8 * left ? (slots[at] = resized(m, 4 * left)) : m;
  if (left < n) reindex(kept);
}
