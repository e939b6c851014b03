/**
 * Brute-force model of the engine's documented rules: keeps every accepted
 * event and recomputes each feature from scratch (bruteFeature, shared with
 * the worker tests' reference; approx_distinct exactly, approx-reference.ts).
 * Slow and obviously right.
 */
import type { NormalizedEvent } from '../../../src/schemas/events.ts';
import type { FeatureValue, Registry } from '../../../src/schemas/registry.ts';
import { bruteFeature } from '../../helpers/brute-reference.ts';
import { exactDistinct } from './approx-reference.ts';

export interface ReferenceOptions {
  maxFutureSkewMs: number;
  dedupHorizonMs: number;
}

export class ReferenceModel {
  private readonly accepted: NormalizedEvent[] = [];
  private readonly appliedAt: number[] = [];
  /** `source id` -> arrival of the copy that counted. */
  private readonly counted = new Map<string, number>();
  /** Source -> latest arrival so far. */
  private readonly clocks = new Map<string, number>();

  constructor(
    private readonly registry: Registry,
    private readonly entity: string,
    private readonly o: ReferenceOptions,
  ) {}

  /**
   * 'future' where the engine must throw EVENT_IN_FUTURE. Arrival is the
   * event's arrivalMs, else now; a re-sent (source, id) is a duplicate while
   * the copy that counted arrived less than the horizon before the latest
   * arrival of that source so far.
   */
  apply(e: NormalizedEvent, now: number): 'future' | 'duplicate' | 'accepted' {
    const arrival = e.arrivalMs ?? now;
    if (e.eventTimeMs > arrival + this.o.maxFutureSkewMs) return 'future';
    const clock = Math.max(this.clocks.get(e.source) ?? -Infinity, arrival);
    this.clocks.set(e.source, clock);
    if (e.eventId !== undefined) {
      const key = JSON.stringify([e.source, e.eventId]);
      const first = this.counted.get(key);
      if (first !== undefined && clock - first < this.o.dedupHorizonMs) return 'duplicate';
      this.counted.set(key, arrival);
    }
    this.accepted.push(e);
    this.appliedAt.push(now);
    return 'accepted';
  }

  evaluate(now: number): { values: Record<string, FeatureValue>; lapsed: string[] } {
    const values: Record<string, FeatureValue> = {};
    const lapsed: string[] = [];
    for (const f of this.registry.featuresOf(this.entity)) {
      const v = f.op === 'approx_distinct' ? exactDistinct(f, this.accepted, now, this.appliedAt) : bruteFeature(f, this.accepted, now, this.appliedAt);
      if (v === undefined) lapsed.push(f.name);
      else values[f.name] = v;
    }
    return { values, lapsed };
  }
}
