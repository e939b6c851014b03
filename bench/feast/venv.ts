/**
 * Feast for the benches: `feast[redis]` at a pinned version in a venv under the
 * project's cache folder (where the services script keeps the Kafka jars),
 * installed on first use and reused while the version matches.
 */
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { homedir } from 'node:os';
import { join } from 'node:path';

export const FEAST_VERSION = '0.67.0';

export function feastVenvDir(): string {
  const cache = process.env.XDG_CACHE_HOME ?? join(homedir(), '.cache');
  return join(cache, 'featurestream', 'feast-venv');
}

export type FeastInstall = { ok: true; python: string; bin: string } | { ok: false; reason: string };

function run(cmd: string, args: string[], timeoutMs: number): { ok: boolean; out: string } {
  const r = spawnSync(cmd, args, { encoding: 'utf8', timeout: timeoutMs, stdio: ['ignore', 'pipe', 'pipe'] });
  if (r.error) return { ok: false, out: r.error.message };
  const tail = `${r.stdout ?? ''}${r.stderr ?? ''}`.trim().split('\n').slice(-3).join(' | ');
  return { ok: r.status === 0, out: r.status === 0 ? (r.stdout ?? '').trim() : `exit ${r.status}: ${tail}` };
}

function installedVersion(python: string): string | undefined {
  if (!existsSync(python)) return undefined;
  const r = run(python, ['-c', 'import feast; print(feast.__version__)'], 120_000);
  return r.ok ? r.out : undefined;
}

/** Never throws: a machine without Python or PyPI gets a reason the bench prints instead of Feast's figures. */
export function ensureFeast(log: (line: string) => void = (l) => console.error(l)): FeastInstall {
  if (process.env.FEATURESTREAM_BENCH_FEAST === '0') return { ok: false, reason: 'skipped (FEATURESTREAM_BENCH_FEAST=0)' };
  const dir = feastVenvDir();
  const bin = join(dir, 'bin');
  const python = join(bin, 'python');
  if (installedVersion(python) === FEAST_VERSION) return { ok: true, python, bin };
  log(`installing feast[redis]==${FEAST_VERSION} into ${dir} (first run only) ...`);
  if (!existsSync(python)) {
    const venv = run('python3', ['-m', 'venv', dir], 300_000);
    if (!venv.ok) return { ok: false, reason: `python3 -m venv failed: ${venv.out}` };
  }
  const pip = run(python, ['-m', 'pip', 'install', '-q', '--disable-pip-version-check', `feast[redis]==${FEAST_VERSION}`], 1_200_000);
  if (!pip.ok) return { ok: false, reason: `pip install feast[redis]==${FEAST_VERSION} failed: ${pip.out}` };
  const version = installedVersion(python);
  if (version !== FEAST_VERSION) return { ok: false, reason: `feast ${version ?? 'not importable'} after install, expected ${FEAST_VERSION}` };
  return { ok: true, python, bin };
}
