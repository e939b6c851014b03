/**
 * Local services for tests and the demo, without Docker:
 *   up [--cluster] [--kafka-legacy]   install if missing, start (or reuse) Kafka 4.x, Redis,
 *        dynalite; --cluster adds a Redis Cluster (3 masters + 1 replica each),
 *        --kafka-legacy a Kafka 3.9 broker; prints the endpoints
 *   down    stop every one this folder started (by pid)
 *   status  print what runs
 *   exec [--cluster] [--kafka-legacy] -- <cmd...>   up, then run <cmd> with the endpoints in its environment
 * Endpoints already set in the environment win: that service is not started.
 * Ports: FS_KAFKA_PORT (19092; controller +1), FS_REDIS_PORT (16379), FS_DYNAMODB_PORT (18000),
 * FS_REDIS_CLUSTER_PORT (17000..17005), FS_KAFKA_LEGACY_PORT (19094; controller +1).
 * Versions: FS_KAFKA_VERSION (4.1.1), FS_KAFKA_LEGACY_VERSION (3.9.1).
 * Logs and pids: FS_SERVICES_DIR (default .services/ in the repository).
 */
import { spawn } from 'node:child_process';
import { logFile, stopProcess } from './process.ts';
import { running, servicesDir, stackProcesses, up, type StackOptions } from './stack.ts';

const log = (m: string) => process.stderr.write(`[services] ${m}\n`);

async function down(): Promise<void> {
  const core = new Set(['kafka', 'redis', 'dynamodb']);
  for (const [name, proc] of Object.entries(stackProcesses())) {
    const stopped = await stopProcess(proc);
    // The optional extras are only mentioned when they ran.
    if (stopped) log(`${name}: stopped`);
    else if (core.has(name)) log(`${name}: not running`);
  }
}

function status(): void {
  for (const [name, proc] of Object.entries(stackProcesses())) {
    const pid = running(proc);
    console.log(`${name.padEnd(18)} ${pid ? `running pid ${pid}` : 'stopped'}  log ${logFile(proc)}`);
  }
}

function parseFlags(args: string[]): { options: StackOptions; rest: string[] } {
  const options: StackOptions = {};
  let i = 0;
  for (; i < args.length && args[i] !== '--'; i++) {
    if (args[i] === '--cluster') options.cluster = true;
    else if (args[i] === '--kafka-legacy') options.kafkaLegacy = true;
    else break;
  }
  return { options, rest: args[i] === '--' ? args.slice(i + 1) : args.slice(i) };
}

async function exec(args: string[]): Promise<number> {
  const { options, rest: command } = parseFlags(args);
  if (command.length === 0) throw new Error('usage: services exec [--cluster] [--kafka-legacy] -- <command> [args...]');
  const endpoints = await up(options, log);
  const child = spawn(command[0]!, command.slice(1), { stdio: 'inherit', env: { ...process.env, ...endpoints }, shell: false });
  return new Promise((resolveExit) => child.on('exit', (code, signal) => resolveExit(code ?? (signal ? 1 : 0))));
}

async function main(): Promise<void> {
  const [cmd, ...rest] = process.argv.slice(2);
  switch (cmd) {
    case 'up': {
      const endpoints = await up(parseFlags(rest).options, log);
      for (const [k, v] of Object.entries(endpoints)) console.log(`export ${k}=${v}`);
      return;
    }
    case 'down':
      return down();
    case 'status':
      return status();
    case 'exec':
      process.exitCode = await exec(rest);
      return;
    default:
      console.error(`usage: services <up|down|status|exec -- cmd...> (folder ${servicesDir})`);
      process.exitCode = 2;
  }
}

main().catch((err: unknown) => {
  console.error(`[services] ${err instanceof Error ? err.message : String(err)}`);
  process.exitCode = 1;
});
