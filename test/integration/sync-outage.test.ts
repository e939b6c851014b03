/**
 * A private dynalite is stopped for 20 s while entities keep changing: the
 * backlog metrics grow during the outage, jobs retry with backoff instead of
 * dead-lettering, and after the restart DynamoDB converges to Redis.
 */
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { describe, expect, it, onTestFinished } from 'vitest';
import { dynaliteProcess, ensureDynalite } from '../../scripts/services/dynalite.ts';
import { stopProcess } from '../../scripts/services/process.ts';
import { createDynamoClient } from '../../src/stores/dynamodb.ts';
import { syncMetrics } from '../../src/sync/metrics.ts';
import { randomName } from '../helpers/names.ts';
import { testRedisClient } from '../helpers/services.ts';
import { sparePort } from '../helpers/ports.ts';
import { waitFor } from '../helpers/wait.ts';
import { createSyncScenario, dynamoVectors, redisVectors, refs, startSync, users } from './sync-fixtures.ts';

async function gauge(g: typeof syncMetrics.queueDepth): Promise<number> {
  return (await g.get()).values[0]?.value ?? 0;
}

describe('sync through a DynamoDB outage', () => {
  it('loses no update across a 20 s outage and shows the backlog growing meanwhile', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'fs-dynalite-'));
    const private_ = { dir, port: await sparePort(), dataDir: join(dir, 'data') };
    const endpoint = await ensureDynalite(private_, () => undefined);
    onTestFinished(() => stopProcess(dynaliteProcess(private_), 3_000).then(() => undefined));
    const client = createDynamoClient(
      { DYNAMODB_ENDPOINT: endpoint, AWS_REGION: 'us-east-1' },
      { maxAttempts: 1, requestHandler: { connectionTimeout: 1_000, requestTimeout: 5_000 } },
    );
    onTestFinished(() => client.destroy());
    const table = randomName('fs-table');

    const redis = await testRedisClient('fs-sync-');
    const s = createSyncScenario(redis);
    const ids = users(100);
    // Minimum total backoff of 12 attempts is ~36 s: a 20 s outage must not exhaust them.
    const { queue } = await startSync(s, client, table, { backoff: { baseMs: 500, capMs: 8_000 } });
    await queue.enqueue(1, refs(await s.write(ids, 2)));

    let writing = true;
    let round = 0;
    const writer = (async () => {
      while (writing) {
        const touched = ids.filter((_, i) => i % 10 === round % 10);
        round += 1;
        await queue.enqueue(1, refs(await s.write(touched, 1)));
        await sleep(100);
      }
    })();

    await sleep(3_000);
    await stopProcess(dynaliteProcess(private_), 3_000);
    const outageStarted = Date.now();
    const depths: number[] = [];
    // Jobs enqueued while the depth was sampled: none can complete with DynamoDB down.
    let firstRound = 0;
    let lastRound = 0;
    let oldestAge = 0;
    while (Date.now() - outageStarted < 20_000) {
      const atRound = round;
      depths.push(await gauge(syncMetrics.queueDepth));
      if (depths.length === 1) firstRound = atRound;
      lastRound = atRound;
      oldestAge = Math.max(oldestAge, await gauge(syncMetrics.oldestPendingAge));
      await sleep(1_000);
    }
    await ensureDynalite(private_, () => undefined);
    await sleep(3_000);
    writing = false;
    await writer;

    // Relative to what the writer managed (a loaded machine writes fewer rounds), not a fixed count.
    expect(lastRound - firstRound).toBeGreaterThanOrEqual(10);
    expect(depths.at(-1)! - depths[0]!).toBeGreaterThanOrEqual((lastRound - firstRound) / 2);
    expect(oldestAge).toBeGreaterThan(15_000);
    await waitFor('the backlog to drain', async () => (await queue.backlog()).depth === 0, { timeoutMs: 90_000 });
    expect(await queue.queue.getFailedCount()).toBe(0);
    expect(await gauge(syncMetrics.queueDepth)).toBe(0);
    const expected = await redisVectors(redis, s, ids);
    expect(expected.size).toBe(100);
    expect(await dynamoVectors(client, table, s)).toEqual(expected);
  });
});
