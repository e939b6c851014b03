/**
 * Event id -> event time, for de-duplication: parallel arrays in insertion
 * order plus, once large, an open-addressing index keyed by a hash of the
 * id. Cheaper than a Map per entity to create, to grow and to prune (a
 * Map.set costs a young string an entry in an old table, and prunes delete
 * entry by entry). Lookups always compare the full id.
 */

/** Up to this many ids a linear scan of the hashes beats an index. */
const SCAN_MAX = 16;
const PRUNE_MIN = 32;

/** FNV-1a: compares held strings by a number first, without loading them. */
export function hashOf(text: string): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < text.length; i++) h = Math.imul(h ^ text.charCodeAt(i), 0x01000193);
  // 30 bits: a small integer, so the hash array holds no boxed numbers.
  return h & 0x3fffffff;
}

export class DedupMemory {
  readonly ids: string[] = [];
  readonly times: number[] = [];
  private readonly hashes: number[] = [];
  /** Position + 1 of each id, by hash; 0 = empty. */
  private index: Int32Array | undefined;
  /** Size that triggers the next prune. */
  pruneAt = PRUNE_MIN;

  get size(): number {
    return this.ids.length;
  }

  private find(id: string, h: number): number {
    const { ids, hashes, index } = this;
    if (index === undefined) {
      for (let i = 0; i < hashes.length; i++) if (hashes[i] === h && ids[i] === id) return i;
      return -1;
    }
    const mask = index.length - 1;
    for (let k = h & mask; ; k = (k + 1) & mask) {
      const p = index[k]! - 1;
      if (p < 0) return -1;
      if (hashes[p] === h && ids[p] === id) return p;
    }
  }

  /** Whether `id` was seen at a time >= from; if not, remembers it at t (when t >= from). */
  repeated(id: string, t: number, from: number): boolean {
    const h = hashOf(id);
    const i = this.find(id, h);
    if (i >= 0 && this.times[i]! >= from) return true;
    if (t < from) return false;
    if (i >= 0) this.times[i] = t;
    else this.append(id, h, t);
    return false;
  }

  set(id: string, t: number): void {
    const h = hashOf(id);
    const i = this.find(id, h);
    if (i >= 0) this.times[i] = t;
    else this.append(id, h, t);
  }

  private append(id: string, h: number, t: number): void {
    this.ids.push(id);
    this.times.push(t);
    this.hashes.push(h);
    const n = this.ids.length;
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
    const n = this.ids.length;
    if (n <= SCAN_MAX) {
      this.index = undefined;
      return;
    }
    let capacity = 64;
    while (capacity < Math.max(n, this.pruneAt) * 2) capacity *= 2;
    if (this.index?.length === capacity) this.index.fill(0);
    else this.index = new Int32Array(capacity);
    for (let i = 0; i < n; i++) this.place(this.hashes[i]!, i + 1);
  }

  /** Forgets ids with time < from, keeping the order of the rest. */
  prune(from: number): void {
    const { ids, times, hashes } = this;
    let w = 0;
    for (let i = 0; i < ids.length; i++) {
      if (times[i]! < from) continue;
      ids[w] = ids[i]!;
      times[w] = times[i]!;
      hashes[w++] = hashes[i]!;
    }
    const dropped = w < ids.length;
    ids.length = times.length = hashes.length = w;
    this.pruneAt = Math.max(PRUNE_MIN, w * 2);
    if (dropped) this.reindex();
  }
}
