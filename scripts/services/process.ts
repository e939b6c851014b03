import { spawn, execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, openSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createConnection } from 'node:net';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';

/** A detached server process whose pid is kept in `<dir>/<name>.pid`. */
export interface ManagedProcess {
  name: string;
  dir: string;
  /** A string that must appear in /proc/<pid>/cmdline, so we never signal a stranger. */
  marker: string;
}

export function pidFile(p: ManagedProcess): string {
  return join(p.dir, `${p.name}.pid`);
}

export function logFile(p: ManagedProcess): string {
  return join(p.dir, `${p.name}.log`);
}

/** The pid of our own live process, or undefined (stale pid files are removed). */
export function ownPid(p: ManagedProcess): number | undefined {
  const file = pidFile(p);
  if (!existsSync(file)) return undefined;
  const pid = Number(readFileSync(file, 'utf8').trim());
  if (Number.isInteger(pid) && pid > 0 && isOurs(pid, p.marker)) return pid;
  rmSync(file, { force: true });
  return undefined;
}

function isOurs(pid: number, marker: string): boolean {
  try {
    const cmdline = readFileSync(`/proc/${pid}/cmdline`, 'utf8').replaceAll('\0', ' ');
    return cmdline.includes(marker);
  } catch {
    return false;
  }
}

export function startDetached(p: ManagedProcess, command: string, args: string[], env: NodeJS.ProcessEnv = process.env): number {
  mkdirSync(p.dir, { recursive: true });
  const out = openSync(logFile(p), 'a');
  const child = spawn(command, args, { detached: true, stdio: ['ignore', out, out], env });
  if (child.pid === undefined) throw new Error(`${p.name}: could not start ${command}`);
  child.unref();
  writeFileSync(pidFile(p), String(child.pid));
  return child.pid;
}

/** Whether a process with this pid exists (signal 0 checks without delivering anything). */
export function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

/** SIGTERM, then SIGKILL after `graceMs`; only if the pid is still ours. */
export async function stopProcess(p: ManagedProcess, graceMs = 10_000): Promise<boolean> {
  const pid = ownPid(p);
  if (pid === undefined) return false;
  process.kill(pid, 'SIGTERM');
  const deadline = Date.now() + graceMs;
  while (alive(pid) && Date.now() < deadline) await sleep(100);
  if (alive(pid)) process.kill(pid, 'SIGKILL');
  while (alive(pid)) await sleep(50);
  rmSync(pidFile(p), { force: true });
  return true;
}

/** SIGKILL at once: crash simulation for fault tests. */
export async function killProcess(p: ManagedProcess): Promise<void> {
  const pid = ownPid(p);
  if (pid === undefined) return;
  process.kill(pid, 'SIGKILL');
  while (alive(pid)) await sleep(20);
  rmSync(pidFile(p), { force: true });
}

export function portOpen(port: number, host = '127.0.0.1', timeoutMs = 500): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = createConnection({ port, host });
    const done = (ok: boolean) => {
      socket.destroy();
      resolve(ok);
    };
    socket.setTimeout(timeoutMs, () => done(false));
    socket.once('connect', () => done(true));
    socket.once('error', () => done(false));
  });
}

/** Polls `check` until it resolves true; throws with the log tail when time runs out. */
export async function waitUntil(p: ManagedProcess, what: string, check: () => Promise<boolean>, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    if (await check().catch(() => false)) return;
    if (ownPid(p) === undefined) throw new Error(`${p.name} exited before ${what}; log tail:\n${tail(logFile(p))}`);
    if (Date.now() > deadline) throw new Error(`${p.name} not ${what} after ${timeoutMs} ms; log tail:\n${tail(logFile(p))}`);
    await sleep(200);
  }
}

export function tail(file: string, lines = 30): string {
  if (!existsSync(file)) return '(no log)';
  return readFileSync(file, 'utf8').split('\n').slice(-lines).join('\n');
}

export function which(command: string): string | undefined {
  try {
    return execFileSync('sh', ['-c', `command -v ${command}`], { encoding: 'utf8' }).trim() || undefined;
  } catch {
    return undefined;
  }
}
