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
import { portOpen, stopProcess } from '../../scripts/services/process.ts';
import { startRedisCluster, type RedisClusterHandle } from '../../scripts/services/redis-cluster.ts';

/**
 * `span` free ports from the one returned; with `bus`, also each one's Cluster bus port (+10000).
 * Drawn from 12000-20999 (bus ports 22000-30999), below Linux's ephemeral range (32768+): a port
 * in that range can be taken by an outgoing connection, which no listen check sees.
 */
async function sparePort(span = 1, bus = false): Promise<number> {
  for (;;) {
    const port = 12_000 + Math.floor(Math.random() * (9_000 - span));
    const ports = Array.from({ length: span }, (_, i) => port + i);
    const taken = await Promise.all([...ports, ...(bus ? ports.map((p) => p + 10_000) : [])].map((p) => portOpen(p)));
    if (!taken.some(Boolean)) return port;
  }
}

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
  const dir = mkdtempSync(join(tmpdir(), 'fs-redis-'));
  const port = await sparePort();
  const o = { dir, port, args: ['--appendonly', 'yes', '--appendfsync', 'always'] };
  const endpoint = await ensureRedis(o, log);
  onTestFinished(async () => {
    await stopProcess(redisProcess(o), 3_000);
    rmSync(dir, { recursive: true, force: true });
  });
  return {
    endpoint,
    stop: async () => void (await stopProcess(redisProcess(o), 5_000)),
    start: async () => void (await ensureRedis(o, log)),
  };
}

export async function privateKafka(): Promise<PrivateServer> {
  const dir = mkdtempSync(join(tmpdir(), 'fs-kafka-'));
  const port = await sparePort(2);
  const o = { dir, port, heapMb: 512 };
  const endpoint = await ensureKafka(o, log);
  onTestFinished(async () => {
    await stopProcess(kafkaProcess(o), 10_000);
    rmSync(dir, { recursive: true, force: true });
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
