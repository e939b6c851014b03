import { execFileSync } from 'node:child_process';
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { Redis } from 'ioredis';
import { ownPid, portOpen, startDetached, stopProcess, waitUntil, which, type ManagedProcess } from './process.ts';

/** Installs Debian's redis-server when it is missing (root only, as on CI machines). */
export function installRedis(log: (m: string) => void): string {
  const found = which('redis-server');
  if (found) return found;
  if (process.getuid?.() !== 0) throw new Error('redis-server is missing: sudo apt-get install -y redis-server');
  log('installing redis-server from Debian ...');
  execFileSync('sh', ['-c', 'apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq redis-server'], {
    stdio: ['ignore', 'inherit', 'inherit'],
  });
  const installed = which('redis-server');
  if (!installed) throw new Error('redis-server still missing after apt-get install');
  return installed;
}

export interface RedisServerOptions {
  dir: string;
  port: number;
  /** Extra redis-server arguments, e.g. ['--cluster-enabled', 'yes']. */
  args?: string[];
}

export function redisProcess(o: RedisServerOptions): ManagedProcess {
  return { name: `redis-${o.port}`, dir: o.dir, marker: String(o.port) };
}

export async function redisHealthy(port: number): Promise<boolean> {
  if (!(await portOpen(port))) return false;
  const client = new Redis({ port, host: '127.0.0.1', lazyConnect: true, maxRetriesPerRequest: 0, retryStrategy: () => null, connectTimeout: 1_000 });
  try {
    await client.connect();
    return (await client.ping()) === 'PONG';
  } catch {
    return false;
  } finally {
    client.disconnect();
  }
}

export async function ensureRedis(o: RedisServerOptions, log: (m: string) => void): Promise<string> {
  const proc = redisProcess(o);
  const url = `redis://127.0.0.1:${o.port}`;
  if (ownPid(proc) !== undefined) {
    if (await redisHealthy(o.port)) return url;
    // A loaded machine can miss one ping: give it time before replacing a server that holds data.
    try {
      await waitUntil(proc, 'healthy', () => redisHealthy(o.port), 10_000);
      return url;
    } catch {
      log(`redis on ${o.port} is running but unhealthy; replacing it`);
      await stopProcess(proc, 3_000);
    }
  } else if (await portOpen(o.port)) {
    throw new Error(`port ${o.port} is taken by a process that is not ours; set FS_REDIS_PORT or REDIS_URL`);
  }
  const bin = installRedis(log);
  const dataDir = join(o.dir, `redis-${o.port}`);
  mkdirSync(dataDir, { recursive: true });
  startDetached(proc, bin, [
    '--bind', '127.0.0.1',
    '--port', String(o.port),
    '--dir', dataDir,
    '--save', '',
    '--appendonly', 'no',
    // BullMQ requires noeviction; feature keys carry TTLs of their own.
    '--maxmemory-policy', 'noeviction',
    ...(o.args ?? []),
  ]);
  await waitUntil(proc, 'ready', () => redisHealthy(o.port), 20_000);
  return url;
}
