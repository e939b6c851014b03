/**
 * Deterministic synthetic event stream for the demo and benchmarks: Zipf-distributed users and
 * merchants, log-normal amounts, logins, profile changes, plus a share of late, duplicated and
 * malformed events. Seeded, so a run can be reproduced and checked against a reference.
 */

export interface WorkloadOptions {
  users: number;
  merchants?: number;
  seed?: number;
  /** Event time of the first event, ms. */
  startMs: number;
  /** Mean event-time gap between consecutive events, ms. */
  stepMs?: number;
  zipfExponent?: number;
  lateFraction?: number;
  duplicateFraction?: number;
  malformedFraction?: number;
  /** Topic of each source (`transactions`, `logins`, `profiles`); default the source's name. */
  topicOf?: (source: SyntheticEvent['source']) => string;
}

export interface SyntheticEvent {
  source: 'transactions' | 'logins' | 'profiles';
  topic: string;
  key: string;
  /** JSON text, or deliberately broken bytes for malformed events. */
  value: string;
  kind: 'valid' | 'late' | 'duplicate' | 'malformed';
  eventTimeMs: number;
}

/** mulberry32: tiny, fast, good enough for synthetic data. */
export function prng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** Samples ranks 0..n-1 with P(k) proportional to 1/(k+1)^s via a cumulative table. */
export function zipf(n: number, s: number, random: () => number): () => number {
  const cdf = new Float64Array(n);
  let total = 0;
  for (let k = 0; k < n; k++) cdf[k] = total += 1 / Math.pow(k + 1, s);
  return () => {
    const x = random() * total;
    let lo = 0;
    let hi = n - 1;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      if (cdf[mid]! < x) lo = mid + 1;
      else hi = mid;
    }
    return lo;
  };
}

const MALFORMED = [
  '{"user_id": "u1", "amount": ',
  '{"user_id": "u1", "amount": "lots", "merchant_id": "m1", "ts": 1}',
  '{"amount": 5, "merchant_id": "m1", "ts": 1}',
  'not json at all',
];

export function userId(rank: number): string {
  return `u${String(rank).padStart(6, '0')}`;
}

export function* syntheticEvents(o: WorkloadOptions): Generator<SyntheticEvent> {
  const random = prng(o.seed ?? 42);
  const nextUser = zipf(o.users, o.zipfExponent ?? 1.1, random);
  const nextMerchant = zipf(o.merchants ?? 500, 1.0, random);
  const step = o.stepMs ?? 50;
  const topicOf = o.topicOf ?? ((source) => source);
  const topics = { transactions: topicOf('transactions'), logins: topicOf('logins'), profiles: topicOf('profiles') };
  // Ids differ between seeds, so a second run on the same services is not de-duplicated against the first.
  const idPrefix = `e${(o.seed ?? 42).toString(36)}-`;
  let clock = o.startMs;
  let seq = 0;
  let previous: SyntheticEvent | undefined;
  for (;;) {
    clock += Math.round(random() * 2 * step);
    const r = random();
    if (previous && r < (o.duplicateFraction ?? 0.01)) {
      yield { ...previous, kind: 'duplicate' };
      continue;
    }
    if (r < (o.duplicateFraction ?? 0.01) + (o.malformedFraction ?? 0.002)) {
      yield { source: 'transactions', topic: topics.transactions, key: userId(nextUser()), value: MALFORMED[seq++ % MALFORMED.length]!, kind: 'malformed', eventTimeMs: clock };
      continue;
    }
    const late = random() < (o.lateFraction ?? 0.05);
    const ts = late ? clock - Math.round(random() * 30 * 60_000) : clock;
    const user = userId(nextUser());
    const event_id = `${idPrefix}${++seq}`;
    const pick = random();
    let ev: SyntheticEvent;
    if (pick < 0.8) {
      // Log-normal amounts around 40 with cents, like card transactions.
      const amount = Math.round(Math.exp(3.2 + 0.9 * gaussian(random)) * 100) / 100;
      const merchant_id = `m${nextMerchant()}`;
      ev = { source: 'transactions', topic: topics.transactions, key: user, value: JSON.stringify({ event_id, user_id: user, amount, merchant_id, ts }), kind: late ? 'late' : 'valid', eventTimeMs: ts };
    } else if (pick < 0.95) {
      ev = { source: 'logins', topic: topics.logins, key: user, value: JSON.stringify({ event_id, user_id: user, ts }), kind: late ? 'late' : 'valid', eventTimeMs: ts };
    } else {
      const created_at = o.startMs - Math.round(random() * 3 * 365 * 86_400_000);
      const profile = { event_id, user_id: user, created_at, credit_score_bucket: Math.floor(random() * 5), is_premium: random() < 0.2, ts };
      ev = { source: 'profiles', topic: topics.profiles, key: user, value: JSON.stringify(profile), kind: late ? 'late' : 'valid', eventTimeMs: ts };
    }
    previous = ev;
    yield ev;
  }
}

function gaussian(random: () => number): number {
  const u = Math.max(random(), 1e-12);
  return Math.sqrt(-2 * Math.log(u)) * Math.cos(2 * Math.PI * random());
}
