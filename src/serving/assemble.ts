/**
 * Turns a stored vector into the features object handed to callers: the
 * stored values in registry order, then the on-demand features at the request
 * time and with the request context. Lists are frozen and shared;
 * Float32Arrays cannot be frozen, so every answer gets its own copy.
 */
import { computeOnDemand, type OnDemandOptions } from '../aggregations/on-demand.ts';
import type { FeatureValue, Registry, RequestContext } from '../schemas/registry.ts';
import type { StoredVector } from './decode.ts';
import type { EntityPlan } from './plan.ts';
import type { ServedValue } from './types.ts';

/** Called with the name of an on-demand feature whose compute function threw or returned a non-finite number. */
export type OnDemandError = (feature: string) => void;

type Features = Record<string, ServedValue>;

type Shape = (values: readonly ServedValue[], onDemand: Readonly<Record<string, FeatureValue>> | undefined) => Features;

interface PlanAssembly {
  /** Stored values only: the on-demand features' input. */
  stored: Shape;
  /** Stored values and the plan's on-demand features, in registry order. */
  served: Shape;
  /** Names of the plan's on-demand features: only theirs count as errors. */
  onDemandNames: ReadonlySet<string>;
  /** computeOnDemand's options without a context, for the last error callback seen (a reader passes the same one every time). */
  options: { onError: OnDemandError | undefined; computed: OnDemandOptions };
}

const assemblies = new WeakMap<EntityPlan, PlanAssembly>();

/**
 * Builds one plan's features object from the stored values and the computed
 * on-demand record as a single object literal, so every vector of the plan is
 * allocated at once with one hidden class (filling an object key by key costs
 * ~10x more). Generated from feature names the registry schema restricts to
 * `[a-z][a-z0-9_]*`, quoted again by JSON.stringify.
 */
function shapeOf(stored: readonly string[], onDemand: readonly string[]): Shape {
  const fields = [
    ...stored.map((name, i) => `${JSON.stringify(name)}: values[${i}]`),
    ...onDemand.map((name) => `${JSON.stringify(name)}: onDemand[${JSON.stringify(name)}]`),
  ];
  return new Function('values', 'onDemand', `"use strict"; return { ${fields.join(', ')} };`) as Shape;
}

function assemblyOf(plan: EntityPlan): PlanAssembly {
  let assembly = assemblies.get(plan);
  if (assembly === undefined) {
    const onDemand = plan.onDemand.map((f) => f.name);
    assembly = {
      stored: shapeOf(plan.featureNames, []),
      served: shapeOf(plan.featureNames, onDemand),
      onDemandNames: new Set(onDemand),
      options: { onError: undefined, computed: {} },
    };
    assemblies.set(plan, assembly);
  }
  return assembly;
}

/**
 * The frozen features of a stored vector, for plans whose features depend on
 * it alone (no on-demand features, no Float32Array to copy): a stored vector
 * served again (the cache, decode-memo.ts) gets the same object again, and
 * the server keeps its JSON bytes with it (server/response.ts).
 */
const sharedFeatures = new WeakMap<StoredVector, Features>();

/**
 * The on-demand input record of a stored vector, for plans without a
 * Float32Array (whose values are copied per answer): a stored vector served
 * again (the cache, decode-memo.ts) is handed to computeOnDemand as the same
 * frozen object instead of a new one per answer.
 */
const onDemandInputs = new WeakMap<StoredVector, Record<string, FeatureValue>>();

export function assembleFeatures(
  registry: Registry,
  plan: EntityPlan,
  stored: StoredVector,
  requestTimeMs: number,
  context?: RequestContext,
  onError?: OnDemandError,
): Features {
  if (plan.onDemand.length === 0 && plan.vectorSlots.length === 0) {
    let shared = sharedFeatures.get(stored);
    if (shared === undefined) sharedFeatures.set(stored, (shared = Object.freeze(assemblyOf(plan).served(stored.values, undefined))));
    return shared;
  }
  const assembly = assemblyOf(plan);
  const values = plan.vectorSlots.length === 0 ? stored.values : ownVectors(plan, stored.values);
  if (plan.onDemand.length === 0) return assembly.served(values, undefined);
  // On-demand inputs are numbers; the object it is handed is only read.
  // computeOnDemand evaluates every on-demand feature of the entity; only the plan's are served
  // (a feature subset lacks the others' inputs), so only theirs count as errors.
  let input = plan.vectorSlots.length === 0 ? onDemandInputs.get(stored) : undefined;
  if (input === undefined) {
    input = assembly.stored(values, undefined) as Record<string, FeatureValue>;
    if (plan.vectorSlots.length === 0) onDemandInputs.set(stored, Object.freeze(input));
  }
  const computed = computeOnDemand(
    registry,
    plan.entity,
    input,
    requestTimeMs,
    context === undefined ? optionsFor(assembly, onError) : { context, onError: onError && planErrors(assembly, onError) },
  );
  return assembly.served(values, computed);
}

function planErrors(assembly: PlanAssembly, onError: OnDemandError): OnDemandError {
  return (name) => assembly.onDemandNames.has(name) && onError(name);
}

/** The context-free options, built once per plan and callback instead of once per vector. */
function optionsFor(assembly: PlanAssembly, onError: OnDemandError | undefined): OnDemandOptions {
  const kept = assembly.options;
  if (kept.onError !== onError) assembly.options = { onError, computed: onError === undefined ? {} : { onError: planErrors(assembly, onError) } };
  return assembly.options.computed;
}

/** The stored values with each Float32Array replaced by a private copy. */
function ownVectors(plan: EntityPlan, values: readonly ServedValue[]): ServedValue[] {
  const own = values.slice();
  for (const i of plan.vectorSlots) {
    const value = own[i];
    if (value instanceof Float32Array) own[i] = value.slice();
  }
  return own;
}

/** A caller's own copy of shared (frozen) features whose Float32Arrays it may change. */
export function withOwnVectors(plan: EntityPlan, shared: Readonly<Record<string, ServedValue>>): Record<string, ServedValue> {
  const features = { ...shared };
  const names = plan.featureNames;
  for (const i of plan.vectorSlots) {
    const value = features[names[i]!];
    if (value instanceof Float32Array) features[names[i]!] = value.slice();
  }
  return features;
}
