/** Zod schema of the authored registry, cross-field rules included. */
import { z } from 'zod';
import { defaultTileMs, formatDuration, MAX_TILES, MAX_WINDOW_MS, MIN_WINDOW_MS, parseDuration } from './duration.ts';
import { BUILTIN_FIELDS, formatPath } from './events.ts';
import {
  BUILTIN_SCHEMAS,
  FEATURE_TYPES,
  FIELD_KINDS,
  ON_DEMAND_KINDS,
  STORED_OPS,
  TIME_UNITS,
  VECTOR_LAYOUTS,
  type OnDemandKind,
  WINDOWED_OPS,
  LIFETIME,
  LIFETIME_OPS,
  type EventFields,
  type FeatureType,
  type FieldKind,
  type RequestContext,
  type StoredValues,
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
  keyField: fieldName.optional(),
  keyFields: z.array(fieldName).min(1).optional(),
  timeField: fieldName,
  idField: fieldName.optional(),
  schema: eventSchema,
  maxMessageBytes: z.number().int().positive().optional(),
});

const predicateValue = z.union([z.string(), z.number(), z.boolean()]);
const predicate = z.strictObject({
  field: fieldName,
  eq: predicateValue.optional(),
  ne: predicateValue.optional(),
  in: z.array(predicateValue).min(1).optional(),
  gt: z.number().optional(),
  gte: z.number().optional(),
  lt: z.number().optional(),
  lte: z.number().optional(),
  exists: z.boolean().optional(),
});
const PREDICATE_OPS = ['eq', 'ne', 'in', 'gt', 'gte', 'lt', 'lte', 'exists'] as const;
const filterFn = z.custom<(fields: EventFields) => boolean>((v) => typeof v === 'function', 'expected a function');
const computeFn = z.custom<(features: StoredValues, context: RequestContext) => number>((v) => typeof v === 'function', 'expected a function');

const feature = z.strictObject({
  name,
  source: name,
  op: z.enum(STORED_OPS),
  field: fieldName.optional(),
  window: z.union([z.literal(LIFETIME), duration]).optional(),
  tile: duration.optional(),
  type: z.enum(FEATURE_TYPES),
  default: z.union([z.number(), z.string(), z.array(z.string()), z.array(z.number()), z.null()]),
  freshness: duration.optional(),
  k: z.number().int().min(1).max(100).optional(),
  dim: z.number().int().min(1).max(65_536).optional(),
  q: z.number().optional(),
  // Checked in checkWhere, so that errors name the predicate's path.
  where: z.union([filterFn, z.array(z.unknown())]).optional(),
});

const onDemand = z.strictObject({
  name,
  entity: name,
  kind: z.enum(ON_DEMAND_KINDS).optional(),
  input: name.optional(),
  inputUnit: z.enum(['ms', 's']).optional(),
  unit: z.enum(TIME_UNITS).optional(),
  numerator: name.optional(),
  denominator: name.optional(),
  left: name.optional(),
  right: name.optional(),
  contextField: fieldName.optional(),
  mean: name.optional(),
  stddev: name.optional(),
  compute: computeFn.optional(),
  type: z.enum(['int', 'float']).optional(),
  default: z.number(),
});

const group = z.strictObject({ name, features: z.array(name).min(1) });

const ALLOWED_TYPES: Record<StoredOp, readonly FeatureType[]> = {
  count: ['int'],
  distinct_count: ['int'],
  sum: ['float'],
  stddev: ['float'],
  variance: ['float'],
  avg: ['float'],
  min: ['float'],
  max: ['float'],
  last: ['int', 'float', 'string', 'vector'],
  last_time: ['int'],
  last_k: ['string_list'],
  first: ['int', 'float', 'string'],
  first_k: ['string_list'],
  top_k: ['string_list'],
  approx_quantile: ['float'],
  approx_distinct: ['int'],
};

type Parsed = z.output<typeof base>;
type Ctx = z.RefinementCtx;
type Path = (string | number)[];

const base = z.strictObject({
  entities: z.array(z.strictObject({ name, keys: z.array(fieldName).min(1).optional() })).min(1),
  sources: z.array(source),
  features: z.array(feature),
  onDemand: z.array(onDemand).optional(),
  groups: z.array(group).optional(),
  layout: z.enum(VECTOR_LAYOUTS).optional(),
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

/** Field name -> kind (undefined: a zod field, kind unknown); undefined for a schema whose fields are unknown. */
function schemaFields(schema: unknown): Map<string, FieldKind | undefined> | undefined {
  const fromSpecs = (specs: Record<string, string>) =>
    new Map(Object.entries(specs).map(([k, spec]) => [k, spec.replace(/\?$/, '') as FieldKind]));
  if (typeof schema === 'string') return fromSpecs(BUILTIN_FIELDS[schema as keyof typeof BUILTIN_FIELDS]);
  if (schema instanceof z.ZodObject) return new Map(Object.keys(schema.shape).map((k) => [k, undefined]));
  if (schema instanceof z.ZodType) return undefined;
  return fromSpecs(schema as Record<string, string>);
}

const NUMERIC_KINDS = new Set<FieldKind | undefined>(['number', 'int', 'time', 'boolean', undefined]);

/** Checks a `where` list against the source's fields: each field exists, each operator fits the field's kind. */
function checkWhere(ctx: Ctx, raw: Parsed['features'][number]['where'], fields: Map<string, FieldKind | undefined> | undefined, at: Path): void {
  if (raw === undefined || typeof raw === 'function') return;
  const parsed = z.array(predicate).safeParse(raw);
  if (!parsed.success) {
    for (const i of parsed.error.issues) issue(ctx, [...at, ...(i.path as Path)], i.message);
    return;
  }
  parsed.data.forEach((p, j) => {
    const path = [...at, j];
    const ops = PREDICATE_OPS.filter((op) => p[op] !== undefined);
    if (ops.length === 0) issue(ctx, path, `a predicate needs one of ${PREDICATE_OPS.join(', ')}`);
    if (!fields) return;
    if (!fields.has(p.field)) return issue(ctx, [...path, 'field'], `source schema has no field "${p.field}"`);
    const kind = fields.get(p.field);
    const numeric = NUMERIC_KINDS.has(kind);
    for (const op of ops) {
      if (op === 'exists') continue;
      if (kind === 'vector') {
        issue(ctx, [...path, op], `field "${p.field}" is a vector: only exists applies`);
        continue;
      }
      const values = op === 'in' ? p.in! : [p[op]!];
      for (const v of values) {
        const ok = kind === undefined || (kind === 'string' ? typeof v === 'string' : typeof v === 'number' || (kind === 'boolean' && typeof v === 'boolean'));
        if (!ok) issue(ctx, [...path, op], `field "${p.field}" is ${kind}: cannot compare it with ${JSON.stringify(v)}`);
      }
      if ((op === 'gt' || op === 'gte' || op === 'lt' || op === 'lte') && !numeric) {
        issue(ctx, [...path, op], `${op} needs a numeric field; "${p.field}" is ${kind}`);
      }
    }
  });
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
  if (f.op === 'approx_distinct' && f.field !== undefined && fields?.has(f.field)) {
    const kind = fields.get(f.field);
    if (kind === 'vector' || kind === 'boolean') issue(ctx, at('field'), `op approx_distinct counts strings or numbers; field "${f.field}" is ${kind}`);
  }
  checkWhere(ctx, f.where, fields, at('where'));
  const lifetime = f.window === LIFETIME;
  const earliest = f.op === 'first' || f.op === 'first_k';
  if (lifetime && !(LIFETIME_OPS as readonly string[]).includes(f.op)) {
    issue(ctx, at('window'), `op ${f.op} has no lifetime form; lifetime works for ${LIFETIME_OPS.join(', ')}`);
  }
  const windowed = !lifetime && !earliest && (WINDOWED_OPS as readonly string[]).includes(f.op);
  const windowMs = f.window === undefined || lifetime ? undefined : parseDuration(f.window);
  if (windowed && f.window === undefined) issue(ctx, at('window'), `op ${f.op} needs a window`);
  if (!windowed && !lifetime && f.window !== undefined) issue(ctx, at('window'), earliest ? `op ${f.op} takes only window "lifetime"` : `op ${f.op} has no window; use freshness`);
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
  const kOp = f.op === 'last_k' || f.op === 'first_k' || f.op === 'top_k';
  if (kOp && f.k === undefined) issue(ctx, at('k'), `op ${f.op} needs k`);
  if (!kOp && f.k !== undefined) issue(ctx, at('k'), 'k applies to ops last_k, first_k and top_k only');
  if (f.op === 'approx_quantile' && (f.q === undefined || !(f.q > 0 && f.q < 1))) issue(ctx, at('q'), `op approx_quantile needs q in (0, 1), got ${f.q}`);
  if (f.op !== 'approx_quantile' && f.q !== undefined) issue(ctx, at('q'), 'q applies to op approx_quantile only');
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

/** The stored-feature inputs each on-demand kind reads. */
const ON_DEMAND_INPUTS: Record<OnDemandKind, readonly ('input' | 'numerator' | 'denominator' | 'left' | 'right' | 'mean' | 'stddev')[]> = {
  time_since: ['input'],
  hour_of_day: [],
  day_of_week: [],
  is_weekend: [],
  ratio: ['numerator', 'denominator'],
  difference: ['left', 'right'],
  zscore: ['mean', 'stddev'],
};
const ALL_INPUTS = ['input', 'numerator', 'denominator', 'left', 'right', 'mean', 'stddev', 'contextField'] as const;
const NUMERIC_TYPES = new Set<FeatureType>(['int', 'float']);

function checkOnDemand(ctx: Ctx, r: Parsed, entities: Set<string>, entityOf: Map<string, string | undefined>): void {
  (r.onDemand ?? []).forEach((o, i) => {
    const at = (k: string): Path => ['onDemand', i, k];
    if (!entities.has(o.entity)) issue(ctx, at('entity'), `unknown entity "${o.entity}"`);
    if (o.compute !== undefined) {
      if (o.kind !== undefined) issue(ctx, at('kind'), 'give either kind or compute, not both');
      for (const k of ALL_INPUTS) if (o[k] !== undefined) issue(ctx, at(k), `${k} does not apply to a compute function`);
      return;
    }
    if (o.kind === undefined) return issue(ctx, at('kind'), `expected one of ${ON_DEMAND_KINDS.join('|')}, or a compute function`);
    const kind = o.kind;
    const needed: readonly string[] = kind === 'zscore' ? ['mean', 'stddev'] : ON_DEMAND_INPUTS[kind];
    for (const k of ALL_INPUTS) {
      const allowed = needed.includes(k) || (kind === 'zscore' && (k === 'input' || k === 'contextField'));
      if (o[k] !== undefined && !allowed) issue(ctx, at(k), `kind ${kind} does not read ${k}`);
    }
    if (kind === 'zscore' && (o.input === undefined) === (o.contextField === undefined)) {
      issue(ctx, at('input'), 'kind zscore needs exactly one of input (a stored feature) and contextField (a request context value)');
    }
    const inputs = kind === 'zscore' && o.input !== undefined ? [...needed, 'input'] : needed;
    for (const k of inputs as (typeof ALL_INPUTS)[number][]) {
      const ref = o[k];
      if (ref === undefined) {
        issue(ctx, at(k), `kind ${kind} needs ${k}`);
        continue;
      }
      const input = r.features.find((f) => f.name === ref);
      if (!input) {
        issue(ctx, at(k), `unknown stored feature "${ref}"`);
        continue;
      }
      if (entityOf.get(ref) !== o.entity) issue(ctx, at(k), `"${ref}" is not a ${o.entity} feature`);
      if (kind === 'time_since' && input.type !== 'int') issue(ctx, at(k), `input "${ref}" must be an int time, not ${input.type}`);
      if (kind !== 'time_since' && !NUMERIC_TYPES.has(input.type)) issue(ctx, at(k), `"${ref}" is ${input.type}; kind ${kind} needs a number`);
    }
    const intKind = kind === 'time_since' || kind === 'hour_of_day' || kind === 'day_of_week' || kind === 'is_weekend';
    if (intKind && o.type === 'float') issue(ctx, at('type'), `kind ${kind} is an int`);
    if ((o.type ?? (intKind ? 'int' : 'float')) === 'int' && !Number.isSafeInteger(o.default)) issue(ctx, at('default'), 'expected an integer default for type int');
  });
}

function crossFieldRules(r: Parsed, ctx: Ctx): void {
  const entities = new Set(r.entities.map((e) => e.name));
  const sources = new Map(r.sources.map((s) => [s.name, s]));
  unique(ctx, r.entities.map((e, i) => ({ key: e.name, path: ['entities', i, 'name'] })), 'entity');
  unique(ctx, r.sources.map((s, i) => ({ key: s.name, path: ['sources', i, 'name'] })), 'source');
  unique(
    ctx,
    [
      ...r.features.map((f, i) => ({ key: f.name, path: ['features', i, 'name'] })),
      ...(r.onDemand ?? []).map((o, i) => ({ key: o.name, path: ['onDemand', i, 'name'] })),
    ],
    'feature',
  );
  const entityKeys = new Map(r.entities.map((e) => [e.name, e.keys]));
  r.sources.forEach((s, i) => {
    if (!entities.has(s.entity)) issue(ctx, ['sources', i, 'entity'], `unknown entity "${s.entity}"`);
    const fields = schemaFields(s.schema);
    const keys = entityKeys.get(s.entity);
    if ((s.keyField === undefined) === (s.keyFields === undefined)) {
      issue(ctx, ['sources', i, keys ? 'keyFields' : 'keyField'], 'give exactly one of keyField (single key) and keyFields (composite key)');
    } else if (keys && s.keyFields?.length !== keys.length) {
      issue(ctx, ['sources', i, 'keyFields'], `entity "${s.entity}" has keys [${keys.join(', ')}]: give ${keys.length} keyFields in that order`);
    } else if (!keys && s.keyFields !== undefined && s.keyFields.length !== 1) {
      issue(ctx, ['sources', i, 'keyFields'], `entity "${s.entity}" has a single key: use keyField`);
    }
    const check = (field: string, path: Path) => {
      if (fields && !fields.has(field)) issue(ctx, path, `schema has no field "${field}"`);
    };
    if (s.keyField !== undefined) check(s.keyField, ['sources', i, 'keyField']);
    s.keyFields?.forEach((k, j) => check(k, ['sources', i, 'keyFields', j]));
    check(s.timeField, ['sources', i, 'timeField']);
  });
  r.features.forEach((_, i) => checkFeature(ctx, r, i, sources));
  const entityOf = new Map(r.features.map((f) => [f.name, sources.get(f.source)?.entity]));
  checkGroups(ctx, r, entityOf);
  checkOnDemand(ctx, r, entities, entityOf);
}

export const registryInputSchema = base.superRefine(crossFieldRules);
export type ParsedRegistryInput = z.output<typeof registryInputSchema>;
