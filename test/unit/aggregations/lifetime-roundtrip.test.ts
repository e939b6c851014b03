/**
 * A lifetime aggregate's event count is a number, not a list length: a state
 * whose count is larger than the bytes after it must load again (it once
 * failed as "count exceeds the data", and the worker quarantined the entity).
 */
import { describe, expect, it } from 'vitest';
import { WindowEngine } from '../../../src/aggregations/engine.ts';
import { decodeEvent } from '../../../src/schemas/events.ts';
import { parseRegistry } from '../../../src/schemas/registry.ts';

const registry = parseRegistry({
  entities: [{ name: 'user' }],
  sources: [{ name: 'tx', entity: 'user', keyField: 'user_id', timeField: 'ts', schema: { user_id: 'string', ts: 'time' } }],
  features: [{ name: 'lifetime_tx', source: 'tx', op: 'count', window: 'lifetime', type: 'int', default: 0, freshness: '7d' }],
});

describe('lifetime state round trip', () => {
  it('loads a lifetime count larger than the rest of the state', () => {
    const engine = new WindowEngine(registry, { maxFutureSkewMs: 60_000, dedupHorizonMs: 3_600_000 });
    const now = Date.UTC(2026, 11, 2);
    let state = engine.newState('user');
    for (let i = 0; i < 300; i++) {
      const event = decodeEvent(registry.sources[0]!, JSON.stringify({ user_id: 'u1', ts: now - i * 1_000 }));
      engine.apply(state, { ...event, arrivalMs: now }, now);
      state = engine.deserialize(engine.serialize(state));
      expect(engine.evaluate(state, now).groups.features?.lifetime_tx).toBe(i + 1);
    }
  });
});
