/**
 * `npm run test:local`: the whole test suite in one command, on local services
 * (scripts/services), in three passes run one after the other (2-core machines):
 *   1. main     unit + integration on the single Redis node and Kafka 4.x
 *   2. cluster  the CLUSTER_READY files (vitest.config.ts) against a Redis Cluster
 *               of 3 masters with 1 replica each
 *   3. kafka-3  a few Kafka-facing integration files against a Kafka 3.9 broker
 *   4. python   the Python client's pytest suite against `featurestream serve`
 * Endpoints already in the environment win (that service is not started).
 * Prints one line per pass and exits non-zero if any pass failed.
 * Extra arguments go to every vitest run (e.g. `-- --reporter=dot`).
 */
import { spawn } from 'node:child_process';
import { KAFKA_LEGACY_VERSION, up } from './services/stack.ts';

const KAFKA_LEGACY_FILES = [
  'test/integration/smoke-kafka.test.ts',
  'test/integration/worker-exactness.test.ts',
  'test/integration/worker-dlq.test.ts',
  'test/integration/worker-rebalance.test.ts',
  'test/integration/secure-connections.test.ts',
  'test/integration/quiet-logs.test.ts',
];

interface Pass {
  name: string;
  /** The command; vitest passes also get the extra arguments. */
  command: string[];
  env: NodeJS.ProcessEnv;
}

const log = (m: string) => process.stderr.write(`[test-local] ${m}\n`);

function run(command: string[], env: NodeJS.ProcessEnv): Promise<number> {
  const child = spawn(command[0]!, command.slice(1), { stdio: 'inherit', env });
  return new Promise((resolve) => child.on('exit', (code, signal) => resolve(code ?? (signal ? 1 : 0))));
}

async function main(): Promise<number> {
  const extra = process.argv.slice(2).filter((a) => a !== '--');
  const endpoints = await up({ cluster: true, kafkaLegacy: true }, (m) => log(m));
  const { REDIS_CLUSTER_NODES, KAFKA_LEGACY_BROKERS, ...single } = { ...process.env, ...endpoints };
  const base: NodeJS.ProcessEnv = { ...single, PYTHONDONTWRITEBYTECODE: '1' };
  const vitest = ['npx', 'vitest', 'run'];
  const passes: Pass[] = [
    { name: 'main (unit + integration, Redis single node, Kafka 4.x)', command: [...vitest, '--project', 'unit', '--project', 'integration', ...extra], env: base },
    { name: 'cluster (CLUSTER_READY files, Redis Cluster 3+3)', command: [...vitest, '--project', 'cluster', ...extra], env: { ...base, REDIS_CLUSTER_NODES } },
    {
      name: `kafka-${KAFKA_LEGACY_VERSION} (Kafka-facing files)`,
      command: [...vitest, '--project', 'integration', ...KAFKA_LEGACY_FILES, ...extra],
      // Private brokers started by tests follow the same version.
      env: { ...base, KAFKA_BROKERS: KAFKA_LEGACY_BROKERS, FS_KAFKA_VERSION: KAFKA_LEGACY_VERSION },
    },
    // The Python client against the real `featurestream serve` (it starts the server itself).
    { name: 'python-client (pytest against featurestream serve)', command: ['python3', '-m', 'pytest', 'clients/python/tests', '-q', '-p', 'no:cacheprovider'], env: base },
  ];
  const results: string[] = [];
  let failed = 0;
  for (const pass of passes) {
    const started = Date.now();
    log(`pass ${pass.name}: starting`);
    const code = await run(pass.command, pass.env);
    const line = `${code === 0 ? 'PASS' : 'FAIL'}  ${pass.name}  (${((Date.now() - started) / 1000).toFixed(0)} s${code === 0 ? '' : `, exit ${code}`})`;
    results.push(line);
    log(line);
    if (code !== 0) failed++;
  }
  process.stdout.write(`\ntest:local summary\n${results.map((r) => `  ${r}`).join('\n')}\ntest:local: ${failed === 0 ? `all ${passes.length} passes green` : `${failed} of ${passes.length} passes failed`}\n`);
  return failed === 0 ? 0 : 1;
}

main().then(
  (code) => {
    process.exitCode = code;
  },
  (err: unknown) => {
    log(err instanceof Error ? err.message : String(err));
    process.exitCode = 1;
  },
);
