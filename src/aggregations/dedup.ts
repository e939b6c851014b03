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

/** Shared by every memory that holds no id yet (memory per state); frozen, as nothing may ever add to it. */
const NONE: never[] = Object.freeze([]) as never[];

export class DedupMemory {
  /** Shared by every state for the sources it has had no event of yet (memory per state); frozen: the engine replaces it before a first tick. */
  static readonly UNUSED = new DedupMemory();
  static {
    Object.freeze(DedupMemory.UNUSED);
  }

  /**
   * Per id in the order it counted (serialize.ts writes them so): its hash
   * at 2i and the arrival of the copy that counted at 2i + 1, side by side
   * so that a probe reads one place. The first `size` pairs are held; the
   * array's length is its capacity, doubled as ids arrive.
   */
  private entries: number[] = NONE;
  private n = 0;
  /** Newest arrival of any event of the entity (NO_TIME: none): the horizon is measured back from it. */
  clock = NO_TIME;
  /** Position + 1 of each hash, by its low bits; 0 = empty. */
  private index: Int32Array | undefined;
  /** Size that triggers the next prune. */
  private pruneAt = PRUNE_MIN;
  /** At most the earliest arrival held (arrivals only ever move later): a prune before it has nothing to drop. */
  private oldest = Infinity;

  get size(): number {
    return this.n;
  }

  /** Hash of the i-th id held (i < size), in the order they counted. */
  hashAt(i: number): number {
    return this.entries[2 * i]!;
  }

  /** Arrival of the copy of the i-th id that counted. */
  arrivalAt(i: number): number {
    return this.entries[2 * i + 1]!;
  }

  /** Position of hash `h`, or -1. */
  private find(h: number): number {
    const { entries, index } = this;
    if (index === undefined) {
      for (let j = 0, end = 2 * this.n; j < end; j += 2) if (entries[j] === h) return j >> 1;
      return -1;
    }
    const mask = index.length - 1;
    for (let k = h & mask; ; k = (k + 1) & mask) {
      const p = index[k]! - 1;
      if (p < 0 || entries[2 * p] === h) return p;
    }
  }

  /** Moves the clock to `arrival` if later. */
  tick(arrival: number): void {
    if (arrival > this.clock) this.clock = arrival;
  }

  /**
   * Whether hash `h` counted at an arrival within `horizonMs` of the clock
   * (call tick first); if not, remembers it as counted at `arrival`.
   */
  repeated(h: number, arrival: number, horizonMs: number): boolean {
    const from = this.clock - horizonMs;
    const i = this.find(h);
    if (i >= 0 && this.entries[2 * i + 1]! > from) return true;
    if (arrival <= from) return false;
    if (i >= 0) this.entries[2 * i + 1] = arrival;
    else this.append(h, arrival);
    if (this.n > this.pruneAt) this.prune(horizonMs);
    return false;
  }

  /** Adds an entry as read from state (the hash must not be present). */
  restore(h: number, arrival: number): boolean {
    if (this.find(h) >= 0) return false;
    this.append(h, arrival);
    return true;
  }

  private append(h: number, arrival: number): void {
    if (arrival < this.oldest) this.oldest = arrival;
    if (2 * this.n === this.entries.length) this.grow();
    const at = 2 * this.n;
    this.entries[at] = h;
    this.entries[at + 1] = arrival;
    const n = ++this.n;
    if (this.index !== undefined && n * 2 <= this.index.length) this.place(h, n);
    else if (n > SCAN_MAX) this.reindex();
  }

  /** Doubles the capacity (one pair at first: most entities hold an id or two). */
  private grow(): void {
    const entries = zeros(Math.max(2, 2 * this.entries.length));
    for (let j = 0; j < 2 * this.n; j++) entries[j] = this.entries[j]!;
    this.entries = entries;
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
    const n = this.n;
    if (n <= SCAN_MAX) {
      this.index = undefined;
      return;
    }
    let capacity = 64;
    while (capacity < Math.max(n, this.pruneAt) * 2) capacity *= 2;
    // An index up to 4 times that size serves as well: an evict prunes on every write, and need not allocate each time.
    const held = this.index?.length ?? 0;
    if (held >= capacity && held <= 4 * capacity) this.index!.fill(0);
    else this.index = new Int32Array(capacity);
    for (let i = 0; i < n; i++) this.place(this.entries[2 * i]!, i + 1);
  }

  /** Forgets ids that counted a horizon or more before the clock, keeping the order of the rest. */
  prune(horizonMs: number): void {
    if (this.clock === NO_TIME) return;
    const from = this.clock - horizonMs;
    const { entries, n } = this;
    if (this.oldest > from) {
      this.pruneAt = Math.max(PRUNE_MIN, n * 2);
      return;
    }
    let w = 0;
    let oldest = Infinity;
    for (let j = 0; j < 2 * n; j += 2) {
      const a = entries[j + 1]!;
      if (a <= from) continue;
      if (a < oldest) oldest = a;
      entries[w++] = entries[j]!;
      entries[w++] = a;
    }
    this.oldest = oldest;
    const dropped = w < 2 * n;
    this.n = w / 2;
    // Capacity follows the ids held: room for more than 4 times as many is cut to twice as many (one burst must not stay).
    if (this.n === 0) this.entries = NONE;
    else if (entries.length > 8 * this.n) this.entries = entries.slice(0, 4 * this.n);
    this.pruneAt = Math.max(PRUNE_MIN, this.n * 2);
    if (dropped) this.reindex();
  }
}
