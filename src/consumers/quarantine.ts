/**
 * Quarantine of one broken entity (undecodable state, a value the codec
 * rejects, a store rejection for its keys): its state is rebuilt from its
 * DynamoDB copy when one exists (the item's `state` and `_offsets`), else its
 * events are dead-lettered with the error's code. Either way the rest of the
 * batch and the partition flow on.
 */
import { GetItemCommand, type DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { FeaturestreamError } from '../errors.ts';
import { ITEM_ATTRIBUTES } from '../stores/dynamo-item.ts';
import type { EntityRef, Keys } from '../stores/keys.ts';
import { itemOffsets } from '../sync/item.ts';
import type { DeadLetter } from './dead-letter.ts';

export interface RebuiltState {
  bytes: Uint8Array;
  offsets: Map<string, number>;
}

/** Where a quarantined entity's last good state may come from. */
export interface StateSource {
  fetch(ref: EntityRef, keyspaceVersion: number): Promise<RebuiltState | undefined>;
}

/** The DynamoDB copy the sync keeps (consistent GetItem); undefined without a usable state. */
export function dynamoStateSource(client: DynamoDBClient, table: string, keys: Keys): StateSource {
  return {
    async fetch(ref, keyspaceVersion) {
      let item;
      try {
        ({ Item: item } = await client.send(new GetItemCommand({ TableName: table, Key: keys.dynamoKey(ref, keyspaceVersion), ConsistentRead: true })));
      } catch {
        // No copy to be had now: the entity's events are dead-lettered instead, nothing is lost.
        return undefined;
      }
      const bytes = item?.[ITEM_ATTRIBUTES.state]?.B;
      if (!item || !bytes) return undefined;
      return { bytes, offsets: itemOffsets(item) };
    },
  };
}

/** The error an entity is quarantined for, as a non-retriable FeaturestreamError with a dead-letter code. */
export function quarantineError(err: unknown, stateKey: string): FeaturestreamError {
  if (err instanceof FeaturestreamError) return err;
  const message = err instanceof Error ? err.message : String(err);
  // Anything else thrown while planning one entity (the codec refusing a value, a decode bug) is that entity's.
  return new FeaturestreamError('STATE_CORRUPT', `${stateKey}: ${message}`, false, { cause: err });
}

export function quarantineLetters(work: { topic?: string; partition: number; events: ReadonlyArray<{ message: DeadLetter['message'] }> }, error: FeaturestreamError): DeadLetter[] {
  if (work.topic === undefined) return [];
  return work.events.map((e) => ({ topic: work.topic!, partition: work.partition, message: e.message, error }));
}
