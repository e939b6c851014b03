/**
 * Shared pieces of the worker integration tests: a registry over random
 * topics, random event streams (late, out of order, duplicated, expired), a
 * reader of what the topics really hold, and Redis/Kafka progress checks.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { createWriteStream, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Admin, Kafka, Message } from '../../src/consumers/kafka-client.ts';
import { WORKER_DEFAULTS } from '../../src/consumers/worker.ts';
import { parseRegistry, type Registry } from '../../src/schemas/registry.ts';
import { Keys } from '../../src/stores/keys.ts';
import { prng } from '../../src/demo/workload.ts';
import { encodeFeatureValue } from '../../src/stores/codec.ts';
import { GroupCodec } from '../../src/stores/vector-layout.ts';
import { readVectorKeys } from '../../src/stores/stored-vector.ts';
import type { RedisClient } from '../../src/stores/redis.ts';
import { onCluster } from './services.ts';
import type { ExpectedVectors, ProducedMessage } from './reference.ts';
import { randomName } from './names.ts';
import { waitFor } from './wait.ts';

/** The worker's defaults: child processes run with them too. */
export const ENGINE_OPTIONS = { maxFutureSkewMs: WORKER_DEFAULTS.maxFutureSkewMs, dedupHorizonMs: WORKER_DEFAULTS.dedupHorizonMs };

/** Scenarios produce keyed by user (co-partitioned): their workers may fence by partition epoch alone. */
export const CO_PARTITIONED = { coPartitioned: true } as const;

/**
 * 24 h windows over events at most 50 min old: nothing a test waits for can
 * change them, so `now` may differ; and every duplicate stays inside the 1 h
 * de-duplication horizon for the length of a test, whatever the batch cuts.
 */
export function registryInput(topics: { tx: string; logins: string }, maxMessageBytes?: number) {
  const user = { entity: 'user', keyField: 'user_id', timeField: 'ts' };
  return {
    entities: [{ name: 'user' }],
    sources: [
      { name: 'tx', topic: topics.tx, ...user, schema: 'transactions', ...(maxMessageBytes ? { maxMessageBytes } : {}) },
      { name: 'logins', topic: topics.logins, ...user, schema: 'logins' },
    ],
    features: [
      { name: 'tx_count_24h', source: 'tx', op: 'count', window: '24h', type: 'int', default: 0 },
      { name: 'tx_sum_24h', source: 'tx', op: 'sum', field: 'amount', window: '24h', type: 'float', default: 0 },
      { name: 'tx_max_24h', source: 'tx', op: 'max', field: 'amount', window: '24h', type: 'float', default: 0 },
      { name: 'merchants_24h', source: 'tx', op: 'distinct_count', field: 'merchant_id', window: '24h', type: 'int', default: 0 },
      { name: 'login_count_24h', source: 'logins', op: 'count', window: '24h', type: 'int', default: 0 },
      { name: 'last_login_ts', source: 'logins', op: 'last_time', type: 'int', default: 0, freshness: '1d' },
    ],
  };
}

export interface Scenario {
  topics: { tx: string; logins: string };
  registry: Registry;
  configFile: string;
  prefix: string;
  groupId: string;
  keys: Keys;
}

export async function createScenario(createTopic: (partitions?: number) => Promise<string>, partitions = 4): Promise<Scenario> {
  const topics = { tx: await createTopic(partitions), logins: await createTopic(partitions) };
  const input = registryInput(topics);
  const dir = mkdtempSync(join(tmpdir(), 'fs-worker-'));
  const configFile = join(dir, 'registry.json');
  writeFileSync(configFile, JSON.stringify(input));
  const prefix = `${randomName('fs-w')}:`;
  return { topics, registry: parseRegistry(input), configFile, prefix, groupId: randomName('fs-group'), keys: new Keys({ prefix, hashTags: onCluster() }) };
}

/** Deterministic PRNG (the demo's) so a failing run can be replayed from its seed. */
export const rng = prng;

export interface TopicMessage {
  topic: string;
  message: Message;
}

/** Random traffic: late and out-of-order times (up to 50 min), ~5% re-sent duplicates, ~3% too old to count, ~30% without ids. */
export function randomEvents(s: Scenario, count: number, users: number, nowMs: number, random: () => number): TopicMessage[] {
  const out: TopicMessage[] = [];
  let seq = 0;
  for (let i = 0; i < count; i++) {
    const userId = `u${Math.floor(random() * users)}`;
    const old = random() < 0.03;
    const ts = old ? nowMs - 30 * 3_600_000 - Math.floor(random() * 3_600_000) : nowMs - Math.floor(random() * 50 * 60_000);
    const isTx = random() < 0.7;
    // A third carry no event id: only the offset fence keeps their redelivery from counting twice.
    const id = random() < 0.3 ? {} : { event_id: `${isTx ? 'e' : 'l'}${seq++}` };
    const body = isTx
      ? { ...id, user_id: userId, amount: 1 + Math.floor(random() * 500), merchant_id: `m${Math.floor(random() * 30)}`, ts }
      : { ...id, user_id: userId, ts };
    const msg = { topic: isTx ? s.topics.tx : s.topics.logins, message: { key: userId, value: JSON.stringify(body) } };
    out.push(msg);
    if (random() < 0.05) out.push(msg);
  }
  return out;
}

export async function produce(kafka: Kafka, messages: TopicMessage[], chunk = 500): Promise<void> {
  const producer = kafka.producer();
  await producer.connect();
  try {
    for (let i = 0; i < messages.length; i += chunk) {
      const byTopic = new Map<string, Message[]>();
      for (const m of messages.slice(i, i + chunk)) byTopic.set(m.topic, [...(byTopic.get(m.topic) ?? []), m.message]);
      await producer.sendBatch({ acks: -1, topicMessages: [...byTopic].map(([topic, msgs]) => ({ topic, messages: msgs })) });
    }
  } finally {
    await producer.disconnect();
  }
}

/** Everything the topics hold, with real partitions and offsets: the reference's input. */
export async function readTopics(kafka: Kafka, admin: Admin, topics: string[]): Promise<ProducedMessage[]> {
  const ends = new Map<string, number>();
  for (const topic of topics) for (const p of await admin.fetchTopicOffsets(topic)) ends.set(`${topic}:${p.partition}`, Number(p.high));
  const consumer = kafka.consumer({ groupId: randomName('fs-reader') });
  const out: ProducedMessage[] = [];
  const seen = new Map<string, number>();
  await consumer.connect();
  try {
    await consumer.subscribe({ topics, fromBeginning: true });
    await consumer.run({
      eachBatch: async ({ batch }) => {
        for (const m of batch.messages) out.push({ topic: batch.topic, partition: batch.partition, offset: Number(m.offset), timestamp: Number(m.timestamp), value: m.value });
        const last = batch.messages.at(-1);
        if (last) seen.set(`${batch.topic}:${batch.partition}`, Number(last.offset) + 1);
      },
    });
    await waitFor('reading the topics to their end', () => [...ends].every(([tp, end]) => end === 0 || (seen.get(tp) ?? 0) >= end), { timeoutMs: 60_000 });
  } finally {
    await consumer.disconnect();
  }
  return out;
}

/** Messages a topic holds (sum of its partitions' high watermarks, nothing deleted). */
export async function topicSize(admin: Admin, topic: string): Promise<number> {
  return (await admin.fetchTopicOffsets(topic)).reduce((sum, p) => sum + Number(p.high), 0);
}

/** True once the group has committed every partition up to its high watermark. */
export async function caughtUp(admin: Admin, groupId: string, topics: string[]): Promise<boolean> {
  const committed = await admin.fetchOffsets({ groupId, topics });
  for (const { topic, partitions } of committed) {
    const ends = await admin.fetchTopicOffsets(topic);
    for (const end of ends) {
      const c = partitions.find((p) => p.partition === end.partition);
      const at = c && Number(c.offset) >= 0 ? Number(c.offset) : 0;
      if (at < Number(end.high)) return false;
    }
  }
  return true;
}

export async function readVectors(
  redis: RedisClient,
  s: Pick<Scenario, 'registry' | 'keys'>,
  entityIds: Iterable<string>,
  version = 1,
): Promise<ExpectedVectors> {
  const ids = [...entityIds];
  const groups = s.registry.groupsOf('user');
  const codecs = groups.map((g) => new GroupCodec(g.features.map((n) => s.registry.feature(n)!)));
  const contents = await readVectorKeys(
    redis,
    ids.flatMap((id) => groups.map((g) => s.keys.vector({ entityType: 'user', entityId: id }, g.name, version))),
  );
  const out: ExpectedVectors = new Map();
  let i = 0;
  for (const id of ids) {
    const entity: Record<string, Record<string, string>> = {};
    groups.forEach((g, k) => {
      // Any layout, in the per-field form (codec.ts encoding, latin1): what the references produce.
      const stored = codecs[k]!.decode(contents[i++]);
      if (stored !== undefined && stored.corrupt.length > 0) throw new Error(`unreadable values in ${g.name} of ${id}: ${stored.corrupt.join(', ')}`);
      entity[g.name] = Object.fromEntries(
        Object.entries(stored?.values ?? {}).map(([f, v]) => [f, Buffer.from(encodeFeatureValue(s.registry.feature(f)!, v)).toString('latin1')]),
      );
    });
    out.set(id, entity);
  }
  return out;
}

export interface ChildWorker {
  proc: ChildProcess;
  exited: Promise<number | null>;
  logFile: string;
}

/** A real worker process (`featurestream worker`), for crash and rebalance tests. */
export function spawnWorker(s: Scenario, env: NodeJS.ProcessEnv, extraArgs: string[] = []): ChildWorker {
  const logFile = join(tmpdir(), `${randomName('fs-worker-log')}.log`);
  const log = createWriteStream(logFile);
  const proc = spawn(
    process.execPath,
    ['--import', 'tsx', 'src/cli/main.ts', 'worker', '--config', s.configFile, '--group', s.groupId, '--metrics-port', '0', '--session-timeout', '6000', ...extraArgs],
    { env: { ...process.env, ...env, FEATURESTREAM_KEY_PREFIX: s.prefix, LOG_LEVEL: 'info' }, stdio: ['ignore', 'pipe', 'pipe'] },
  );
  proc.stdout?.pipe(log);
  proc.stderr?.pipe(log);
  const exited = new Promise<number | null>((resolve) => proc.once('exit', (code) => resolve(code)));
  return { proc, exited, logFile };
}

/** Sum of the group's committed offsets: grows whenever any worker finishes a batch. */
export async function committedTotal(admin: Admin, groupId: string, topics: string[]): Promise<number> {
  const committed = await admin.fetchOffsets({ groupId, topics });
  return committed.flatMap((t) => t.partitions).reduce((sum, p) => sum + Math.max(0, Number(p.offset)), 0);
}

/** Produces `chunks` slices of random traffic, `pauseMs` apart, while other things happen; returns when done. */
export async function produceOverTime(
  kafka: Kafka,
  s: Scenario,
  o: { chunks: number; perChunk: number; users: number; pauseMs: number; seed: number; stop?: () => boolean },
): Promise<void> {
  const random = rng(o.seed);
  for (let i = 0; i < o.chunks && !o.stop?.(); i++) {
    await produce(kafka, randomEvents(s, o.perChunk, o.users, Date.now(), random));
    await new Promise((r) => setTimeout(r, o.pauseMs));
  }
}

export async function stopChild(w: ChildWorker, signal: NodeJS.Signals = 'SIGTERM'): Promise<number | null> {
  if (w.proc.exitCode === null && w.proc.signalCode === null) w.proc.kill(signal);
  return w.exited;
}
