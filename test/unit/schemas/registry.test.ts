import { mkdtemp, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, expectTypeOf, it } from 'vitest';
import { RegistryError } from '../../../src/errors.ts';
import { defaultRegistryConfig } from '../../../src/schemas/default-registry.ts';
import { defineConfig, loadRegistryFile, parseRegistry, type DefaultFeatures, type FeatureValues } from '../../../src/schemas/registry.ts';

const H = 3_600_000;
const D = 24 * H;

/** A small valid registry to break one rule at a time. */
function base() {
  return {
    entities: [{ name: 'user' }],
    sources: [{ name: 'tx', entity: 'user', keyField: 'user_id', timeField: 'ts', schema: 'transactions' }],
    features: [
      { name: 'a', source: 'tx', op: 'count', window: '1h', type: 'int', default: 0 },
      { name: 'b', source: 'tx', op: 'sum', field: 'amount', window: '1h', type: 'float', default: 0 },
    ],
  } as Record<string, unknown> & { features: Record<string, unknown>[]; sources: Record<string, unknown>[] };
}

function registryError(input: unknown): RegistryError {
  try {
    parseRegistry(input);
  } catch (e) {
    expect(e).toBeInstanceOf(RegistryError);
    return e as RegistryError;
  }
  throw new Error('expected a RegistryError');
}

describe('default registry', () => {
  const registry = parseRegistry(defaultRegistryConfig);

  it('has the training-time defaults of the seed', () => {
    const defaults = Object.fromEntries(registry.features.map((f) => [f.name, f.default]));
    expect(defaults).toMatchObject({
      tx_count_1h: 0,
      tx_sum_1h: 0,
      tx_count_24h: 0,
      tx_sum_24h: 0,
      avg_tx_90d: 0,
      distinct_merchants_7d: 0,
      credit_score_bucket: 2,
      is_premium: 0,
      last_login_ts: 0,
      recent_merchants: [],
    });
    expect(registry.onDemandFeature('account_age_days')).toMatchObject({ kind: 'time_since', input: 'created_at', unit: 'd', default: 0 });
  });

  it('stores every feature in one group `features`, TTL 2 x freshness, key TTL the max', () => {
    expect(registry.groups).toHaveLength(1);
    expect(registry.groups[0]).toMatchObject({ name: 'features', entity: 'user', keyTtlMs: 180 * D });
    expect(registry.feature('last_login_ts')).toMatchObject({ freshnessMs: 4 * H, ttlMs: 8 * H, group: 'features' });
    expect(registry.feature('tx_count_1h')).toMatchObject({ windowMs: H, freshnessMs: H, ttlMs: 2 * H });
  });

  it('chooses tens of tiles per window', () => {
    const tiles = Object.fromEntries(registry.features.filter((f) => f.tileMs).map((f) => [f.name, f.windowMs! / f.tileMs!]));
    expect(tiles).toEqual({ tx_count_1h: 30, tx_sum_1h: 30, tx_count_24h: 24, tx_sum_24h: 24, avg_tx_90d: 30, distinct_merchants_7d: 28 });
  });

  it('has lookups', () => {
    expect(registry.sourceByTopic('logins')?.name).toBe('logins');
    expect(registry.source('profiles')?.keyField).toBe('user_id');
    expect(registry.groupsOf('user').map((g) => g.name)).toEqual(['features']);
    expect(registry.featuresOf('user')).toHaveLength(11);
  });

  it('gives readers compile-time feature types', () => {
    expectTypeOf<DefaultFeatures['tx_count_1h']>().toEqualTypeOf<number>();
    expectTypeOf<DefaultFeatures['recent_merchants']>().toEqualTypeOf<string[]>();
    expectTypeOf<DefaultFeatures['is_weekend']>().toEqualTypeOf<number>();
    const _cfg = defineConfig({
      entities: [{ name: 'user' }],
      sources: [{ name: 'e', entity: 'user', keyField: 'user_id', timeField: 'ts', schema: 'embeddings' }],
      features: [{ name: 'emb', source: 'e', op: 'last', field: 'embedding', type: 'vector', dim: 4, default: null, freshness: '1d' }],
    });
    expectTypeOf<FeatureValues<typeof _cfg>>().toEqualTypeOf<{ emb: Float32Array | null }>();
  });
});

describe('parseRegistry errors name the path', () => {
  it.each([
    ['features[1].window', (r: ReturnType<typeof base>) => Object.assign(r.features[1]!, { tile: '7m' })],
    ['features[0].window', (r: ReturnType<typeof base>) => Object.assign(r.features[0]!, { window: '1234ms' })],
    ['features[0].window', (r: ReturnType<typeof base>) => Object.assign(r.features[0]!, { window: '91d' })],
    ['features[0].window', (r: ReturnType<typeof base>) => Object.assign(r.features[0]!, { window: 'soon' })],
    ['features[1].source', (r: ReturnType<typeof base>) => Object.assign(r.features[1]!, { source: 'nope' })],
    ['features[1].name', (r: ReturnType<typeof base>) => Object.assign(r.features[1]!, { name: 'a' })],
    ['features[0].default', (r: ReturnType<typeof base>) => Object.assign(r.features[0]!, { default: 0.5 })],
    ['features[1].default', (r: ReturnType<typeof base>) => Object.assign(r.features[1]!, { default: 'zero' })],
    ['features[1].field', (r: ReturnType<typeof base>) => Object.assign(r.features[1]!, { field: 'amout' })],
    ['features[0].type', (r: ReturnType<typeof base>) => Object.assign(r.features[0]!, { type: 'float' })],
    ['features[0].freshness', (r: ReturnType<typeof base>) => Object.assign(r.features[0]!, { op: 'last_time', window: undefined })],
    ['features[0]', (r: ReturnType<typeof base>) => Object.assign(r.features[0]!, { windw: '1h' })],
    ['sources[0].entity', (r: ReturnType<typeof base>) => Object.assign(r.sources[0]!, { entity: 'item' })],
    ['sources[0].timeField', (r: ReturnType<typeof base>) => Object.assign(r.sources[0]!, { timeField: 'time' })],
    ['sources[0].schema', (r: ReturnType<typeof base>) => Object.assign(r.sources[0]!, { schema: 'clicks' })],
    ['groups[0].features[1]', (r: ReturnType<typeof base>) => Object.assign(r, { groups: [{ name: 'g', features: ['a', 'a'] }] })],
    ['features[1].name', (r: ReturnType<typeof base>) => Object.assign(r, { groups: [{ name: 'g', features: ['a'] }] })],
  ])('%s', (path, breakIt) => {
    const input = base();
    breakIt(input);
    const e = registryError(input);
    expect(e.message).toContain(`${path}: `);
    expect(e.details.issues).toEqual(expect.arrayContaining([expect.objectContaining({ path })]));
  });

  it('reports every problem at once', () => {
    const input = base();
    Object.assign(input.features[0]!, { source: 'x' });
    Object.assign(input.features[1]!, { default: 'x' });
    expect(registryError(input).details.issues).toHaveLength(2);
  });

  it('accepts the base registry and defaults groups to one `features` hash per entity', () => {
    const r = parseRegistry(base());
    expect(r.groups).toEqual([{ name: 'features', entity: 'user', features: ['a', 'b'], keyTtlMs: 2 * H }]);
  });
});

describe('loadRegistryFile', () => {
  it('loads the default registry without a path', async () => {
    expect((await loadRegistryFile()).feature('tx_sum_24h')?.windowMs).toBe(D);
  });

  it('loads JSON with field-map schemas and names the file in errors', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'registry-'));
    const good = join(dir, 'r.json');
    const json = {
      ...base(),
      sources: [{ name: 'tx', entity: 'user', keyField: 'user_id', timeField: 'ts', schema: { user_id: 'string', amount: 'number', ts: 'time' } }],
    };
    await writeFile(good, JSON.stringify(json));
    const r = await loadRegistryFile(good);
    expect(r.source('tx')!.schema.safeParse({ user_id: 'u', amount: 1, ts: '2025-01-01T00:00:00Z' }).data).toEqual({
      user_id: 'u',
      amount: 1,
      ts: Date.UTC(2025, 0, 1),
    });
    const bad = join(dir, 'bad.json');
    await writeFile(bad, JSON.stringify({ ...json, features: [{ ...json.features[0], tile: '7m' }] }));
    await expect(loadRegistryFile(bad)).rejects.toThrow(/bad\.json: .*features\[0\]\.window/);
    await expect(loadRegistryFile(join(dir, 'missing.json'))).rejects.toBeInstanceOf(RegistryError);
  });

  it('loads a TS module default export', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'registry-'));
    const file = join(dir, 'r.ts');
    await writeFile(file, `export default ${JSON.stringify(base())};\n`);
    expect((await loadRegistryFile(file)).features.map((f) => f.name)).toEqual(['a', 'b']);
  });
});
