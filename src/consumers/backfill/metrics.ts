/** Backfill metrics, on the process's shared registry (src/metrics.ts). */
import { Counter, Gauge } from 'prom-client';
import { registry } from '../../metrics.ts';

export const backfillMetrics = {
  eventsReplayed: new Counter({
    name: 'featurestream_backfill_events_replayed_total',
    help: 'Messages the backfill read from the source topics and gave to the engine',
    labelNames: ['topic'] as const,
    registers: [registry],
  }),
  eventsSkipped: new Counter({
    name: 'featurestream_backfill_events_skipped_total',
    help: 'Messages skipped without effect: past the end offset, too old for every window (before or after decoding), or invalid',
    labelNames: ['reason'] as const,
    registers: [registry],
  }),
  lag: new Gauge({
    name: 'featurestream_backfill_lag',
    help: 'Messages between the backfill position and its target (end offsets, or the live high watermarks)',
    labelNames: ['topic'] as const,
    registers: [registry],
  }),
  targetVersion: new Gauge({
    name: 'featurestream_backfill_target_version',
    help: 'Keyspace version the backfill builds',
    registers: [registry],
  }),
};
