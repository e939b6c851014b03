/**
 * The wire format of lua/materialize-n.lua, in one place: what an entity write
 * carries, how writes are packed into script calls (only one slot's entities
 * per call on a Cluster, so each call's keys share a slot), and what each
 * entity's reply means. Nothing else reads the script's positional replies.
 */
import { pack, type Packable } from './msgpack.ts';
import type { NodePipelines } from './node-pipelines.ts';
import { queueScript } from './scripts.ts';

/** One vector hash, in the layout of its keyspace version (stores/vector-layout.ts). */
export type VectorWrite = {
  key: string;
  ttlMs: number;
  /** Set the key's TTL; false when the caller set it recently. The script sets it anyway when the write creates the hash. */
  refreshTtl: boolean;
} & (
  | {
      kind: 'packed';
      /** The whole group, version and write time zeroed (the script fills them). */
      packed: Buffer;
    }
  | {
      kind: 'fields';
      /** Feature name -> encoded value, only those that changed; `_version` and `_updated_ms` are set along. */
      set: ReadonlyArray<readonly [string, string | Buffer]>;
      /** Feature names to remove (lapsed or undefined). */
      del: readonly string[];
    }
);

export interface EntityWrite {
  stateKey: string;
  /** The `_version` the state hash must still hold; 0 when the entity has no state yet. */
  expectedVersion: number;
  /** Overwrite whatever the state hash holds (its `_version` is unreadable): quarantine rebuilds only. */
  replaceCorrupt?: boolean;
  stateTtlMs: number;
  /** Set the state key's TTL; false when the caller set it recently. Set anyway on a new or replaced hash. */
  refreshStateTtl: boolean;
  state: Uint8Array;
  /** Offset fields to move forward: each must be above the stored one. */
  offsets: ReadonlyArray<readonly [string, number]>;
  vectors: readonly VectorWrite[];
}

export type WriteOutcome =
  | { status: 'written'; version: number }
  /** `_version` moved: another writer won; reload and reapply. */
  | { status: 'conflict'; stored: number }
  /** An offset would move backwards: this writer's view is stale. */
  | { status: 'stale'; stored: number }
  /** The call holding this entity failed; `alone` says whether the entity was the only one in it. */
  | { status: 'failed'; error: Error; alone: boolean };

/** Entities per script call: amortizes the per-command cost while keeping each call short for readers. */
export const ENTITIES_PER_CALL = 100;

const STATUS = { 1: 'written', 0: 'conflict', [-1]: 'stale' } as const;

/**
 * Queues the script calls for `writes` on their masters' pipelines. `alone` puts each
 * entity in a call of its own (to tell which entity a failing call was about).
 * The returned function turns exec()'s replies into one outcome per write, in order.
 */
export function queueMaterialize(
  pipelines: NodePipelines,
  writeMs: number,
  writes: readonly EntityWrite[],
  alone: (index: number) => boolean = () => false,
): (replies: ReadonlyArray<[Error | null, unknown]>) => WriteOutcome[] {
  const calls: number[][] = [];
  const open = new Map<string, number[]>();
  writes.forEach((w, i) => {
    if (alone(i)) {
      calls.push([i]);
      return;
    }
    const group = pipelines.slotGroup(w.stateKey);
    const call = open.get(group);
    if (call && call.length < ENTITIES_PER_CALL) call.push(i);
    else {
      const fresh = [i];
      calls.push(fresh);
      open.set(group, fresh);
    }
  });
  const positions = calls.map((call) => {
    const keys: string[] = [];
    const blocks: Packable[] = [writeMs];
    for (const i of call) {
      const w = writes[i]!;
      keys.push(w.stateKey, ...w.vectors.map((v) => v.key));
      blocks.push(block(w));
    }
    return pipelines.queue(keys[0]!, (p) => queueScript(p, 'materialize', keys, [pack(blocks)]));
  });

  return (replies) => {
    const out = new Array<WriteOutcome>(writes.length);
    calls.forEach((call, c) => {
      const [err, reply] = replies[positions[c]!] ?? [new Error('missing reply'), null];
      if (err) {
        for (const i of call) out[i] = { status: 'failed', error: err, alone: call.length === 1 };
        return;
      }
      const flat = reply as number[];
      call.forEach((i, k) => {
        const status = STATUS[flat[2 * k] as keyof typeof STATUS];
        const version = Number(flat[2 * k + 1]);
        if (status === undefined) {
          out[i] = { status: 'failed', error: new Error(`materialize script: unexpected reply ${String(flat[2 * k])}`), alone: call.length === 1 };
        } else out[i] = status === 'written' ? { status, version } : { status, stored: version };
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
    const refresh = v.refreshTtl ? '1' : '0';
    if (v.kind === 'packed') return [v.ttlMs, refresh, 'p', v.packed];
    return [v.ttlMs, refresh, 'f', v.set.flat(), v.del];
  });
  return [w.vectors.length, w.replaceCorrupt ? 'replace' : w.expectedVersion, w.stateTtlMs, w.refreshStateTtl ? '1' : '0', w.state, offsets, vectors];
}
