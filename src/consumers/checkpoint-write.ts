/**
 * The state half of write-behind: writes the dirty states of one partition
 * (state bytes, `_version`, every applied-offset field) with the materialize
 * script and no vector keys, fenced by the partition epoch like every other
 * write, waiting for replicas when configured. Written entries turn clean in
 * the cache; the caller hands the entities to the DynamoDB sync and commits
 * the partition's offsets only after this resolves.
 */
import type { WindowEngine } from '../aggregations/engine.ts';
import { FeaturestreamError } from '../errors.ts';
import type { EntityRef } from '../stores/keys.ts';
import { queueMaterialize, type CallFence, type EntityWrite } from '../stores/materialize-script.ts';
import { NodePipelines, type ReplicaWait } from '../stores/node-pipelines.ts';
import { classifyRedisError, type RedisClient } from '../stores/redis.ts';
import { checkpointMetrics } from './checkpoint-metrics.ts';
import type { EntityLayout } from './entity-layout.ts';
import type { CachedState, StateCache } from './state-cache.ts';
import { stateTtlDue } from './vector-writes.ts';

export interface CheckpointDeps {
  redis: RedisClient;
  engine: Pick<WindowEngine, 'serialize'>;
  layout: EntityLayout;
  cache: StateCache;
  replicaWait: ReplicaWait | undefined;
  fence: (version: number, partition: number) => Promise<CallFence>;
}

/** States per pipeline round trip. */
const CHUNK = 1_000;

/** Writes every dirty state of `partition`; returns the written entities per keyspace version. */
export async function writeCheckpoint(d: CheckpointDeps, partition: number, nowMs: number): Promise<Map<number, EntityRef[]>> {
  const byVersion = new Map<number, Array<[string, CachedState]>>();
  for (const item of d.cache.dirtyOf(partition)) {
    const version = item[1].dirty!.keyspaceVersion;
    const list = byVersion.get(version) ?? [];
    list.push(item);
    byVersion.set(version, list);
  }
  const out = new Map<number, EntityRef[]>();
  for (const [version, items] of byVersion) {
    const fence = await d.fence(version, partition);
    const refs: EntityRef[] = [];
    for (let from = 0; from < items.length; from += CHUNK) {
      const chunk = items.slice(from, from + CHUNK);
      const writes = chunk.map(([key, entry]) => stateWrite(d, key, entry, nowMs));
      const pipelines = new NodePipelines(d.redis);
      const outcomesOf = queueMaterialize(pipelines, () => fence, nowMs, writes);
      const outcomes = outcomesOf(await pipelines.exec(d.replicaWait));
      outcomes.forEach((outcome, i) => {
        const [key, entry] = chunk[i]!;
        if (outcome.status === 'fenced') {
          d.cache.dropPartition(partition);
          throw new FeaturestreamError('FENCED', `a newer writer took partition ${partition} (epoch ${outcome.stored}): its checkpoint is dropped`, true);
        }
        if (outcome.status === 'failed') throw classifyRedisError(outcome.error);
        if (outcome.status !== 'written') throw new Error(`checkpoint write of ${key}: unexpected ${outcome.status}`);
        const written = entry.written && writes[i]!.refreshStateTtl ? { ...entry.written, stateTtlAtMs: nowMs } : entry.written;
        d.cache.markClean(key, entry, outcome.version, written);
        refs.push(entry.dirty!.ref);
      });
      checkpointMetrics.states.inc(chunk.length);
    }
    out.set(version, refs);
  }
  return out;
}

function stateWrite(d: CheckpointDeps, key: string, entry: CachedState, nowMs: number): EntityWrite {
  const { stateTtlMs } = d.layout.entity(entry.dirty!.ref.entityType);
  return {
    stateKey: key,
    knownVersion: entry.version,
    // The vectors carry it: one version per entity write, for the readers and the DynamoDB sync.
    keepVersion: true,
    compare: false,
    stateTtlMs,
    refreshStateTtl: stateTtlDue(entry.written, stateTtlMs, nowMs),
    state: d.engine.serialize(entry.state),
    offsets: [...entry.offsets],
    vectors: [],
  };
}
