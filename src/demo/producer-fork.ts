/**
 * Starts the demo's producer process (producer-process.ts) and follows its reports. Under tsx
 * (npm run demo, tests) the child runs the TypeScript source through tsx; built, the .js file.
 */
import { fork } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import type { ProducerJob, ProducerMessage } from './producer-process.ts';

export interface ProducerRun {
  /** When the child began sending (after connecting). */
  started: Promise<number>;
  /** The count sent and the time of the last acknowledgement. */
  done: Promise<{ sent: number; at: number }>;
  /** Ends a `follow` stream (or waits for the child to exit). */
  stop(): Promise<void>;
}

export function forkProducer(job: ProducerJob, env: NodeJS.ProcessEnv, onProgress: (sent: number) => void): ProducerRun {
  const source = import.meta.url.endsWith('.ts');
  const entry = fileURLToPath(new URL(`./producer-process.${source ? 'ts' : 'js'}`, import.meta.url));
  // `--import tsx` resolves from the package root, where tsx is installed.
  const root = fileURLToPath(new URL('../..', import.meta.url));
  const child = fork(entry, [JSON.stringify(job)], { env, cwd: root, execArgv: source ? ['--import', 'tsx'] : [], stdio: ['ignore', 'inherit', 'inherit', 'ipc'] });
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
  const failed = exited.then((code) => {
    throw new Error(`the demo's producer process exited with ${code} before it had sent every event`);
  });
  let started!: (at: number) => void;
  let done!: (d: { sent: number; at: number }) => void;
  const run: ProducerRun = {
    started: Promise.race([new Promise<number>((resolve) => (started = resolve)), failed]),
    done: Promise.race([new Promise<{ sent: number; at: number }>((resolve) => (done = resolve)), failed]),
    async stop() {
      if (child.connected) child.send('stop');
      await exited;
    },
  };
  // Whoever awaits neither (an early exit after both resolved) must not see an unhandled rejection.
  failed.catch(() => undefined);
  child.on('message', (m: ProducerMessage) => {
    if (m.type === 'started') started(m.at);
    else if (m.type === 'progress') onProgress(m.sent);
    else done({ sent: m.sent, at: m.at });
  });
  return run;
}
