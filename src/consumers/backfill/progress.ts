/**
 * Backfill progress: per-partition positions against a target (the --to end
 * offsets, or the live high watermarks), shown as a cli-progress bar on a TTY
 * and as plain periodic lines otherwise (logs, CI), plus the lag gauge.
 */
import cliProgress from 'cli-progress';
import { backfillMetrics } from './metrics.ts';
import { lagTo, type Offsets } from './offsets.ts';

export type ProgressMode = 'bar' | 'lines' | 'none';

export interface ProgressSnapshot {
  replayed: number;
  /** Messages between the start offsets and the positions. */
  done: number;
  total: number;
  partitionsDone: number;
  partitions: number;
  /** Messages still to replay to reach the live high watermarks. */
  lagToLive: number;
  eventsPerSec: number;
  etaSec: number | undefined;
}

const LINE_EVERY_MS = 5_000;

export class Progress {
  private replayedTotal = 0;
  private rate = 0;
  private lastTick = { at: performance.now(), replayed: 0 };
  private lastLine = 0;
  private bar: cliProgress.SingleBar | undefined;

  constructor(
    private readonly start: Offsets,
    readonly positions: Offsets,
    private readonly mode: ProgressMode,
    private readonly label: string,
    private readonly write: (line: string) => void = (line) => process.stderr.write(`${line}\n`),
  ) {}

  advance(tp: string, nextOffset: number, replayed: number): void {
    this.positions[tp] = Math.max(this.positions[tp] ?? 0, nextOffset);
    this.replayedTotal += replayed;
  }

  /** Messages replayed by this process (resumed work not counted). */
  get replayed(): number {
    return this.replayedTotal;
  }

  /** Called by the watch loop with fresh targets; renders and returns the numbers. */
  update(target: Offsets, live: Offsets): ProgressSnapshot {
    const now = performance.now();
    const seconds = (now - this.lastTick.at) / 1000;
    if (seconds >= 1) {
      // Smoothed: batch sizes make the instant rate jumpy.
      const instant = (this.replayedTotal - this.lastTick.replayed) / seconds;
      this.rate = this.rate === 0 ? instant : 0.7 * this.rate + 0.3 * instant;
      this.lastTick = { at: now, replayed: this.replayedTotal };
    }
    const total = lagTo(this.start, target);
    const remaining = lagTo(this.positions, target);
    const tps = Object.keys(target);
    const s: ProgressSnapshot = {
      replayed: this.replayedTotal,
      done: Math.max(0, total - remaining),
      total,
      partitionsDone: tps.filter((tp) => (this.positions[tp] ?? 0) >= target[tp]!).length,
      partitions: tps.length,
      lagToLive: lagTo(this.positions, live),
      eventsPerSec: Math.round(this.rate),
      etaSec: this.rate > 0 ? Math.ceil(remaining / this.rate) : undefined,
    };
    for (const topic of new Set(tps.map((tp) => tp.slice(0, tp.lastIndexOf(':'))))) {
      const of = (o: Offsets) => Object.fromEntries(Object.entries(o).filter(([tp]) => tp.startsWith(`${topic}:`)));
      backfillMetrics.lag.set({ topic }, lagTo(this.positions, of(target)));
    }
    this.render(s, now);
    return s;
  }

  note(message: string): void {
    if (this.mode === 'none') return;
    if (this.bar) this.bar.stop();
    this.bar = undefined;
    this.write(`${this.label}: ${message}`);
  }

  stop(): void {
    this.bar?.stop();
    this.bar = undefined;
  }

  private render(s: ProgressSnapshot, now: number): void {
    if (this.mode === 'none') return;
    const payload = {
      label: this.label,
      parts: `${s.partitionsDone}/${s.partitions}`,
      lag: s.lagToLive,
      eps: s.eventsPerSec,
      etaText: s.etaSec === undefined ? '?' : `${s.etaSec}s`,
    };
    if (this.mode === 'bar') {
      if (!this.bar) {
        this.bar = new cliProgress.SingleBar(
          { format: '{label} [{bar}] {percentage}% | {value}/{total} messages | partitions {parts} | lag to live {lag} | {eps} ev/s | ETA {etaText}', hideCursor: true },
          cliProgress.Presets.shades_classic,
        );
        this.bar.start(Math.max(1, s.total), s.done, payload);
      }
      this.bar.setTotal(Math.max(1, s.total));
      this.bar.update(s.done, payload);
      return;
    }
    if (now - this.lastLine < LINE_EVERY_MS) return;
    this.lastLine = now;
    const pct = s.total === 0 ? 100 : (100 * s.done) / s.total;
    this.write(
      `${this.label}: ${s.done}/${s.total} messages (${pct.toFixed(1)}%), partitions ${payload.parts} done, lag to live ${s.lagToLive}, ${s.eventsPerSec} ev/s, ETA ${payload.etaText}`,
    );
  }
}
