import { describe, expect, it } from 'vitest';
import { Keys, slotTag } from '../../src/stores/keys.ts';
import { keySlot } from '../../src/stores/slot.ts';

const u = { entityType: 'user', entityId: 'u12345' };

describe('Keys', () => {
  it('builds the seed layout for version 1 without prefix', () => {
    const k = new Keys();
    expect(k.vector(u, 'features')).toBe('user:u12345:features');
    expect(k.state(u)).toBe('user:u12345:state');
    expect(k.dynamoPk(u)).toBe('user#u12345');
  });

  it('adds prefix, version and Cluster hash tags', () => {
    const k = new Keys({ prefix: 't1:', hashTags: true });
    expect(k.vector(u, 'features', 2)).toBe('t1:v2:user:{u12345}:features');
    expect(k.state(u, 2)).toBe('t1:v2:user:{u12345}:state');
    expect(k.timers(3, 2)).toBe('t1:v2:fs:timers:3');
    expect(k.activeVersion()).toBe('t1:fs:active_version');
    expect(k.dynamoPk(u, 2)).toBe('t1:v2#user#u12345');
  });

  it('parses the DynamoDB key it builds and refuses other versions', () => {
    const k = new Keys({ prefix: 'p:' });
    expect(k.parseDynamoPk(k.dynamoPk(u, 3), 3)).toEqual(u);
    expect(k.parseDynamoPk(k.dynamoPk(u, 3), 1)).toBeUndefined();
  });
});

describe('Keys.parseVector', () => {
  it('recovers the entity from a vector key, with and without hash tags', () => {
    for (const k of [new Keys({ prefix: 'p:' }), new Keys({ hashTags: true })]) {
      expect(k.parseVector(k.vector(u, 'features', 2), 'user', 'features', 2)).toEqual(u);
      expect(k.parseVector(k.state(u, 2), 'user', 'features', 2)).toBeUndefined();
    }
  });

  it('puts each partition fence in the slot it names, for every slot', () => {
    const k = new Keys({ prefix: 'p:' });
    const wrong: number[] = [];
    for (let slot = 0; slot < 16_384; slot++) if (keySlot(k.partitionFence(3, slot, 2)) !== slot) wrong.push(slot);
    expect(wrong).toEqual([]);
    expect(new Set(Array.from({ length: 16_384 }, (_, s) => slotTag(s))).size).toBe(16_384);
  });
});

describe('Keys.vectorAround', () => {
  it('gives the same key as vector for any id, prefix, hash tags and version', () => {
    for (const k of [new Keys(), new Keys({ prefix: 'p*x:' }), new Keys({ prefix: 't:', hashTags: true })]) {
      for (const version of [1, 3]) {
        const [head, tail] = k.vectorAround('user', 'features', version);
        for (const entityId of ['u1', 'a*b', 'x:y', '']) expect(head + entityId + tail).toBe(k.vector({ entityType: 'user', entityId }, 'features', version));
      }
    }
  });
});
