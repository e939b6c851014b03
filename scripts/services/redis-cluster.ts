/**
 * A Redis Cluster on loopback from Debian's redis-server: `masters` masters,
 * each with `replicasPerMaster` replicas, a short cluster-node-timeout so a
 * killed master fails over within seconds. Used by the services script (the
 * shared cluster of the second CI pass) and by fault tests (a private one).
 */
import { execFileSync } from 'node:child_process';
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { Redis } from 'ioredis';
import { ensureRedis, redisProcess } from './redis.ts';
import { killProcess, ownPid, portOpen, stopProcess } from './process.ts';

export interface RedisClusterOptions {
  dir: string;
  /** Ports `basePort .. basePort + masters * (1 + replicasPerMaster) - 1`. */
  basePort: number;
  masters?: number;
  replicasPerMaster?: number;
  nodeTimeoutMs?: number;
  /** Extra redis-server arguments for every node, e.g. ['--appendonly', 'yes']. */
  args?: string[];
}

export interface ClusterNodeInfo {
  port: number;
  role: 'master' | 'replica';
  /** Slots served (masters only). */
  slots: number;
}

export interface RedisClusterHandle {
  /** host:port of every node, for REDIS_CLUSTER_NODES. */
  seeds: string[];
  ports: number[];
  /** The pid of the node on `port` (for SIGKILL / SIGSTOP in fault tests). */
  pid(port: number): number;
  /** Current role and slot count of every reachable node. */
  nodes(): Promise<ClusterNodeInfo[]>;
  /** SIGKILL the node on `port` (no graceful shutdown). */
  kill(port: number): Promise<void>;
  /** Starts the node on `port` again with its data dir and nodes.conf (it rejoins, as a replica if it was failed over). */
  restart(port: number): Promise<void>;
  /** Resolves once every slot is served and every reachable node says cluster_state:ok. */
  waitHealthy(timeoutMs?: number): Promise<void>;
  stop(): Promise<void>;
}

function nodeOptions(o: RedisClusterOptions, port: number) {
  const nodeDir = join(o.dir, `node-${port}`);
  return {
    dir: o.dir,
    port,
    args: [
      '--cluster-enabled', 'yes',
      '--cluster-config-file', join(nodeDir, 'nodes.conf'),
      '--cluster-node-timeout', String(o.nodeTimeoutMs ?? 1_500),
      // A replica may be promoted however far behind it is: the fault tests want failovers to happen.
      '--cluster-replica-validity-factor', '0',
      '--dir', nodeDir,
      ...(o.args ?? []),
    ],
  };
}

async function withNode<T>(port: number, f: (r: Redis) => Promise<T>): Promise<T> {
  const r = new Redis({ port, host: '127.0.0.1', lazyConnect: true, maxRetriesPerRequest: 0, retryStrategy: () => null, connectTimeout: 1_000 });
  r.on('error', () => undefined);
  try {
    await r.connect();
    return await f(r);
  } finally {
    r.disconnect();
  }
}

async function sleep(ms: number): Promise<void> {
  await new Promise((r) => setTimeout(r, ms));
}

/**
 * Every reachable node says cluster_state:ok, and every slot range is served
 * by a master that answers: right after a kill the survivors still say ok
 * until the node timeout passes, so state alone is not enough.
 */
async function healthy(ports: number[]): Promise<boolean> {
  const up: number[] = [];
  for (const port of ports) if (await portOpen(port)) up.push(port);
  if (up.length === 0) return false;
  for (const port of up) {
    const info = await withNode(port, async (r) => String(await r.cluster('INFO'))).catch(() => '');
    if (!info.includes('cluster_state:ok') || !info.includes('cluster_slots_ok:16384')) return false;
  }
  const ranges = (await withNode(up[0]!, (r) => r.cluster('SLOTS')).catch(() => [])) as Array<[number, number, [string, number]]>;
  let covered = 0;
  for (const [from, to, [, port]] of ranges) {
    if (!up.includes(port)) return false;
    const role = await withNode(port, async (r) => String(await r.info('replication'))).catch(() => '');
    if (!role.includes('role:master')) return false;
    covered += to - from + 1;
  }
  return covered === 16_384;
}

export async function startRedisCluster(o: RedisClusterOptions, log: (m: string) => void = () => undefined): Promise<RedisClusterHandle> {
  const masters = o.masters ?? 3;
  const replicas = o.replicasPerMaster ?? 1;
  const ports = Array.from({ length: masters * (1 + replicas) }, (_, i) => o.basePort + i);
  for (const port of ports) mkdirSync(join(o.dir, `node-${port}`), { recursive: true });
  // ensureRedis passes --dir itself; ours comes later in args and wins.
  await Promise.all(ports.map((port) => ensureRedis(nodeOptions(o, port), log)));
  // Nodes restarted from their nodes.conf already form the cluster, though its state may not
  // read ok until they have met again; `create` would refuse them as not empty.
  const knownNodes = await withNode(ports[0]!, async (r) => Number(/cluster_known_nodes:(\d+)/.exec(String(await r.cluster('INFO')))?.[1] ?? 0));
  if (knownNodes <= 1) {
    execFileSync(
      'redis-cli',
      ['--cluster', 'create', ...ports.map((p) => `127.0.0.1:${p}`), '--cluster-replicas', String(replicas), '--cluster-yes'],
      { stdio: 'pipe' },
    );
  }

  const handle: RedisClusterHandle = {
    seeds: ports.map((p) => `127.0.0.1:${p}`),
    ports,
    pid(port) {
      const pid = ownPid(redisProcess({ dir: o.dir, port }));
      if (pid === undefined) throw new Error(`redis cluster node ${port} is not running`);
      return pid;
    },
    async nodes() {
      const out: ClusterNodeInfo[] = [];
      for (const port of ports) {
        if (!(await portOpen(port))) continue;
        const line = await withNode(port, async (r) => String(await r.cluster('NODES')))
          .then((text) => text.split('\n').find((l) => l.includes('myself')))
          .catch(() => undefined);
        if (!line) continue;
        const parts = line.split(' ');
        const role = parts[2]!.includes('master') ? 'master' : 'replica';
        let slots = 0;
        for (const range of parts.slice(8)) {
          if (range.startsWith('[')) continue;
          const [a, b] = range.split('-').map(Number);
          slots += (b ?? a!) - a! + 1;
        }
        out.push({ port, role, slots });
      }
      return out;
    },
    async kill(port) {
      await killProcess(redisProcess({ dir: o.dir, port }));
    },
    async restart(port) {
      await ensureRedis(nodeOptions(o, port), log);
    },
    async waitHealthy(timeoutMs = 30_000) {
      const deadline = Date.now() + timeoutMs;
      for (;;) {
        if (await healthy(ports)) return;
        if (Date.now() > deadline) throw new Error(`redis cluster on ${o.basePort}.. not healthy after ${timeoutMs} ms`);
        await sleep(200);
      }
    },
    async stop() {
      await Promise.all(ports.map((port) => stopProcess(redisProcess({ dir: o.dir, port }), 3_000)));
    },
  };
  await handle.waitHealthy(60_000);
  if (replicas > 0) {
    // Replicas attach asynchronously after create; fault tests need them in sync before killing a master.
    const deadline = Date.now() + 60_000;
    for (;;) {
      const infos = await Promise.all(ports.map((p) => withNode(p, async (r) => String(await r.info('replication'))).catch(() => '')));
      const linked = infos.filter((i) => i.includes('role:slave') && i.includes('master_link_status:up')).length;
      if (linked >= masters * replicas) break;
      if (Date.now() > deadline) throw new Error('redis cluster replicas did not link to their masters within 60 s');
      await sleep(200);
    }
  }
  return handle;
}
