/**
 * Turns a stored vector into the features object handed to callers: the
 * stored values in registry order, then the on-demand features at the request
 * time and with the request context. Lists are frozen and shared;
 * Float32Arrays cannot be frozen, so every answer gets its own copy.
 */
import { computeOnDemand } from '../aggregations/on-demand.ts';
import type { FeatureValue, Registry, RequestContext } from '../schemas/registry.ts';
import type { StoredVector } from './decode.ts';
import type { EntityPlan } from './plan.ts';
import type { ServedValue } from './types.ts';

/** Called with the name of an on-demand feature whose compute function threw or returned a non-finite number. */
export type OnDemandError = (feature: string) => void;

export function assembleFeatures(
  registry: Registry,
  plan: EntityPlan,
  stored: StoredVector,
  requestTimeMs: number,
  context?: RequestContext,
  onError?: OnDemandError,
): Record<string, ServedValue> {
  // Filled key by key in registry order, so every vector shares one hidden class. (Spreading
  // and then adding the on-demand keys drops V8 into dictionary mode: ~15 us a vector.)
  const features: Record<string, ServedValue> = {};
  const names = plan.featureNames;
  for (let i = 0; i < names.length; i++) features[names[i]!] = stored.values[i] as ServedValue;
  for (const i of plan.vectorSlots) {
    const value = stored.values[i];
    if (value instanceof Float32Array) features[names[i]!] = value.slice();
  }
  if (plan.onDemand.length > 0) {
    // On-demand inputs are numbers; the lists it is handed are only read.
    // computeOnDemand evaluates every on-demand feature of the entity; only the plan's are served
    // (a feature subset lacks the others' inputs), so only theirs count as errors.
    const computed = computeOnDemand(registry, plan.entity, features as Record<string, FeatureValue>, requestTimeMs, {
      context,
      onError: onError && ((name) => plan.onDemand.some((f) => f.name === name) && onError(name)),
    });
    for (const f of plan.onDemand) features[f.name] = computed[f.name] as FeatureValue;
  }
  return features;
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
