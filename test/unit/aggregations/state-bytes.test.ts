/**
 * State bytes per operator: one feature per registry, serialized after a
 * stream, minus the bytes of the same registry's state without that slot's
 * data (the state header). Printed as a table; the asserted bounds are the
 * ones the README states.
 */
import { describe, expect, it } from 'vitest';
import { WindowEngine } from '../../../src/aggregations/engine.ts';
import { parseRegistry } from '../../../src/schemas/registry.ts';
import { T0, jsonSources } from './fixtures.ts';

const H = 3_600_000;
const D = 24 * H;

/** Slot bytes of `feature` after `n` events over `days` days, `distinct` merchant values (cycling), amounts varied. */
function slotBytes(feature: Record<string, unknown>, n: number, distinct: number, days: number): number {
  const r = parseRegistry({ entities: [{ name: 'user' }], sources: jsonSources, features: [{ name: 'f', source: 'tx', type: 'int', default: 0, ...feature }] });
  const engine = new WindowEngine(r);
  const state = engine.newState('user');
  const end = T0 + days * D;
  let seed = 11;
  for (let i = 0; i < n; i++) {
    seed = (seed * 48271) % 2147483647;
    const t = T0 + Math.floor((i * days * D) / n);
    engine.apply(state, { source: 'tx', entityId: 'u1', eventTimeMs: t, fields: { amount: (seed % 20_000) / 100, merchant: `m${i % distinct}` } }, t + 1);
  }
  engine.evict(state, end);
  const empty = engine.serialize({ ...engine.newState('user'), newest: state.newest });
  return engine.serialize(state).length - empty.length;
}

const week = { window: '7d' };
const life = { window: 'lifetime', freshness: '365d' };

describe('state bytes per operator', () => {
  it('reports bytes per slot (5 tx/h for 7 days unless said otherwise)', () => {
    const rows: [string, number][] = [
      ['count 7d (28 tiles)', slotBytes({ op: 'count', ...week }, 840, 20, 7)],
      ['lifetime count', slotBytes({ op: 'count', ...life }, 840, 20, 7)],
      ['stddev 7d', slotBytes({ op: 'stddev', field: 'amount', ...week, type: 'float' }, 840, 20, 7)],
      ['distinct_count 7d, 20 values', slotBytes({ op: 'distinct_count', field: 'merchant', ...week }, 840, 20, 7)],
      ['top_k k=5 7d, 20 values', slotBytes({ op: 'top_k', field: 'merchant', k: 5, ...week, type: 'string_list', default: [] }, 840, 20, 7)],
      ['first_k k=5 lifetime', slotBytes({ op: 'first_k', field: 'merchant', k: 5, freshness: '365d', type: 'string_list', default: [] }, 840, 20, 7)],
      ['approx_quantile q=0.95 7d', slotBytes({ op: 'approx_quantile', field: 'amount', q: 0.95, ...week, type: 'float' }, 840, 20, 7)],
      ['approx_distinct 7d, 20 values (exact)', slotBytes({ op: 'approx_distinct', field: 'merchant', ...week }, 840, 20, 7)],
      ['approx_distinct 7d, 128 values (exact)', slotBytes({ op: 'approx_distinct', field: 'merchant', ...week }, 840, 128, 7)],
      ['approx_distinct 7d, 1,000 values', slotBytes({ op: 'approx_distinct', field: 'merchant', ...week }, 2_000, 1_000, 7)],
      ['approx_distinct 7d, 10,000 values', slotBytes({ op: 'approx_distinct', field: 'merchant', ...week }, 20_000, 10_000, 7)],
      ['approx_distinct 7d, 300,000 values', slotBytes({ op: 'approx_distinct', field: 'merchant', ...week }, 300_000, 300_000, 7)],
      ['approx_distinct lifetime, 20 values (exact)', slotBytes({ op: 'approx_distinct', field: 'merchant', ...life }, 840, 20, 7)],
      ['approx_distinct lifetime, 1,000 values', slotBytes({ op: 'approx_distinct', field: 'merchant', ...life }, 2_000, 1_000, 7)],
      ['approx_distinct lifetime, 1e6 values', slotBytes({ op: 'approx_distinct', field: 'merchant', ...life }, 1_000_000, 1_000_000, 7)],
    ];
    console.info(`state bytes per slot\n${rows.map(([k, v]) => `  ${k.padEnd(48)} ${String(v).padStart(7)}`).join('\n')}`);
    const bytes = Object.fromEntries(rows);
    expect(bytes['approx_distinct 7d, 128 values (exact)']).toBeLessThanOrEqual(1_280);
    expect(bytes['approx_distinct 7d, 1,000 values']).toBeLessThanOrEqual(2_048);
    expect(bytes['approx_distinct lifetime, 1e6 values']).toBeLessThanOrEqual(2_048);
  }, 60_000);
});
