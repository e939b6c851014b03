/**
 * Changed-fields writes without services: what planGroup sends for each case
 * (nothing known, TTL within / past the slack, per-field diffs), and what the
 * Materializer sends on a cached entity's second write (decoded from the
 * script argument a fake pipeline recorded).
 */
import { describe, expect, it } from 'vitest';
import { WindowEngine } from '../../../src/aggregations/engine.ts';
import { Materializer, type EntityWork } from '../../../src/consumers/materializer.ts';
import { planGroup, slackMs, stateTtlDue, type WrittenGroup } from '../../../src/consumers/vector-writes.ts';
import { createLogger } from '../../../src/logger.ts';
import { parseRegistry } from '../../../src/schemas/registry.ts';
import { Keys } from '../../../src/stores/keys.ts';
import { registryInput } from '../../helpers/worker-fixtures.ts';
import { fakeRedis, type FakeCommand } from './fake-redis.ts';
import { unpack, type Unpacked } from './unpack.ts';

const TTL = 160_000; // slack 10 s
const NOW = 1_000_000;
const blob = (b: number) => Buffer.from([1, 0, 0, b]);

describe('planGroup, packed layout', () => {
  it('writes the value, its TTL along (one SET with PX), whatever is known', () => {
    for (const last of [undefined, { ttlAtMs: NOW - 1_000 }, { ttlAtMs: NOW - TTL / 2 }, { ttlAtMs: NOW + 1 }]) {
      const p = planGroup('k', TTL, { kind: 'packed', packed: blob(7) }, last, NOW);
      expect(p.write).toEqual({ key: 'k', ttlMs: TTL, kind: 'packed', packed: blob(7) });
      expect(p.written).toEqual({ ttlAtMs: NOW });
    }
  });
});

describe('planGroup, per-field layout', () => {
  const before: WrittenGroup = { fields: new Map<string, string | Buffer>([['a', '1'], ['b', Buffer.from('x')], ['c', '3']]), ttlAtMs: NOW - 1 };

  it('sends only changed fields, and deletes only fields the hash holds', () => {
    const p = planGroup('k', TTL, { kind: 'fields', set: [['a', '1'], ['b', Buffer.from('y')], ['d', '4']], del: ['c', 'e'] }, before, NOW);
    expect(p.write).toEqual({ key: 'k', ttlMs: TTL, refreshTtl: false, kind: 'fields', set: [['b', Buffer.from('y')], ['d', '4']], del: ['c'] });
    expect([...p.written.fields!]).toEqual([['a', '1'], ['b', Buffer.from('y')], ['d', '4']]);
    expect(p.changed).toBe(true);
  });

  it('sends only the stamp for an unchanged hash, and every field when nothing is known or the hash may have expired', () => {
    const same = { kind: 'fields' as const, set: [['a', '1'], ['b', Buffer.from('x')], ['c', '3']] as Array<[string, string | Buffer]>, del: ['e'] };
    const unchanged = planGroup('k', TTL, same, before, NOW);
    expect(unchanged.write).toEqual({ key: 'k', ttlMs: TTL, refreshTtl: false, kind: 'fields', set: [], del: [] });
    expect(unchanged.changed).toBe(false);
    expect(planGroup('k', TTL, same, undefined, NOW).write).toEqual({ key: 'k', ttlMs: TTL, refreshTtl: true, ...same });
    expect(planGroup('k', TTL, same, { ...before, ttlAtMs: NOW - TTL / 2 }, NOW).write).toEqual({ key: 'k', ttlMs: TTL, refreshTtl: true, ...same });
  });
});

describe('stateTtlDue', () => {
  it('is due when nothing is known, past the slack, or when the clock went back', () => {
    expect(stateTtlDue(undefined, TTL, NOW)).toBe(true);
    expect(stateTtlDue({ stateTtlAtMs: NOW - 1, groups: [] }, TTL, NOW)).toBe(false);
    expect(stateTtlDue({ stateTtlAtMs: NOW - slackMs(TTL), groups: [] }, TTL, NOW)).toBe(true);
    expect(stateTtlDue({ stateTtlAtMs: NOW + 1, groups: [] }, TTL, NOW)).toBe(true);
  });
});

describe('Materializer changed-fields writes', () => {
  const registry = parseRegistry(registryInput({ tx: 'vw-tx', logins: 'vw-logins' }));
  const keys = new Keys({ prefix: 't:' });
  const now = Date.now();
  const SCRIPT = 'fs_materialize_v7';
  let offset = 0;
  const work = (topic: string, events: number, ageMs = 1_000): EntityWork => ({
    ref: { entityType: 'user', entityId: 'u1' },
    partition: 0,
    topic,
    events: Array.from({ length: events }, () => {
      const o = offset++;
      const fields = topic === 'vw-tx' ? { user_id: 'u1', amount: 1, merchant_id: 'm', ts: now - ageMs } : { user_id: 'u1', ts: now - ageMs };
      return { offset: o, message: { offset: String(o) } as never, event: { source: topic === 'vw-tx' ? 'tx' : 'logins', entityId: 'u1', eventTimeMs: now - ageMs, fields } };
    }),
  });
  const setup = () => {
    let version = 10;
    const { client, sent } = fakeRedis((c: FakeCommand) => {
      if (c.name === 'hgetallBuffer') return [null, {}];
      if (c.name === SCRIPT) return [null, [1, 1, ++version]];
      return [null, 1];
    });
    const materializer = new Materializer({ redis: client, keys, registry, engine: new WindowEngine(registry), keyspaceVersion: 1, logger: createLogger({ level: 'silent' }), stateCacheSize: 10 });
    // The entity block of each script call (after write time, epoch, fence TTL): [vectors, known version, state TTL, refresh state TTL, state, offsets, CAS, groups].
    const blocks = () => sent.flat().filter((c) => c.name === SCRIPT).map((c) => (unpack(c.args.at(-1) as Buffer) as Unpacked[])[3] as Unpacked[]);
    return { materializer, blocks };
  };

  it('sets the state TTL once, then writes without it while the entity stays cached; a packed vector is a SET with its TTL every time', async () => {
    const { materializer, blocks } = setup();
    const hooks = { deadLetter: async () => undefined };
    await materializer.run([work('vw-tx', 2)], now, hooks);
    await materializer.run([work('vw-tx', 1)], now + 10, hooks);
    const [first, second] = blocks();
    expect(first![3]).toBe('1');
    expect((first![7] as Unpacked[][]).map((g) => g.slice(1, 3))).toEqual([['1', 'p']]);
    expect(second![1]).toBe('11');
    expect(second![3]).toBe('0');
    expect((second![7] as Unpacked[][]).map((g) => g.slice(1, 3))).toEqual([['1', 'p']]);
  });

  it('writes nothing for a new entity whose events all expired', async () => {
    const { materializer, blocks } = setup();
    await materializer.run([work('vw-tx', 3, 40 * 24 * 3_600_000)], now, { deadLetter: async () => undefined });
    expect(blocks()).toEqual([]);
  });
});
