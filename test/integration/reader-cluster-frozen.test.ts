/**
 * A frozen master during reads (issue 11): on a private 3-master Cluster with
 * replicas, SIGSTOP one master. Entities on the other masters are still read
 * from Redis within the deadline; only the frozen master's entities come from
 * DynamoDB (or defaults), and only its breaker trips. After SIGCONT every
 * entity is served from Redis again.
 */
import { monitorEventLoopDelay } from 'node:perf_hooks';
import { afterAll, beforeAll, describe, expect, it, onTestFinished } from 'vitest';
import { Cluster } from 'ioredis';
import { Registry as MetricsRegistry } from 'prom-client';
import type { RedisClusterHandle } from '../../scripts/services/redis-cluster.ts';
import { createFeatureReader } from '../../src/index.ts';
import { keySlot } from '../../src/serving/slot.ts';
import { Keys } from '../../src/stores/keys.ts';
import { randomName } from '../helpers/names.ts';
import { privateRedisCluster } from '../helpers/private-services.ts';
import { testDynamo } from '../helpers/services.ts';
import { waitFor } from '../helpers/wait.ts';
import { putDynamoUser, seedUsers, testConfig } from './reader-fixtures.ts';

// Generous, so a loaded machine cannot push a healthy master past the Redis budget (40% of it).
const DEADLINE_MS = 300;
// Timer and event-loop jitter on a busy 2-core machine; the reader keeps a margin of its own.
const JITTER_MS = 5;

let cluster: RedisClusterHandle;

beforeAll(async () => {
  cluster = await privateRedisCluster({ masters: 3, replicasPerMaster: 1 });
}, 120_000);

afterAll(async () => {
  await cluster?.stop();
});

describe('reader on a Cluster with a frozen master', () => {
  it('serves the other masters from Redis within the deadline and only the frozen one from DynamoDB', async () => {
    const prefix = `${randomName('fs-frozen')}:`;
    const keys = new Keys({ prefix, hashTags: true });
    const { client: dynamo, table } = await testDynamo();
    const seeder = new Cluster(cluster.seeds.map((hp) => ({ host: hp.split(':')[0]!, port: Number(hp.split(':')[1]) })));
    onTestFinished(() => seeder.disconnect());
    await waitFor('seeder ready', () => seeder.status === 'ready');

    const ids = Array.from({ length: 60 }, (_, i) => `u${i}`);
    await seedUsers(seeder, keys, ids.map((id, i) => [id, { tx_count_1h: i }]));
    // DynamoDB holds a different count, so the source of every value is visible.
    await Promise.all(ids.map((id, i) => putDynamoUser(dynamo, table, keys, id, { tx_count_1h: 1_000 + i })));

    const metrics = new MetricsRegistry();
    const reader = createFeatureReader({
      registry: testConfig,
      redis: { clusterNodes: cluster.seeds },
      dynamodb: { client: dynamo, table },
      keys,
      metrics,
      cache: false,
      deadlineMs: DEADLINE_MS,
      breaker: { failureThreshold: 3, openMs: 1_000 },
    });
    onTestFinished(() => reader.close());
    expect(await reader.ready(10_000)).toBe(true);
    await waitFor('every entity from Redis', async () => (await reader.getMany('user', ids)).every((v) => v.source === 'redis'));

    // The owner of each entity's slot, and the master to freeze: the one holding u0.
    const ownerOf = (id: string) => seeder.slots[keySlot(keys.vector({ entityType: 'user', entityId: id }, 'velocity'))]![0]!;
    const frozenNode = ownerOf('u0');
    const frozenPort = Number(frozenNode.split(':')[1]);
    const onFrozen = new Set(ids.filter((id) => ownerOf(id) === frozenNode));
    expect(onFrozen.size).toBeGreaterThan(0);
    expect(onFrozen.size).toBeLessThan(ids.length);

    const pid = cluster.pid(frozenPort);
    process.kill(pid, 'SIGSTOP');
    let frozen = true;
    onTestFinished(() => {
      if (frozen) process.kill(pid, 'SIGCONT');
    });

    // Few enough calls that a failover (node timeout 1.5 s) cannot finish first; if it does, its entities come from Redis.
    const fromDynamo = new Set<string>();
    for (let call = 0; call < 6; call++) {
      const lag = monitorEventLoopDelay({ resolution: 1 });
      lag.enable();
      const started = performance.now();
      const vectors = await reader.getMany('user', ids);
      const elapsed = performance.now() - started;
      lag.disable();
      const lostMs = lag.max / 1e6;
      expect(elapsed, `call ${call} took ${elapsed.toFixed(1)} ms (event loop delay max ${lostMs.toFixed(1)} ms)`).toBeLessThanOrEqual(DEADLINE_MS + JITTER_MS + lostMs);
      vectors.forEach((v, i) => {
        expect(v.entityId).toBe(ids[i]);
        if (!onFrozen.has(v.entityId)) {
          expect(v.source, `${v.entityId} is not on the frozen master (call ${call})`).toBe('redis');
          expect(v.features.tx_count_1h).toBe(i);
        } else if (v.source === 'dynamodb') {
          expect(v.features.tx_count_1h).toBe(1_000 + i);
          fromDynamo.add(v.entityId);
        } else {
          // Defaults when DynamoDB was late too; Redis once the replica has taken the slots over.
          expect(['default', 'redis']).toContain(v.source);
        }
      });
    }
    expect(fromDynamo.size).toBeGreaterThan(0);
    const states = reader.breakerStates();
    expect(states[`redis@${frozenNode}`]).not.toBe('closed');
    for (const [target, state] of Object.entries(states)) if (target !== `redis@${frozenNode}`) expect(state, target).toBe('closed');

    process.kill(pid, 'SIGCONT');
    frozen = false;
    await cluster.waitHealthy(60_000);
    await waitFor(
      'every entity from Redis again',
      async () => {
        const vectors = await reader.getMany('user', ids);
        return vectors.every((v, i) => v.source === 'redis' && v.features.tx_count_1h === i);
      },
      { timeoutMs: 90_000, intervalMs: 200 },
    );
  });
});
