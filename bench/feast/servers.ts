/**
 * The two HTTP feature servers of the load test, each started the way its
 * users start it: `featurestream serve` through the CLI, `feast serve` in the
 * feature repo. Each runs in its own process group, so stop() ends the server
 * and the workers it forked, and nothing else.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { createServer } from 'node:net';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { serverNodeFlags } from '../../src/cli/serve-processes.ts';

const ROOT = join(dirname(fileURLToPath(import.meta.url)), '..', '..');

export interface RunningServer {
  url: string;
  stop(): Promise<void>;
}

/** A port the kernel just handed out (ephemeral range, clear of the ports other runs reserve). */
export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const probe = createServer();
    probe.once('error', reject);
    probe.listen(0, '127.0.0.1', () => {
      const address = probe.address();
      probe.close(() => (typeof address === 'object' && address ? resolve(address.port) : reject(new Error('no port'))));
    });
  });
}

async function waitHttp(url: string, child: ChildProcess, output: () => string, timeoutMs: number): Promise<void> {
  const until = Date.now() + timeoutMs;
  while (Date.now() < until) {
    if (child.exitCode !== null) throw new Error(`exited with ${child.exitCode}: ${output()}`);
    const ok = await fetch(url, { signal: AbortSignal.timeout(1_000) }).then(
      (r) => r.ok,
      () => false,
    );
    if (ok) return;
    await new Promise((r) => setTimeout(r, 250));
  }
  throw new Error(`not ready after ${timeoutMs} ms at ${url}: ${output()}`);
}

function startProcess(cmd: string, args: string[], opts: { cwd: string; env: NodeJS.ProcessEnv; readyUrl: string; timeoutMs: number; url: string }): Promise<RunningServer> {
  const child = spawn(cmd, args, { cwd: opts.cwd, env: opts.env, detached: true, stdio: ['ignore', 'pipe', 'pipe'] });
  let tail = '';
  const keep = (chunk: Buffer) => {
    tail = (tail + chunk.toString('utf8')).slice(-2_000);
  };
  child.stdout?.on('data', keep);
  child.stderr?.on('data', keep);
  const output = () => tail.trim().split('\n').slice(-3).join(' | ');
  const stop = async () => {
    if (child.exitCode !== null || child.pid === undefined) return;
    const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
    const group = -child.pid;
    process.kill(group, 'SIGTERM');
    const timer = setTimeout(() => {
      try {
        process.kill(group, 'SIGKILL');
      } catch {
        // already gone
      }
    }, 15_000);
    await exited;
    clearTimeout(timer);
  };
  return waitHttp(opts.readyUrl, child, output, opts.timeoutMs).then(
    () => ({ url: opts.url, stop }),
    async (err: unknown) => {
      await stop();
      throw err;
    },
  );
}

/**
 * `featurestream serve` from this checkout, reading the keyspace under `keyPrefix`; `extraArgs` such as `--processes 2`.
 * Node runs with the server's recommended flags (SERVER_NODE_FLAGS: its young generation), as `--processes` children do.
 */
export async function startFeaturestream(keyPrefix: string, extraArgs: string[] = []): Promise<RunningServer> {
  const port = await freePort();
  const url = `http://127.0.0.1:${port}`;
  return startProcess(process.execPath, [...serverNodeFlags(), '--import', 'tsx', 'src/cli/main.ts', 'serve', '--port', String(port), ...extraArgs], {
    cwd: ROOT,
    // The bench seeds REDIS_URL's node (Feast reads it too), so the server must not switch to a Cluster.
    env: { ...process.env, REDIS_CLUSTER_NODES: '', FEATURESTREAM_KEY_PREFIX: keyPrefix, LOG_LEVEL: 'warn' },
    readyUrl: `${url}/readyz`,
    timeoutMs: 30_000,
    url,
  });
}

/**
 * The floor (static-server.ts): node:http answering the bytes in `answerFile`
 * to every POST, with featurestream's Node flags.
 */
export async function startStatic(answerFile: string): Promise<RunningServer> {
  const port = await freePort();
  const url = `http://127.0.0.1:${port}`;
  return startProcess(process.execPath, [...serverNodeFlags(), '--import', 'tsx', 'bench/feast/static-server.ts', String(port), answerFile], {
    cwd: ROOT,
    env: process.env,
    readyUrl: `${url}/readyz`,
    timeoutMs: 30_000,
    url,
  });
}

/**
 * `feast serve` over the repo in `repoDir`: one worker (like the one Node
 * process it is compared with), no access log, and no worker recycling
 * (its default restarts a worker every ~1,000 requests: once a second here).
 */
export async function startFeast(bin: string, repoDir: string): Promise<RunningServer> {
  const port = await freePort();
  const url = `http://127.0.0.1:${port}`;
  return startProcess(join(bin, 'feast'), ['serve', '-h', '127.0.0.1', '-p', String(port), '--workers', '1', '--no-access-log', '--max-requests', '0'], {
    cwd: repoDir,
    env: { ...process.env, PATH: `${bin}:${process.env.PATH ?? ''}` },
    readyUrl: `${url}/health`,
    timeoutMs: 120_000,
    url,
  });
}
