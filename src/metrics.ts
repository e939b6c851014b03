/**
 * The process's Prometheus registry and every metric object featurestream
 * exports. Labels are low-cardinality only (topic, partition, outcome, code):
 * never an entity id.
 */
import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';

export const registry = new Registry();

let defaultsCollected = false;
/** Process metrics (CPU, memory, event loop lag); called once by long-running commands. */
export function collectProcessMetrics(): void {
  if (defaultsCollected) return;
  collectDefaultMetrics({ register: registry });
  defaultsCollected = true;
}

const ms = [1, 2, 5, 10, 25, 50, 100, 250, 500, 1000, 2500, 5000, 10000];

export const workerMetrics = {
  eventsConsumed: new Counter({
    name: 'featurestream_worker_events_consumed_total',
    help: 'Kafka messages received by the worker',
    labelNames: ['topic'] as const,
    registers: [registry],
  }),
  eventsApplied: new Counter({
    name: 'featurestream_worker_events_applied_total',
    help: 'Events given to the window engine, by outcome (applied, duplicate, expired, fenced = already applied earlier)',
    labelNames: ['topic', 'outcome'] as const,
    registers: [registry],
  }),
  eventsDeadLettered: new Counter({
    name: 'featurestream_worker_events_dead_lettered_total',
    help: 'Messages sent to the dead-letter topic',
    labelNames: ['topic', 'code'] as const,
    registers: [registry],
  }),
  batchDuration: new Histogram({
    name: 'featurestream_worker_batch_duration_ms',
    help: 'Time to process one Kafka batch, decode to commit',
    buckets: ms,
    registers: [registry],
  }),
  redisWriteDuration: new Histogram({
    name: 'featurestream_worker_redis_write_duration_ms',
    help: 'Time of one write pipeline (all entities of a batch)',
    buckets: ms,
    registers: [registry],
  }),
  casConflicts: new Counter({
    name: 'featurestream_worker_cas_conflicts_total',
    help: 'Entity writes refused because another writer moved the version first',
    registers: [registry],
  }),
  consumerLag: new Gauge({
    name: 'featurestream_worker_consumer_lag',
    help: 'High watermark minus next offset after the last processed batch',
    labelNames: ['topic', 'partition'] as const,
    registers: [registry],
  }),
  freshness: new Histogram({
    name: 'featurestream_worker_freshness_ms',
    help: 'Vector write time minus event time, per applied event',
    buckets: [5, 10, 25, 50, 75, 100, 150, 200, 250, 300, 400, 500, 750, 1000, 2500, 5000, 10000, 30000, 60000],
    registers: [registry],
  }),
  entityWrites: new Counter({
    name: 'featurestream_worker_entity_writes_total',
    help: 'Entities written by the materialize script (state plus changed vectors)',
    registers: [registry],
  }),
  vectorWrites: new Counter({
    name: 'featurestream_worker_vector_writes_total',
    help: 'Vector keys written, by whether their TTL was set (set; every packed write) or left as a recent per-field write set it (kept)',
    labelNames: ['ttl'] as const,
    registers: [registry],
  }),
  timerWrites: new Counter({
    name: 'featurestream_worker_timer_writes_total',
    help: 'Entities re-materialized because a window moved (no new events)',
    registers: [registry],
  }),
  redisUnavailable: new Counter({
    name: 'featurestream_worker_redis_retries_total',
    help: 'Redis round trips that failed and were retried with backoff',
    registers: [registry],
  }),
  consumerCrashes: new Counter({
    name: 'featurestream_worker_consumer_crashes_total',
    help: 'kafkajs consumer crashes, by whether kafkajs restarts it itself',
    labelNames: ['restart'] as const,
    registers: [registry],
  }),
  quarantined: new Counter({
    name: 'featurestream_worker_entities_quarantined_total',
    help: 'Entities whose state or keys were unusable: rebuilt from DynamoDB, or their events dead-lettered',
    labelNames: ['outcome'] as const,
    registers: [registry],
  }),
  commitFailures: new Counter({
    name: 'featurestream_worker_commit_failures_total',
    help: 'Offset commits that failed (rebalance, broker away); the next commit of the partition or its next owner covers them',
    registers: [registry],
  }),
  batchFailures: new Counter({
    name: 'featurestream_worker_batch_failures_total',
    help: 'Non-retriable batch failures not tied to one entity; the batch is retried after a backoff',
    registers: [registry],
  }),
};
