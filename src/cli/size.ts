import type { Command } from 'commander';
import { loadEnvConfig } from '../config.ts';
import { loadRegistryFile } from '../schemas/registry.ts';
import { Keys } from '../stores/keys.ts';
import { createRedis, type RedisClient } from '../stores/redis.ts';
import { estimateCapacity, formatBytes } from '../stores/sizing.ts';
import { readActiveVersion } from '../consumers/backfill/handover.ts';
import { readVectorKey } from '../stores/stored-vector.ts';
import { GroupCodec } from '../stores/vector-layout.ts';

interface SizeOptions {
  config?: string;
  sample: number;
  entities?: number;
  readRps: number;
  writeRps: number;
}

const num = (v: string) => {
  const n = Number(v);
  if (!Number.isFinite(n) || n < 0) throw new Error(`expected a non-negative number, got ${v}`);
  return n;
};

/** SCANs `pattern` on every master; returns up to `sample` keys and the total count seen. */
async function scanKeys(redis: RedisClient, pattern: string, sample: number): Promise<{ sampled: string[]; total: number }> {
  const nodes = 'nodes' in redis ? redis.nodes('master') : [redis];
  const sampled: string[] = [];
  let total = 0;
  for (const node of nodes) {
    let cursor = '0';
    do {
      const [next, keys] = await node.scan(cursor, 'MATCH', pattern, 'COUNT', 1000);
      cursor = next;
      total += keys.length;
      for (const k of keys) if (sampled.length < sample) sampled.push(k);
    } while (cursor !== '0');
  }
  return { sampled, total };
}

async function run(o: SizeOptions): Promise<void> {
  const env = loadEnvConfig();
  const registry = await loadRegistryFile(o.config);
  const redis = createRedis(env);
  const keys = new Keys({ prefix: env.FEATURESTREAM_KEY_PREFIX, hashTags: env.REDIS_CLUSTER_NODES !== undefined });
  try {
    const version = await readActiveVersion(redis, keys);
    for (const entity of registry.entities) {
      const groups = registry.groups.filter((g) => g.entity === entity.name);
      const codecs = groups.map((g) => new GroupCodec(g.features.map((n) => registry.feature(n)!)));
      const first = groups[0];
      if (!first) continue;
      const { sampled, total } = await scanKeys(redis, keys.vectorPattern(entity.name, first.name, version), o.sample);
      const active = o.entities ?? total;
      let bytes = 0;
      let itemBytes = 0;
      for (const vectorKey of sampled) {
        const ref = keys.parseVector(vectorKey, entity.name, first.name, version);
        if (!ref) continue;
        // An entity's keys share one slot (hash tags on Cluster), so one pipeline per entity works everywhere.
        const entityKeys = [...groups.map((g) => keys.vector(ref, g.name, version)), keys.state(ref, version)];
        const pipe = redis.pipeline();
        for (const key of entityKeys) pipe.memory('USAGE', key);
        const usage = (await pipe.exec()) ?? [];
        for (const [, used] of usage) bytes += Number(used ?? 0);
        for (let g = 0; g < groups.length; g++) {
          // DynamoDB items hold one attribute per feature whatever the Redis layout: size every group per field.
          const stored = codecs[g]!.decode(await readVectorKey(redis, entityKeys[g]!));
          if (!stored) continue;
          const fields = codecs[g]!.content('fields', stored.values, stored.version ?? 0, stored.updatedMs ?? 0);
          for (const [f, v] of Object.entries(fields)) itemBytes += f.length + v.length;
        }
        const state = await redis.hgetallBuffer(keys.state(ref, version));
        for (const [f, v] of Object.entries(state)) itemBytes += f.length + v.length;
      }
      const n = Math.max(1, sampled.length);
      const est = estimateCapacity({ bytesPerEntity: bytes / n, activeEntities: active, itemBytes: itemBytes / n, readsPerSec: o.readRps, writesPerSec: o.writeRps });
      console.log(`${entity.name}: ${active.toLocaleString()} active entities (${sampled.length} sampled)`);
      console.log(`  Redis memory      ${formatBytes(est.redisBytes)}  (${Math.round(bytes / n)} B/entity x ${active.toLocaleString()} x 1.3)`);
      console.log(`  DynamoDB item     ~${Math.round(itemBytes / n)} B`);
      console.log(`  DynamoDB reads    ${est.rcuPerSec.toLocaleString()} RCU/s at ${o.readRps.toLocaleString()} reads/s (eventually consistent)`);
      console.log(`  DynamoDB writes   ${est.wcuPerSec.toLocaleString()} WCU/s at ${o.writeRps.toLocaleString()} vector writes/s`);
    }
  } finally {
    redis.disconnect();
  }
}

export function register(program: Command): void {
  program
    .command('size')
    .description('estimate Redis memory and DynamoDB capacity from sampled keys')
    .option('--config <file>', 'feature registry (JSON or TS/JS module)')
    .option('--sample <n>', 'keys to sample per entity type', num, 200)
    .option('--entities <n>', 'active entities to size for (default: the count found in Redis)', num)
    .option('--read-rps <n>', 'reader lookups per second that reach DynamoDB', num, 1_000)
    .option('--write-rps <n>', 'vector writes per second', num, 1_000)
    .action(run);
}
