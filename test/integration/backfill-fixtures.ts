/**
 * Shared by the backfill-*.test.ts files: the scenario registry plus one new
 * feature (in its own group), vectors read from a given keyspace version, and
 * a `featurestream backfill` child process.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { createWriteStream, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { parseRegistry, type Registry } from '../../src/schemas/registry.ts';
import { randomName } from '../helpers/names.ts';
import { registryInput, type Scenario } from '../helpers/worker-fixtures.ts';

export const NEW_FEATURE = 'tx_min_24h';

/** The scenario's registry with one added feature in a new group; written next to the scenario's config. */
export function withNewFeature(s: Scenario): { registry: Registry; configFile: string } {
  const input = registryInput(s.topics);
  const extended = {
    ...input,
    features: [...input.features, { name: NEW_FEATURE, source: 'tx', op: 'min', field: 'amount', window: '24h', type: 'float', default: 0 }],
    groups: [
      { name: 'features', features: input.features.map((f) => f.name) },
      { name: 'extra', features: [NEW_FEATURE] },
    ],
  };
  const configFile = join(dirname(s.configFile), 'registry-v2.json');
  writeFileSync(configFile, JSON.stringify(extended));
  return { registry: parseRegistry(extended), configFile };
}

export interface ChildBackfill {
  proc: ChildProcess;
  exited: Promise<number | null>;
  stdout: () => string;
  logFile: string;
}

export function spawnBackfill(s: Scenario, env: NodeJS.ProcessEnv, args: string[]): ChildBackfill {
  const logFile = join(tmpdir(), `${randomName('fs-backfill-log')}.log`);
  const log = createWriteStream(logFile);
  const proc = spawn(process.execPath, ['--import', 'tsx', 'src/cli/main.ts', 'backfill', '--session-timeout', '6000', ...args], {
    env: { ...process.env, ...env, FEATURESTREAM_KEY_PREFIX: s.prefix, LOG_LEVEL: 'info' },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let out = '';
  proc.stdout?.on('data', (chunk: Buffer) => (out += chunk.toString()));
  proc.stderr?.pipe(log);
  const exited = new Promise<number | null>((resolve) => proc.once('exit', (code) => resolve(code)));
  return { proc, exited, stdout: () => out, logFile };
}
