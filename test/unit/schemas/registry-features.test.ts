/** Registry rules for issue 13: filters, composite keys, shared topics, stddev/variance, derived on-demand kinds. */
import { describe, expect, expectTypeOf, it } from 'vitest';
import { RegistryError } from '../../../src/errors.ts';
import { defineConfig, parseRegistry, type FeatureValues } from '../../../src/schemas/registry.ts';

type Input = Record<string, unknown> & { entities: Record<string, unknown>[]; features: Record<string, unknown>[]; sources: Record<string, unknown>[]; onDemand: Record<string, unknown>[] };

/** user and user_merchant features from one transactions topic. */
function base(): Input {
  return {
    entities: [{ name: 'user' }, { name: 'user_merchant', keys: ['user_id', 'merchant_id'] }],
    sources: [
      { name: 'tx', topic: 'transactions', entity: 'user', keyField: 'user_id', timeField: 'ts', schema: { user_id: 'string', merchant_id: 'string', amount: 'number', status: 'string', card_present: 'boolean', ts: 'time' } },
      { name: 'tx_pair', topic: 'transactions', entity: 'user_merchant', keyFields: ['user_id', 'merchant_id'], timeField: 'ts', schema: 'transactions' },
    ],
    features: [
      { name: 'tx_count_1h', source: 'tx', op: 'count', window: '1h', type: 'int', default: 0 },
      { name: 'declined_1h', source: 'tx', op: 'count', window: '1h', type: 'int', default: 0, where: [{ field: 'status', eq: 'declined' }, { field: 'amount', gte: 100 }] },
      { name: 'amount_sd_7d', source: 'tx', op: 'stddev', field: 'amount', window: '7d', type: 'float', default: 0 },
      { name: 'amount_avg_7d', source: 'tx', op: 'avg', field: 'amount', window: '7d', type: 'float', default: 0 },
      { name: 'pair_count_30d', source: 'tx_pair', op: 'count', window: '30d', type: 'int', default: 0 },
    ],
    onDemand: [
      { name: 'decline_ratio_1h', entity: 'user', kind: 'ratio', numerator: 'declined_1h', denominator: 'tx_count_1h', default: 0 },
      { name: 'amount_z', entity: 'user', kind: 'zscore', contextField: 'amount', mean: 'amount_avg_7d', stddev: 'amount_sd_7d', default: 0 },
      { name: 'count_gap', entity: 'user', kind: 'difference', left: 'tx_count_1h', right: 'declined_1h', default: 0 },
    ],
  };
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

describe('issue 13 registry shapes', () => {
  it('accepts filters, composite keys, one topic feeding two sources, and derived kinds', () => {
    const r = parseRegistry(base());
    expect(r.entity('user_merchant')).toEqual({ name: 'user_merchant', keys: ['user_id', 'merchant_id'] });
    expect(r.sourcesByTopic('transactions').map((s) => s.name)).toEqual(['tx', 'tx_pair']);
    expect(r.sourcesByTopic('nope')).toEqual([]);
    expect(r.source('tx_pair')).toMatchObject({ keyFields: ['user_id', 'merchant_id'] });
    expect(r.source('tx_pair')!.keyField).toBeUndefined();
    expect(r.source('tx')).toMatchObject({ keyField: 'user_id', keyFields: ['user_id'] });
    const declined = r.feature('declined_1h')!;
    expect(declined.filter!({ status: 'declined', amount: 100 })).toBe(true);
    expect(declined.filter!({ status: 'declined', amount: 99.99 })).toBe(false);
    expect(declined.filter!({ status: 'approved', amount: 500 })).toBe(false);
    expect(r.feature('tx_count_1h')!.filter).toBeUndefined();
    expect(r.onDemandFeature('decline_ratio_1h')).toMatchObject({ kind: 'ratio', type: 'float', numerator: 'declined_1h', denominator: 'tx_count_1h' });
  });

  it('reads keyFields of one field as keyField', () => {
    const input = base();
    Object.assign(input.sources[0]!, { keyField: undefined, keyFields: ['user_id'] });
    expect(parseRegistry(input).source('tx')).toMatchObject({ keyField: 'user_id', keyFields: ['user_id'] });
  });

  it('keeps resolved JSON of registries without the new keys unchanged (no filter, no keys)', () => {
    const r = parseRegistry({ ...base(), entities: [{ name: 'user' }], sources: [base().sources[0]], features: [base().features[0]], onDemand: [] });
    expect(JSON.stringify(r.features[0])).not.toMatch(/filter|where/);
    expect(r.entities).toEqual([{ name: 'user' }]);
  });

  it.each([
    ['features[1].where[0].field', (r: Input) => Object.assign(r.features[1]!, { where: [{ field: 'stats', eq: 'x' }] }), /no field "stats"/],
    ['features[1].where[1].gte', (r: Input) => Object.assign(r.features[1]!, { where: [{ field: 'status', eq: 'x' }, { field: 'amount', gte: '100' }] }), /expected number/],
    ['features[1].where[0].eq', (r: Input) => Object.assign(r.features[1]!, { where: [{ field: 'amount', eq: 'big' }] }), /amount" is number: cannot compare it with "big"/],
    ['features[1].where[0].gt', (r: Input) => Object.assign(r.features[1]!, { where: [{ field: 'status', gt: 3 }] }), /gt needs a numeric field/],
    ['features[1].where[0].in', (r: Input) => Object.assign(r.features[1]!, { where: [{ field: 'status', in: ['a', 2] }] }), /cannot compare it with 2/],
    ['features[1].where[0]', (r: Input) => Object.assign(r.features[1]!, { where: [{ field: 'status' }] }), /needs one of eq/],
    ['features[1].where[0]', (r: Input) => Object.assign(r.features[1]!, { where: [{ field: 'status', like: 'x' }] }), /like/],
    ['sources[1].keyFields[1]', (r: Input) => Object.assign(r.sources[1]!, { keyFields: ['user_id', 'merchant'] }), /no field "merchant"/],
    ['sources[1].keyFields', (r: Input) => Object.assign(r.sources[1]!, { keyFields: ['user_id'] }), /give 2 keyFields/],
    ['sources[1].keyFields', (r: Input) => Object.assign(r.sources[1]!, { keyFields: undefined, keyField: undefined }), /exactly one of keyField/],
    ['sources[0].keyField', (r: Input) => Object.assign(r.sources[0]!, { keyField: 'uid' }), /no field "uid"/],
    ['features[2].type', (r: Input) => Object.assign(r.features[2]!, { type: 'int' }), /stddev produces float/],
    ['onDemand[0].denominator', (r: Input) => Object.assign(r.onDemand[0]!, { denominator: 'tx_count_2h' }), /unknown stored feature "tx_count_2h"/],
    ['onDemand[0].numerator', (r: Input) => Object.assign(r.onDemand[0]!, { numerator: undefined }), /needs numerator/],
    ['onDemand[0].left', (r: Input) => Object.assign(r.onDemand[0]!, { left: 'tx_count_1h' }), /does not read left/],
    ['onDemand[1].input', (r: Input) => Object.assign(r.onDemand[1]!, { contextField: undefined }), /exactly one of input/],
    ['onDemand[2].right', (r: Input) => Object.assign(r.onDemand[2]!, { right: 'pair_count_30d' }), /not a user feature/],
    ['onDemand[0].kind', (r: Input) => Object.assign(r.onDemand[0]!, { kind: undefined }), /or a compute function/],
    ['features[3].window', (r: Input) => Object.assign(r.features[3]!, { window: 'lifetime', freshness: '30d' }), /op avg has no lifetime form/],
    ['features[0].freshness', (r: Input) => Object.assign(r.features[0]!, { window: 'lifetime' }), /needs a freshness/],
    ['features[0].window', (r: Input) => Object.assign(r.features[0]!, { op: 'first', field: 'status', type: 'string', default: '', window: '1h', freshness: '1d' }), /takes only window "lifetime"/],
    ['features[3].q', (r: Input) => Object.assign(r.features[3]!, { op: 'approx_quantile', q: 1 }), /q in \(0, 1\), got 1/],
    ['features[3].q', (r: Input) => Object.assign(r.features[3]!, { op: 'approx_quantile' }), /needs q in \(0, 1\)/],
    ['features[3].q', (r: Input) => Object.assign(r.features[3]!, { q: 0.5 }), /q applies to op approx_quantile only/],
    ['features[0].k', (r: Input) => Object.assign(r.features[0]!, { op: 'top_k', field: 'merchant_id', type: 'string_list', default: [] }), /op top_k needs k/],
    ['features[0].type', (r: Input) => Object.assign(r.features[0]!, { op: 'top_k', field: 'merchant_id', k: 3, default: [] }), /top_k produces string_list/],
    ['features[0].k', (r: Input) => Object.assign(r.features[0]!, { op: 'first_k', field: 'status', type: 'string_list', default: [], window: undefined, freshness: '1d' }), /needs k/],
    ['features[0].field', (r: Input) => Object.assign(r.features[0]!, { op: 'approx_distinct', field: 'card_present' }), /approx_distinct counts strings or numbers; field "card_present" is boolean/],
    ['features[0].field', (r: Input) => Object.assign(r.features[0]!, { op: 'approx_distinct', field: 'merchant' }), /source "tx" has no field "merchant"/],
    ['features[0].field', (r: Input) => Object.assign(r.features[0]!, { op: 'approx_distinct' }), /op approx_distinct needs a field/],
    ['features[0].type', (r: Input) => Object.assign(r.features[0]!, { op: 'approx_distinct', field: 'merchant_id', type: 'float' }), /approx_distinct produces int/],
    ['features[0].window', (r: Input) => Object.assign(r.features[0]!, { op: 'approx_distinct', field: 'merchant_id', window: undefined, freshness: '1d' }), /op approx_distinct needs a window/],
    ['features[0].window', (r: Input) => Object.assign(r.features[0]!, { op: 'approx_distinct', field: 'merchant_id', window: '100d' }), /window must be between 1s and 90d/],
    ['features[0].freshness', (r: Input) => Object.assign(r.features[0]!, { op: 'approx_distinct', field: 'merchant_id', window: 'lifetime' }), /needs a freshness/],
    ['features[0].k', (r: Input) => Object.assign(r.features[0]!, { op: 'approx_distinct', field: 'merchant_id', k: 3 }), /k applies to ops last_k, first_k and top_k only/],
    ['features[0].q', (r: Input) => Object.assign(r.features[0]!, { op: 'approx_distinct', field: 'merchant_id', q: 0.5 }), /q applies to op approx_quantile only/],
  ])('%s', (path, breakIt, message) => {
    const input = base();
    breakIt(input);
    const e = registryError(input);
    expect(e.details.issues).toEqual(expect.arrayContaining([expect.objectContaining({ path, message: expect.stringMatching(message) })]));
  });

  it('resolves lifetime windows: no window, no tiles, flagged lifetime', () => {
    const input = base();
    input.features.push({ name: 'life', source: 'tx', op: 'count', window: 'lifetime', type: 'int', default: 0, freshness: '90d' });
    input.features.push({ name: 'first_status', source: 'tx', op: 'first', field: 'status', type: 'string', default: '', freshness: '90d' });
    const r = parseRegistry(input);
    expect(r.feature('life')).toMatchObject({ lifetime: true, ttlMs: 180 * 86_400_000 });
    expect(r.feature('life')!.windowMs).toBeUndefined();
    expect(r.feature('first_status')).toMatchObject({ lifetime: true });
  });

  it('resolves approx_distinct over a window (tiles) and over the lifetime (none)', () => {
    const input = base();
    input.features.push({ name: 'merchants_ad_7d', source: 'tx', op: 'approx_distinct', field: 'merchant_id', window: '7d', type: 'int', default: 0 });
    input.features.push({ name: 'merchants_ad_life', source: 'tx', op: 'approx_distinct', field: 'merchant_id', window: 'lifetime', type: 'int', default: 0, freshness: '365d', where: [{ field: 'status', ne: 'declined' }] });
    input.features.push({ name: 'amounts_ad_1h', source: 'tx', op: 'approx_distinct', field: 'amount', window: '1h', tile: '10m', type: 'int', default: 0 });
    const r = parseRegistry(input);
    expect(r.feature('merchants_ad_7d')).toMatchObject({ op: 'approx_distinct', type: 'int', windowMs: 7 * 86_400_000, tileMs: 6 * 3_600_000 });
    expect(r.feature('merchants_ad_7d')!.lifetime).toBeUndefined();
    expect(r.feature('merchants_ad_life')).toMatchObject({ lifetime: true, ttlMs: 730 * 86_400_000 });
    expect(r.feature('merchants_ad_life')!.windowMs).toBeUndefined();
    expect(r.feature('amounts_ad_1h')).toMatchObject({ tileMs: 600_000 });
  });

  it('types approx_distinct as a number in defineConfig vectors', () => {
    const cfg = defineConfig({
      entities: [{ name: 'user' }],
      sources: [{ name: 'tx', entity: 'user', keyField: 'user_id', timeField: 'ts', schema: 'transactions' }],
      features: [{ name: 'merchants', source: 'tx', op: 'approx_distinct', field: 'merchant_id', window: '7d', type: 'int', default: 0 }],
    });
    expectTypeOf<FeatureValues<typeof cfg>>().toEqualTypeOf<{ merchants: number }>();
    expect(parseRegistry(cfg).feature('merchants')!.op).toBe('approx_distinct');
  });

  it('takes TS predicate and compute functions', () => {
    const input = base();
    Object.assign(input.features[1]!, { where: (f: Record<string, unknown>) => f.status === 'declined' });
    input.onDemand.push({ name: 'amount_vs_avg', entity: 'user', compute: (f: Record<string, number>, ctx: Record<string, number>) => ctx.amount! / f.amount_avg_7d!, default: 1 });
    const r = parseRegistry(input);
    expect(r.feature('declined_1h')!.filterKey).toBe('fn:declined_1h');
    expect(r.onDemandFeature('amount_vs_avg')).toMatchObject({ kind: 'compute', type: 'float', default: 1 });
  });
});
