/**
 * The worker tests' independent reference (test/helpers/brute-reference.ts)
 * and the engine agree on random topic contents, consumed as the worker
 * does: partitions interleaved at random, each in offset order, arrival =
 * record timestamp, processing time at or after it.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { WindowEngine, type EntityState } from '../../../src/aggregations/engine.ts';
import { InvalidEventError } from '../../../src/errors.ts';
import { decodeEvent } from '../../../src/schemas/events.ts';
import { parseRegistry, type FeatureValue } from '../../../src/schemas/registry.ts';
import { bruteForceVectors, diffVectors, toHashVectors, type RawMessage } from '../../helpers/brute-reference.ts';

const M = 60_000;
const H = 60 * M;
const T0 = Date.UTC(2026, 0, 5);
const OPTIONS = { maxFutureSkewMs: 5 * M, dedupHorizonMs: 20 * M };
const user = { entity: 'user', keyField: 'user_id', timeField: 'ts' } as const;

const registry = parseRegistry({
  entities: [{ name: 'user' }],
  sources: [
    { name: 'tx', topic: 'tx-topic', ...user, schema: 'transactions' },
    { name: 'logins', topic: 'login-topic', ...user, schema: 'logins' },
    { name: 'profiles', topic: 'profile-topic', ...user, schema: 'profiles' },
  ],
  features: [
    { name: 'tx_count_1h', source: 'tx', op: 'count', window: '1h', type: 'int', default: 0 },
    { name: 'tx_count_24h', source: 'tx', op: 'count', window: '24h', type: 'int', default: 0 },
    { name: 'tx_sum_24h', source: 'tx', op: 'sum', field: 'amount', window: '24h', type: 'float', default: 0 },
    { name: 'tx_avg_24h', source: 'tx', op: 'avg', field: 'amount', window: '24h', type: 'float', default: -1 },
    { name: 'tx_min_1h', source: 'tx', op: 'min', field: 'amount', window: '1h', type: 'float', default: 0 },
    { name: 'tx_max_24h', source: 'tx', op: 'max', field: 'amount', window: '24h', type: 'float', default: 0 },
    { name: 'merchants_24h', source: 'tx', op: 'distinct_count', field: 'merchant_id', window: '24h', type: 'int', default: 0 },
    { name: 'recent_merchants', source: 'tx', op: 'last_k', field: 'merchant_id', k: 3, type: 'string_list', default: [], freshness: '2h' },
    { name: 'last_login_ts', source: 'logins', op: 'last_time', type: 'int', default: 0, freshness: '1h' },
    { name: 'bucket', source: 'profiles', op: 'last', field: 'credit_score_bucket', type: 'int', default: 2, freshness: '1d' },
  ],
  groups: [
    { name: 'tx', features: ['tx_count_1h', 'tx_count_24h', 'tx_sum_24h', 'tx_avg_24h', 'tx_min_1h', 'tx_max_24h', 'merchants_24h', 'recent_merchants'] },
    { name: 'other', features: ['last_login_ts', 'bucket'] },
  ],
});
const TOPICS = ['tx-topic', 'login-topic', 'profile-topic'];
const PARTITIONS = 3;

const produced = fc.record({
  topic: fc.nat(2),
  user: fc.nat(4),
  advance: fc.oneof({ weight: 6, arbitrary: fc.integer({ min: 0, max: 2 * M }) }, { weight: 1, arbitrary: fc.integer({ min: 0, max: 3 * H }) }),
  age: fc.oneof(
    { weight: 6, arbitrary: fc.integer({ min: 0, max: 50 * M }) },
    { weight: 2, arbitrary: fc.integer({ min: 0, max: 3 * 24 * H }) },
    { weight: 1, arbitrary: fc.integer({ min: -8 * M, max: 0 }) },
  ),
  amount: fc.integer({ min: -500, max: 50_000 }).map((c) => c / 100),
  merchant: fc.constantFrom('m0', 'm1', 'm2', 'm3', 'm4'),
  bucket: fc.integer({ min: 0, max: 4 }),
  withId: fc.boolean(),
  /** A re-send of an earlier message body (a producer retry, a replayed batch), or garbage. */
  kind: fc.constantFrom('new', 'new', 'new', 'resend', 'resend', 'garbage'),
  which: fc.nat(),
});

type Spec = typeof produced extends fc.Arbitrary<infer S> ? S : never;

/** Messages with real-looking partitions, offsets and timestamps (non-decreasing per partition). */
function messagesOf(specs: Spec[]): RawMessage[] {
  const out: RawMessage[] = [];
  const offsets = new Map<string, number>();
  let clock = T0;
  specs.forEach((s, i) => {
    clock += s.advance;
    const topic = TOPICS[s.topic]!;
    const id = `u${s.user}`;
    let value: string;
    let partition = s.user % PARTITIONS;
    if (s.kind === 'resend' && out.length > 0) {
      const earlier = out[s.which % out.length]!;
      if (earlier.topic !== topic) return;
      value = earlier.value as string;
      // Same key, same partition (a producer retry, a replayed batch).
      partition = earlier.partition;
    } else if (s.kind === 'garbage') {
      value = i % 2 ? '{"user_id":' : JSON.stringify({ user_id: 'bad id', ts: clock });
    } else {
      const ts = clock - s.age;
      const eventId = s.withId ? { event_id: `${topic}-${i}` } : {};
      const body =
        s.topic === 0
          ? { ...eventId, user_id: id, amount: s.amount, merchant_id: s.merchant, ts }
          : s.topic === 1
            ? { ...eventId, user_id: id, ts }
            : { ...eventId, user_id: id, created_at: T0, credit_score_bucket: s.bucket, is_premium: 0, ts };
      value = JSON.stringify(body);
    }
    const key = `${topic}:${partition}`;
    const offset = offsets.get(key) ?? 0;
    offsets.set(key, offset + 1);
    out.push({ topic, partition, offset, timestamp: clock, value });
  });
  return out;
}

/** The engine fed like the worker: a random interleaving of partitions, each in offset order, processed at or after each timestamp. */
function engineVectors(messages: RawMessage[], order: number[], lags: number[], nowMs: number): Map<string, Record<string, FeatureValue | undefined>> {
  const engine = new WindowEngine(registry, OPTIONS);
  const queues = new Map<string, RawMessage[]>();
  for (const m of [...messages].sort((a, b) => a.offset - b.offset)) {
    const key = `${m.topic}:${m.partition}`;
    queues.set(key, [...(queues.get(key) ?? []), m]);
  }
  const keys = [...queues.keys()];
  const states = new Map<string, EntityState>();
  let now = T0;
  let step = 0;
  while (keys.length > 0) {
    const k = order[step % order.length]! % keys.length;
    const queue = queues.get(keys[k]!)!;
    const m = queue.shift()!;
    if (queue.length === 0) keys.splice(k, 1);
    now = Math.max(now, m.timestamp + lags[step % lags.length]!);
    step++;
    const source = registry.sourceByTopic(m.topic)!;
    try {
      const event = { ...decodeEvent(source, m.value), arrivalMs: m.timestamp };
      const state = states.get(event.entityId) ?? engine.newState('user');
      engine.apply(state, event, now);
      states.set(event.entityId, step % 7 === 0 ? engine.deserialize(engine.serialize(state)) : state);
    } catch (err) {
      if (!(err instanceof InvalidEventError)) throw err;
    }
  }
  const out = new Map<string, Record<string, FeatureValue | undefined>>();
  for (const [id, state] of states) {
    const v = engine.evaluate(state, Math.max(now, nowMs));
    const record: Record<string, FeatureValue | undefined> = {};
    for (const f of registry.features) record[f.name] = v.groups[f.group]![f.name];
    out.set(id, record);
  }
  return out;
}

describe('brute-force reference for the worker tests', () => {
  it('agrees with the engine on random topics consumed in any partition interleaving', () => {
    let compared = 0;
    fc.assert(
      fc.property(
        fc.array(produced, { minLength: 1, maxLength: 80 }),
        fc.array(fc.nat(), { minLength: 1, maxLength: 20 }),
        fc.array(fc.integer({ min: 0, max: 3 * M }), { minLength: 1, maxLength: 5 }),
        fc.integer({ min: 0, max: 30 * H }),
        (specs, order, lags, later) => {
          const messages = messagesOf(specs);
          if (messages.length === 0) return;
          const end = Math.max(...messages.map((m) => m.timestamp)) + 3 * M + later;
          const want = bruteForceVectors(registry, messages, end, OPTIONS);
          const got = engineVectors(messages, order, lags, end);
          expect(got).toEqual(want);
          expect(diffVectors(registry, want, toHashVectors(registry, got))).toEqual([]);
          compared += want.size;
        },
      ),
      { numRuns: 300 },
    );
    expect(compared).toBeGreaterThan(300);
  });

  it('skips undecodable messages, events too far ahead of their timestamp, and duplicates within the horizon', () => {
    const msg = (offset: number, timestamp: number, body: unknown): RawMessage => ({
      topic: 'login-topic',
      partition: 0,
      offset,
      timestamp,
      value: typeof body === 'string' ? body : JSON.stringify(body),
    });
    const now = T0 + H;
    const login = (id: string, ts: number) => ({ event_id: id, user_id: 'u1', ts });
    const messages = [
      msg(0, T0, login('a', T0 - 2 * 24 * H)),
      msg(1, T0 + 19 * M, login('a', T0 - 2 * 24 * H)),
      msg(2, T0 + 20 * M, login('b', T0 + 26 * M)),
      msg(3, T0 + 21 * M, '{"user_id":'),
      msg(4, T0 + 22 * M, login('c', T0 + 22 * M)),
      msg(4, T0 + 22 * M, login('c', T0 + 22 * M)),
    ];
    const v = bruteForceVectors(registry, messages, now, OPTIONS);
    expect(v.get('u1')).toMatchObject({ last_login_ts: (T0 + 22 * M) / 1000, tx_count_1h: undefined, bucket: undefined });
    const diff = diffVectors(registry, v, new Map([['u1', { tx: {}, other: { last_login_ts: '0' } }]]));
    expect(diff).toEqual([`u1 other.last_login_ts: expected "${(T0 + 22 * M) / 1000}", got "0"`]);
  });
});
