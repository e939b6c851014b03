/**
 * Incremental reads. Each state remembers, per output, the value read at a
 * time `from` and the next time it may change (`outputChange`, read.ts):
 * the value holds for every read in [from, until) as long as the slot is
 * untouched, so evaluate and nextChangeAt recompute only the outputs whose
 * source had an event since, whose change time has come, or (evict) whose
 * slot was swept. Not persisted: a deserialized state starts without one.
 */
import type { FeatureValue } from '../schemas/registry.ts';
import type { EntityPlan, Output } from './plan.ts';
import { outputChange, outputValue } from './read.ts';
import type { EntityState } from './state.ts';

/** Per output i: `times[2i]` the read time (from), `times[2i + 1]` its next change (until); one array for memory per state. */
export interface ReadMemo {
  times: number[];
  values: (FeatureValue | undefined)[];
}

/** Which outputs an event of each source (by source index) or an evict can change. */
export interface MemoLayout {
  bySource: number[][];
  /**
   * distinct_count and approx_distinct: evict prunes their tile lists, which
   * can move their next change later (a value's older tile no longer counts).
   */
  swept: number[];
}

export function memoLayout(plan: EntityPlan): MemoLayout {
  const bySource = plan.sources.map(() => [] as number[]);
  const swept: number[] = [];
  plan.outputs.forEach((o, i) => {
    bySource[plan.sources.indexOf(o.feature.source)]!.push(i);
    if (o.kind === 'distinct' || o.kind === 'approx') swept.push(i);
  });
  return { bySource, swept };
}

function newMemo(n: number): ReadMemo {
  const times: number[] = [];
  for (let i = 0; i < n; i++) times.push(Infinity, -Infinity);
  return { times, values: new Array<FeatureValue | undefined>(n).fill(undefined) };
}

/** Drops the remembered reads of `outputs` (their slots are about to change). */
export function forget(memo: ReadMemo | undefined, outputs: readonly number[]): void {
  if (memo === undefined) return;
  for (const i of outputs) memo.times[2 * i + 1] = -Infinity;
}

/**
 * After evict at `now`: a read before `now` sees the evicted state, so no
 * remembered read serves it any more; swept slots are read again.
 */
export function afterEvict(memo: ReadMemo | undefined, layout: MemoLayout, now: number): void {
  if (memo === undefined) return;
  const { times } = memo;
  for (let j = 0; j < times.length; j += 2) if (times[j]! < now) times[j] = now;
  forget(memo, layout.swept);
}

/** Output i's value at `now` (undefined: lapsed), remembering it with its next change. */
export function readOutput(plan: EntityPlan, state: EntityState, i: number, now: number): FeatureValue | undefined {
  const memo = (state.memo ??= newMemo(plan.outputs.length));
  const { times } = memo;
  if (times[2 * i]! <= now && now < times[2 * i + 1]!) return memo.values[i];
  const o: Output = plan.outputs[i]!;
  const v = outputValue(o, state, now);
  memo.values[i] = v;
  times[2 * i] = now;
  times[2 * i + 1] = outputChange(o, state, now);
  return v;
}

/** Output i's next change after `now` (Infinity: none); call readOutput(…, now) first. */
export function changeOf(state: EntityState, i: number): number {
  return state.memo!.times[2 * i + 1]!;
}
