/**
 * A fast path for decoding events of the built-in schemas: plain checks in
 * place of zod, which costs several times more per event. It only accepts
 * events that are plainly valid and builds exactly what decodeEvent would;
 * for anything else (invalid, unusual, custom schemas) it answers undefined
 * and the caller uses decodeEvent, so every rejection keeps decodeEvent's
 * error and reason.
 */
import { BUILTIN_FIELDS, BUILTIN_SCHEMAS, DEFAULT_MAX_MESSAGE_BYTES, parseEventTime, type NormalizedEvent } from '../schemas/events.ts';
import { isValidEntityId } from '../schemas/entity-id.ts';
import type { FieldKind } from '../schemas/registry-input.ts';
import type { ResolvedSource } from '../schemas/registry.ts';

type Check = (v: unknown) => unknown;

/** Returns the parsed value, or undefined when the slow path must decide. */
const CHECKS: Record<FieldKind, Check> = {
  string: (v) => (typeof v === 'string' && v.length > 0 ? v : undefined),
  number: (v) => (typeof v === 'number' && Number.isFinite(v) ? v : undefined),
  int: (v) => (typeof v === 'number' && Number.isSafeInteger(v) ? v : undefined),
  boolean: (v) => (v === true || v === 1 ? 1 : v === false || v === 0 ? 0 : undefined),
  time: (v) => (typeof v === 'number' || typeof v === 'string' ? parseEventTime(v) : undefined),
  vector: (v) => (Array.isArray(v) && v.length > 0 && v.every((x) => typeof x === 'number' && Number.isFinite(x)) ? [...(v as number[])] : undefined),
};

interface Field {
  name: string;
  optional: boolean;
  check: Check;
}

export type FastDecoder = (value: Buffer | null) => NormalizedEvent | undefined;

/** undefined for sources without a built-in schema, and for composite keys. */
export function fastDecoder(source: ResolvedSource): FastDecoder | undefined {
  const builtin = (Object.keys(BUILTIN_SCHEMAS) as Array<keyof typeof BUILTIN_SCHEMAS>).find((n) => BUILTIN_SCHEMAS[n] === source.schema);
  // Composite keys take the slow path.
  if (!builtin || source.keyFields.length !== 1) return undefined;
  const keyField = source.keyFields[0]!;
  const fields: Field[] = Object.entries(BUILTIN_FIELDS[builtin]).map(([name, spec]) => {
    const optional = spec.endsWith('?');
    return { name, optional, check: CHECKS[(optional ? spec.slice(0, -1) : spec) as FieldKind] };
  });
  const known = new Set(fields.map((f) => f.name));

  const maxBytes = source.maxMessageBytes ?? DEFAULT_MAX_MESSAGE_BYTES;
  return (value) => {
    if (value === null || value.length > maxBytes) return undefined;
    let json: unknown;
    try {
      json = JSON.parse(value.toString('utf8'));
    } catch {
      return undefined;
    }
    if (typeof json !== 'object' || json === null || Array.isArray(json)) return undefined;
    const input = json as Record<string, unknown>;
    // Unknown keys are dropped, but decodeEvent still rejects non-finite numbers in them.
    for (const key in input) if (!known.has(key) && !plain(input[key])) return undefined;
    const out: Record<string, unknown> = {};
    for (const f of fields) {
      const v = input[f.name];
      if (v === undefined && f.optional && !Object.hasOwn(input, f.name)) continue;
      const parsed = f.check(v);
      if (parsed === undefined) return undefined;
      out[f.name] = parsed;
    }
    const key = out[keyField];
    const eventTimeMs = parseEventTime(out[source.timeField]);
    if (typeof key !== 'string' || !isValidEntityId(key) || eventTimeMs === undefined) return undefined;
    const event: NormalizedEvent = { source: source.name, entityId: key, eventTimeMs, fields: out };
    const id = out[source.idField];
    if (typeof id === 'string' && id !== '') event.eventId = id;
    return event;
  };
}

/** A value that cannot hold a non-finite number (anything else goes to the slow path). */
function plain(v: unknown): boolean {
  return typeof v === 'number' ? Number.isFinite(v) : typeof v !== 'object' || v === null;
}
