/**
 * `featurestream get`, the way humans read vectors now that they are packed
 * binary blobs: the real CLI process decodes them from Redis (table and
 * `--json`), gives defaults for a miss, and exits non-zero naming an invalid id.
 */
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it, onTestFinished } from 'vitest';
import { Keys } from '../../src/stores/keys.ts';
import { randomName } from '../helpers/names.ts';
import { onCluster, testEnv, testRedisClient } from '../helpers/services.ts';
import { seedUsers, testConfig } from './reader-fixtures.ts';

function cli(args: string[], env: NodeJS.ProcessEnv): Promise<{ code: number | null; stdout: string; stderr: string }> {
  const proc = spawn(process.execPath, ['--import', 'tsx', 'src/cli/main.ts', ...args], { env: { ...process.env, ...env, LOG_LEVEL: 'warn' } });
  let stdout = '';
  let stderr = '';
  proc.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
  proc.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
  return new Promise((resolve) => proc.once('close', (code) => resolve({ code, stdout, stderr })));
}

describe('featurestream get', () => {
  it('prints packed vectors decoded, defaults for a miss, and fails naming an invalid id', async () => {
    const prefix = `${randomName('fs-cli-get')}:`;
    const redis = await testRedisClient(prefix);
    const keys = new Keys({ prefix, hashTags: onCluster() });
    await seedUsers(redis, keys, [['u1', { tx_count_1h: 7, tx_sum_1h: 12.5, recent_merchants: ['m2', 'm1'] }]]);
    // The key really is the packed layout: one binary string, nothing readable per feature.
    expect(await redis.type(keys.vector({ entityType: 'user', entityId: 'u1' }, 'velocity'))).toBe('string');

    const dir = mkdtempSync(join(tmpdir(), 'fs-cli-get-'));
    onTestFinished(() => rmSync(dir, { recursive: true, force: true }));
    const config = join(dir, 'registry.json');
    writeFileSync(config, JSON.stringify(testConfig));
    const env = testEnv({ FEATURESTREAM_KEY_PREFIX: prefix });

    const json = await cli(['get', 'user', 'u1', 'u404', '--json', '--config', config], env);
    expect(json.code, json.stderr).toBe(0);
    const rows = json.stdout.trim().split('\n').map((l) => JSON.parse(l) as { entity_id: string; source: string; features: Record<string, unknown> });
    expect(rows.map((r) => [r.entity_id, r.source])).toEqual([['u1', 'redis'], ['u404', 'default']]);
    expect(rows[0]!.features).toMatchObject({ tx_count_1h: 7, tx_sum_1h: 12.5, recent_merchants: ['m2', 'm1'] });
    expect(rows[1]!.features).toMatchObject({ tx_count_1h: 0, recent_merchants: [] });

    const table = await cli(['get', 'user', 'u1', '--config', config], env);
    expect(table.code, table.stderr).toBe(0);
    expect(table.stdout).toMatch(/tx_count_1h/);
    expect(table.stdout).toMatch(/\b7\b/);

    const bad = await cli(['get', 'user', 'u1', 'bad id', '--config', config], env);
    expect(bad.code).not.toBe(0);
    expect(bad.stderr).toContain('bad id');
  });
});
