/**
 * Snapshot -> DynamoDB item, on top of the shared layout (stores/dynamo-item.ts)
 * plus what a Redis rebuild needs beyond it: the applied-offset fence next to
 * the window state, so events a rebuilt entity already contains are not
 * applied twice when Kafka redelivers them.
 */
import type { AttributeValue } from '@aws-sdk/client-dynamodb';
import { ITEM_ATTRIBUTES, vectorToItem, type ItemFeature } from '../stores/dynamo-item.ts';
import type { EntityRef, Keys } from '../stores/keys.ts';
import type { EntitySnapshot } from './snapshot.ts';

/**
 * DynamoDB items are capped at 400 KB; the vector, key and metadata need a few
 * KB, so state above this is left out (the item still serves reads; a rebuild
 * of that entity starts its windows empty).
 */
export const MAX_STATE_BYTES = 350 * 1024;

export interface BuiltItem {
  item: Record<string, AttributeValue>;
  stateOmitted: boolean;
}

export function snapshotToItem(
  keys: Keys,
  ref: EntityRef,
  keyspaceVersion: number,
  snapshot: EntitySnapshot,
  features: readonly ItemFeature[],
): BuiltItem {
  const { state, ...rest } = snapshot.vector;
  const keep = state !== undefined && state.byteLength <= MAX_STATE_BYTES;
  const item = vectorToItem(keys, ref, keyspaceVersion, keep ? snapshot.vector : rest, features);
  if (keep && snapshot.offsets.size > 0) {
    const m: Record<string, AttributeValue> = {};
    for (const [field, offset] of snapshot.offsets) m[field] = { N: String(offset) };
    item[ITEM_ATTRIBUTES.offsets] = { M: m };
  }
  return { item, stateOmitted: state !== undefined && !keep };
}

/** Offsets stored by snapshotToItem; malformed entries are dropped (the fence then only errs towards reapplying). */
export function itemOffsets(item: Record<string, AttributeValue>): Map<string, number> {
  const out = new Map<string, number>();
  for (const [field, value] of Object.entries(item[ITEM_ATTRIBUTES.offsets]?.M ?? {})) {
    const n = Number(value.N);
    if (Number.isSafeInteger(n)) out.set(field, n);
  }
  return out;
}

