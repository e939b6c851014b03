/**
 * The reader against a 3-master Redis Cluster this test starts on loopback:
 * one batch whose keys cover every one of the 16384 slots.
 */
import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it, onTestFinished, vi } from 'vitest';
import { Cluster, Redis } from 'ioredis';
import { Registry as MetricsRegistry } from 'prom-client';
import { stopProcess } from '../../scripts/services/process.ts';
import { ensureRedis, redisProcess } from '../../scripts/services/redis.ts';
import { createFeatureReader } from '../../src/index.ts';
import { keySlot, SLOT_COUNT } from '../../src/serving/slot.ts';
import { Keys } from '../../src/stores/keys.ts';
import { sparePort } from '../helpers/ports.ts';
import { waitFor } from '../helpers/wait.ts';
import { queueUser, testConfig } from './reader-fixtures.ts';


const dir = mkdtempSync(join(tmpdir(), 'fs-reader-cluster-'));
const ports: number[] = [];

beforeAll(async () => {
  for (let i = 0; i < 3; i++) ports.push(await sparePort());
  await Promise.all(
    ports.map((port) =>
      ensureRedis({ dir, port, args: ['--cluster-enabled', 'yes', '--cluster-config-file', join(dir, `nodes-${port}.conf`), '--cluster-node-timeout', '2000'] }, () => undefined),
    ),
  );
  execFileSync('redis-cli', ['--cluster', 'create', ...ports.map((p) => `127.0.0.1:${p}`), '--cluster-replicas', '0', '--cluster-yes'], { stdio: 'pipe' });
  await waitFor('cluster state ok on every node', async () => {
    for (const port of ports) {
      const node = new Redis({ port, host: '127.0.0.1', lazyConnect: true, maxRetriesPerRequest: 0, retryStrategy: () => null });
      try {
        await node.connect();
        if (!(await node.cluster('INFO')).includes('cluster_state:ok')) return false;
      } finally {
        node.disconnect();
      }
    }
    return true;
  });
}, 60_000);

afterAll(async () => {
  await Promise.all(ports.map((port) => stopProcess(redisProcess({ dir, port }), 3_000)));
  rmSync(dir, { recursive: true, force: true });
});

/** Ids whose hash-tagged keys land on every slot: the first id found for each slot. */
function idsCoveringAllSlots(): string[] {
  const bySlot = new Map<number, string>();
  for (let n = 0; bySlot.size < SLOT_COUNT; n++) {
    const id = `u${n}`;
    const slot = keySlot(id);
    if (!bySlot.has(slot)) bySlot.set(slot, id);
  }
  return [...bySlot.values()];
}

describe('reader on a Redis Cluster', () => {
  it('computes the same slots as the cluster', async () => {
    const node = new Redis({ port: ports[0], host: '127.0.0.1', maxRetriesPerRequest: 0 });
    onTestFinished(() => node.disconnect());
    for (const key of ['foo', 'user:u1:features', 'x:{u42}:velocity', 'a{}b', '{}{x}', 'üñï']) {
      expect(keySlot(key), key).toBe(await node.cluster('KEYSLOT', key));
    }
  });

  it('returns correct vectors for a batch spanning all slots, one pipeline per node', async () => {
    const keys = new Keys({ prefix: 'fsc:', hashTags: true });
    const seeder = new Cluster(
      ports.map((port) => ({ host: '127.0.0.1', port })),
      { enableAutoPipelining: true },
    );
    onTestFinished(() => seeder.disconnect());
    const ids = idsCoveringAllSlots();
    // Each entity's keys share its hash-tag slot, so one pipeline per entity is a valid Cluster pipeline.
    await Promise.all(
      ids.map((id, i) => {
        const p = seeder.pipeline();
        queueUser(p, keys, id, i % 7 === 0 ? {} : { tx_count_1h: i, country: `c${i % 100}` });
        return p.exec();
      }),
    );

    const reader = createFeatureReader({
      registry: testConfig,
      redis: { clusterNodes: ports.map((p) => `127.0.0.1:${p}`) },
      dynamodb: false,
      keys,
      metrics: new MetricsRegistry(),
      cache: false,
      deadlineMs: 10_000,
      pipelineChunkSize: 1_000,
    });
    onTestFinished(() => reader.close());
    expect(await reader.ready(10_000)).toBe(true);
    await waitFor('cluster slot table', async () => (await reader.get('user', ids[1]!)).source === 'redis');

    const vectors = await reader.getMany('user', ids);
    expect(vectors).toHaveLength(SLOT_COUNT);
    vectors.forEach((v, i) => {
      expect(v.entityId).toBe(ids[i]);
      if (i % 7 === 0) {
        expect(v.source).toBe('default');
      } else {
        expect(v.source).toBe('redis');
        expect(v.features.tx_count_1h).toBe(i);
        expect(v.features.country).toBe(`c${i % 100}`);
      }
    });

    // Without hash tags an entity's two group keys usually sit on different nodes.
    const plain = new Keys({ prefix: 'fsp:' });
    const small = ids.slice(0, 50);
    await Promise.all(
      small.map((id) => {
        const p = seeder.pipeline();
        queueUser(p, plain, id, { tx_count_1h: 1 });
        return p.exec();
      }),
    );
    const cluster = new Cluster(ports.map((port) => ({ host: '127.0.0.1', port })), { enableOfflineQueue: false });
    onTestFinished(() => cluster.disconnect());
    await waitFor('cluster client ready', () => cluster.status === 'ready');
    const plainReader = createFeatureReader({ registry: testConfig, redis: cluster, dynamodb: false, keys: plain, metrics: new MetricsRegistry(), cache: false, deadlineMs: 5_000 });
    onTestFinished(() => plainReader.close());
    const pipelines = vi.spyOn(cluster, 'pipeline');
    const plainVectors = await plainReader.getMany('user', small);
    expect(pipelines.mock.calls.length).toBeLessThanOrEqual(3);
    expect(plainVectors.every((v) => v.source === 'redis' && v.features.tx_count_1h === 1)).toBe(true);
  });
});
