/**
 * The TS side of bench/feast/driver.py: one long-lived Python process that
 * holds a Feast FeatureStore, spoken to in JSON lines. Requests are strictly
 * one at a time; every reply is `{"ok": true, ...}` or `{"ok": false, "error"}`.
 */
import { spawn, type ChildProcessWithoutNullStreams } from 'node:child_process';
import { dirname, join } from 'node:path';
import { createInterface, type Interface } from 'node:readline';
import { fileURLToPath } from 'node:url';

const SCRIPT = join(dirname(fileURLToPath(import.meta.url)), 'driver.py');

export class FeastDriver {
  private stderrTail = '';
  private readonly lines: AsyncIterator<string>;

  private constructor(
    private readonly child: ChildProcessWithoutNullStreams,
    rl: Interface,
  ) {
    this.lines = rl[Symbol.asyncIterator]();
    child.stderr.on('data', (chunk: Buffer) => {
      this.stderrTail = (this.stderrTail + chunk.toString('utf8')).slice(-2_000);
    });
  }

  static async start(python: string): Promise<FeastDriver> {
    const child = spawn(python, [SCRIPT], { stdio: ['pipe', 'pipe', 'pipe'] });
    const driver = new FeastDriver(child, createInterface({ input: child.stdout }));
    await driver.next();
    return driver;
  }

  private async next(): Promise<Record<string, unknown>> {
    const { value, done } = await this.lines.next();
    if (done) throw new Error(`feast driver exited: ${this.stderrTail.trim().split('\n').slice(-3).join(' | ')}`);
    return JSON.parse(value) as Record<string, unknown>;
  }

  async request<T>(op: string, args: Record<string, unknown> = {}): Promise<T> {
    this.child.stdin.write(`${JSON.stringify({ op, ...args })}\n`);
    const reply = await this.next();
    if (reply.ok !== true) throw new Error(`feast ${op}: ${String(reply.error)}`);
    return reply as T;
  }

  async close(): Promise<void> {
    if (this.child.exitCode !== null) return;
    const exited = new Promise<void>((resolve) => this.child.once('exit', () => resolve()));
    this.child.stdin.end();
    const timer = setTimeout(() => this.child.kill('SIGKILL'), 10_000);
    await exited;
    clearTimeout(timer);
  }
}
