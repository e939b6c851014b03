/**
 * The wire format of lua/materialize-n.lua, in one place: what an entity write
 * carries, how writes are packed into script calls (only one slot's entities
 * per call on a Cluster, so each call's keys share a slot, fence key included),
 * and what each reply means. Nothing else reads the script's positional replies.
 */
import { pack, type Packable } from './msgpack.ts';
import type { NodePipelines } from './node-pipelines.ts';
import { queueScript } from './scripts.ts';

/** One vector key, in the layout of its keyspace version (stores/vector-layout.ts). */
export type VectorWrite = {
  key: string;
  ttlMs: number;
} & (
  | {
      /** One SET with its TTL: the TTL is set on every write. */
      kind: 'packed';
      /** The whole group, version and write time zeroed (the script fills them). */
      packed: Buffer;
    }
  | {
      kind: 'fields';
      /** Set the key's TTL; false when the caller set it recently. The script sets it anyway when the write creates the hash. */
      refreshTtl: boolean;
      /** Feature name -> encoded value, only those that changed; `_version` and `_updated_ms` are set along. */
      set: ReadonlyArray<readonly [string, string | Buffer]>;
      /** Feature names to remove (lapsed or undefined). */
      del: readonly string[];
    }
);

export interface EntityWrite {
  stateKey: string;
  /** The `_version` the state hash holds (the writer's own last write or load); 0 when the entity has no state yet. */
  knownVersion: number;
  /** Write only if `_version` still equals knownVersion (the entity may have other writers: sources not co-partitioned). */
  compare: boolean;
  /** Write `_version` = knownVersion instead of a new one: a write-behind checkpoint of a state whose vectors carry it. */
  keepVersion?: boolean;
  /** Overwrite whatever the state hash holds (its `_version` is unreadable): quarantine rebuilds only. */
  replaceCorrupt?: boolean;
  stateTtlMs: number;
  /** Set the state key's TTL; false when the caller set it recently. Set anyway on a new or replaced hash. */
  refreshStateTtl: boolean;
  /** Serialized engine state; undefined = vectors only (write-behind: the state is checkpointed later, see consumers/checkpoints.ts). */
  state: Uint8Array | undefined;
  /** Offset fields to move forward (the writer checked them against its view). */
  offsets: ReadonlyArray<readonly [string, number]>;
  vectors: readonly VectorWrite[];
}

export type WriteOutcome =
  | { status: 'written'; version: number }
  /** The CAS found `_version` moved: another writer won; reload and reapply. */
  | { status: 'conflict'; stored: number }
  /** The partition's fence holds a newer epoch than the caller's: nothing of the call was written. */
  | { status: 'fenced'; stored: number }
  /** The call holding this entity failed; `alone` says whether the entity was the only one in it. */
  | { status: 'failed'; error: Error; alone: boolean };

/** The caller's write epoch of the partition the entities belong to, and its fence key in a given key's slot. */
export interface CallFence {
  epoch: number;
  /** Fence key sharing the slot of `key`. */
  keyFor(key: string): string;
  /** Fence key TTL, ms (set whenever a call moves the fence). */
  ttlMs: number;
}

/** Entities per script call: amortizes the per-command cost while keeping each call short for readers. */
export const ENTITIES_PER_CALL = 100;

/**
 * Queues the script calls for `writes` on their masters' pipelines. `alone` puts each
 * entity in a call of its own (to tell which entity a failing call was about).
 * The returned function turns exec()'s replies into one outcome per write, in order.
 */
export function queueMaterialize(
  pipelines: NodePipelines,
  fenceOf: (index: number) => CallFence,
  writeMs: number,
  writes: readonly EntityWrite[],
  alone: (index: number) => boolean = () => false,
): (replies: ReadonlyArray<[Error | null, unknown]>) => WriteOutcome[] {
  const calls: number[][] = [];
  // One call per fence key: one partition, and on a Cluster one slot.
  const open = new Map<string, number[]>();
  writes.forEach((w, i) => {
    if (alone(i)) {
      calls.push([i]);
      return;
    }
    const group = fenceOf(i).keyFor(w.stateKey);
    const call = open.get(group);
    if (call && call.length < ENTITIES_PER_CALL) call.push(i);
    else {
      const fresh = [i];
      calls.push(fresh);
      open.set(group, fresh);
    }
  });
  const positions = calls.map((call) => {
    const first = writes[call[0]!]!.stateKey;
    const fence = fenceOf(call[0]!);
    const keys: string[] = [fence.keyFor(first)];
    const blocks: Packable[] = [writeMs, fence.epoch, fence.ttlMs];
    for (const i of call) {
      const w = writes[i]!;
      keys.push(w.stateKey, ...w.vectors.map((v) => v.key));
      blocks.push(block(w));
    }
    return pipelines.queue(first, (p) => queueScript(p, 'materialize', keys, [pack(blocks)]));
  });

  return (replies) => {
    const out = new Array<WriteOutcome>(writes.length);
    calls.forEach((call, c) => {
      const [err, reply] = replies[positions[c]!] ?? [new Error('missing reply'), null];
      if (err) {
        for (const i of call) out[i] = { status: 'failed', error: err, alone: call.length === 1 };
        return;
      }
      const flat = reply as Array<number | string>;
      if (flat[0] === 0) {
        for (const i of call) out[i] = { status: 'fenced', stored: Number(flat[1]) };
        return;
      }
      call.forEach((i, k) => {
        const status = flat[2 * k + 1];
        const version = Number(flat[2 * k + 2]);
        if (flat[0] !== 1 || (status !== 1 && status !== 0) || !Number.isSafeInteger(version)) {
          out[i] = { status: 'failed', error: new Error(`materialize script: unexpected reply ${String(flat[0])}`), alone: call.length === 1 };
        } else out[i] = status === 1 ? { status: 'written', version } : { status: 'conflict', stored: version };
      });
    });
    return out;
  };
}

/** One entity's block of the script's argument (see the header of materialize-n.lua). */
function block(w: EntityWrite): Packable {
  const offsets: Packable[] = [];
  for (const [field, offset] of w.offsets) offsets.push(field, offset);
  const vectors = w.vectors.map((v): Packable => {
    if (v.kind === 'packed') return [v.ttlMs, '1', 'p', v.packed];
    return [v.ttlMs, v.refreshTtl ? '1' : '0', 'f', v.set.flat(), v.del];
  });
  const head = [w.vectors.length, w.replaceCorrupt ? 'replace' : w.knownVersion, w.stateTtlMs, w.refreshStateTtl ? '1' : '0', w.state ?? '', offsets];
  return [...head, w.compare ? '1' : '0', vectors, w.keepVersion ? '1' : '0'];
}
