/**
 * `npm run test:local`: the whole test suite in one command, on local services
 * (scripts/services), in three passes run one after the other (2-core machines):
 *   1. main     unit + integration on the single Redis node and Kafka 4.x
 *   2. cluster  the CLUSTER_READY files (vitest.config.ts) against a Redis Cluster
 *               of 3 masters with 1 replica each
 *   3. kafka-3  a few Kafka-facing integration files against a Kafka 3.9 broker
 *   4. python   the Python client's pytest suite against `featurestream serve`
 * Endpoints already in the environment win (that service is not started).
 * Prints one line per pass, and the failed tests by name with their first error
 * line (CI keeps only the tail of the output). A vitest pass that fails re-runs
 * only its failed files once: the pass is green only if they all pass then, and
 * the summary names them as FLAKY so that they are fixed, not forgotten.
 * Exits non-zero if any pass failed.
 * Extra arguments go to every vitest run (e.g. `-- --reporter=dot`).
 */
import { spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, relative } from 'node:path';
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
  vitest: boolean;
}

interface Failure {
  file: string;
  test: string;
  error: string;
}

/** The failed tests in a vitest JSON report (missing report: none known). */
function failuresIn(reportPath: string): Failure[] {
  let report: { testResults?: { name: string; message?: string; assertionResults?: { fullName: string; status: string; failureMessages?: string[] }[] }[] };
  try {
    report = JSON.parse(readFileSync(reportPath, 'utf8'));
  } catch {
    return [];
  }
  const out: Failure[] = [];
  for (const file of report.testResults ?? []) {
    const name = relative(process.cwd(), file.name);
    const failed = (file.assertionResults ?? []).filter((a) => a.status === 'failed');
    for (const a of failed) out.push({ file: name, test: a.fullName, error: firstLine(a.failureMessages?.[0]) });
    // A file that failed outside any test (import error, hook timeout).
    if (failed.length === 0 && file.message) out.push({ file: name, test: '(file)', error: firstLine(file.message) });
  }
  return out;
}

const firstLine = (m: string | undefined) => (m ?? '').split('\n').find((l) => l.trim() !== '')?.trim().slice(0, 240) ?? '';

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
    { name: 'main (unit + integration, Redis single node, Kafka 4.x)', command: [...vitest, '--project', 'unit', '--project', 'integration', ...extra], env: base, vitest: true },
    { name: 'cluster (CLUSTER_READY files, Redis Cluster 3+3)', command: [...vitest, '--project', 'cluster', ...extra], env: { ...base, REDIS_CLUSTER_NODES }, vitest: true },
    {
      name: `kafka-${KAFKA_LEGACY_VERSION} (Kafka-facing files)`,
      command: [...vitest, '--project', 'integration', ...KAFKA_LEGACY_FILES, ...extra],
      // Private brokers started by tests follow the same version.
      env: { ...base, KAFKA_BROKERS: KAFKA_LEGACY_BROKERS, FS_KAFKA_VERSION: KAFKA_LEGACY_VERSION },
      vitest: true,
    },
    // The Python client against the real `featurestream serve` (it starts the server itself).
    { name: 'python-client (pytest against featurestream serve)', command: ['python3', '-m', 'pytest', 'clients/python/tests', '-q', '-p', 'no:cacheprovider'], env: base, vitest: false },
  ];
  const results: string[] = [];
  const reports = mkdtempSync(join(tmpdir(), 'fs-test-local-'));
  let failed = 0;
  for (const [i, pass] of passes.entries()) {
    const started = Date.now();
    log(`pass ${pass.name}: starting`);
    const report = join(reports, `pass-${i}.json`);
    const withReport = (cmd: string[], path: string) => (pass.vitest ? [...cmd, '--reporter=default', '--reporter=json', `--outputFile.json=${path}`] : cmd);
    let code = await run(withReport(pass.command, report), pass.env);
    const notes: string[] = [];
    if (code !== 0 && pass.vitest) {
      const first = failuresIn(report);
      for (const f of first) notes.push(`failed: ${f.file} > ${f.test}: ${f.error}`);
      const files = [...new Set(first.map((f) => f.file))];
      if (files.length > 0) {
        log(`pass ${pass.name}: re-running ${files.length} failed file(s) once: ${files.join(', ')}`);
        // Same pass, only those files: the project flags stay, the file list narrows it.
        const rerunReport = join(reports, `pass-${i}-rerun.json`);
        const base = pass.command.filter((a) => !a.startsWith('test/'));
        code = await run(withReport([...base, ...files], rerunReport), pass.env);
        const second = failuresIn(rerunReport);
        for (const f of second) notes.push(`failed again: ${f.file} > ${f.test}: ${f.error}`);
        if (code === 0) notes.push(`FLAKY (failed, then passed alone): ${files.join(', ')}`);
      }
    }
    const line = `${code === 0 ? 'PASS' : 'FAIL'}  ${pass.name}  (${((Date.now() - started) / 1000).toFixed(0)} s${code === 0 ? '' : `, exit ${code}`})`;
    results.push([line, ...notes.map((n) => `    ${n}`)].join('\n'));
    log(line);
    if (code !== 0) failed++;
  }
  rmSync(reports, { recursive: true, force: true });
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
