import { Counter, Gauge, Histogram, type Registry } from 'prom-client';
import type { BreakerState } from './breaker.ts';
import type { VectorSource } from './types.ts';

/**
 * Counts bumped on the cache-hit path: plain numbers, exported when Prometheus
 * scrapes (the counters' collect()), because a prom-client inc per hit would
 * cost more than the hit itself. Shared by the readers of one metrics registry.
 */
export interface ReaderCounts {
  cache: { hit: number; miss: number; coalesced: number };
  vectors: Record<VectorSource, number>;
  /** Per-node batch reads of the packed layout by path: one script call, or the pipeline after the script was refused. */
  redisReads: { mget: number; script: number; script_fallback: number };
}

const countsByRegistry = new WeakMap<Registry, ReaderCounts>();

function countsOf(registry: Registry): ReaderCounts {
  let counts = countsByRegistry.get(registry);
  if (counts === undefined) {
    counts = { cache: { hit: 0, miss: 0, coalesced: 0 }, vectors: { cache: 0, redis: 0, dynamodb: 0, default: 0, invalid: 0 }, redisReads: { mget: 0, script: 0, script_fallback: 0 } };
    countsByRegistry.set(registry, counts);
  }
  return counts;
}

/** Sets a labelled counter to the totals in `from` (collect runs just before each scrape). */
function exportTotals<L extends string>(counter: Counter<L>, label: L, from: Record<string, number>): void {
  counter.reset();
  for (const key in from) if (from[key]) counter.inc({ [label]: key } as Partial<Record<L, string>>, from[key]);
}

/**
 * The reader's Prometheus metrics, registered on the given Registry (by
 * default the process-wide one from src/metrics.ts; tests pass a private one).
 * Durations in ms like the worker's. Labels are bounded enums: never an
 * entity id.
 */
export interface ReaderMetrics {
  callDuration: Histogram;
  batchSize: Histogram;
  counts: ReaderCounts;
  defaulted: Counter<'reason'>;
  redisFailures: Counter<'reason'>;
  /** DynamoDB fallback reads refused or failed (dynamo-fallback.ts). */
  dynamoFailures: Counter<'reason'>;
  breakerState: Gauge<'target'>;
  /** On-demand values given their default because the compute function threw or returned a non-finite number. */
  onDemandErrors: Counter<'feature'>;
}

export const BREAKER_STATE_VALUE: Record<BreakerState, number> = { closed: 0, 'half-open': 1, open: 2 };

/** Reuses metrics already on the registry so several readers can share one. */
function once<T>(registry: Registry, name: string, make: () => T): T {
  return (registry.getSingleMetric(name) as T | undefined) ?? make();
}

export function createReaderMetrics(registry: Registry): ReaderMetrics {
  const registers = [registry];
  const counts = countsOf(registry);
  once(registry, 'featurestream_reader_cache_total', () =>
    new Counter({
      name: 'featurestream_reader_cache_total',
      help: 'In-process cache lookups by result: hit, miss, or coalesced (joined a fetch already in flight)',
      labelNames: ['result'] as const,
      registers,
      collect() {
        exportTotals(this, 'result', counts.cache);
      },
    }),
  );
  once(registry, 'featurestream_reader_vectors_total', () =>
    new Counter({
      name: 'featurestream_reader_vectors_total',
      help: 'Vectors returned by source: cache, redis, dynamodb, default',
      labelNames: ['source'] as const,
      registers,
      collect() {
        exportTotals(this, 'source', counts.vectors);
      },
    }),
  );
  once(registry, 'featurestream_reader_redis_reads_total', () =>
    new Counter({
      name: 'featurestream_reader_redis_reads_total',
      help: 'Per-node batch reads of packed vectors by path: mget (single node), script (one call per Cluster master) or script_fallback (Redis refused the script, read by pipeline); per-field reads always use a pipeline and are not counted',
      labelNames: ['path'] as const,
      registers,
      collect() {
        exportTotals(this, 'path', counts.redisReads);
      },
    }),
  );
  return {
    counts,
    callDuration: once(registry, 'featurestream_reader_call_duration_ms', () =>
      new Histogram({
        name: 'featurestream_reader_call_duration_ms',
        // No labels: a labelled observe costs ~2.5x an unlabelled one.
        help: 'Latency of reader calls (get and getMany) that reached a store, in ms, from request to returned vectors; calls answered from the cache alone are counted in featurestream_reader_cache_total',
        buckets: [0.1, 0.25, 0.5, 1, 2.5, 5, 10, 25, 50, 100, 250],
        registers,
      }),
    ),
    batchSize: once(registry, 'featurestream_reader_batch_size', () =>
      new Histogram({
        name: 'featurestream_reader_batch_size',
        help: 'Entities requested per reader call that reached a store',
        buckets: [1, 2, 5, 10, 25, 50, 100, 250, 500, 1000, 5000],
        registers,
      }),
    ),
    defaulted: once(registry, 'featurestream_reader_defaulted_values_total', () =>
      new Counter({
        name: 'featurestream_reader_defaulted_values_total',
        help: 'Feature values given their training-time default when read from the stores (cache hits not recounted), by reason: missing, corrupt, unavailable',
        labelNames: ['reason'] as const,
        registers,
      }),
    ),
    redisFailures: once(registry, 'featurestream_reader_redis_failures_total', () =>
      new Counter({
        name: 'featurestream_reader_redis_failures_total',
        help: 'Redis batch reads that did not answer in time, by reason: error, timeout, circuit_open',
        labelNames: ['reason'] as const,
        registers,
      }),
    ),
    dynamoFailures: once(registry, 'featurestream_reader_dynamodb_failures_total', () =>
      new Counter({
        name: 'featurestream_reader_dynamodb_failures_total',
        help: 'DynamoDB fallback batch reads refused or failed, by reason: saturated (the in-flight limit was reached), circuit_open, timeout, error; their entities are served as defaults',
        labelNames: ['reason'] as const,
        registers,
      }),
    ),
    breakerState: once(registry, 'featurestream_reader_breaker_state', () =>
      new Gauge({
        name: 'featurestream_reader_breaker_state',
        help: 'Circuit breaker state by target (redis, redis@host:port per Cluster master, dynamodb): 0 closed, 1 half-open, 2 open',
        labelNames: ['target'] as const,
        registers,
      }),
    ),
    onDemandErrors: once(registry, 'featurestream_on_demand_errors_total', () =>
      new Counter({
        name: 'featurestream_on_demand_errors_total',
        // The label is a registry feature name: bounded by the registry.
        help: 'On-demand feature values served as their default because the compute function threw or returned a non-finite number, by feature',
        labelNames: ['feature'] as const,
        registers,
      }),
    ),
  };
}
