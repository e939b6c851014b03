/**
 * A redis-server one reader test file owns (the shared one is never touched),
 * for faults injected by pid: hung (SIGSTOP), resumed (SIGCONT), stopped,
 * started again on the same port. Started before the file's tests, stopped
 * and removed after them (resumed first, should a test have left it hung).
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll } from 'vitest';
import { ownPid, stopProcess } from '../../scripts/services/process.ts';
import { ensureRedis, redisProcess } from '../../scripts/services/redis.ts';
import { sparePort } from '../helpers/ports.ts';

export interface OwnRedis {
  /** Its port, once the file's tests run. */
  port(): number;
  url(): string;
  /** SIGSTOP: the socket stays open but nothing answers. */
  hang(): void;
  /** SIGCONT. */
  resume(): void;
  stop(): Promise<void>;
  start(): Promise<void>;
}

export function ownRedisForFile(name: string): OwnRedis {
  const dir = mkdtempSync(join(tmpdir(), `${name}-`));
  let port = 0;
  const log = () => undefined;
  const signal = (sig: NodeJS.Signals) => {
    const pid = ownPid(redisProcess({ dir, port }));
    if (pid !== undefined) process.kill(pid, sig);
  };
  beforeAll(async () => {
    port = await sparePort();
    await ensureRedis({ dir, port }, log);
  });
  afterAll(async () => {
    signal('SIGCONT');
    await stopProcess(redisProcess({ dir, port }), 3_000);
    rmSync(dir, { recursive: true, force: true });
  });
  return {
    port: () => port,
    url: () => `redis://127.0.0.1:${port}`,
    hang: () => signal('SIGSTOP'),
    resume: () => signal('SIGCONT'),
    stop: () => stopProcess(redisProcess({ dir, port }), 3_000).then(() => undefined),
    start: () => ensureRedis({ dir, port }, log).then(() => undefined),
  };
}
