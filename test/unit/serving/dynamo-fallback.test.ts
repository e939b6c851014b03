/**
 * The DynamoDB fallback's breaker: failed reads open it, and while it is open
 * a read sends nothing and its entities stay unanswered (defaults for the
 * caller), counted as circuit_open. A real DynamoDBClient whose requests a
 * middleware answers (no service).
 */
import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { describe, expect, it } from 'vitest';
import { Registry as MetricsRegistry } from 'prom-client';
import { createLogger } from '../../../src/logger.ts';
import { defineConfig, parseRegistry } from '../../../src/schemas/registry.ts';
import { emptyCounts, type StoredVector } from '../../../src/serving/decode.ts';
import { DynamoFallback } from '../../../src/serving/dynamo-fallback.ts';
import { createReaderMetrics } from '../../../src/serving/metrics.ts';
import { planEntities } from '../../../src/serving/plan.ts';
import { Keys } from '../../../src/stores/keys.ts';

const config = defineConfig({
  entities: [{ name: 'user' }],
  sources: [{ name: 'tx', entity: 'user', keyField: 'user_id', timeField: 'ts', schema: { user_id: 'string', ts: 'time' } }],
  features: [{ name: 'tx_count_1h', source: 'tx', op: 'count', window: '1h', type: 'int', default: 0 }],
});

/** A client whose every request fails, counting the requests sent. */
function failingClient() {
  const client = new DynamoDBClient({ region: 'us-east-1', endpoint: 'http://127.0.0.1:9', credentials: { accessKeyId: 'x', secretAccessKey: 'x' } });
  const wire = { sent: 0 };
  client.middlewareStack.add(
    () => () => {
      wire.sent++;
      return Promise.reject(new Error('throttled'));
    },
    { step: 'initialize', name: 'fail' },
  );
  return { client, wire };
}

async function failures(registry: MetricsRegistry, reason: string): Promise<number> {
  const { values } = await registry.getSingleMetric('featurestream_reader_dynamodb_failures_total')!.get();
  return values.filter((v) => v.labels.reason === reason).reduce((sum, v) => sum + v.value, 0);
}

describe('DynamoFallback', () => {
  it('errors open its breaker; while open, a read sends nothing and is counted circuit_open', async () => {
    const { client, wire } = failingClient();
    const registry = new MetricsRegistry();
    const metrics = createReaderMetrics(registry);
    const fallback = new DynamoFallback({
      client,
      table: 't',
      keys: new Keys({ prefix: 't:' }),
      metrics,
      logger: createLogger({ level: 'silent' }),
      maxInFlight: 4,
      breaker: { failureThreshold: 2, openMs: 60_000 },
    });
    const plan = planEntities(parseRegistry(config)).get('user')!;
    const read = async () => {
      const out: Array<StoredVector | undefined> = [undefined];
      await fallback.read({ plan, ids: ['u1'], keyspaceVersion: 1, deadlineAt: performance.now() + 1_000, counts: emptyCounts() }, [0], out);
      return out[0];
    };
    expect(await read()).toBeUndefined();
    expect(await read()).toBeUndefined();
    expect(wire.sent).toBe(2);
    expect(await failures(registry, 'error')).toBe(2);
    expect(await read()).toBeUndefined();
    expect(wire.sent).toBe(2);
    expect(await failures(registry, 'circuit_open')).toBe(1);
    const { values } = await registry.getSingleMetric('featurestream_reader_breaker_state')!.get();
    expect(values.find((v) => v.labels.target === 'dynamodb')?.value).toBe(2);
  });
});
