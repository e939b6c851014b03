/**
 * distinct_count values switch between an array (few values) and a Map
 * (distinct.ts). Against a brute-force set of (value, tile) pairs, through
 * adds in and ahead of the window and sweeps, with the clock moving forward:
 * every window's count is exact in either form, and the form follows the
 * number of values held. The serialized bytes do not depend on the form.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { SMALL_BACK, SMALL_MAX, addDistinct, distinctCount, distinctSize, sweepDistinct } from '../../../src/aggregations/distinct.ts';
import { WindowEngine } from '../../../src/aggregations/engine.ts';
import { compileEntity, type DistinctPlan } from '../../../src/aggregations/plan.ts';
import { currentTile } from '../../../src/aggregations/tiles.ts';
import { distinctAt, emptyState } from '../../../src/aggregations/state.ts';
import { loadRegistryFile } from '../../../src/schemas/registry.ts';

const SPAN = 4;
const plan: DistinctPlan = { index: 0, slot: 0, filter: undefined, field: 'm', tileMs: 1, spanTiles: SPAN, maxTtlMs: 0 };
const shape = { entity: 'user', entityIndex: 0, sources: [], slotCount: 1 };

const add = fc.record({ kind: fc.constant('add' as const), value: fc.nat(2 * SMALL_MAX), back: fc.nat(SPAN + 1), ahead: fc.boolean(), advance: fc.integer({ min: 0, max: 9 }).map((x) => (x === 0 ? 1 : 0)) });
const op = fc.oneof({ weight: 60, arbitrary: add }, { weight: 1, arbitrary: fc.record({ kind: fc.constant('sweep' as const), advance: fc.nat(SPAN + 2) }) });

describe('distinct_count values in array and Map form', () => {
  it('count exactly what a set of (value, tile) pairs counts, in either form, switching with the number held', () => {
    let sawMap = false;
    let sawBack = false;
    fc.assert(
      fc.property(fc.array(op, { minLength: 1, maxLength: 300, size: 'max' }), (ops) => {
        const state = emptyState(shape);
        const seen: [string, number][] = [];
        let now = 100;
        let wasMap = false;
        for (const o of ops) {
          now += o.advance;
          const cur = currentTile(now, 1);
          const lo = cur - SPAN + 1;
          if (o.kind === 'sweep') {
            const d = distinctAt(state, plan);
            if (d !== undefined) sweepDistinct(d, lo, cur);
          } else {
            const tile = o.ahead ? cur + (o.back % 2) : cur - o.back;
            expect(addDistinct(state, plan, { m: `v${o.value}` }, tile, now)).toBe(tile >= lo);
            if (tile >= lo) seen.push([`v${o.value}`, tile]);
          }
          const d = distinctAt(state, plan);
          if (d === undefined) continue;
          const isMap = d.values instanceof Map;
          if (isMap) sawMap = true;
          if (wasMap && !isMap) sawBack = true;
          wasMap = isMap;
          if (!isMap) expect(distinctSize(d.values)).toBeLessThanOrEqual(SMALL_MAX);
          if (o.kind === 'sweep' && isMap) expect(distinctSize(d.values)).toBeGreaterThan(SMALL_BACK);
          for (let w = 1; w <= SPAN; w++) {
            const want = new Set(seen.filter(([, t]) => t > cur - w && t <= cur).map(([v]) => v)).size;
            expect(distinctCount(d.values, cur - w + 1, cur)).toBe(want);
          }
        }
      }),
      { numRuns: 200 },
    );
    // Both switches happened: the runs crossed into the Map and back.
    expect([sawMap, sawBack]).toEqual([true, true]);
  });

  it('serialize the same bytes in either form, and read back into the form their size calls for', async () => {
    const registry = await loadRegistryFile();
    const engine = new WindowEngine(registry);
    const slot = compileEntity(registry, 'user', 0).distincts[0]!;
    const T = Date.UTC(2026, 0, 5);
    for (const n of [3, SMALL_MAX, SMALL_MAX + 1, 30]) {
      const state = engine.newState('user');
      for (let i = 0; i < n; i++) {
        const t = T + i * 60_000;
        engine.apply(state, { source: 'transactions', entityId: 'u', eventTimeMs: t, fields: { user_id: 'u', amount: 1, merchant_id: `m${i}`, ts: t } }, t);
      }
      const d = distinctAt(state, slot)!;
      expect(d.values instanceof Map).toBe(n > SMALL_MAX);
      const bytes = engine.serialize(state);
      const pairs: [string, number | number[]][] = [];
      if (d.values instanceof Map) d.values.forEach((tiles, v) => pairs.push([v, tiles]));
      else for (let j = 0; j < d.values.length; j += 2) pairs.push([d.values[j] as string, d.values[j + 1] as number]);
      d.values = d.values instanceof Map ? pairs.flat() : new Map(pairs);
      expect(Buffer.from(engine.serialize(state)).equals(Buffer.from(bytes))).toBe(true);
      const loaded = engine.deserialize(bytes);
      expect(distinctAt(loaded, slot)!.values instanceof Map).toBe(n > SMALL_MAX);
      expect(Buffer.from(engine.serialize(loaded)).equals(Buffer.from(bytes))).toBe(true);
      expect(engine.evaluate(loaded, T + n * 60_000).groups.features!.distinct_merchants_7d).toBe(n);
    }
  });
});
