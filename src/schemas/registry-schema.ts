/** Zod schema of the authored registry, cross-field rules included. */
import { z } from 'zod';
import { defaultTileMs, formatDuration, MAX_TILES, MAX_WINDOW_MS, MIN_WINDOW_MS, parseDuration } from './duration.ts';
import { BUILTIN_SCHEMAS as BUILTIN_EVENT_SCHEMAS, formatPath } from './events.ts';
import {
  BUILTIN_SCHEMAS,
  FEATURE_TYPES,
  FIELD_KINDS,
  ON_DEMAND_KINDS,
  STORED_OPS,
  TIME_UNITS,
  WINDOWED_OPS,
  type FeatureType,
  type StoredOp,
} from './registry-input.ts';

const name = z.string().regex(/^[a-z][a-z0-9_]{0,63}$/, 'expected 1-64 of a-z 0-9 _, starting with a letter');
const fieldName = z.string().min(1);
const duration = z
  .union([z.number(), z.string()])
  .refine((d) => parseDuration(d) !== undefined, 'expected a duration like "90d", "1h30m", "500ms", or whole milliseconds');

const FIELD_SPECS = new Set<string>(FIELD_KINDS.flatMap((k) => [k, `${k}?`]));
const eventSchema = z.custom<z.ZodType | string | Record<string, string>>(
  (v) =>
    v instanceof z.ZodType ||
    (typeof v === 'string' && (BUILTIN_SCHEMAS as readonly string[]).includes(v)) ||
    (typeof v === 'object' && v !== null && !Array.isArray(v) && Object.values(v).every((s) => FIELD_SPECS.has(s as string))),
  `expected a zod schema, one of ${BUILTIN_SCHEMAS.join('|')}, or a map of field -> ${FIELD_KINDS.join('|')} (suffix ? = optional)`,
);

const source = z.strictObject({
  name,
  topic: z.string().regex(/^[a-zA-Z0-9._-]{1,249}$/, 'expected a Kafka topic name').optional(),
  entity: name,
  keyField: fieldName,
  timeField: fieldName,
  idField: fieldName.optional(),
  schema: eventSchema,
  maxMessageBytes: z.number().int().positive().optional(),
});

const feature = z.strictObject({
  name,
  source: name,
  op: z.enum(STORED_OPS),
  field: fieldName.optional(),
  window: duration.optional(),
  tile: duration.optional(),
  type: z.enum(FEATURE_TYPES),
  default: z.union([z.number(), z.string(), z.array(z.string()), z.array(z.number()), z.null()]),
  freshness: duration.optional(),
  k: z.number().int().min(1).max(100).optional(),
  dim: z.number().int().min(1).max(65_536).optional(),
});

const onDemand = z.strictObject({
  name,
  entity: name,
  kind: z.enum(ON_DEMAND_KINDS),
  input: name.optional(),
  inputUnit: z.enum(['ms', 's']).optional(),
  unit: z.enum(TIME_UNITS).optional(),
  type: z.literal('int').optional(),
  default: z.number().int(),
});

const group = z.strictObject({ name, features: z.array(name).min(1) });

const ALLOWED_TYPES: Record<StoredOp, readonly FeatureType[]> = {
  count: ['int'],
  distinct_count: ['int'],
  sum: ['float'],
  avg: ['float'],
  min: ['float'],
  max: ['float'],
  last: ['int', 'float', 'string', 'vector'],
  last_time: ['int'],
  last_k: ['string_list'],
};

type Parsed = z.output<typeof base>;
type Ctx = z.RefinementCtx;
type Path = (string | number)[];

const base = z.strictObject({
  entities: z.array(z.strictObject({ name })).min(1),
  sources: z.array(source),
  features: z.array(feature),
  onDemand: z.array(onDemand).optional(),
  groups: z.array(group).optional(),
});

function issue(ctx: Ctx, path: Path, message: string): void {
  ctx.addIssue({ code: 'custom', path, message });
}

function unique(ctx: Ctx, items: { key: string; path: Path }[], what: string): void {
  const seen = new Map<string, Path>();
  for (const { key, path } of items) {
    const first = seen.get(key);
    if (first) issue(ctx, path, `duplicate ${what} "${key}" (first at ${formatPath(first)})`);
    else seen.set(key, path);
  }
}

function defaultMatches(type: FeatureType, d: unknown, dim: number | undefined): string | undefined {
  switch (type) {
    case 'int':
      return Number.isSafeInteger(d) ? undefined : 'expected an integer default for type int';
    case 'float':
      return typeof d === 'number' ? undefined : 'expected a number default for type float';
    case 'string':
      return typeof d === 'string' || d === null ? undefined : 'expected a string or null default for type string';
    case 'string_list':
      return Array.isArray(d) && d.every((s) => typeof s === 'string' && s !== '' && !s.includes('\x1f'))
        ? undefined
        : 'expected a list of non-empty strings default for type string_list';
    case 'vector':
      return d === null || (Array.isArray(d) && d.length === dim && d.every((x) => typeof x === 'number'))
        ? undefined
        : `expected null or ${dim ?? 'dim'} numbers as default for type vector`;
  }
}

function schemaFields(schema: unknown): Set<string> | undefined {
  if (typeof schema === 'string') return new Set(Object.keys(BUILTIN_EVENT_SCHEMAS[schema as keyof typeof BUILTIN_EVENT_SCHEMAS].shape));
  if (schema instanceof z.ZodObject) return new Set(Object.keys(schema.shape));
  if (schema instanceof z.ZodType) return undefined;
  return new Set(Object.keys(schema as object));
}

function checkFeature(ctx: Ctx, r: Parsed, i: number, sources: Map<string, Parsed['sources'][number]>): void {
  const f = r.features[i]!;
  const at = (k: string): Path => ['features', i, k];
  const src = sources.get(f.source);
  if (!src) issue(ctx, at('source'), `unknown source "${f.source}"`);
  if (!ALLOWED_TYPES[f.op].includes(f.type)) {
    issue(ctx, at('type'), `op ${f.op} produces ${ALLOWED_TYPES[f.op].join(' or ')}, not ${f.type}`);
  }
  const needsField = f.op !== 'count' && f.op !== 'last_time';
  if (needsField && f.field === undefined) issue(ctx, at('field'), `op ${f.op} needs a field`);
  if (!needsField && f.field !== undefined) issue(ctx, at('field'), `op ${f.op} does not read a field`);
  const fields = src && schemaFields(src.schema);
  if (f.field !== undefined && fields && !fields.has(f.field)) {
    issue(ctx, at('field'), `source "${f.source}" has no field "${f.field}"`);
  }
  const windowed = (WINDOWED_OPS as readonly string[]).includes(f.op);
  const windowMs = f.window === undefined ? undefined : parseDuration(f.window);
  if (windowed && f.window === undefined) issue(ctx, at('window'), `op ${f.op} needs a window`);
  if (!windowed && f.window !== undefined) issue(ctx, at('window'), `op ${f.op} has no window; use freshness`);
  if (!windowed && f.tile !== undefined) issue(ctx, at('tile'), `op ${f.op} has no window, so no tiles`);
  if (windowed && windowMs !== undefined) {
    if (windowMs < MIN_WINDOW_MS || windowMs > MAX_WINDOW_MS) {
      issue(ctx, at('window'), `window must be between 1s and 90d, got ${formatDuration(windowMs)}`);
    } else {
      const tileMs = f.tile === undefined ? defaultTileMs(windowMs) : parseDuration(f.tile);
      if (tileMs === undefined && f.tile === undefined) {
        issue(ctx, at('window'), `no default tile size divides ${formatDuration(windowMs)} into >= 20 tiles; set tile`);
      } else if (tileMs !== undefined && windowMs % tileMs !== 0) {
        issue(ctx, at('window'), `window ${formatDuration(windowMs)} is not a whole number of ${formatDuration(tileMs)} tiles`);
      } else if (tileMs !== undefined && windowMs / tileMs > MAX_TILES) {
        issue(ctx, at('tile'), `window ${formatDuration(windowMs)} would need ${windowMs / tileMs} tiles (max ${MAX_TILES})`);
      }
    }
  }
  if (!windowed && f.freshness === undefined) issue(ctx, at('freshness'), `op ${f.op} has no window, so it needs a freshness`);
  if (f.op === 'last_k' && f.k === undefined) issue(ctx, at('k'), 'op last_k needs k');
  if (f.op !== 'last_k' && f.k !== undefined) issue(ctx, at('k'), 'k applies to op last_k only');
  if (f.type === 'vector' && f.dim === undefined) issue(ctx, at('dim'), 'type vector needs dim');
  if (f.type !== 'vector' && f.dim !== undefined) issue(ctx, at('dim'), 'dim applies to type vector only');
  const bad = defaultMatches(f.type, f.default, f.dim);
  if (bad) issue(ctx, at('default'), bad);
}

function checkGroups(ctx: Ctx, r: Parsed, entityOf: Map<string, string | undefined>): void {
  if (!r.groups) return;
  const placed = new Map<string, Path>();
  const onDemandNames = new Set((r.onDemand ?? []).map((o) => o.name));
  const groupKeys: { key: string; path: Path }[] = [];
  r.groups.forEach((g, gi) => {
    let entity: string | undefined;
    g.features.forEach((fname, fi) => {
      const path: Path = ['groups', gi, 'features', fi];
      if (onDemandNames.has(fname)) return issue(ctx, path, `"${fname}" is on-demand: computed at read time, not stored`);
      if (!entityOf.has(fname)) return issue(ctx, path, `unknown feature "${fname}"`);
      const first = placed.get(fname);
      if (first) return issue(ctx, path, `feature "${fname}" is already in ${formatPath(first.slice(0, 2))}; a feature belongs to exactly one group`);
      placed.set(fname, path);
      const e = entityOf.get(fname);
      if (entity === undefined) entity = e;
      else if (e !== undefined && e !== entity) issue(ctx, path, `"${fname}" is a ${e} feature but group "${g.name}" holds ${entity} features`);
    });
    groupKeys.push({ key: `${entity ?? '?'}:${g.name}`, path: ['groups', gi, 'name'] });
  });
  unique(ctx, groupKeys, 'group (per entity)');
  r.features.forEach((f, i) => {
    if (!placed.has(f.name)) issue(ctx, ['features', i, 'name'], `feature "${f.name}" is in no group`);
  });
}

function checkOnDemand(ctx: Ctx, r: Parsed, entities: Set<string>, entityOf: Map<string, string | undefined>): void {
  (r.onDemand ?? []).forEach((o, i) => {
    const at = (k: string): Path => ['onDemand', i, k];
    if (!entities.has(o.entity)) issue(ctx, at('entity'), `unknown entity "${o.entity}"`);
    if (o.kind !== 'time_since') {
      if (o.input !== undefined) issue(ctx, at('input'), `kind ${o.kind} reads the request time, not an input`);
      return;
    }
    if (o.input === undefined) return issue(ctx, at('input'), 'kind time_since needs an input feature');
    const input = r.features.find((f) => f.name === o.input);
    if (!input) return issue(ctx, at('input'), `unknown stored feature "${o.input}"`);
    if (input.type !== 'int') issue(ctx, at('input'), `input "${o.input}" must be an int time, not ${input.type}`);
    if (entityOf.get(o.input) !== o.entity) issue(ctx, at('input'), `input "${o.input}" is not a ${o.entity} feature`);
  });
}

function crossFieldRules(r: Parsed, ctx: Ctx): void {
  const entities = new Set(r.entities.map((e) => e.name));
  const sources = new Map(r.sources.map((s) => [s.name, s]));
  unique(ctx, r.entities.map((e, i) => ({ key: e.name, path: ['entities', i, 'name'] })), 'entity');
  unique(ctx, r.sources.map((s, i) => ({ key: s.name, path: ['sources', i, 'name'] })), 'source');
  unique(ctx, r.sources.map((s, i) => ({ key: s.topic ?? s.name, path: ['sources', i, 'topic'] })), 'topic');
  unique(
    ctx,
    [
      ...r.features.map((f, i) => ({ key: f.name, path: ['features', i, 'name'] })),
      ...(r.onDemand ?? []).map((o, i) => ({ key: o.name, path: ['onDemand', i, 'name'] })),
    ],
    'feature',
  );
  r.sources.forEach((s, i) => {
    if (!entities.has(s.entity)) issue(ctx, ['sources', i, 'entity'], `unknown entity "${s.entity}"`);
    const fields = schemaFields(s.schema);
    for (const k of ['keyField', 'timeField'] as const) {
      if (fields && !fields.has(s[k])) issue(ctx, ['sources', i, k], `schema has no field "${s[k]}"`);
    }
  });
  r.features.forEach((_, i) => checkFeature(ctx, r, i, sources));
  const entityOf = new Map(r.features.map((f) => [f.name, sources.get(f.source)?.entity]));
  checkGroups(ctx, r, entityOf);
  checkOnDemand(ctx, r, entities, entityOf);
}

export const registryInputSchema = base.superRefine(crossFieldRules);
export type ParsedRegistryInput = z.output<typeof registryInputSchema>;
