import type { Command } from 'commander';
import { runDemo } from '../demo/run.ts';

const int = (v: string) => {
  const n = Number(v);
  if (!Number.isInteger(n) || n <= 0) throw new Error(`expected a positive integer, got ${v}`);
  return n;
};

export function register(program: Command): void {
  program
    .command('demo')
    .description('stream a synthetic workload through the worker, then serve vectors and compare lookup latency')
    .option('--events <n>', 'events to stream', int, 100_000)
    .option('--users <n>', 'distinct users (Zipf-distributed)', int, 10_000)
    .option('--partitions <n>', 'partitions per source topic', int, 4)
    .option('--config <file>', 'feature registry (JSON or TS/JS module); default registry without it')
    .option('--follow', 'keep streaming and serving until Ctrl-C', false)
    .action(async (opts: { events: number; users: number; partitions: number; config?: string; follow: boolean }) => {
      await runDemo(opts);
    });
}
