/** Metrics of write-behind checkpoints (checkpoints.ts), on the process registry. */
import { Counter, Gauge, Histogram } from 'prom-client';
import { registry } from '../metrics.ts';

export const checkpointMetrics = {
  checkpoints: new Counter({
    name: 'featurestream_worker_checkpoints_total',
    help: 'Partition checkpoints (dirty states written, then offsets committed), by outcome',
    labelNames: ['outcome'] as const,
    registers: [registry],
  }),
  states: new Counter({
    name: 'featurestream_worker_checkpoint_states_total',
    help: 'Entity states written by checkpoints',
    registers: [registry],
  }),
  duration: new Histogram({
    name: 'featurestream_worker_checkpoint_duration_ms',
    help: 'Time to write one partition checkpoint',
    buckets: [1, 5, 10, 25, 50, 100, 250, 500, 1000, 5000],
    registers: [registry],
  }),
  dirty: new Gauge({
    name: 'featurestream_worker_dirty_states',
    help: 'Entity states in memory newer than their Redis checkpoint',
    registers: [registry],
  }),
};
