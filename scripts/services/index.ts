/**
 * Local services for tests and the demo, without Docker:
 *   up      install if missing, start (or reuse) Kafka, Redis, dynalite; print endpoints
 *   down    stop the ones this folder started (by pid)
 *   status  print what runs
 *   exec -- <cmd...>   up, then run <cmd> with the endpoints in its environment
 * Endpoints already set in the environment win: that service is not started.
 * Ports: FS_KAFKA_PORT (19092; controller +1), FS_REDIS_PORT (16379), FS_DYNAMODB_PORT (18000).
 * Logs and pids: FS_SERVICES_DIR (default .services/ in the repository).
 */
import { spawn } from 'node:child_process';
import { mkdirSync, writeFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { ensureKafka, kafkaProcess, KAFKA_VERSION } from './kafka.ts';
import { ensureRedis, redisProcess } from './redis.ts';
import { ensureDynalite, dynaliteProcess } from './dynalite.ts';
import { logFile, ownPid, stopProcess } from './process.ts';

const root = resolve(dirname(fileURLToPath(import.meta.url)), '../..');
export const servicesDir = resolve(process.env.FS_SERVICES_DIR ?? join(root, '.services'));
const ports = {
  kafka: Number(process.env.FS_KAFKA_PORT ?? 19092),
  redis: Number(process.env.FS_REDIS_PORT ?? 16379),
  dynamodb: Number(process.env.FS_DYNAMODB_PORT ?? 18000),
};
const log = (m: string) => process.stderr.write(`[services] ${m}\n`);

const procs = {
  kafka: kafkaProcess({ dir: servicesDir, port: ports.kafka }),
  redis: redisProcess({ dir: servicesDir, port: ports.redis }),
  dynamodb: dynaliteProcess({ dir: servicesDir, port: ports.dynamodb }),
};

async function up(): Promise<Record<string, string>> {
  mkdirSync(servicesDir, { recursive: true });
  const started = Date.now();
  // Redis and dynalite start in parallel with the JVM; each reports its own failure by name.
  const [kafka, redis, dynamo] = await Promise.allSettled([
    process.env.KAFKA_BROKERS ?? ensureKafka({ dir: servicesDir, port: ports.kafka }, log),
    process.env.REDIS_URL ?? ensureRedis({ dir: servicesDir, port: ports.redis }, log),
    process.env.DYNAMODB_ENDPOINT ?? ensureDynalite({ dir: servicesDir, port: ports.dynamodb }, log),
  ]);
  const failures = [
    ['kafka', kafka],
    ['redis', redis],
    ['dynamodb (dynalite)', dynamo],
  ].flatMap(([name, r]) => ((r as PromiseSettledResult<string>).status === 'rejected' ? [`${name}: ${String((r as PromiseRejectedResult).reason?.message ?? (r as PromiseRejectedResult).reason)}`] : []));
  if (failures.length > 0) throw new Error(`services failed to start:\n${failures.join('\n')}`);
  const endpoints = {
    KAFKA_BROKERS: (kafka as PromiseFulfilledResult<string>).value,
    REDIS_URL: (redis as PromiseFulfilledResult<string>).value,
    DYNAMODB_ENDPOINT: (dynamo as PromiseFulfilledResult<string>).value,
  };
  writeFileSync(
    join(servicesDir, 'endpoints.env'),
    Object.entries(endpoints).map(([k, v]) => `export ${k}=${v}\n`).join(''),
  );
  log(`ready in ${((Date.now() - started) / 1000).toFixed(1)} s (Kafka ${KAFKA_VERSION}); logs and pids in ${servicesDir}`);
  return endpoints;
}

async function down(): Promise<void> {
  for (const [name, proc] of Object.entries(procs)) {
    log(`${name}: ${(await stopProcess(proc)) ? 'stopped' : 'not running'}`);
  }
}

function status(): void {
  for (const [name, proc] of Object.entries(procs)) {
    const pid = ownPid(proc);
    console.log(`${name.padEnd(9)} ${pid ? `running pid ${pid}` : 'stopped'}  log ${logFile(proc)}`);
  }
}

async function exec(command: string[]): Promise<number> {
  if (command.length === 0) throw new Error('usage: services exec -- <command> [args...]');
  const endpoints = await up();
  const child = spawn(command[0]!, command.slice(1), { stdio: 'inherit', env: { ...process.env, ...endpoints }, shell: false });
  return new Promise((resolveExit) => child.on('exit', (code, signal) => resolveExit(code ?? (signal ? 1 : 0))));
}

async function main(): Promise<void> {
  const [cmd, ...rest] = process.argv.slice(2);
  switch (cmd) {
    case 'up': {
      const endpoints = await up();
      for (const [k, v] of Object.entries(endpoints)) console.log(`export ${k}=${v}`);
      return;
    }
    case 'down':
      return down();
    case 'status':
      return status();
    case 'exec':
      process.exitCode = await exec(rest[0] === '--' ? rest.slice(1) : rest);
      return;
    default:
      console.error('usage: services <up|down|status|exec -- cmd...>');
      process.exitCode = 2;
  }
}

main().catch((err: unknown) => {
  console.error(`[services] ${err instanceof Error ? err.message : String(err)}`);
  process.exitCode = 1;
});
