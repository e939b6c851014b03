/**
 * Metrics of the DynamoDB sync and the Redis rewarm, on the process registry.
 * Backlog gauges are computed at scrape time from every open sync queue, so
 * the hot path pays nothing for them.
 */
import { Counter, Gauge, Histogram } from 'prom-client';
import { registry } from '../metrics.ts';

export interface BacklogSource {
  backlog(): Promise<{ depth: number; oldestAgeMs: number }>;
}

const sources = new Set<BacklogSource>();

/** Scrapes ask every open queue; closed queues unregister themselves. */
export function trackBacklog(source: BacklogSource): () => void {
  sources.add(source);
  return () => sources.delete(source);
}

let lastSample: { at: number; value: Promise<{ depth: number; oldestAgeMs: number }> } | undefined;

/** Both backlog gauges are collected in one scrape: they share one sample instead of asking Redis twice. */
function sampleBacklog(): Promise<{ depth: number; oldestAgeMs: number }> {
  const now = Date.now();
  if (!lastSample || now - lastSample.at > 500) lastSample = { at: now, value: sampleNow() };
  return lastSample.value;
}

async function sampleNow(): Promise<{ depth: number; oldestAgeMs: number }> {
  let depth = 0;
  let oldestAgeMs = 0;
  for (const source of sources) {
    // A scrape during a Redis outage reports what it can instead of failing the whole /metrics page.
    const b = await source.backlog().catch(() => undefined);
    if (!b) continue;
    depth += b.depth;
    oldestAgeMs = Math.max(oldestAgeMs, b.oldestAgeMs);
  }
  return { depth, oldestAgeMs };
}

export const syncMetrics = {
  queueDepth: new Gauge({
    name: 'featurestream_sync_queue_depth',
    help: 'Sync jobs not yet done: waiting + delayed (retry backoff) + active',
    registers: [registry],
    async collect() {
      this.set((await sampleBacklog()).depth);
    },
  }),
  oldestPendingAge: new Gauge({
    name: 'featurestream_sync_oldest_pending_age_ms',
    help: 'Age of the oldest sync job not yet done (0 when none): how far DynamoDB lags Redis',
    registers: [registry],
    async collect() {
      this.set((await sampleBacklog()).oldestAgeMs);
    },
  }),
  itemsWritten: new Counter({
    name: 'featurestream_sync_items_written_total',
    help: 'DynamoDB items written by the sync',
    registers: [registry],
  }),
  conditionalSkips: new Counter({
    name: 'featurestream_sync_conditional_skips_total',
    help: 'Puts refused because DynamoDB already held this or a newer version (not an error)',
    registers: [registry],
  }),
  expiredSkips: new Counter({
    name: 'featurestream_sync_expired_skips_total',
    help: 'Entities enqueued whose Redis keys had expired by sync time',
    registers: [registry],
  }),
  stateOmitted: new Counter({
    name: 'featurestream_sync_state_omitted_total',
    help: 'Items written without window state because it would exceed the DynamoDB item size limit',
    registers: [registry],
  }),
  itemFailures: new Counter({
    name: 'featurestream_sync_item_failures_total',
    help: 'Item writes that failed, by whether a retry can help',
    labelNames: ['retriable'] as const,
    registers: [registry],
  }),
  failedJobs: new Counter({
    name: 'featurestream_sync_failed_jobs_total',
    help: 'Sync jobs moved to the failed set (the dead-letter queue) after their last attempt',
    registers: [registry],
  }),
  lag: new Histogram({
    name: 'featurestream_sync_lag_ms',
    help: 'Enqueue to item written in DynamoDB, per job',
    buckets: [10, 25, 50, 100, 250, 500, 1000, 2500, 5000, 10000, 30000, 60000, 300000],
    registers: [registry],
  }),
  rewarm: new Counter({
    name: 'featurestream_rewarm_items_total',
    help: 'Items seen by rewarm, by outcome (restored, expired, newer, unknown)',
    labelNames: ['outcome'] as const,
    registers: [registry],
  }),
};
