/** Metrics of Redis loss recovery (recovery.ts), on the process registry. */
import { Counter, Histogram } from 'prom-client';
import { registry } from '../metrics.ts';

export const recoveryMetrics = {
  losses: new Counter({
    name: 'featurestream_recovery_losses_total',
    help: 'Recoveries after a Redis master lost all data (restore from DynamoDB + replay)',
    registers: [registry],
  }),
  rollbacks: new Counter({
    name: 'featurestream_recovery_rollbacks_total',
    help: 'Partitions replayed because a Redis master rolled back behind their recovery mark',
    registers: [registry],
  }),
  duration: new Histogram({
    name: 'featurestream_recovery_duration_seconds',
    help: 'Time from detecting a Redis data loss to the replay starting',
    buckets: [0.1, 0.5, 1, 5, 15, 60, 300],
    registers: [registry],
  }),
};
