import { describe, expect, it } from 'vitest';
import { assignCoPartitioned } from '../../../src/consumers/assigner.ts';

describe('assignCoPartitioned', () => {
  it('gives partition p of every topic to the same member', () => {
    const result = assignCoPartitioned(['b', 'a', 'c'], { tx: [0, 1, 2, 3], logins: [0, 1, 2, 3] });
    expect(result.get('a')).toEqual({ tx: [0, 3], logins: [0, 3] });
    expect(result.get('b')).toEqual({ tx: [1], logins: [1] });
    expect(result.get('c')).toEqual({ tx: [2], logins: [2] });
  });

  it('still assigns every partition when topics differ in partition count', () => {
    const result = assignCoPartitioned(['m1', 'm2'], { a: [0, 1, 2], b: [0] });
    const all = [...result.values()].flatMap((r) => Object.entries(r).flatMap(([t, ps]) => ps.map((p) => `${t}:${p}`)));
    expect(all.sort()).toEqual(['a:0', 'a:1', 'a:2', 'b:0']);
  });

  it('assigns nothing without members', () => {
    expect(assignCoPartitioned([], { a: [0] }).size).toBe(0);
  });
});
