/**
 * The demo's core on the shared services, on its own topics, key prefix, group and table:
 * a small workload streams through the in-process worker, the run ends by itself, and the
 * busiest users' vectors come from Redis with the counts a brute-force pass over the
 * produced transactions gives; the HTTP feature server answers one POST /features; the
 * DynamoDB copy (synced after the timed steps) holds the same counts.
 */
import { describe, expect, it } from 'vitest';
import { runDemo } from '../../src/demo/run.ts';
import { userId } from '../../src/demo/workload.ts';
import { defaultRegistryConfig } from '../../src/schemas/default-registry.ts';
import { parseRegistry } from '../../src/schemas/registry.ts';
import { randomName } from '../helpers/names.ts';
import { onCluster, testDynamo, testEnv, testKafka, testRedisClient } from '../helpers/services.ts';
import { readTopics } from '../helpers/worker-fixtures.ts';
import { Keys } from '../../src/stores/keys.ts';
import { dynamoVectors } from './sync-fixtures.ts';

describe('demo core', () => {
  it('streams 2,000 events, ends by itself, serves the busiest users from Redis, also over HTTP, and copies them to DynamoDB', async () => {
    const { kafka, admin, createTopic } = await testKafka();
    const prefix = `${randomName('fs-demo')}:`;
    await testRedisClient(prefix);
    const { client, table } = await testDynamo();
    const sources = [];
    for (const s of defaultRegistryConfig.sources) {
      const topic = await createTopic(2, randomName(`fs-demo-${s.name}`));
      await createTopic(1, `${topic}.dlq`);
      sources.push({ ...s, topic });
    }
    const registry = parseRegistry({ ...defaultRegistryConfig, sources });
    const lines: string[] = [];

    const result = await runDemo(
      { events: 2_000, users: 50, partitions: 2, follow: false },
      {
        env: testEnv({ FEATURESTREAM_KEY_PREFIX: prefix, DYNAMODB_TABLE: table }),
        registry,
        groupId: randomName('fs-demo-group'),
        metricsPort: false,
        out: (line) => lines.push(line),
      },
    );

    expect(lines.some((l) => l.startsWith('all events materialized in') && l.includes('after the last event was produced'))).toBe(true);
    // The figures it prints add up: production, then the tail after the last event was produced.
    expect(result.producedMs + result.afterProductionMs).toBe(result.materializedMs);
    expect(result.afterProductionMs).toBeGreaterThanOrEqual(0);
    expect(result.backlogAtEnd).toBeGreaterThanOrEqual(0);
    expect(result.backlogAtEnd).toBeLessThanOrEqual(2_000);
    expect(lines.some((l) => l.includes(`(${result.backlogAtEnd.toLocaleString()} events had not reached the worker by then)`))).toBe(true);
    expect(result.busiest.map((v) => [v.entityId, v.source])).toEqual(Array.from({ length: 5 }, (_, i) => [userId(i), 'redis']));
    // Reference: every distinct well-formed transaction of the user, counted from the topic itself.
    const txTopic = sources.find((s) => s.name === 'transactions')!.topic;
    const produced = await readTopics(kafka, admin, [txTopic]);
    const countOf = (user: string) => {
      const ids = new Set<string>();
      for (const m of produced) {
        let body: { event_id?: unknown; user_id?: unknown; amount?: unknown; merchant_id?: unknown } | undefined;
        try {
          body = JSON.parse(m.value?.toString('utf8') ?? '') as typeof body;
        } catch {
          continue;
        }
        if (body?.user_id === user && typeof body.amount === 'number' && typeof body.merchant_id === 'string') ids.add(String(body.event_id));
      }
      return ids.size;
    };
    for (const v of result.busiest) {
      expect((v.features as { tx_count_24h: number }).tx_count_24h).toBe(countOf(v.entityId));
    }
    // The HTTP feature server answered once, with the same vectors, and the curl line names its address.
    expect(result.served.status).toBe(200);
    const wire = result.served.body as { vectors: Array<{ entity_id: string; source: string; features: { tx_count_1h: number } }> };
    expect(wire.vectors.map((v) => [v.entity_id, v.source])).toEqual([[userId(0), 'redis'], [userId(1), 'redis']]);
    expect(wire.vectors.map((v) => v.features.tx_count_1h)).toEqual(result.busiest.slice(0, 2).map((v) => (v.features as { tx_count_1h: number }).tx_count_1h));
    expect(lines).toContain(`  ${result.served.curl}`);
    expect(result.served.curl).toMatch(/^curl -s -X POST http:\/\/127\.0\.0\.1:\d+\/features /);
    expect(result.latency?.batchP50Ms).toBeGreaterThan(0);
    expect(result.latency?.sequentialP50Ms).toBeGreaterThan(0);
    // The sync ran as the last step and emptied its queue: DynamoDB has the busiest users as Redis does.
    expect(result.syncMs).toBeGreaterThanOrEqual(0);
    expect(lines.some((l) => l.includes('DynamoDB copy of the written entities done in'))).toBe(true);
    const copies = await dynamoVectors(client, table, { keys: new Keys({ prefix, hashTags: onCluster() }), registry });
    for (const v of result.busiest) {
      expect(copies.get(v.entityId)?.features.tx_count_24h).toBe((v.features as { tx_count_24h: number }).tx_count_24h);
    }
  });
});
