/**
 * Feature filters (`where`): predicates on an event's decoded fields, ANDed,
 * compiled once into one function. A comparison with an absent field is
 * false (like SQL's NULL), except `exists: false`. Booleans are 0/1 once
 * decoded, so `eq: true` matches 1.
 */
import { InvalidEventError } from '../errors.ts';
import type { EventFields, PredicateInput, PredicateValue, WhereInput } from './registry-input.ts';

export type EventFilter = (fields: EventFields) => boolean;

const norm = (v: PredicateValue): string | number => (v === true ? 1 : v === false ? 0 : v);

function compileOne(p: PredicateInput): EventFilter[] {
  const f = p.field;
  const tests: EventFilter[] = [];
  const has = (x: unknown) => x !== undefined && x !== null;
  if (p.exists !== undefined) {
    const want = p.exists;
    tests.push((e) => has(e[f]) === want);
  }
  if (p.eq !== undefined) {
    const v = norm(p.eq);
    tests.push((e) => e[f] === v);
  }
  if (p.ne !== undefined) {
    const v = norm(p.ne);
    tests.push((e) => has(e[f]) && e[f] !== v);
  }
  if (p.in !== undefined) {
    const set = new Set(p.in.map(norm));
    tests.push((e) => set.has(e[f] as string | number));
  }
  const num = (test: (x: number) => boolean): EventFilter => (e) => {
    const x = e[f];
    return typeof x === 'number' && test(x);
  };
  if (p.gt !== undefined) {
    const v = p.gt;
    tests.push(num((x) => x > v));
  }
  if (p.gte !== undefined) {
    const v = p.gte;
    tests.push(num((x) => x >= v));
  }
  if (p.lt !== undefined) {
    const v = p.lt;
    tests.push(num((x) => x < v));
  }
  if (p.lte !== undefined) {
    const v = p.lte;
    tests.push(num((x) => x <= v));
  }
  return tests;
}

/** One function for a `where`: predicates ANDed; a TS predicate that throws makes the event invalid (dead-lettered). */
export function compileWhere(feature: string, where: WhereInput): EventFilter {
  if (typeof where === 'function') {
    return (e) => {
      try {
        return where(e) === true;
      } catch (err) {
        throw new InvalidEventError('EVENT_INVALID', `the where function of feature ${feature} threw: ${(err as Error).message}`, { cause: err });
      }
    };
  }
  const tests = where.flatMap(compileOne);
  if (tests.length === 1) return tests[0]!;
  return (e) => {
    for (const t of tests) if (!t(e)) return false;
    return true;
  };
}
