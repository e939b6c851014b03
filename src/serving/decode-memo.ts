/**
 * Packed vectors decoded before, kept with the exact blob bytes they were
 * decoded from. Every read still goes to Redis; when an entity's blobs come
 * back byte for byte the same as last time (a hot entity read again before
 * the worker rewrote it), the stored vector decoded then is served again
 * instead of decoding the same bytes into new objects. The answer is the
 * same either way: a packed blob holds the values, the version and the write
 * time, so equal bytes decode to equal vectors. A stored vector is shared and
 * never mutated (decode.ts), so handing the same one out again is safe, and
 * the features assembled from it can be shared in turn (assemble.ts).
 *
 * Only the packed layout, and only entities whose every group came back as a
 * blob; anything else is decoded afresh each time.
 */
import { LRUCache } from 'lru-cache';
import type { StoredVector } from './decode.ts';
import type { EntityPlan } from './plan.ts';
import type { HashReply } from './redis-batch.ts';

interface Memo {
  /** Private copies: a reply's blobs are views of the socket's buffer, which must not be kept alive. */
  blobs: Buffer[];
  stored: StoredVector;
  /** What decoding counted for it, counted again on every reuse. */
  missing: number;
  corrupt: number;
}

export class DecodeMemo {
  private readonly lru: LRUCache<string, Memo>;
  /** Plans by identity (a feature subset decodes other values from the same bytes). */
  private readonly planIds = new WeakMap<EntityPlan, number>();
  private nextPlanId = 0;
  /** The plan asked for last and its id: a batch asks for the same plan for every entity. */
  private lastPlan: EntityPlan | undefined;
  private lastPlanId = 0;

  constructor(max: number) {
    this.lru = new LRUCache<string, Memo>({ max });
  }

  /** The key of one entity under one plan. */
  key(plan: EntityPlan, entityId: string): string {
    if (plan !== this.lastPlan) {
      let id = this.planIds.get(plan);
      if (id === undefined) this.planIds.set(plan, (id = this.nextPlanId++));
      this.lastPlan = plan;
      this.lastPlanId = id;
    }
    return `${this.lastPlanId}\u0000${entityId}`;
  }

  /**
   * The vector decoded before from exactly `replies[start .. start + groups)`,
   * its counts added to `counts`; undefined when any blob differs or is absent.
   */
  reuse(key: string, replies: readonly HashReply[], start: number, groups: number, counts: { missing: number; corrupt: number }): StoredVector | undefined {
    const memo = this.lru.get(key);
    if (memo === undefined) return undefined;
    for (let g = 0; g < groups; g++) {
      const reply = replies[start + g];
      if (!Buffer.isBuffer(reply) || !reply.equals(memo.blobs[g]!)) return undefined;
    }
    counts.missing += memo.missing;
    counts.corrupt += memo.corrupt;
    return memo.stored;
  }

  /** Keeps `stored`, decoded from `replies[start .. start + groups)`, when every one of them is a blob. */
  keep(key: string, replies: readonly HashReply[], start: number, groups: number, stored: StoredVector, missing: number, corrupt: number): void {
    const blobs = new Array<Buffer>(groups);
    for (let g = 0; g < groups; g++) {
      const reply = replies[start + g];
      if (!Buffer.isBuffer(reply)) return;
      // Not from the shared pool: a kept copy would keep a whole pool slab alive.
      const copy = Buffer.allocUnsafeSlow(reply.length);
      reply.copy(copy);
      blobs[g] = copy;
    }
    this.lru.set(key, { blobs, stored, missing, corrupt });
  }

  clear(): void {
    this.lru.clear();
  }
}
