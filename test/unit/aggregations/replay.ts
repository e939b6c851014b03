/** Replaying a random stream into the engine and the brute-force reference alike (the property tests' shared loop). */
import { expect } from 'vitest';
import type { EntityState, WindowEngine } from '../../../src/aggregations/engine.ts';
import type { Step } from './fixtures.ts';
import type { ReferenceModel } from './reference.ts';

/**
 * Applies each step to a new state of `entity` and to `ref`, checking the
 * outcome (EVENT_IN_FUTURE where the reference says so, duplicates); evicts
 * or round-trips where a step asks (the bytes must survive the round trip
 * unchanged), and calls `evaluated` where it asks for an evaluation.
 */
export function replaySteps(
  engine: WindowEngine,
  ref: ReferenceModel,
  entity: string,
  steps: readonly Step[],
  evaluated: (state: EntityState, now: number) => void,
): EntityState {
  let state = engine.newState(entity);
  for (const { event, now, after } of steps) {
    const expected = ref.apply(event, now);
    if (expected === 'future') expect(() => engine.apply(state, event, now)).toThrow(expect.objectContaining({ code: 'EVENT_IN_FUTURE' }));
    else expect(engine.apply(state, event, now) === 'duplicate').toBe(expected === 'duplicate');
    if (after === 'evict') engine.evict(state, now);
    if (after === 'roundtrip') {
      const bytes = engine.serialize(state);
      state = engine.deserialize(bytes);
      expect(Buffer.from(engine.serialize(state)).equals(Buffer.from(bytes))).toBe(true);
    }
    if (after === 'evaluate') evaluated(state, now);
  }
  return state;
}
