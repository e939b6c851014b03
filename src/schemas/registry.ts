/**
 * The feature registry: parsed once with zod (cross-field rules included),
 * then resolved into the lookups the engine, worker and reader share.
 */
import { readFile } from 'node:fs/promises';
import { extname, resolve as resolvePath } from 'node:path';
import { pathToFileURL } from 'node:url';
import { z } from 'zod';
import { RegistryError } from '../errors.ts';
import { defaultTileMs, parseDuration, type Duration } from './duration.ts';
import { BUILTIN_SCHEMAS, formatPath, objectSchema } from './events.ts';
import type { EventFields, FeatureType, OnDemandKind, PredicateInput, RequestContext, StoredOp, StoredValues, TimeUnit, VectorLayout, WhereInput } from './registry-input.ts';
import { compileWhere } from './registry-filter.ts';
import { LIFETIME } from './registry-input.ts';
import { registryInputSchema, type ParsedRegistryInput } from './registry-schema.ts';
import { defaultRegistryConfig } from './default-registry.ts';
import type { FeatureValues } from './registry-input.ts';

export * from './registry-input.ts';

export type FeatureValue = number | string | string[] | Float32Array | null;
export type DefaultFeatures = FeatureValues<typeof defaultRegistryConfig>;

export interface ResolvedEntity {
  name: string;
  /** Composite entities only: key names in order (the id joins their values with `|`). */
  keys?: readonly string[];
}

export interface ResolvedSource {
  name: string;
  topic: string;
  entity: string;
  /** Single-key sources: the field holding the entity id. */
  keyField?: string;
  /** The fields holding the key values, in the entity's key order (one for single keys). */
  keyFields: readonly string[];
  timeField: string;
  idField: string;
  schema: z.ZodType;
  maxMessageBytes?: number;
}

export interface ResolvedFeature {
  name: string;
  entity: string;
  source: string;
  op: StoredOp;
  field?: string;
  windowMs?: number;
  tileMs?: number;
  type: FeatureType;
  default: FeatureValue;
  freshnessMs: number;
  /** 2 x freshness: the field is removed after this long without an event. */
  ttlMs: number;
  group: string;
  k?: number;
  dim?: number;
  /** approx_quantile: the quantile in (0, 1). */
  q?: number;
  /** Every event since the feature was last fresh (`window: "lifetime"`, first, first_k): no window, lapses by freshness only. */
  lifetime?: true;
  /** The filter as authored (JSON predicates or a TS function); absent: every event. */
  where?: readonly PredicateInput[] | ((fields: EventFields) => boolean);
  /** The compiled filter. */
  filter?: (fields: EventFields) => boolean;
  /** Identifies the filter: features share state only with equal keys. */
  filterKey?: string;
}

export interface ResolvedOnDemandFeature {
  name: string;
  entity: string;
  /** `compute`: a TS function. */
  kind: OnDemandKind | 'compute';
  input?: string;
  inputUnit: 'ms' | 's';
  unit: TimeUnit;
  numerator?: string;
  denominator?: string;
  left?: string;
  right?: string;
  contextField?: string;
  mean?: string;
  stddev?: string;
  compute?: (features: StoredValues, context: RequestContext) => number;
  type: 'int' | 'float';
  default: number;
}

/** Group names are unique per entity: each group is one hash `<entity>:<id>:<group>`. */
export interface ResolvedGroup {
  name: string;
  entity: string;
  features: string[];
  /** Max of the group's feature TTLs: Redis 7.0 expires whole keys only. */
  keyTtlMs: number;
}

export interface Registry {
  readonly entities: readonly ResolvedEntity[];
  readonly sources: readonly ResolvedSource[];
  readonly features: readonly ResolvedFeature[];
  readonly onDemand: readonly ResolvedOnDemandFeature[];
  readonly groups: readonly ResolvedGroup[];
  /** How every vector hash is laid out (stores/vector-layout.ts). */
  readonly layout: VectorLayout;
  feature(name: string): ResolvedFeature | undefined;
  onDemandFeature(name: string): ResolvedOnDemandFeature | undefined;
  source(name: string): ResolvedSource | undefined;
  /** The first source reading `topic`; see sourcesByTopic when a topic feeds several. */
  sourceByTopic(topic: string): ResolvedSource | undefined;
  /** Every source reading `topic`, in registry order. */
  sourcesByTopic(topic: string): readonly ResolvedSource[];
  entity(name: string): ResolvedEntity | undefined;
  groupsOf(entity: string): ResolvedGroup[];
  featuresOf(entity: string): ResolvedFeature[];
}

export const DEFAULT_GROUP = 'features';

class ResolvedRegistry implements Registry {
  private readonly byFeature: Map<string, ResolvedFeature>;
  private readonly byOnDemand: Map<string, ResolvedOnDemandFeature>;
  private readonly bySource: Map<string, ResolvedSource>;
  private readonly byTopic = new Map<string, ResolvedSource[]>();

  constructor(
    readonly entities: readonly ResolvedEntity[],
    readonly sources: readonly ResolvedSource[],
    readonly features: readonly ResolvedFeature[],
    readonly onDemand: readonly ResolvedOnDemandFeature[],
    readonly groups: readonly ResolvedGroup[],
    readonly layout: VectorLayout,
  ) {
    this.byFeature = new Map(features.map((f) => [f.name, f]));
    this.byOnDemand = new Map(onDemand.map((f) => [f.name, f]));
    this.bySource = new Map(sources.map((s) => [s.name, s]));
    for (const s of sources) this.byTopic.set(s.topic, [...(this.byTopic.get(s.topic) ?? []), s]);
  }

  feature(name: string) {
    return this.byFeature.get(name);
  }
  onDemandFeature(name: string) {
    return this.byOnDemand.get(name);
  }
  source(name: string) {
    return this.bySource.get(name);
  }
  sourceByTopic(topic: string) {
    return this.byTopic.get(topic)?.[0];
  }
  sourcesByTopic(topic: string): readonly ResolvedSource[] {
    return this.byTopic.get(topic) ?? [];
  }
  entity(name: string) {
    return this.entities.find((e) => e.name === name);
  }
  groupsOf(entity: string) {
    return this.groups.filter((g) => g.entity === entity);
  }
  featuresOf(entity: string) {
    return this.features.filter((f) => f.entity === entity);
  }
}

function ms(d: Duration): number {
  return parseDuration(d)!;
}

function resolveDefault(type: FeatureType, d: ParsedRegistryInput['features'][number]['default']): FeatureValue {
  if (type === 'vector') return d === null ? null : Float32Array.from(d as number[]);
  if (Array.isArray(d)) return [...(d as string[])];
  return d as FeatureValue;
}

function resolve(r: ParsedRegistryInput): Registry {
  const sources: ResolvedSource[] = r.sources.map((s) => ({
    name: s.name,
    topic: s.topic ?? s.name,
    entity: s.entity,
    // A single key given as keyFields: ["user_id"] is the same as keyField: "user_id".
    ...(s.keyField !== undefined ? { keyField: s.keyField } : s.keyFields?.length === 1 ? { keyField: s.keyFields[0]! } : {}),
    keyFields: s.keyFields ? [...s.keyFields] : [s.keyField!],
    timeField: s.timeField,
    idField: s.idField ?? 'event_id',
    schema:
      s.schema instanceof z.ZodType
        ? s.schema
        : typeof s.schema === 'string'
          ? BUILTIN_SCHEMAS[s.schema as keyof typeof BUILTIN_SCHEMAS]
          : objectSchema(s.schema as Record<string, never>),
    ...(s.maxMessageBytes === undefined ? {} : { maxMessageBytes: s.maxMessageBytes }),
  }));
  const entityOfSource = new Map(sources.map((s) => [s.name, s.entity]));
  const groupInput =
    r.groups ??
    r.entities.map((e) => ({
      name: DEFAULT_GROUP,
      features: r.features.filter((f) => entityOfSource.get(f.source) === e.name).map((f) => f.name),
    }));
  const groupOf = new Map(groupInput.flatMap((g) => g.features.map((f) => [f, g.name] as const)));
  const features: ResolvedFeature[] = r.features.map((f) => {
    const windowMs = f.window === undefined || f.window === LIFETIME ? undefined : ms(f.window);
    const freshnessMs = f.freshness === undefined ? windowMs! : ms(f.freshness);
    const out: ResolvedFeature = {
      name: f.name,
      entity: entityOfSource.get(f.source)!,
      source: f.source,
      op: f.op,
      type: f.type,
      default: resolveDefault(f.type, f.default),
      freshnessMs,
      ttlMs: 2 * freshnessMs,
      group: groupOf.get(f.name)!,
    };
    if (f.field !== undefined) out.field = f.field;
    if (f.window === LIFETIME || f.op === 'first' || f.op === 'first_k') out.lifetime = true;
    if (windowMs !== undefined) {
      out.windowMs = windowMs;
      out.tileMs = f.tile === undefined ? defaultTileMs(windowMs)! : ms(f.tile);
    }
    if (f.k !== undefined) out.k = f.k;
    if (f.dim !== undefined) out.dim = f.dim;
    if (f.q !== undefined) out.q = f.q;
    if (f.where !== undefined) {
      // checkWhere validated the predicates.
      const where = f.where as WhereInput;
      out.where = where;
      out.filter = compileWhere(f.name, where);
      // A function is opaque: its feature shares state with no other.
      out.filterKey = typeof where === 'function' ? `fn:${f.name}` : JSON.stringify(where);
    }
    return out;
  });
  const byName = new Map(features.map((f) => [f.name, f]));
  const groups: ResolvedGroup[] = groupInput
    .filter((g) => g.features.length > 0)
    .map((g) => {
      const members = g.features.map((n) => byName.get(n)!);
      return {
        name: g.name,
        entity: members[0]!.entity,
        features: [...g.features],
        keyTtlMs: Math.max(...members.map((m) => m.ttlMs)),
      };
    });
  const onDemand: ResolvedOnDemandFeature[] = (r.onDemand ?? []).map((o) => {
    const kind = o.compute ? 'compute' : o.kind!;
    const intKind = kind === 'time_since' || kind === 'hour_of_day' || kind === 'day_of_week' || kind === 'is_weekend';
    const out: ResolvedOnDemandFeature = {
      name: o.name,
      entity: o.entity,
      kind,
      inputUnit: o.inputUnit ?? 'ms',
      unit: o.unit ?? 's',
      type: o.type ?? (intKind ? 'int' : 'float'),
      default: o.default,
    };
    for (const k of ['input', 'numerator', 'denominator', 'left', 'right', 'contextField', 'mean', 'stddev'] as const) {
      if (o[k] !== undefined) out[k] = o[k];
    }
    if (o.compute) out.compute = o.compute as ResolvedOnDemandFeature['compute'];
    return out;
  });
  return new ResolvedRegistry(
    r.entities.map((e) => (e.keys ? { name: e.name, keys: [...e.keys] } : { name: e.name })),
    sources,
    features,
    onDemand,
    groups,
    r.layout ?? 'packed',
  );
}

/** Validates and resolves a registry; throws RegistryError naming every offending path. */
export function parseRegistry(input: unknown): Registry {
  const parsed = registryInputSchema.safeParse(input);
  if (!parsed.success) {
    const issues = parsed.error.issues.map((i) => ({ path: formatPath(i.path), message: i.message }));
    throw new RegistryError(`invalid feature registry: ${issues.map((i) => `${i.path}: ${i.message}`).join('; ')}`, {
      details: { issues },
    });
  }
  return resolve(parsed.data);
}

/** A `.json` file, or a TS/JS module whose default export is the registry; no path: the default registry. */
export async function loadRegistryFile(path?: string): Promise<Registry> {
  if (path === undefined) {
    return parseRegistry(defaultRegistryConfig);
  }
  const abs = resolvePath(path);
  let input: unknown;
  try {
    input =
      extname(abs) === '.json'
        ? JSON.parse(await readFile(abs, 'utf8'))
        : ((await import(pathToFileURL(abs).href)) as { default?: unknown }).default;
  } catch (e) {
    throw new RegistryError(`cannot load registry ${path}: ${(e as Error).message}`, { cause: e });
  }
  try {
    return parseRegistry(input);
  } catch (e) {
    if (e instanceof RegistryError) throw new RegistryError(`${path}: ${e.message}`, { cause: e, details: e.details });
    throw e;
  }
}
