/**
 * Pure reference for worker tests: feeds every decodable event through a fresh
 * engine per entity, in topic then offset order, and evaluates at one time.
 * The worker must end with exactly these vectors, however it was crashed,
 * rebalanced or replayed.
 */
import { WindowEngine } from '../../src/aggregations/engine.ts';
import { InvalidEventError } from '../../src/errors.ts';
import { decodeEvent } from '../../src/schemas/events.ts';
import type { Registry } from '../../src/schemas/registry.ts';
import { encodeFeatureValue } from '../../src/stores/codec.ts';

export interface ProducedMessage {
  topic: string;
  partition: number;
  offset: number;
  /** The Kafka record timestamp, epoch ms. */
  timestamp: number;
  value: Buffer | null;
}

/** Expected vector hash fields (without `_version`/`_updated_ms`), per entity id and group, values as latin1 strings. */
export type ExpectedVectors = Map<string, Record<string, Record<string, string>>>;

export function referenceVectors(
  registry: Registry,
  messages: readonly ProducedMessage[],
  nowMs: number,
  engineOptions: { maxFutureSkewMs: number; dedupHorizonMs: number },
): ExpectedVectors {
  const engine = new WindowEngine(registry, engineOptions);
  const ordered = [...messages].sort((a, b) => (a.topic === b.topic ? a.partition - b.partition || a.offset - b.offset : a.topic < b.topic ? -1 : 1));
  const states = new Map<string, { entityType: string; entityId: string; state: ReturnType<WindowEngine['newState']> }>();
  for (const m of ordered) {
    for (const source of registry.sourcesByTopic(m.topic)) {
      try {
        const event = decodeEvent(source, m.value);
        const key = `${source.entity}\0${event.entityId}`;
        let entry = states.get(key);
        if (!entry) {
          entry = { entityType: source.entity, entityId: event.entityId, state: engine.newState(source.entity) };
          states.set(key, entry);
        }
        engine.apply(entry.state, event, nowMs);
      } catch (err) {
        if (!(err instanceof InvalidEventError)) throw err;
      }
    }
  }
  const out: ExpectedVectors = new Map();
  for (const { entityType, entityId, state } of states.values()) {
    const evaluation = engine.evaluate(state, nowMs);
    const groups: Record<string, Record<string, string>> = {};
    for (const group of registry.groupsOf(entityType)) {
      const fields: Record<string, string> = {};
      for (const name of group.features) {
        const value = evaluation.groups[group.name]?.[name];
        if (value !== undefined) fields[name] = Buffer.from(encodeFeatureValue(registry.feature(name)!, value)).toString('latin1');
      }
      groups[group.name] = fields;
    }
    out.set(entityId, groups);
  }
  return out;
}
