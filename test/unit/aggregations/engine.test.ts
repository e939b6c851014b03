import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { WindowEngine, type EntityState } from '../../../src/aggregations/engine.ts';
import { InvalidEventError, StateCorruptError } from '../../../src/errors.ts';
import type { NormalizedEvent } from '../../../src/schemas/events.ts';
import { defaultRegistryConfig } from '../../../src/schemas/default-registry.ts';
import { loadRegistryFile, parseRegistry } from '../../../src/schemas/registry.ts';
import { compileEntity } from '../../../src/aggregations/plan.ts';
import { HEADER, hasSeries } from '../../../src/aggregations/series.ts';
import { dedupsOf } from './fixtures.ts';

const registry = await loadRegistryFile();
const M = 60_000;
const H = 60 * M;
const T = Date.UTC(2025, 0, 6); // a multiple of every default tile size

const tx = (t: number, amount: number, merchant = 'm1', id?: string): NormalizedEvent => ({
  source: 'transactions',
  entityId: 'u1',
  eventTimeMs: t,
  fields: { amount, merchant_id: merchant },
  ...(id === undefined ? {} : { eventId: id }),
});
const profile = (t: number, fields: Record<string, unknown>): NormalizedEvent => ({ source: 'profiles', entityId: 'u1', eventTimeMs: t, fields });

function setup(options?: ConstructorParameters<typeof WindowEngine>[1]) {
  const engine = new WindowEngine(registry, options);
  const state = engine.newState('user');
  const values = (s: EntityState, now: number) => engine.evaluate(s, now).groups.features!;
  return { engine, state, values };
}

describe('WindowEngine rules', () => {
  it('holds [tileStart(now) + T - W, tileStart(now) + T): exactly [now - 1h, now) at tile edges', () => {
    const { engine, state, values } = setup();
    engine.apply(state, tx(T - H, 1), T - H);
    engine.apply(state, tx(T - 1, 2), T);
    engine.apply(state, tx(T + 1, 4), T);
    expect(values(state, T)).toMatchObject({ tx_count_1h: 2, tx_sum_1h: 3 });
    // Just past the edge: the window is [T + 2 min - 1 h, T + 2 min): T - 1 h has left, T + 1 is in.
    expect(values(state, T + 1)).toMatchObject({ tx_count_1h: 2, tx_sum_1h: 6 });
    expect(values(state, T + 2 * M)).toMatchObject({ tx_count_1h: 2, tx_sum_1h: 6 });
    expect(engine.nextChangeAt(state, T)).toBe(T + 1);
  });

  it('puts out-of-order events into their own tile, and ignores events older than every window', () => {
    const { engine, state, values } = setup();
    expect(engine.apply(state, tx(T - 10 * M, 5), T)).toBe('applied');
    expect(engine.apply(state, tx(T - 50 * M, 7), T)).toBe('applied');
    expect(engine.apply(state, tx(T - 23 * H, 11), T)).toBe('applied');
    expect(values(state, T)).toMatchObject({ tx_count_1h: 2, tx_sum_1h: 12, tx_count_24h: 3, tx_sum_24h: 23 });
    const before = engine.serialize(state);
    // Older than 90 days and than every TTL: changes nothing at all, not even recent_merchants.
    expect(engine.apply(state, tx(T - 181 * 24 * H, 1, 'old'), T)).toBe('expired');
    expect(Buffer.from(engine.serialize(state)).equals(Buffer.from(before))).toBe(true);
  });

  it('sums decimal amounts exactly, whatever the order', () => {
    const { engine, state, values } = setup();
    for (const a of [0.1, 0.2, 0.7, 1e-6]) engine.apply(state, tx(T - M, a), T);
    expect(values(state, T)).toMatchObject({ tx_sum_1h: 1.000001, avg_tx_90d: 1.000001 / 4 });
    engine.apply(state, tx(T - M, Math.PI), T);
    expect(values(state, T).tx_sum_1h).toBeCloseTo(1.000001 + Math.PI, 12);
  });

  it('last is last-writer-wins by event time; equal times keep the larger value', () => {
    const { engine, state, values } = setup();
    const p = (t: number, bucket: number) => profile(t, { created_at: 0, credit_score_bucket: bucket, is_premium: 0 });
    engine.apply(state, p(T - 5 * M, 3), T);
    engine.apply(state, p(T - 9 * M, 1), T);
    expect(values(state, T).credit_score_bucket).toBe(3);
    engine.apply(state, p(T - 5 * M, 4), T);
    engine.apply(state, p(T - 5 * M, 2), T);
    expect(values(state, T).credit_score_bucket).toBe(4);
  });

  it('keeps the 10 most recent distinct merchants, newest first', () => {
    const { engine, state, values } = setup();
    for (let i = 0; i < 12; i++) engine.apply(state, tx(T - (12 - i) * M, 1, `m${i}`), T);
    engine.apply(state, tx(T - 30 * M, 1, 'm11'), T); // older than m11's newest: no move
    engine.apply(state, tx(T - 90 * M, 1, 'late'), T); // older than all ten: not in the list
    expect(values(state, T).recent_merchants).toEqual(['m11', 'm10', 'm9', 'm8', 'm7', 'm6', 'm5', 'm4', 'm3', 'm2']);
    expect(values(state, T).distinct_merchants_7d).toBe(13);
  });

  it('rejects events beyond the future skew with EVENT_IN_FUTURE, accepts them within', () => {
    const { engine, state, values } = setup({ maxFutureSkewMs: 5 * M });
    expect(engine.apply(state, tx(T + 5 * M, 1), T)).toBe('applied');
    const err = (() => {
      try {
        engine.apply(state, tx(T + 5 * M + 1, 1), T);
      } catch (e) {
        return e;
      }
    })();
    expect(err).toBeInstanceOf(InvalidEventError);
    expect(err).toMatchObject({ code: 'EVENT_IN_FUTURE', retriable: false });
    // Held until its tile is current.
    expect(values(state, T).tx_count_1h).toBe(0);
    expect(values(state, T + 6 * M).tx_count_1h).toBe(1);
  });

  it('judges the future skew against the arrival (Kafka timestamp), not the consumer clock', () => {
    const { engine, state } = setup({ maxFutureSkewMs: 5 * M });
    const ahead = { ...tx(T + 6 * M, 1), arrivalMs: T };
    // Consumed an hour late: still 6 min ahead of its own record timestamp, so still refused.
    expect(() => engine.apply(state, ahead, T + H)).toThrow(expect.objectContaining({ code: 'EVENT_IN_FUTURE' }));
    // Stamped at T + 2 min but consumed at T: judged by its stamp, so accepted.
    expect(engine.apply(state, { ...tx(T + 6 * M, 1), arrivalMs: T + 2 * M }, T)).toBe('applied');
    expect(() => engine.apply(state, { ...tx(T, 1), arrivalMs: Number.NaN }, T)).toThrow(expect.objectContaining({ code: 'EVENT_INVALID' }));
  });

  it('counts a repeated event_id once within the horizon of its first arrival, again beyond it', () => {
    const { engine, state, values } = setup({ dedupHorizonMs: 10 * M });
    const e1 = (arrivalMs: number) => ({ ...tx(T - M, 5, 'm1', 'e1'), arrivalMs });
    expect(engine.apply(state, e1(T), T)).toBe('applied');
    expect(engine.apply(state, e1(T + 10 * M - 1), T + 10 * M - 1)).toBe('duplicate');
    expect(values(state, T + 10 * M).tx_count_1h).toBe(1);
    expect(engine.apply(state, e1(T + 10 * M), T + 10 * M)).toBe('applied');
    expect(values(state, T + 10 * M).tx_count_1h).toBe(2);
    // The copy that counted at T + 10 min starts a new horizon.
    expect(engine.apply(state, e1(T + 19 * M), T + 19 * M)).toBe('duplicate');
    // Without arrivalMs the consumer clock is the arrival.
    expect(engine.apply(state, tx(T - M, 5, 'm1', 'e1'), T + 19 * M)).toBe('duplicate');
  });

  it('keeps ids apart per source: the same id from another source counts', () => {
    const { engine, state } = setup();
    expect(engine.apply(state, { ...tx(T - M, 5), eventId: 'x' }, T)).toBe('applied');
    expect(engine.apply(state, { source: 'logins', entityId: 'u1', eventTimeMs: T - M, eventId: 'x', fields: {} }, T)).toBe('applied');
    expect(engine.apply(state, { source: 'logins', entityId: 'u1', eventTimeMs: T - M, eventId: 'x', fields: {} }, T)).toBe('duplicate');
  });

  it('judges each source by its own arrival clock: a lagging topic is not aged by another topic\'s newer timestamps', () => {
    const { engine, state } = setup();
    expect(engine.apply(state, { ...tx(T - M, 5, 'm1', 'x'), arrivalMs: T }, T + 3 * H)).toBe('applied');
    // The logins partition is consumed hours ahead of the transactions partition.
    engine.apply(state, { source: 'logins', entityId: 'u1', eventTimeMs: T + 2 * H, fields: {}, arrivalMs: T + 2 * H }, T + 3 * H);
    expect(engine.apply(state, { ...tx(T - M, 5, 'm1', 'x'), arrivalMs: T + 10 * M }, T + 3 * H)).toBe('duplicate');
  });

  it('issue 12: a 2-day-old event that arrives twice counts once in the 24h, 7d and 90d windows', () => {
    const r = parseRegistry({
      entities: [{ name: 'user' }],
      sources: [{ name: 'transactions', entity: 'user', keyField: 'user_id', timeField: 'ts', schema: 'transactions' }],
      features: [
        { name: 'c24h', source: 'transactions', op: 'count', window: '24h', type: 'int', default: 0 },
        { name: 'c7d', source: 'transactions', op: 'count', window: '7d', type: 'int', default: 0 },
        { name: 's90d', source: 'transactions', op: 'sum', field: 'amount', window: '90d', type: 'float', default: 0 },
        { name: 'a90d', source: 'transactions', op: 'avg', field: 'amount', window: '90d', type: 'float', default: 0 },
      ],
    });
    const engine = new WindowEngine(r);
    let state = engine.newState('user');
    const now = T + 2 * 24 * H - 2 * H;
    // Fresh traffic moves the entity's newest event time on...
    for (let i = 0; i < 5; i++) engine.apply(state, { ...tx(now - i * M, 10, 'm1', `live-${i}`), arrivalMs: now }, now);
    // ...then a 2-day-old event arrives, and is re-sent 40 min later (a retry, a re-uploaded offline queue).
    const late = { ...tx(T, 100, 'm2', 'offline-1'), arrivalMs: now };
    expect(engine.apply(state, late, now)).toBe('applied');
    state = engine.deserialize(engine.serialize(state));
    expect(engine.apply(state, { ...late, arrivalMs: now + 40 * M }, now + 40 * M)).toBe('duplicate');
    const v = engine.evaluate(state, now + 41 * M).groups.features!;
    expect(v).toMatchObject({ c24h: 5, c7d: 6, s90d: 150, a90d: 25 });
  });

  it('never lets NaN, Infinity or missing values into state', () => {
    const { engine, state, values } = setup();
    for (const amount of [Number.NaN, Infinity, -Infinity, undefined]) {
      expect(engine.apply(state, { ...tx(T - M, 0), fields: { amount, merchant_id: 'm1' } }, T)).toBe('applied');
    }
    // The amount series never took an event, so its features are absent (lapsed), not 0.
    expect(engine.evaluate(state, T).lapsed).toEqual(expect.arrayContaining(['tx_sum_1h', 'tx_count_1h', 'avg_tx_90d']));
    expect(values(state, T)).toMatchObject({ distinct_merchants_7d: 1 });
    expect(() => engine.apply(state, { ...tx(0, 1), eventTimeMs: Number.NaN }, T)).toThrow(InvalidEventError);
  });

  it('takes -0 as 0: a max or min over it reads 0, not -0', () => {
    const r = parseRegistry({
      entities: [{ name: 'user' }],
      sources: [{ name: 'transactions', entity: 'user', keyField: 'user_id', timeField: 'ts', schema: 'transactions' }],
      features: [
        { name: 'mx', source: 'transactions', op: 'max', field: 'amount', window: '1h', type: 'float', default: 1 },
        { name: 'mn', source: 'transactions', op: 'min', field: 'amount', window: '1h', type: 'float', default: 1 },
      ],
    });
    const engine = new WindowEngine(r);
    const state = engine.newState('user');
    engine.apply(state, tx(T - M, -0), T);
    const v = Object.values(engine.evaluate(state, T).groups)[0]!;
    // toBe compares with Object.is, which tells -0 from 0.
    expect(v.mx).toBe(0);
    expect(v.mn).toBe(0);
  });

  it('lapses features after 2 x freshness and reports them; nextChangeAt points there', () => {
    const { engine, state } = setup();
    engine.apply(state, { source: 'logins', entityId: 'u1', eventTimeMs: T - H, fields: {} }, T);
    const at = (now: number) => engine.evaluate(state, now);
    expect(at(T).groups.features).toMatchObject({ last_login_ts: (T - H) / 1000 });
    expect(at(T).lapsed).toContain('tx_count_1h');
    expect(at(T + 7 * H - 1).lapsed).not.toContain('last_login_ts');
    expect(at(T + 7 * H).lapsed).toContain('last_login_ts');
    expect(at(T + 7 * H).groups.features).not.toHaveProperty('last_login_ts');
    expect(engine.nextChangeAt(state, T)).toBe(T + 7 * H);
    engine.evict(state, T + 7 * H);
    expect(state.slots.slice(3).every((x) => x === undefined)).toBe(true);
    expect(engine.nextChangeAt(state, T + 7 * H)).toBeUndefined();
  });

  it('nextChangeAt is the next tile edge at which a window loses an event', () => {
    const { engine, state } = setup();
    engine.apply(state, tx(T - 30 * M, 1), T);
    expect(engine.nextChangeAt(state, T)).toBe(T + 30 * M + 1);
  });

  it('shares one tile series between features with the same source, field and tile size, all in one block per source', () => {
    const { engine, state } = setup();
    engine.apply(state, tx(T, 1), T);
    // count+sum 1h, count+sum 24h, avg 90d: three series, the only ones.
    // Slots 0-2 are the sources' de-duplication memories, slot 3 the transactions' series block.
    const series = compileEntity(registry, 'user', 0).series;
    expect(series.map((p) => [p.slot, p.head, p.blockHead])).toEqual([0, 1, 2].map((k) => [3, k * HEADER, 3 * HEADER]));
    expect(series.every((p) => hasSeries(state.slots[3] as number[], p))).toBe(true);
    // Past the block only the distinct_count and last_k slots: no slot per series.
    expect(state.slots.filter((s, i) => i > 3 && s !== undefined)).toHaveLength(2);
  });

  it('keeps the median state of a busy user small', () => {
    const { engine, state } = setup();
    for (let d = 0; d < 90; d++) for (let i = 0; i < 5; i++) engine.apply(state, tx(T + d * 24 * H + i * 3 * H, 12.34 + i, `m${(d * 5 + i) % 23}`), T + d * 24 * H + i * 3 * H);
    engine.evict(state, T + 90 * 24 * H);
    expect(engine.serialize(state).length).toBeLessThan(700);
  });
});

describe('vector features', () => {
  const r = parseRegistry({
    entities: [{ name: 'user' }],
    sources: [{ name: 'embeddings', entity: 'user', keyField: 'user_id', timeField: 'ts', schema: 'embeddings' }],
    features: [{ name: 'user_embedding', source: 'embeddings', op: 'last', field: 'embedding', type: 'vector', dim: 3, default: null, freshness: '1d' }],
  });
  const ev = (t: number, embedding: unknown): NormalizedEvent => ({ source: 'embeddings', entityId: 'u1', eventTimeMs: t, fields: { embedding } });

  it('keeps the latest vector by event time as float32, skips wrong dimensions and non-finite values', () => {
    const engine = new WindowEngine(r);
    const s = engine.newState('user');
    engine.apply(s, ev(T - 2, [1, 2, 3]), T);
    engine.apply(s, ev(T - 3, [9, 9, 9]), T);
    engine.apply(s, ev(T - 1, [1, 2]), T);
    engine.apply(s, ev(T - 1, [1, 2, 1e39]), T);
    expect(engine.evaluate(s, T).groups.features!.user_embedding).toEqual(Float32Array.of(1, 2, 3));
    const copy = engine.deserialize(engine.serialize(s));
    expect(engine.evaluate(copy, T).groups.features!.user_embedding).toEqual(Float32Array.of(1, 2, 3));
  });
});

describe('deserialize', () => {
  const engine = new WindowEngine(registry);

  it('refuses unknown versions, other layouts and garbage with StateCorruptError', () => {
    const s = engine.newState('user');
    engine.apply(s, tx(T, 1), T);
    const bytes = engine.serialize(s);
    expect(bytes[0]).toBe(2);
    expect(() => engine.deserialize(Uint8Array.of(9, ...bytes.subarray(1)))).toThrow(/version 9/);
    const features = defaultRegistryConfig.features.filter((x) => x.name !== 'tx_sum_24h');
    const other = new WindowEngine(parseRegistry({ ...defaultRegistryConfig, features, groups: [{ name: 'features', features: features.map((x) => x.name) }] }));
    expect(() => other.deserialize(bytes)).toThrow(StateCorruptError);
    expect(() => engine.deserialize(bytes.subarray(0, bytes.length - 1))).toThrow(StateCorruptError);
    expect(() => engine.deserialize(Uint8Array.of(...bytes, 0))).toThrow(StateCorruptError);
  });

  it('reads version 1 state (as written before arrival-time dedup): same values, ids still de-duplicated', () => {
    // Written by the previous release: tx-1 (5 at T - 1 min), tx-2 (7.5 at T - 30 s), login-1 (T - 10 s), all applied at T.
    const v1 = Buffer.from(
      '010034926889e183c98e8765050474782d310474782d32076c6f67696e2d31026d31026d320300d0860301a09c010200a19c01010002d10fa19c01010002d10fa19c01010002d10f00000001a19c01020301000401000203d0860304a09c01',
      'hex',
    );
    const s = engine.deserialize(v1);
    expect(engine.evaluate(s, T).groups.features).toMatchObject({ tx_count_1h: 2, tx_sum_1h: 12.5, last_login_ts: (T - 10_000) / 1000 });
    // v1 ids were unique across sources: each is remembered for every source of the entity.
    expect(dedupsOf(s, 3).map((d) => [d.clock, d.size])).toEqual([
      [T - 10_000, 3],
      [T - 10_000, 3],
      [T - 10_000, 3],
    ]);
    expect(engine.apply(s, { ...tx(T - M, 5, 'm1', 'tx-1'), arrivalMs: T + 5 * M }, T + 5 * M)).toBe('duplicate');
    expect(engine.apply(s, { source: 'logins', entityId: 'u1', eventTimeMs: T - 10_000, eventId: 'login-1', fields: {}, arrivalMs: T + 5 * M }, T + 5 * M)).toBe('duplicate');
    expect(engine.apply(s, { ...tx(T - M, 5, 'm1', 'tx-3'), arrivalMs: T + 5 * M }, T + 5 * M)).toBe('applied');
    const again = engine.serialize(s);
    expect(again[0]).toBe(2);
    expect(engine.evaluate(engine.deserialize(again), T + 5 * M)).toEqual(engine.evaluate(s, T + 5 * M));
  });

  it('throws only StateCorruptError on random bytes', () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 80 }), fc.boolean(), (junk, keepHeader) => {
        const head = engine.serialize(engine.newState('user')).subarray(0, 6);
        const bytes = keepHeader ? Uint8Array.of(...head, ...junk) : junk;
        try {
          engine.deserialize(bytes);
        } catch (e) {
          expect(e).toBeInstanceOf(StateCorruptError);
        }
      }),
      { numRuns: 2_000 },
    );
  });
});
