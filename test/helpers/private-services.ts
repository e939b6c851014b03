/**
 * Private Redis / Kafka servers for fault tests that stop a server: each on a
 * spare loopback port in its own temp dir, stopped by pid afterwards. The
 * shared test services are never touched.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { onTestFinished } from 'vitest';
import { ensureRedis, redisProcess } from '../../scripts/services/redis.ts';
import { ensureKafka, kafkaProcess } from '../../scripts/services/kafka.ts';
import { stopProcess } from '../../scripts/services/process.ts';
import { sparePort, withSparePort } from './ports.ts';
import { startRedisCluster, type RedisClusterHandle } from '../../scripts/services/redis-cluster.ts';

const log = (m: string) => process.stderr.write(`[private-services] ${m}\n`);

export interface PrivateServer {
  endpoint: string;
  /** Graceful stop (SIGTERM): Redis flushes its AOF, Kafka its logs. */
  stop(): Promise<void>;
  /** Starts it again on the same port and data dir. */
  start(): Promise<void>;
}

/** A Redis with an fsync-always AOF, so a stop/start keeps every acknowledged write. */
export async function privateRedis(): Promise<PrivateServer> {
  const { o, endpoint } = await withSparePort(1, 'fs-redis-', async (port, dir) => {
    const o = { dir, port, args: ['--appendonly', 'yes', '--appendfsync', 'always'] };
    return { o, endpoint: await ensureRedis(o, log) };
  });
  onTestFinished(async () => {
    await stopProcess(redisProcess(o), 3_000);
    rmSync(o.dir, { recursive: true, force: true });
  });
  return {
    endpoint,
    stop: async () => void (await stopProcess(redisProcess(o), 5_000)),
    start: async () => void (await ensureRedis(o, log)),
  };
}

export async function privateKafka(): Promise<PrivateServer> {
  const { o, endpoint } = await withSparePort(2, 'fs-kafka-', async (port, dir) => {
    const o = { dir, port, heapMb: 512 };
    return { o, endpoint: await ensureKafka(o, log) };
  });
  onTestFinished(async () => {
    await stopProcess(kafkaProcess(o), 10_000);
    rmSync(o.dir, { recursive: true, force: true });
  });
  return {
    endpoint,
    stop: async () => void (await stopProcess(kafkaProcess(o), 20_000)),
    start: async () => void (await ensureKafka(o, log)),
  };
}

/**
 * A private Redis Cluster (3 masters with 1 replica each by default, short
 * node timeout) in its own temp dir, stopped and removed when the calling
 * suite ends. Pass the returned `seeds` as REDIS_CLUSTER_NODES.
 */
export async function privateRedisCluster(options: { masters?: number; replicasPerMaster?: number; args?: string[] } = {}): Promise<RedisClusterHandle> {
  const dir = mkdtempSync(join(tmpdir(), 'fs-redis-cluster-'));
  const masters = options.masters ?? 3;
  const replicasPerMaster = options.replicasPerMaster ?? 1;
  const basePort = await sparePort(masters * (1 + replicasPerMaster), true);
  const cluster = await startRedisCluster({ dir, basePort, masters, replicasPerMaster, ...(options.args ? { args: options.args } : {}) }, log);
  return {
    ...cluster,
    stop: async () => {
      await cluster.stop();
      rmSync(dir, { recursive: true, force: true });
    },
  };
}
