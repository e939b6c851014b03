/**
 * One OpenTelemetry span per getMany that reaches the stores, with the batch
 * size and the source mix (cache hits included), through a recording tracer
 * provider installed for this test (the reader only uses @opentelemetry/api).
 */
import { afterAll, describe, expect, it, onTestFinished } from 'vitest';
import { trace, type Attributes, type AttributeValue, type Span, type Tracer, type TracerProvider } from '@opentelemetry/api';
import { Registry as MetricsRegistry } from 'prom-client';
import { createFeatureReader } from '../../../src/index.ts';
import { defineConfig } from '../../../src/schemas/registry.ts';
import { scriptedRedis, type Answer } from './scripted-redis.ts';

interface Recorded {
  name: string;
  attributes: Attributes;
  ended: boolean;
}
const spans: Recorded[] = [];

function recordingSpan(record: Recorded): Span {
  const span = {
    setAttribute: (key: string, value: AttributeValue) => ((record.attributes[key] = value), span),
    setAttributes: (attrs: Attributes) => (Object.assign(record.attributes, attrs), span),
    isRecording: () => true,
    end: () => void (record.ended = true),
    recordException: () => undefined,
  };
  return span as unknown as Span;
}

const provider: TracerProvider = {
  getTracer: () =>
    ({
      startSpan: (name: string, options?: { attributes?: Attributes }) => {
        const record = { name, attributes: { ...options?.attributes }, ended: false };
        spans.push(record);
        return recordingSpan(record);
      },
    }) as unknown as Tracer,
};
trace.setGlobalTracerProvider(provider);
afterAll(() => trace.disable());

const config = defineConfig({
  entities: [{ name: 'user' }],
  sources: [{ name: 'tx', entity: 'user', keyField: 'user_id', timeField: 'ts', schema: { user_id: 'string', ts: 'time' } }],
  features: [{ name: 'n', source: 'tx', op: 'count', window: '1h', type: 'int', default: 0 }],
});
const answer: Answer = (keys) => Promise.resolve(keys.map((k) => [null, k.includes(':u1:') ? ['1', String(Date.now()), '3'] : [null, null, null]]));

describe('reader tracing', () => {
  it('records a span per getMany with batch size and source mix', async () => {
    const reader = createFeatureReader({ registry: config, redis: scriptedRedis(answer).client, dynamodb: false, metrics: new MetricsRegistry(), deadlineMs: 60_000 });
    onTestFinished(() => reader.close());
    await reader.getMany('user', ['u1', 'u2']);
    await reader.getMany('user', ['u1', 'u2', 'u3']);
    const mine = spans.filter((s) => s.name === 'featurestream.reader.getMany');
    expect(mine).toHaveLength(2);
    expect(mine.every((s) => s.ended)).toBe(true);
    expect(mine[0]!.attributes).toMatchObject({ 'featurestream.entity': 'user', 'featurestream.batch_size': 2, 'featurestream.vectors.redis': 1, 'featurestream.vectors.default': 1, 'featurestream.vectors.cache': 0 });
    expect(mine[1]!.attributes).toMatchObject({ 'featurestream.batch_size': 3, 'featurestream.vectors.cache': 2, 'featurestream.vectors.default': 1 });
  });
});
