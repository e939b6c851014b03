/**
 * Event schemas and decoding: a Kafka message value becomes a NormalizedEvent
 * or an InvalidEventError (dead-lettered by the worker, never retried).
 */
import { z } from 'zod';
import { EntityIdError, InvalidEventError } from '../errors.ts';
import { entityIdOf } from './entity-id.ts';
import type { BuiltinSchemaName, FieldKind, FieldSpec } from './registry-input.ts';
import type { ResolvedSource } from './registry.ts';

export interface NormalizedEvent {
  source: string;
  entityId: string;
  /** Epoch milliseconds. */
  eventTimeMs: number;
  eventId?: string;
  /**
   * Arrival time, epoch ms: the Kafka record timestamp (or the worker's clock
   * at consumption). The de-duplication horizon is measured in it.
   */
  arrivalMs?: number;
  /** The schema's output: times as epoch ms, booleans as 0/1. */
  fields: Record<string, unknown>;
}

/** Kafka's own default max.message.bytes. */
export const DEFAULT_MAX_MESSAGE_BYTES = 1_048_576;
const MAX_TIME_MS = 8.64e15;
const ISO_8601 = /^\d{4}-\d{2}-\d{2}(?:[T ]\d{2}:\d{2}(?::\d{2}(?:\.\d{1,9})?)?(Z|[+-]\d{2}(?::?\d{2})?)?)?$/i;

/**
 * Epoch ms from epoch milliseconds or ISO-8601. A date-time without an offset
 * is read as UTC so that decoding never depends on the host's time zone.
 */
export function parseEventTime(v: unknown): number | undefined {
  if (typeof v === 'number') return Number.isFinite(v) && v >= 0 && v <= MAX_TIME_MS ? Math.floor(v) : undefined;
  if (typeof v !== 'string') return undefined;
  const m = ISO_8601.exec(v);
  if (!m) return undefined;
  let text = v.replace(' ', 'T');
  if (text.length > 10 && m[1] === undefined) text += 'Z';
  else if (m[1] && /^[+-]\d{4}$/.test(m[1])) text = `${text.slice(0, -2)}:${text.slice(-2)}`;
  const ms = Date.parse(text);
  return Number.isFinite(ms) && ms >= 0 && ms <= MAX_TIME_MS ? ms : undefined;
}

export const eventTimeSchema = z.union([z.number(), z.string()]).transform((v, ctx) => {
  const ms = parseEventTime(v);
  if (ms === undefined) {
    ctx.issues.push({ code: 'custom', input: v, message: 'expected epoch milliseconds or an ISO-8601 time' });
    return z.NEVER;
  }
  return ms;
});

const FIELD_SCHEMAS: Record<FieldKind, () => z.ZodType> = {
  string: () => z.string().min(1),
  number: () => z.number(),
  int: () => z.number().int(),
  boolean: () => z.union([z.boolean(), z.literal(0), z.literal(1)]).transform((b) => (b === true || b === 1 ? 1 : 0)),
  time: () => eventTimeSchema,
  vector: () => z.array(z.number()).min(1),
};

export function fieldSchema(spec: FieldSpec): z.ZodType {
  const optional = spec.endsWith('?');
  const base = FIELD_SCHEMAS[(optional ? spec.slice(0, -1) : spec) as FieldKind]();
  return optional ? base.optional() : base;
}

export function objectSchema(fields: Readonly<Record<string, FieldSpec>>): z.ZodObject {
  return z.object(Object.fromEntries(Object.entries(fields).map(([k, spec]) => [k, fieldSchema(spec)])));
}

/** The default topics' fields; Kafka message key = user_id. */
export const BUILTIN_FIELDS: Record<BuiltinSchemaName, Readonly<Record<string, FieldSpec>>> = {
  transactions: { event_id: 'string?', user_id: 'string', amount: 'number', merchant_id: 'string', ts: 'time' },
  logins: { event_id: 'string?', user_id: 'string', ts: 'time' },
  profiles: {
    event_id: 'string?',
    user_id: 'string',
    created_at: 'time',
    credit_score_bucket: 'int',
    is_premium: 'boolean',
    ts: 'time',
  },
  embeddings: { event_id: 'string?', user_id: 'string', embedding: 'vector', ts: 'time' },
};

export const transactionEventSchema = objectSchema(BUILTIN_FIELDS.transactions);
export const loginEventSchema = objectSchema(BUILTIN_FIELDS.logins);
export const profileEventSchema = objectSchema(BUILTIN_FIELDS.profiles);
export const embeddingEventSchema = objectSchema(BUILTIN_FIELDS.embeddings);

export const BUILTIN_SCHEMAS: Record<BuiltinSchemaName, z.ZodObject> = {
  transactions: transactionEventSchema,
  logins: loginEventSchema,
  profiles: profileEventSchema,
  embeddings: embeddingEventSchema,
};

function invalid(source: ResolvedSource, reason: string): InvalidEventError {
  return new InvalidEventError('EVENT_INVALID', `${source.name} event: ${reason}`, {
    details: { source: source.name, reason },
  });
}

/** Path of the first number JSON.parse turned into Infinity (e.g. `1e999`). */
function nonFinitePath(v: unknown, path: string): string | undefined {
  if (typeof v === 'number') return Number.isFinite(v) ? undefined : path || '(root)';
  if (typeof v !== 'object' || v === null) return undefined;
  for (const [k, child] of Object.entries(v)) {
    const found = nonFinitePath(child, Array.isArray(v) ? `${path}[${k}]` : path ? `${path}.${k}` : k);
    if (found) return found;
  }
  return undefined;
}

/** A zod issue path as `features[3].window`. */
export function formatPath(path: readonly PropertyKey[]): string {
  return path.map((p, i) => (typeof p === 'number' ? `[${p}]` : `${i ? '.' : ''}${String(p)}`)).join('') || '(root)';
}

/** The reader's entity-id rule, applied at decode: an id the reader would refuse is never written. */
function decodeEntityId(source: ResolvedSource, fields: Record<string, unknown>): string {
  const { keyField } = source;
  if (keyField !== undefined && (typeof fields[keyField] !== 'string' || fields[keyField] === '')) {
    throw invalid(source, `${keyField}: expected a non-empty string entity id`);
  }
  try {
    return entityIdOf(source.keyFields, fields);
  } catch (e) {
    if (!(e instanceof EntityIdError)) throw e;
    const at = keyField ?? source.keyFields.join(', ');
    throw new InvalidEventError('ENTITY_ID_INVALID', `${source.name} event: ${at}: ${e.message}`, {
      details: { source: source.name, reason: e.message },
    });
  }
}

export function decodeEvent(
  source: ResolvedSource,
  value: Buffer | string | null,
  opts: { maxBytes?: number } = {},
): NormalizedEvent {
  if (value === null) throw invalid(source, 'empty message value (tombstone)');
  const maxBytes = opts.maxBytes ?? source.maxMessageBytes ?? DEFAULT_MAX_MESSAGE_BYTES;
  const size = typeof value === 'string' ? Buffer.byteLength(value) : value.length;
  if (size > maxBytes) {
    throw new InvalidEventError('EVENT_TOO_LARGE', `${source.name} event: ${size} bytes exceeds the limit of ${maxBytes}`, {
      details: { source: source.name, size, maxBytes },
    });
  }
  let json: unknown;
  try {
    json = JSON.parse(typeof value === 'string' ? value : value.toString('utf8'));
  } catch (e) {
    throw invalid(source, `invalid JSON: ${(e as Error).message}`);
  }
  if (typeof json !== 'object' || json === null || Array.isArray(json)) throw invalid(source, 'expected a JSON object');
  const bad = nonFinitePath(json, '');
  if (bad) throw invalid(source, `${bad}: non-finite number`);
  const parsed = source.schema.safeParse(json);
  if (!parsed.success) {
    throw invalid(source, parsed.error.issues.map((i) => `${formatPath(i.path)}: ${i.message}`).join('; '));
  }
  const fields = parsed.data as Record<string, unknown>;
  const entityId = decodeEntityId(source, fields);
  const eventTimeMs = parseEventTime(fields[source.timeField]);
  if (eventTimeMs === undefined) throw invalid(source, `${source.timeField}: expected epoch milliseconds or an ISO-8601 time`);
  const id = fields[source.idField];
  const event: NormalizedEvent = { source: source.name, entityId, eventTimeMs, fields };
  if (typeof id === 'string' && id !== '') event.eventId = id;
  return event;
}
