/**
 * `featurestream serve --processes 2`: a supervisor with two server processes
 * sharing one port. Both answer (new connections are spread over them);
 * /metrics sums the children whichever answers it; a child SIGKILLed is
 * re-forked on the same port; SIGTERM drains and stops everything, exit 0.
 */
import { spawn } from 'node:child_process';
import { createWriteStream } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { request } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it, onTestFinished } from 'vitest';
import { randomName } from '../helpers/names.ts';
import { testEnv } from '../helpers/services.ts';
import { waitFor } from '../helpers/wait.ts';
import { alive } from '../../scripts/services/process.ts';

/** One request on a connection of its own, so the primary hands it to the next child. */
function call(port: number, method: 'GET' | 'POST', path: string, body?: string): Promise<{ status: number; text: string }> {
  return new Promise((resolve, reject) => {
    const req = request({ host: '127.0.0.1', port, method, path, agent: false, headers: { 'content-type': 'application/json', connection: 'close' } }, (res) => {
      let text = '';
      res.setEncoding('utf8');
      res.on('data', (chunk: string) => (text += chunk));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, text }));
    });
    req.setTimeout(5_000, () => req.destroy(new Error(`${method} ${path}: no answer in 5 s`)));
    req.on('error', reject);
    req.end(body);
  });
}

async function pidOf(port: number): Promise<number | undefined> {
  const res = await call(port, 'GET', '/healthz').catch(() => undefined);
  return res?.status === 200 ? (JSON.parse(res.text) as { pid: number }).pid : undefined;
}

/** Pids answering /healthz over `tries` new connections. */
async function answering(port: number, tries = 8): Promise<Set<number>> {
  const pids = new Set<number>();
  for (let i = 0; i < tries; i++) {
    const pid = await pidOf(port);
    if (pid !== undefined) pids.add(pid);
  }
  return pids;
}

function vectorsServed(metrics: string): number {
  return metrics
    .split('\n')
    .filter((l) => l.startsWith('featurestream_reader_vectors_total{'))
    .reduce((sum, l) => sum + Number(l.split(' ').at(-1)), 0);
}

describe('serve --processes', () => {
  it('serves from two processes on one port, sums /metrics, re-forks a killed child and stops on SIGTERM', async () => {
    const logFile = join(tmpdir(), `${randomName('fs-serve-log')}.log`);
    const log = createWriteStream(logFile);
    const primary = spawn(process.execPath, ['--import', 'tsx', 'src/cli/main.ts', 'serve', '--port', '0', '--processes', '2'], {
      env: { ...process.env, ...testEnv(), FEATURESTREAM_KEY_PREFIX: `${randomName('fs-serve-procs')}:`, LOG_LEVEL: 'info' },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    primary.stdout.pipe(log);
    primary.stderr.pipe(log);
    const exited = new Promise<number | null>((resolve) => primary.once('exit', (code) => resolve(code)));
    onTestFinished(() => {
      if (primary.exitCode === null && primary.signalCode === null) primary.kill('SIGKILL');
    });

    const port = await waitFor(`the server to report its port (log ${logFile})`, async () => {
      const line = (await readFile(logFile, 'utf8')).split('\n').find((l) => l.includes('"feature server listening"'));
      return line ? (JSON.parse(line) as { port: number }).port : undefined;
    });
    const first = await waitFor('two processes answering', async () => {
      const pids = await answering(port);
      return pids.size === 2 ? [...pids] : undefined;
    });
    expect(first).not.toContain(primary.pid);

    // Ten requests of three ids, spread over both children: the sum counts all thirty vectors.
    for (let i = 0; i < 10; i++) {
      const res = await call(port, 'POST', '/features', JSON.stringify({ entity: 'user', ids: [`a${i}`, `b${i}`, `c${i}`] }));
      expect(res.status).toBe(200);
    }
    for (let i = 0; i < 4; i++) {
      const metrics = await call(port, 'GET', '/metrics');
      expect(metrics.status).toBe(200);
      expect(vectorsServed(metrics.text)).toBe(30);
    }

    process.kill(first[0]!, 'SIGKILL');
    const after = await waitFor(
      'the killed child re-forked, both answering on the same port',
      async () => {
        const pids = await answering(port);
        return pids.size === 2 && !pids.has(first[0]!) ? [...pids] : undefined;
      },
      { timeoutMs: 60_000 },
    );
    expect(alive(first[0]!)).toBe(false);
    expect(after).toContain(first[1]);

    primary.kill('SIGTERM');
    expect(await exited).toBe(0);
    for (const pid of after) expect(alive(pid), `child ${pid} stopped`).toBe(false);
    await expect(call(port, 'GET', '/healthz')).rejects.toThrow();
  });
});
