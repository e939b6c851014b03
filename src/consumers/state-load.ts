/**
 * The load round of a materializer run: each entity's state from a rebuilt
 * copy (a quarantined entity's DynamoDB state), the in-memory cache, or else
 * Redis, the misses in one round trip (one pipeline per master).
 */
import { isRetriable, type FeaturestreamError } from '../errors.ts';
import type { EntityRef, Keys } from '../stores/keys.ts';
import { classifyRedisError, type RedisClient } from '../stores/redis.ts';
import { NodePipelines } from '../stores/node-pipelines.ts';
import { EMPTY_STATE, parseStoredState, type StoredState } from '../stores/entity-state.ts';
import type { CachedState, StateCache, EngineState } from './state-cache.ts';
import { quarantineError, type RebuiltState } from './quarantine.ts';
import type { WrittenEntity } from './vector-writes.ts';

export interface Loaded {
  key: string;
  stored: StoredState;
  /** Set when the state came from the cache (already deserialized). */
  state: EngineState | undefined;
  /** From the cache: what the write of `stored.version` left in the vector hashes. */
  written?: WrittenEntity | undefined;
  /** From the cache: the whole entry (write-behind puts it back as it was when the run does not change it). */
  entry?: CachedState;
  /** The state hash could not be read or parsed: the entity is quarantined. */
  error?: FeaturestreamError;
  /** A rebuilt state replacing an unusable hash: the write overwrites it whatever its `_version`. */
  replace?: boolean;
}

export async function loadStates(
  o: { redis: RedisClient; keys: Keys },
  cache: StateCache | undefined,
  works: ReadonlyArray<{ ref: EntityRef; partition: number }>,
  version: number,
  rebuilt: ReadonlyMap<string, RebuiltState>,
): Promise<Loaded[]> {
  const out: Loaded[] = new Array(works.length);
  const misses: Array<[index: number, position: number]> = [];
  const pipelines = new NodePipelines(o.redis);
  works.forEach((w, i) => {
    const key = o.keys.state(w.ref, version);
    const copy = rebuilt.get(key);
    const hit = copy ? undefined : cache?.take(key, w.partition);
    // A rebuilt state has no readable `_version` to compare: the write replaces the hash.
    if (copy) out[i] = { key, stored: { version: 0, bytes: Buffer.from(copy.bytes), offsets: copy.offsets }, state: undefined, replace: true };
    else if (hit) {
      out[i] = { key, stored: { version: hit.version, bytes: undefined, offsets: hit.offsets }, state: hit.state, written: hit.written, entry: hit };
    } else {
      misses.push([i, pipelines.queue(key, (p) => p.hgetallBuffer(key))]);
      out[i] = { key, stored: EMPTY_STATE, state: undefined };
    }
  });
  if (misses.length === 0) return out;
  const replies = await pipelines.exec();
  for (const [i, position] of misses) {
    const loaded = out[i]!;
    const [err, reply] = replies[position]!;
    try {
      if (err) throw classifyRedisError(err);
      loaded.stored = parseStoredState(reply as Record<string, Buffer>, loaded.key);
    } catch (error) {
      if (isRetriable(error)) throw error;
      loaded.error = quarantineError(error, loaded.key);
    }
  }
  return out;
}
