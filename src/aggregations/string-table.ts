/**
 * The string table of a serialized state: every string once, numbered in
 * order of first use. The first distinct_count slot's values are usually
 * most of them and are unique already: when no earlier string is among
 * them they take consecutive numbers in map order as one block, with no
 * Map insert per value (building a Map of thousands of strings on every
 * write was most of the cost of serializing a busy entity).
 */
import type { ByteWriter } from './bytes.ts';

export class StringTable {
  /** Strings outside the block, by number, in insertion (= number) order. */
  private readonly loose = new Map<string, number>();
  private block: ReadonlyMap<string, unknown> | undefined;
  private base = 0;
  private next = 0;
  /** Block strings also used elsewhere: their numbers, found once all strings are in. */
  private blockRefs: Map<string, number> | undefined;

  get size(): number {
    return this.next;
  }

  add(s: string): void {
    if (this.loose.has(s)) return;
    if (this.block?.has(s) === true) (this.blockRefs ??= new Map()).set(s, -1);
    else this.loose.set(s, this.next++);
  }

  /** The keys of a map, unique strings. */
  addKeys(values: ReadonlyMap<string, unknown>): void {
    if (this.block === undefined && !this.anyLooseIn(values)) {
      this.block = values;
      this.base = this.next;
      this.next += values.size;
      return;
    }
    for (const v of values.keys()) this.add(v);
  }

  private anyLooseIn(values: ReadonlyMap<string, unknown>): boolean {
    for (const s of this.loose.keys()) if (values.has(s)) return true;
    return false;
  }

  /** The number of the first of `values`' keys when they are the block (numbered in order), else -1. */
  blockStart(values: ReadonlyMap<string, unknown>): number {
    return values === this.block ? this.base : -1;
  }

  /** Writes the count and the strings; call once every string is in. */
  write(w: ByteWriter): void {
    const refs = this.blockRefs;
    if (refs !== undefined) {
      let k = this.base;
      let left = refs.size;
      for (const s of this.block!.keys()) {
        if (refs.has(s)) {
          refs.set(s, k);
          if (--left === 0) break;
        }
        k++;
      }
    }
    w.varint(this.next);
    let blockDone = this.block === undefined;
    for (const [s, i] of this.loose) {
      if (!blockDone && i >= this.base) blockDone = this.writeBlock(w);
      w.string(s);
    }
    if (!blockDone) this.writeBlock(w);
  }

  private writeBlock(w: ByteWriter): true {
    for (const s of this.block!.keys()) w.string(s);
    return true;
  }

  ref(w: ByteWriter, s: string): void {
    w.varint(this.loose.get(s) ?? this.blockRefs!.get(s)!);
  }
}
