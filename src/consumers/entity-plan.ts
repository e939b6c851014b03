/**
 * Planning one entity's write (the engine half of a materializer run): applies
 * the events past the entity's offset fence to its state, evaluates it, and
 * builds the script write (vector-writes.ts sends only changed fields). In
 * write-behind mode the write carries vectors only and the state stays in
 * memory, dirty (checkpoints.ts).
 */
import { InvalidEventError } from '../errors.ts';
import type { Keys } from '../stores/keys.ts';
import type { EntityWrite } from '../stores/materialize-script.ts';
import { workerMetrics } from '../metrics.ts';
import type { DeadLetter } from './dead-letter.ts';
import type { EntityLayout } from './entity-layout.ts';
import type { EntityWork, MaterializerOptions } from './materializer.ts';
import type { CachedState, EngineState, StateCache } from './state-cache.ts';
import type { Loaded } from './state-load.ts';
import { planGroup, stateTtlDue } from './vector-writes.ts';

export interface Plan {
  work: EntityWork;
  /** The cache entry once the write succeeded (its version then the written one): applied offsets, state, what the vector hashes hold. */
  entry: CachedState;
  write: EntityWrite;
  next: number | undefined;
  appliedTimes: number[];
  outcomes: Map<string, number>;
}

export interface PlanDeps {
  options: Pick<MaterializerOptions, 'engine' | 'registry' | 'coPartitioned'> & { keys: Keys };
  layout: EntityLayout;
  cache: StateCache | undefined;
}

/** What planning needs of the run. */
export interface PlanRun {
  nowMs: number;
  version: number;
  /** Another writer may write the entities (Materializer `sharedVersion`): compare `_version` whatever the sources. */
  shared?: boolean;
  /** Write-behind (vectors only, the state stays dirty in memory); off on a shared version even when configured. */
  behind?: boolean;
}

/** undefined = nothing to write; 'reload' = the cached state fenced events: replanned from Redis next round. */
export function planEntity(d: PlanDeps, work: EntityWork, loaded: Loaded, run: PlanRun, dead: DeadLetter[]): Plan | 'reload' | undefined {
  const { engine } = d.options;
  const { nowMs, version } = run;
  const writeBehind = run.behind === true;
  const { stored } = loaded;
  const fenceField = work.topic === undefined ? undefined : d.layout.offsetField(work.topic, work.partition);
  const fence = fenceField === undefined ? -1 : (stored.offsets.get(fenceField) ?? -1);
  const fresh = work.events.filter((e) => e.offset > fence);
  // Only Redis may fence events: a cached state can be newer than Redis after a data loss (a batch
  // retried across a restart from a cut-back AOF), and skipping events on its word writes nothing,
  // so no version CAS would ever refuse it. The entry is already taken out; next round loads Redis.
  // Write-behind: memory is authoritative (Redis holds an older checkpoint; a data loss clears memory).
  if (loaded.state && fresh.length < work.events.length && !writeBehind) return 'reload';
  if (work.topic !== undefined && fresh.length < work.events.length) {
    workerMetrics.eventsApplied.inc({ topic: work.topic, outcome: 'fenced' }, work.events.length - fresh.length);
  }
  if (fresh.length === 0 && !work.rematerialize && !loaded.entry?.unwritten) {
    if (loaded.entry) d.cache?.put(loaded.key, loaded.entry);
    return undefined;
  }

  const state: EngineState = loaded.state ?? (stored.bytes ? engine.deserialize(stored.bytes) : engine.newState(work.ref.entityType));
  const appliedTimes: number[] = [];
  const outcomes = new Map<string, number>();
  const refused = dead.length;
  const results = engine.applyMany(
    state,
    fresh.map((e) => e.event),
    nowMs,
  );
  results.forEach((result, i) => {
    const e = fresh[i]!;
    if (result instanceof InvalidEventError) {
      dead.push({ topic: work.topic!, partition: work.partition, message: e.message, error: result });
      return;
    }
    outcomes.set(result, (outcomes.get(result) ?? 0) + 1);
    if (result === 'applied') appliedTimes.push(e.event.eventTimeMs);
  });
  // An entity without state whose events all expired (or were duplicates) would get empty
  // hashes with long TTLs: nothing is written, and a replay finds the same events expired.
  if (stored.version === 0 && !loaded.state && !loaded.replace && !work.rematerialize && appliedTimes.length === 0 && dead.length === refused) {
    if (work.topic !== undefined) for (const [outcome, n] of outcomes) workerMetrics.eventsApplied.inc({ topic: work.topic, outcome }, n);
    return undefined;
  }
  engine.evict(state, nowMs);
  const evaluation = engine.evaluate(state, nowMs);
  const entity = d.layout.entity(work.ref.entityType);

  const last = fresh.at(-1);
  const moved: Array<[string, number]> = fenceField !== undefined && last !== undefined ? [[fenceField, last.offset]] : [];
  const applied = new Map(stored.offsets);
  for (const [field, offset] of moved) applied.set(field, offset);
  const dirty = writeBehind ? { ref: work.ref, keyspaceVersion: version } : undefined;
  const entry: CachedState = { partition: work.partition, version: stored.version, offsets: applied, state, written: loaded.written, ...(dirty ? { dirty } : {}) };
  const packed = d.options.registry.layout === 'packed';
  const groups = entity.groups.map((group, g) => {
    const values = evaluation.groups[group.name] ?? {};
    const key = d.options.keys.vector(work.ref, group.name, version);
    const value = packed ? { kind: 'packed' as const, packed: group.codec.packed(values) } : { kind: 'fields' as const, ...group.codec.fields(values) };
    return planGroup(key, group.keyTtlMs, value, loaded.written?.groups[g], nowMs);
  });
  // Write-behind writes the state only to replace a corrupt hash (whose DEL takes the state too).
  const withState = !writeBehind || loaded.replace === true;
  const refreshStateTtl = withState && stateTtlDue(loaded.written, entity.stateTtlMs, nowMs);
  const write: EntityWrite = {
    stateKey: loaded.key,
    knownVersion: stored.version,
    compare: d.options.coPartitioned !== true || run.shared === true,
    ...(loaded.replace ? { replaceCorrupt: true } : {}),
    stateTtlMs: entity.stateTtlMs,
    refreshStateTtl,
    state: withState ? engine.serialize(state) : undefined,
    offsets: !withState ? [] : writeBehind ? [...applied] : moved,
    vectors: groups.map((p) => p.write),
  };
  entry.written = { stateTtlAtMs: refreshStateTtl ? nowMs : (loaded.written?.stateTtlAtMs ?? Number.NEGATIVE_INFINITY), groups: groups.map((p) => p.written) };
  return { work, entry, write, next: engine.nextChangeAt(state, nowMs), appliedTimes, outcomes };
}
