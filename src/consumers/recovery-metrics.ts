/** Metrics of Redis loss recovery (recovery.ts), on the process registry. */
import { Counter, Histogram } from 'prom-client';
import { registry } from '../metrics.ts';

export const recoveryMetrics = {
  recoveries: new Counter({
    name: 'featurestream_recovery_total',
    help: 'Recoveries from a Redis data loss (restore from DynamoDB + replay), by what the marks showed',
    labelNames: ['anomaly'] as const,
    registers: [registry],
  }),
  duration: new Histogram({
    name: 'featurestream_recovery_duration_seconds',
    help: 'Time from detecting a Redis data loss to the replay starting',
    buckets: [0.1, 0.5, 1, 5, 15, 60, 300],
    registers: [registry],
  }),
};
