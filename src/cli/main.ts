#!/usr/bin/env node
/**
 * `featurestream` command line. Each subcommand lives in its own module under
 * src/cli/; all of them register before the arguments are parsed, so `--help`
 * lists every command.
 */
import { Command } from 'commander';
import { isFeaturestreamError } from '../errors.ts';

const program = new Command('featurestream').description('Low-latency ML feature serving').showHelpAfterError();

export type Register = (program: Command) => void;

const commands: Array<() => Promise<{ register: Register }>> = [
  () => import('./worker.ts'),
  () => import('./get.ts'),
  () => import('./demo.ts'),
  () => import('./size.ts'),
  () => import('./sync.ts'),
  () => import('./dlq.ts'),
  () => import('./rewarm.ts'),
  () => import('./backfill.ts'),
  () => import('./serve.ts'),
];

async function main(): Promise<void> {
  for (const load of commands) (await load()).register(program);
  await program.parseAsync(process.argv);
}

main().catch((err: unknown) => {
  if (isFeaturestreamError(err)) {
    console.error(`featurestream: ${err.code}: ${err.message}`);
  } else {
    console.error(err);
  }
  process.exitCode = 1;
});
