/**
 * The local service stack (no Docker): Kafka 4.x, Redis, dynalite, and on
 * request the extras CI needs: a Redis Cluster (3 masters + 1 replica each)
 * and a second, Kafka 3.9 broker. Endpoints already set in the environment
 * win: that service is not started. Everything is stopped by pid.
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { ensureKafka, kafkaProcess, KAFKA_VERSION } from './kafka.ts';
import { ensureRedis, redisProcess } from './redis.ts';
import { ensureDynalite, dynaliteProcess } from './dynalite.ts';
import { startRedisCluster } from './redis-cluster.ts';
import { ownPid, type ManagedProcess } from './process.ts';

const root = resolve(dirname(fileURLToPath(import.meta.url)), '../..');
export const servicesDir = resolve(process.env.FS_SERVICES_DIR ?? join(root, '.services'));
const port = (name: string, fallback: number) => Number(process.env[name] ?? fallback);
export const ports = {
  kafka: port('FS_KAFKA_PORT', 19092),
  redis: port('FS_REDIS_PORT', 16379),
  dynamodb: port('FS_DYNAMODB_PORT', 18000),
  redisCluster: port('FS_REDIS_CLUSTER_PORT', 17000),
  kafkaLegacy: port('FS_KAFKA_LEGACY_PORT', 19094),
};
export const KAFKA_LEGACY_VERSION = process.env.FS_KAFKA_LEGACY_VERSION ?? '3.9.1';
const CLUSTER_MASTERS = 3;
const CLUSTER_REPLICAS = 1;
const clusterPorts = Array.from({ length: CLUSTER_MASTERS * (1 + CLUSTER_REPLICAS) }, (_, i) => ports.redisCluster + i);

export interface StackOptions {
  /** Also the shared Redis Cluster (REDIS_CLUSTER_NODES). */
  cluster?: boolean;
  /** Also a Kafka 3.9 broker (KAFKA_LEGACY_BROKERS). */
  kafkaLegacy?: boolean;
}

export type Endpoints = Record<string, string>;

/** Every process the stack may have started, by name, for `down` and `status`. */
export function stackProcesses(): Record<string, ManagedProcess> {
  return {
    kafka: kafkaProcess({ dir: servicesDir, port: ports.kafka }),
    redis: redisProcess({ dir: servicesDir, port: ports.redis }),
    dynamodb: dynaliteProcess({ dir: servicesDir, port: ports.dynamodb }),
    [`kafka-${KAFKA_LEGACY_VERSION}`]: kafkaProcess({ dir: servicesDir, port: ports.kafkaLegacy }),
    ...Object.fromEntries(clusterPorts.map((p) => [`redis-cluster-${p}`, redisProcess({ dir: join(servicesDir, 'redis-cluster'), port: p })])),
  };
}

export function running(proc: ManagedProcess): number | undefined {
  return ownPid(proc);
}

/** Starts (or reuses) the services; each failure is reported by service name. */
export async function up(o: StackOptions, log: (m: string) => void): Promise<Endpoints> {
  mkdirSync(servicesDir, { recursive: true });
  const started = Date.now();
  const env = process.env;
  const tasks: Array<[string, string, () => Promise<string>]> = [
    ['KAFKA_BROKERS', 'kafka', () => ensureKafka({ dir: servicesDir, port: ports.kafka }, log)],
    ['REDIS_URL', 'redis', () => ensureRedis({ dir: servicesDir, port: ports.redis }, log)],
    ['DYNAMODB_ENDPOINT', 'dynamodb (dynalite)', () => ensureDynalite({ dir: servicesDir, port: ports.dynamodb }, log)],
  ];
  if (o.cluster) {
    tasks.push(['REDIS_CLUSTER_NODES', 'redis cluster', async () => {
      const dir = join(servicesDir, 'redis-cluster');
      mkdirSync(dir, { recursive: true });
      const cluster = await startRedisCluster({ dir, basePort: ports.redisCluster, masters: CLUSTER_MASTERS, replicasPerMaster: CLUSTER_REPLICAS }, log);
      return cluster.seeds.join(',');
    }]);
  }
  if (o.kafkaLegacy) {
    tasks.push(['KAFKA_LEGACY_BROKERS', `kafka ${KAFKA_LEGACY_VERSION}`, () =>
      ensureKafka({ dir: servicesDir, port: ports.kafkaLegacy, version: KAFKA_LEGACY_VERSION, heapMb: 512 }, log)]);
  }
  // Redis and dynalite start in parallel with the JVMs.
  const results = await Promise.allSettled(tasks.map(([variable, , start]) => env[variable] ?? start()));
  const failures: string[] = [];
  const endpoints: Endpoints = {};
  results.forEach((r, i) => {
    const [variable, name] = tasks[i]!;
    if (r.status === 'fulfilled') endpoints[variable] = r.value;
    else failures.push(`${name}: ${r.reason instanceof Error ? r.reason.message : String(r.reason)}`);
  });
  if (failures.length > 0) throw new Error(`services failed to start:\n${failures.join('\n')}`);
  writeFileSync(join(servicesDir, 'endpoints.env'), Object.entries(endpoints).map(([k, v]) => `export ${k}=${v}\n`).join(''));
  log(`ready in ${((Date.now() - started) / 1000).toFixed(1)} s (Kafka ${KAFKA_VERSION}); logs and pids in ${servicesDir}`);
  return endpoints;
}
