/**
 * `featurestream rewarm`: after Redis lost data, rebuild it from DynamoDB for
 * the active keyspace version (the pointer itself restored from its durable
 * copy when Redis lost it). Safe while workers run and safe to re-run:
 * entities Redis already holds at the same or a newer version are left alone.
 */
import { DescribeTableCommand } from '@aws-sdk/client-dynamodb';
import { SingleBar, Presets } from 'cli-progress';
import type { Command } from 'commander';
import { WindowEngine } from '../aggregations/engine.ts';
import { loadEnvConfig } from '../config.ts';
import { ServiceUnavailableError } from '../errors.ts';
import { createLogger } from '../logger.ts';
import { loadRegistryFile } from '../schemas/registry.ts';
import { createDynamoClient } from '../stores/dynamodb.ts';
import { createRedis } from '../stores/redis.ts';
import { rewarm, REWARM_DEFAULTS, type RewarmSummary } from '../sync/rewarm.ts';
import { keysFromEnv } from '../sync/service.ts';
import { SyncLayout } from '../sync/snapshot.ts';
import { positiveInt } from './sync.ts';
import { readActiveVersion } from '../consumers/backfill/handover.ts';
import { restoreKeyspaceRecord } from '../consumers/backfill/keyspace-record.ts';

interface Options {
  config?: string;
  rate?: number;
  segments: number;
  keyspaceVersion?: number;
}

export function register(program: Command): void {
  program
    .command('rewarm')
    .description('repopulate Redis (vectors, window state, timers) from the DynamoDB copy')
    .option('--config <file>', 'feature registry: JSON, or a TS/JS module exporting it (default: built-in registry)')
    .option('--rate <n>', 'restore at most n items per second (default: unlimited)', positiveInt('--rate', 10_000_000))
    .option('--segments <n>', 'parallel DynamoDB Scan segments', positiveInt('--segments', 1_000), REWARM_DEFAULTS.segments)
    .option('--keyspace-version <n>', 'keyspace version to restore (default: the active one in Redis, else 1)', positiveInt('--keyspace-version', 1_000_000))
    .action(async (opts: Options) => {
      const env = loadEnvConfig();
      const logger = createLogger({ level: env.LOG_LEVEL });
      const registry = await loadRegistryFile(opts.config);
      const keys = keysFromEnv(env);
      const redis = createRedis(env, { commandTimeoutMs: 30_000 });
      const dynamo = createDynamoClient(env);
      try {
        // Redis may have lost the pointer with everything else: put the durable copy back first (never over a newer one).
        const restored = await restoreKeyspaceRecord(redis, keys, { dynamo, table: env.DYNAMODB_TABLE });
        const keyspaceVersion = opts.keyspaceVersion ?? (await readActiveVersion(redis, keys));
        if (restored) logger.info({ active: restored.active }, 'durable keyspace pointer checked');
        const described = await dynamo.send(new DescribeTableCommand({ TableName: env.DYNAMODB_TABLE })).catch((err: unknown) => {
          throw new ServiceUnavailableError('dynamodb', `cannot describe table ${env.DYNAMODB_TABLE}: ${(err as Error).message}`, { cause: err });
        });
        const progress = reporter(described.Table?.ItemCount ?? 0);
        const summary = await rewarm({
          redis,
          dynamo,
          table: env.DYNAMODB_TABLE,
          keys,
          layout: new SyncLayout(registry),
          engine: new WindowEngine(registry),
          keyspaceVersion,
          segments: opts.segments,
          ...(opts.rate === undefined ? {} : { ratePerSec: opts.rate }),
          onProgress: progress.update,
        });
        progress.stop(summary);
        console.log(
          `rewarm of keyspace version ${keyspaceVersion}: scanned ${summary.scanned}, restored ${summary.restored} ` +
            `(${summary.restoredWithoutState} without window state), skipped expired ${summary.skippedExpired}, ` +
            `skipped newer in Redis ${summary.skippedNewer}, skipped other ${summary.skippedForeign}, failed ${summary.failed}`,
        );
        if (summary.failed > 0) {
          logger.warn({ failed: summary.failed }, 'some entities could not be written; re-run rewarm (it skips what is already restored)');
          process.exitCode = 1;
        }
      } finally {
        redis.disconnect();
        dynamo.destroy();
      }
    });
}

/** A progress bar on a terminal; otherwise a plain line every 5 s (logs, CI). ItemCount is approximate, so the bar's total grows if needed. */
function reporter(estimate: number): { update: (s: Readonly<RewarmSummary>) => void; stop: (s: RewarmSummary) => void } {
  if (process.stderr.isTTY) {
    const bar = new SingleBar({ stream: process.stderr, format: 'rewarm [{bar}] {value}/{total} items | {restored} restored | {eta_formatted} left' }, Presets.shades_classic);
    let total = Math.max(1, estimate);
    bar.start(total, 0, { restored: 0 });
    return {
      update: (s) => {
        if (s.scanned > total) bar.setTotal((total = s.scanned));
        bar.update(s.scanned, { restored: s.restored });
      },
      stop: (s) => {
        bar.setTotal(Math.max(1, s.scanned));
        bar.update(s.scanned, { restored: s.restored });
        bar.stop();
      },
    };
  }
  let last = Date.now();
  return {
    update: (s) => {
      if (Date.now() - last < 5_000) return;
      last = Date.now();
      console.error(`rewarm: scanned ${s.scanned}${estimate ? ` of ~${estimate}` : ''}, restored ${s.restored}`);
    },
    stop: () => undefined,
  };
}
