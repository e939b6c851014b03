/**
 * DynamoDB sync throughput and lag, against the services in the environment
 * (REDIS_URL, DYNAMODB_ENDPOINT; `npm run services:up` prints them).
 *
 *   drain:  a backlog of ENTITIES refs (1,000 per job) -> items/s
 *   steady: RATE entity updates/s for STEADY_S seconds, enqueued every 100 ms
 *           like worker batches -> lag enqueue -> item written (PutItem acked,
 *           hence visible to a consistent read), p50/p99
 *   baseline: raw BatchWriteItem (25/request, same write concurrency) of the
 *           same items: the ceiling of the endpoint without conditions,
 *           Redis reads or the queue.
 */
import { BatchWriteItemCommand, CreateTableCommand, DeleteTableCommand, type AttributeValue } from '@aws-sdk/client-dynamodb';
import pLimit from 'p-limit';
import { setTimeout as sleep } from 'node:timers/promises';
import { randomBytes } from 'node:crypto';
import { loadEnvConfig } from '../src/config.ts';
import { createLogger } from '../src/logger.ts';
import { parseRegistry } from '../src/schemas/registry.ts';
import { createDynamoClient } from '../src/stores/dynamodb.ts';
import { Keys } from '../src/stores/keys.ts';
import { createRedis } from '../src/stores/redis.ts';
import { createSyncQueue } from '../src/sync/queue.ts';
import { startSyncService } from '../src/sync/service.ts';
import { SYNC_WORKER_DEFAULTS } from '../src/sync/worker.ts';

const ENTITIES = Number(process.env.BENCH_SYNC_ENTITIES ?? 5_000);
const RATE = Number(process.env.BENCH_SYNC_RATE ?? 200);
const STEADY_S = Number(process.env.BENCH_SYNC_SECONDS ?? 15);

const registry = parseRegistry({
  entities: [{ name: 'user' }],
  sources: [{ name: 'tx', entity: 'user', keyField: 'user_id', timeField: 'ts', schema: 'transactions' }],
  features: [
    { name: 'tx_count_1h', source: 'tx', op: 'count', window: '1h', type: 'int', default: 0 },
    { name: 'tx_sum_1h', source: 'tx', op: 'sum', field: 'amount', window: '1h', type: 'float', default: 0 },
    { name: 'tx_max_24h', source: 'tx', op: 'max', field: 'amount', window: '24h', type: 'float', default: 0 },
    { name: 'merchants_24h', source: 'tx', op: 'distinct_count', field: 'merchant_id', window: '24h', type: 'int', default: 0 },
  ],
});

function percentile(sorted: number[], p: number): number {
  return sorted.length ? sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))]! : 0;
}

export default async function run(): Promise<{ metrics: Record<string, number | string>; table: Array<Record<string, string | number>> }> {
  const prefix = `fs-bench-${randomBytes(3).toString('hex')}:`;
  const env = loadEnvConfig({ ...process.env, FEATURESTREAM_KEY_PREFIX: prefix, LOG_LEVEL: 'error' });
  if (!env.DYNAMODB_ENDPOINT) throw new Error('bench/sync needs DYNAMODB_ENDPOINT (and REDIS_URL); run `npm run services:up`');
  const keys = new Keys({ prefix });
  const redis = createRedis(env);
  const dynamo = createDynamoClient(env, { requestHandler: { httpAgent: { maxSockets: 128 } } });
  const table = `fs-bench-${randomBytes(3).toString('hex')}`;
  const version = new Map<string, number>();
  // Seeds what the worker's materialize script writes: vector hash + state hash with _version.
  const seed = async (ids: number[]) => {
    const p = redis.pipeline();
    const now = Date.now();
    for (const i of ids) {
      const ref = { entityType: 'user', entityId: `u${i}` };
      const v = (version.get(ref.entityId) ?? 0) + 1;
      version.set(ref.entityId, v);
      p.hset(keys.vector(ref, 'features'), { _version: v, _updated_ms: now, tx_count_1h: v, tx_sum_1h: (v * 12.5).toFixed(2), tx_max_24h: 99.5, merchants_24h: 3 });
      p.pexpire(keys.vector(ref, 'features'), 48 * 3600_000);
      p.hset(keys.state(ref), { s: randomBytes(600), _version: v, 'o:tx:0': v });
      p.pexpire(keys.state(ref), 50 * 3600_000);
    }
    await p.exec();
  };
  const all = Array.from({ length: ENTITIES }, (_, i) => i);
  const refsOf = (ids: number[]) => ids.map((i) => ({ entityType: 'user', entityId: `u${i}` }));
  const lags: number[] = [];
  let steady = false;
  const service = await startSyncService({
    env,
    registry,
    keys,
    logger: createLogger({ level: 'error' }),
    dynamo,
    table,
    onJobDone: (_, job) => {
      if (steady) lags.push(Date.now() - job.timestamp);
    },
  });
  const queue = createSyncQueue({ env, keys });
  const drain = async () => {
    while ((await queue.backlog()).depth > 0) await sleep(20);
  };
  try {
    await seed(all);
    let started = performance.now();
    await queue.enqueue(1, refsOf(all));
    await drain();
    const drainS = (performance.now() - started) / 1000;

    steady = true;
    const ticks = STEADY_S * 10;
    const perTick = Math.max(1, Math.round(RATE / 10));
    started = performance.now();
    for (let t = 0; t < ticks; t++) {
      const ids = Array.from({ length: perTick }, (_, j) => (t * perTick + j) % ENTITIES);
      await seed(ids);
      await queue.enqueue(1, refsOf(ids));
      const next = started + (t + 1) * 100;
      await sleep(Math.max(0, next - performance.now()));
    }
    await drain();
    steady = false;

    // Baseline: the same items, unconditional BatchWriteItem, into a fresh table.
    const baseTable = `${table}-raw`;
    await dynamo.send(new CreateTableCommand({ TableName: baseTable, AttributeDefinitions: [{ AttributeName: 'pk', AttributeType: 'S' }], KeySchema: [{ AttributeName: 'pk', KeyType: 'HASH' }], BillingMode: 'PAY_PER_REQUEST' }));
    const items = all.map((i): Record<string, AttributeValue> => ({
      pk: { S: keys.dynamoPk({ entityType: 'user', entityId: `u${i}` }) },
      version: { N: '1' }, updated_ms: { N: String(Date.now()) }, expires_at: { N: '9999999999' }, state: { B: randomBytes(600) },
      tx_count_1h: { N: '1' }, tx_sum_1h: { N: '12.5' }, tx_max_24h: { N: '99.5' }, merchants_24h: { N: '3' },
    }));
    const limit = pLimit(SYNC_WORKER_DEFAULTS.writeConcurrency);
    started = performance.now();
    const batches = [];
    for (let i = 0; i < items.length; i += 25) batches.push(items.slice(i, i + 25));
    await Promise.all(batches.map((batch) => limit(async () => {
      let pending: Record<string, AttributeValue>[] = batch;
      while (pending.length) {
        const out = await dynamo.send(new BatchWriteItemCommand({ RequestItems: { [baseTable]: pending.map((Item) => ({ PutRequest: { Item } })) } }));
        pending = (out.UnprocessedItems?.[baseTable] ?? []).map((r) => r.PutRequest!.Item!);
      }
    })));
    const baseS = (performance.now() - started) / 1000;
    await dynamo.send(new DeleteTableCommand({ TableName: baseTable }));

    lags.sort((a, b) => a - b);
    const metrics = {
      items_per_sec: Math.round(ENTITIES / drainS),
      baseline_batchwrite_items_per_sec: Math.round(ENTITIES / baseS),
      ratio_vs_baseline: Number((baseS / drainS).toFixed(3)),
      steady_rate_per_sec: perTick * 10,
      lag_ms_p50: percentile(lags, 50),
      lag_ms_p99: percentile(lags, 99),
      lag_ms_max: lags.at(-1) ?? 0,
      steady_jobs: lags.length,
      endpoint: env.DYNAMODB_ENDPOINT,
    };
    const table_ = [
      { case: `sync drain (${ENTITIES} refs, conditional PutItem)`, items: ENTITIES, seconds: Number(drainS.toFixed(2)), items_per_sec: metrics.items_per_sec },
      { case: 'baseline BatchWriteItem (25/request)', items: ENTITIES, seconds: Number(baseS.toFixed(2)), items_per_sec: metrics.baseline_batchwrite_items_per_sec },
      { case: `steady ${metrics.steady_rate_per_sec}/s for ${STEADY_S}s`, items: ticks * perTick, seconds: STEADY_S, items_per_sec: metrics.steady_rate_per_sec },
    ];
    return { metrics, table: table_ };
  } finally {
    await service.close();
    await queue.queue.obliterate({ force: true }).catch(() => undefined);
    await queue.close();
    await dynamo.send(new DeleteTableCommand({ TableName: table })).catch(() => undefined);
    let cursor = '0';
    do {
      const [next, found] = await redis.scan(cursor, 'MATCH', `${prefix}*`, 'COUNT', 1000);
      cursor = next;
      if (found.length) await redis.unlink(...found);
    } while (cursor !== '0');
    redis.disconnect();
    dynamo.destroy();
  }
}
