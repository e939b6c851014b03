/**
 * A task run every `intervalMs`, never twice at once (a tick that finds the last run still going
 * skips); `stop` waits for the run in flight. The task handles its own errors.
 */
export class IntervalTask {
  private handle: NodeJS.Timeout | undefined;
  private running: Promise<void> | undefined;

  constructor(
    private readonly task: () => Promise<void>,
    private readonly intervalMs: number,
  ) {}

  start(): void {
    this.handle = setInterval(() => {
      this.running ??= this.task().finally(() => (this.running = undefined));
    }, this.intervalMs);
  }

  async stop(): Promise<void> {
    clearInterval(this.handle);
    await this.running;
  }
}
