/**
 * Runs one Redis call per entity in as few round trips as the topology allows:
 * a single node gets one pipeline; a Cluster gets one pipeline per entity, sent
 * concurrently, because an entity's keys share a slot (hash tags) but different
 * entities do not, and ioredis refuses cross-node pipelines.
 */
import type { ChainableCommander } from 'ioredis';
import { execPipeline, isCluster, type RedisClient } from '../stores/redis.ts';

/** Per-entity reply: the script's value, or the error Redis returned for that entity alone. */
export type EntityReply = { ok: true; value: unknown } | { ok: false; error: Error };

export async function perEntity(
  redis: RedisClient,
  count: number,
  queue: (pipeline: ChainableCommander, index: number) => void,
): Promise<EntityReply[]> {
  if (count === 0) return [];
  if (!isCluster(redis)) {
    const pipeline = redis.pipeline();
    for (let i = 0; i < count; i++) queue(pipeline, i);
    return replies(await execPipeline(pipeline));
  }
  const all = await Promise.all(
    Array.from({ length: count }, async (_, i) => {
      const pipeline = redis.pipeline();
      queue(pipeline, i);
      return replies(await execPipeline(pipeline))[0]!;
    }),
  );
  return all;
}

function replies(results: Array<[Error | null, unknown]>): EntityReply[] {
  return results.map(([error, value]) => (error ? { ok: false, error } : { ok: true, value }));
}
