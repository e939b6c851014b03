/**
 * The DynamoDB fallback's own limit, against a redis-server this test owns,
 * hung by SIGSTOP (the shared one is never touched), and the real DynamoDB
 * endpoint (dynalite): a burst of calls that all fall back sends at most
 * `maxInFlight` BatchGetItem requests at once; the calls beyond it get
 * defaults at once, counted as `saturated`, and the admitted ones are answered
 * from DynamoDB. The concurrency is counted on the wire by a middleware on
 * the client (the reference), not by the reader.
 */
import { describe, expect, it, onTestFinished } from 'vitest';
import { Registry as MetricsRegistry } from 'prom-client';
import { createFeatureReader } from '../../src/index.ts';
import { createDynamoClient } from '../../src/stores/dynamodb.ts';
import { Keys } from '../../src/stores/keys.ts';
import { randomName } from '../helpers/names.ts';
import { endpoints, testDynamo } from '../helpers/services.ts';
import { waitFor } from '../helpers/wait.ts';
import { metricValue, putDynamoUser, testConfig } from './reader-fixtures.ts';
import { ownRedisForFile } from './reader-own-redis.ts';

const MAX_IN_FLIGHT = 3;
const CALLS = 24;

const own = ownRedisForFile('fs-reader-fallback-cap');

describe('DynamoDB fallback limit', () => {
  it('a burst falling back from a hung Redis sends at most maxInFlight reads; the rest get defaults at once', async () => {
    const { client: admin, table } = await testDynamo();
    const keys = new Keys({ prefix: `${randomName('fs-fallback-cap')}:` });
    const ids = Array.from({ length: CALLS }, (_, i) => `u${i}`);
    for (const id of ids) await putDynamoUser(admin, table, keys, id, { tx_count_1h: 5 });

    // The reader's own client, with BatchGetItem requests in flight counted on the way out.
    const client = createDynamoClient({ DYNAMODB_ENDPOINT: endpoints().dynamodbEndpoint, AWS_REGION: 'us-east-1' }, { maxAttempts: 1 });
    onTestFinished(() => client.destroy());
    const wire = { inFlight: 0, max: 0, sent: 0 };
    client.middlewareStack.add(
      (next) => async (args) => {
        wire.sent++;
        wire.max = Math.max(wire.max, ++wire.inFlight);
        try {
          return await next(args);
        } finally {
          wire.inFlight--;
        }
      },
      { step: 'initialize', name: 'countInFlight' },
    );

    const metrics = new MetricsRegistry();
    const reader = createFeatureReader({
      registry: testConfig,
      redis: { url: own.url() },
      dynamodb: { client, table, maxInFlight: MAX_IN_FLIGHT },
      keys,
      metrics,
      cache: false,
      // Room for dynalite on a busy machine: the admitted reads must answer, only the limit refuses.
      deadlineMs: 2_000,
      redisTimeoutMs: 100,
    });
    onTestFinished(() => reader.close());
    expect(await reader.ready()).toBe(true);
    // The keyspace version and layout are known before Redis hangs (nothing of Redis's is in this test's keyspace).
    expect((await reader.get('user', 'absent')).source).toBe('default');
    // The reader warms its DynamoDB client at creation: one read, done before the burst.
    await waitFor('the warm-up read', () => wire.sent >= 1 && wire.inFlight === 0, { timeoutMs: 10_000, intervalMs: 10 });
    wire.max = 0;

    own.hang();
    // Distinct ids per call: nothing coalesces, every call falls back on its own.
    const answers = await Promise.all(ids.map(async (id) => (await reader.getMany('user', [id]))[0]!));
    own.resume();

    expect(wire.max).toBeGreaterThan(0);
    expect(wire.max).toBeLessThanOrEqual(MAX_IN_FLIGHT);
    const fromDynamo = answers.filter((a) => a.source === 'dynamodb').length;
    const defaults = answers.filter((a) => a.source === 'default').length;
    // A call whose Redis timeout comes after an admitted read ended is admitted in turn: more than the limit in all, never at once.
    expect(fromDynamo).toBeGreaterThan(0);
    expect(defaults).toBeGreaterThan(0);
    expect(defaults).toBe(CALLS - fromDynamo);
    expect(await metricValue(metrics, 'featurestream_reader_dynamodb_failures_total', { reason: 'saturated' })).toBe(defaults);
  });
});
