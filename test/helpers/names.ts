import { randomBytes } from 'node:crypto';

/** A name unique to one test run, e.g. `fs-test-3f9a1c2b`; safe for topics, groups, key prefixes and tables. */
export function randomName(prefix = 'fs-test'): string {
  return `${prefix}-${randomBytes(4).toString('hex')}`;
}
