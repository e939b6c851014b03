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

/** Up to this many ids a linear scan of the hashes beats an index. */
const SCAN_MAX = 16;
const PRUNE_MIN = 32;
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

/** Header slots of DedupMemory's array. */
const CLOCK = 0;
const OLDEST = 1;
const PRUNE_AT = 2;
const COUNT = 3;
const HEAD = 4;

/** The array of a memory without ids. */
function header(): number[] {
  const entries = zeros(HEAD);
  entries[CLOCK] = NO_TIME;
  entries[OLDEST] = Infinity;
  entries[PRUNE_AT] = PRUNE_MIN;
  return entries;
}

/** `entries` (header and ids) in an array with room for `capacity` numbers of ids. */
function resized(entries: readonly number[], capacity: number): number[] {
  const out = zeros(HEAD + capacity);
  const used = Math.min(entries.length, HEAD + 2 * entries[COUNT]!);
  for (let j = 0; j < used; j++) out[j] = entries[j]!;
  return out;
}

export class DedupMemory {
  /** Shared by every state for the sources it has had no event of yet (memory per state); frozen: the engine replaces it before a first tick. */
  static readonly UNUSED = new DedupMemory();
  static {
    Object.freeze(DedupMemory.UNUSED.entries);
    Object.freeze(DedupMemory.UNUSED);
  }

  /**
   * One double array, so a probe touches one object and no boxed number: a
   * header (the clock, the earliest arrival held, the size that triggers
   * the next prune, the number of ids), then per id in the order it counted
   * (serialize.ts writes them so) its hash and the arrival of the copy that
   * counted, side by side so that a probe reads one place. The array's
   * length is HEAD plus its capacity, doubled as ids arrive.
   */
  private entries: number[] = header();
  /** Position + 1 of each hash, by its low bits; 0 = empty. */
  private index: Int32Array | undefined;

  get size(): number {
    return this.entries[COUNT]!;
  }

  /** Newest arrival of any event of the entity (NO_TIME: none): the horizon is measured back from it. */
  get clock(): number {
    return this.entries[CLOCK]!;
  }

  set clock(arrival: number) {
    this.entries[CLOCK] = arrival;
  }

  /** Hash of the i-th id held (i < size), in the order they counted. */
  hashAt(i: number): number {
    return this.entries[HEAD + 2 * i]!;
  }

  /** Arrival of the copy of the i-th id that counted. */
  arrivalAt(i: number): number {
    return this.entries[HEAD + 2 * i + 1]!;
  }

  /** Position of hash `h`, or -1. */
  private find(h: number): number {
    const { entries, index } = this;
    if (index === undefined) {
      for (let j = HEAD, end = HEAD + 2 * entries[COUNT]!; j < end; j += 2) if (entries[j] === h) return (j - HEAD) >> 1;
      return -1;
    }
    const mask = index.length - 1;
    for (let k = h & mask; ; k = (k + 1) & mask) {
      const p = index[k]! - 1;
      if (p < 0 || entries[HEAD + 2 * p] === h) return p;
    }
  }

  /** Moves the clock to `arrival` if later. */
  tick(arrival: number): void {
    if (arrival > this.entries[CLOCK]!) this.entries[CLOCK] = arrival;
  }

  /**
   * Whether hash `h` counted at an arrival within `horizonMs` of the clock
   * (call tick first); if not, remembers it as counted at `arrival`.
   */
  repeated(h: number, arrival: number, horizonMs: number): boolean {
    const from = this.entries[CLOCK]! - horizonMs;
    const i = this.find(h);
    if (i >= 0 && this.entries[HEAD + 2 * i + 1]! > from) return true;
    if (arrival <= from) return false;
    if (i >= 0) this.entries[HEAD + 2 * i + 1] = arrival;
    else this.append(h, arrival);
    if (this.entries[COUNT]! > this.entries[PRUNE_AT]!) this.prune(horizonMs);
    return false;
  }

  /** Adds an entry as read from state (the hash must not be present). */
  restore(h: number, arrival: number): boolean {
    if (this.find(h) >= 0) return false;
    this.append(h, arrival);
    return true;
  }

  private append(h: number, arrival: number): void {
    let entries = this.entries;
    if (arrival < entries[OLDEST]!) entries[OLDEST] = arrival;
    const at = HEAD + 2 * entries[COUNT]!;
    if (at === entries.length) entries = this.entries = resized(entries, Math.max(2, 2 * (at - HEAD)));
    entries[at] = h;
    entries[at + 1] = arrival;
    const n = ++entries[COUNT]!;
    if (this.index !== undefined && n * 2 <= this.index.length) this.place(h, n);
    else if (n > SCAN_MAX) this.reindex();
  }

  private place(h: number, position: number): void {
    const index = this.index!;
    const mask = index.length - 1;
    let k = h & mask;
    while (index[k] !== 0) k = (k + 1) & mask;
    index[k] = position;
  }

  /** An index at most half full until the next prune; none while a scan is cheaper. */
  private reindex(): void {
    const n = this.entries[COUNT]!;
    if (n <= SCAN_MAX) {
      this.index = undefined;
      return;
    }
    let capacity = 64;
    while (capacity < Math.max(n, this.entries[PRUNE_AT]!) * 2) capacity *= 2;
    // An index up to 4 times that size serves as well: an evict prunes on every write, and need not allocate each time.
    const held = this.index?.length ?? 0;
    if (held >= capacity && held <= 4 * capacity) this.index!.fill(0);
    else this.index = new Int32Array(capacity);
    for (let i = 0; i < n; i++) this.place(this.entries[HEAD + 2 * i]!, i + 1);
  }

  /** Forgets ids that counted a horizon or more before the clock, keeping the order of the rest. */
  prune(horizonMs: number): void {
    const entries = this.entries;
    if (entries[CLOCK] === NO_TIME) return;
    const from = entries[CLOCK]! - horizonMs;
    const n = entries[COUNT]!;
    if (entries[OLDEST]! > from) {
      entries[PRUNE_AT] = Math.max(PRUNE_MIN, n * 2);
      return;
    }
    let w = HEAD;
    let oldest = Infinity;
    for (let j = HEAD; j < HEAD + 2 * n; j += 2) {
      const a = entries[j + 1]!;
      if (a <= from) continue;
      if (a < oldest) oldest = a;
      entries[w++] = entries[j]!;
      entries[w++] = a;
    }
    const left = (w - HEAD) / 2;
    entries[OLDEST] = oldest;
    entries[COUNT] = left;
    entries[PRUNE_AT] = Math.max(PRUNE_MIN, left * 2);
    // Capacity follows the ids held: room for more than 4 times as many is cut to twice as many (one burst must not stay).
    if (entries.length - HEAD > 8 * left) this.entries = resized(entries, 4 * left);
    if (left < n) this.reindex();
  }
}
