/**
 * Failover mid-stream loses nothing: on a private Redis Cluster (3 masters x 1
 * replica), the master holding the most entities is SIGKILLed three times,
 * each time while its replica is cut off for a moment (so it lags), and
 * restarted afterwards (it rejoins as a replica, so the next failover has one),
 * while the worker process is SIGKILLed twice, traffic flowing throughout. The worker WAITs for a replica before committing, so the
 * promoted replicas hold every committed write: afterwards Redis equals the
 * independent reference (nothing lost, nothing double-counted) and the
 * DynamoDB copy equals Redis.
 * The reference is the brute-force one (test/helpers/brute-reference.ts).
 */
import { describe, expect, it, onTestFinished } from 'vitest';
import { Cluster, Redis } from 'ioredis';
import { Keys } from '../../src/stores/keys.ts';
import { bruteForceVectors, toHashVectors } from '../helpers/brute-reference.ts';
import { privateRedisCluster } from '../helpers/private-services.ts';
import { testDynamo, testEnv, testKafka } from '../helpers/services.ts';
import { waitFor } from '../helpers/wait.ts';
import {
  ENGINE_OPTIONS,
  caughtUp,
  committedTotal,
  createScenario,
  produceOverTime,
  readTopics,
  readVectors,
  rng,
  spawnWorker,
  stopChild,
  type ChildWorker,
  type Scenario,
} from '../helpers/worker-fixtures.ts';
import { dynamoVectors, redisVectors } from './sync-fixtures.ts';

describe('worker across Redis Cluster failovers', () => {
  it('loses and double-counts nothing through 3 master kills and 2 worker kills', async () => {
    const cluster = await privateRedisCluster({ masters: 3, replicasPerMaster: 1 });
    onTestFinished(() => cluster.stop());
    const { kafka, admin, createTopic } = await testKafka();
    const { client: dynamo, table } = await testDynamo();
    const base = await createScenario(createTopic, 4);
    const s: Scenario = { ...base, keys: new Keys({ prefix: base.prefix, hashTags: true }) };
    const topics = [s.topics.tx, s.topics.logins];
    const seed = Date.now() % 100_000;
    const random = rng(seed + 7);
    const env = testEnv({ REDIS_CLUSTER_NODES: cluster.seeds.join(','), DYNAMODB_TABLE: table });
    const children: ChildWorker[] = [];
    onTestFinished(async () => {
      for (const c of children) await stopChild(c, 'SIGKILL');
    });
    const connect = async () => {
      const nodes = cluster.seeds.map((hp) => ({ host: hp.split(':')[0]!, port: Number(hp.split(':')[1]) }));
      const client = new Cluster(nodes, { redisOptions: { maxRetriesPerRequest: 1 } });
      client.on('error', () => undefined);
      onTestFinished(() => client.disconnect());
      await waitFor('a cluster client', () => client.status === 'ready');
      return client;
    };
    let redis = await connect();

    const progress = async (what: string, child: ChildWorker) => {
      const before = await committedTotal(admin, s.groupId, topics);
      await waitFor(`${what} (log ${child.logFile})`, async () => (await committedTotal(admin, s.groupId, topics)) > before, {
        timeoutMs: 90_000,
        intervalMs: 100,
      });
    };
    /** The master whose keyspace is largest (every key of this private cluster is the test's). */
    const busiestMaster = async (): Promise<number> => {
      const masters = (await cluster.nodes()).filter((n) => n.role === 'master');
      const sizes = await Promise.all(
        masters.map(async (m) => {
          const node = redis.nodes('master').find((n) => n.options.port === m.port);
          return { port: m.port, size: node ? await node.dbsize().catch(() => 0) : 0 };
        }),
      );
      return sizes.sort((a, b) => b.size - a.size)[0]!.port;
    };

    let faults = true;
    const traffic = produceOverTime(kafka, s, { chunks: 100_000, perChunk: 100, users: 150, pauseMs: 150, seed, stop: () => !faults });
    let worker = spawnWorker(s, env);
    children.push(worker);
    await progress('the first worker to commit', worker);
    for (const fault of ['master', 'worker', 'master', 'worker', 'master'] as const) {
      // A random point mid-stream: mid-batch, mid-write or between batches.
      await new Promise((r) => setTimeout(r, 200 + Math.floor(random() * 1_500)));
      if (fault === 'worker') {
        expect(await stopChild(worker, 'SIGKILL')).toBeNull();
        worker = spawnWorker(s, env);
        children.push(worker);
      } else {
        const port = await busiestMaster();
        // Its replica is made to lag first: the master keeps dropping the replication link for a
        // moment, so the kill can catch writes the replica has not received.
        const master = new Redis(port, { maxRetriesPerRequest: 1 });
        master.on('error', () => undefined);
        for (let i = 0; i < 16; i++) {
          await master.call('CLIENT', 'KILL', 'TYPE', 'replica').catch(() => undefined);
          await new Promise((r) => setTimeout(r, 50));
        }
        await cluster.kill(port);
        master.disconnect();
        // Healthy is not enough: until the node timeout passes, the dead node still "serves" its slots.
        await waitFor('a replica to take over the killed master\'s slots', async () => {
          const masters = (await cluster.nodes()).filter((n) => n.role === 'master');
          return masters.length === 3 && masters.every((m) => m.port !== port) && masters.reduce((sum, m) => sum + m.slots, 0) === 16_384;
        }, { timeoutMs: 60_000, intervalMs: 200 });
        await cluster.waitHealthy(60_000);
        await cluster.restart(port);
        await cluster.waitHealthy(60_000);
        await waitFor('the restarted node to rejoin as a replica', async () => (await cluster.nodes()).some((n) => n.port === port && n.role !== 'master'), {
          timeoutMs: 60_000,
        });
      }
      await progress(`progress after the ${fault} kill`, worker);
    }
    faults = false;
    await traffic;
    await waitFor(`the worker to catch up (log ${worker.logFile})`, () => caughtUp(admin, s.groupId, topics), { timeoutMs: 120_000, intervalMs: 250 });

    // A fresh client: the slot table after three failovers.
    redis = await connect();
    // Brute force from the raw log, independent of the engine.
    const expected = toHashVectors(s.registry, bruteForceVectors(s.registry, await readTopics(kafka, admin, topics), Date.now(), ENGINE_OPTIONS));
    expect(expected.size).toBeGreaterThan(100);
    expect(await readVectors(redis, s, expected.keys()), `seed ${seed}`).toEqual(expected);

    const inRedis = await redisVectors(redis, s, [...expected.keys()]);
    await waitFor(
      'DynamoDB to equal Redis',
      async () => {
        const inDynamo = await dynamoVectors(dynamo, table, s);
        return inDynamo.size === inRedis.size && [...inRedis].every(([id, v]) => JSON.stringify(inDynamo.get(id)) === JSON.stringify(v));
      },
      { timeoutMs: 120_000, intervalMs: 1_000 },
    );
    expect(await dynamoVectors(dynamo, table, s)).toEqual(inRedis);
    expect(await stopChild(worker, 'SIGTERM')).toBe(0);
  });
});
