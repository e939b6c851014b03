/**
 * KeyspaceVersions' cached view across a Redis data loss: a view read while
 * Redis was empty says version 1 (no pointer). After the recovery restores the
 * pointer, `forget` must make the next decision read Redis again, and a read
 * that was in flight when it ran must not become the view. And the view says
 * which version a backfill writes (its live writers then compare versions and
 * write states through).
 */
import { setImmediate as tick } from 'node:timers/promises';
import { describe, expect, it } from 'vitest';
import { layoutFingerprint } from '../../../src/consumers/backfill/handover.ts';
import { KeyspaceVersions } from '../../../src/consumers/backfill/versions.ts';
import { defaultRegistryConfig } from '../../../src/schemas/default-registry.ts';
import { parseRegistry } from '../../../src/schemas/registry.ts';
import { Keys } from '../../../src/stores/keys.ts';
import type { RedisClient } from '../../../src/stores/redis.ts';

const keys = new Keys({ prefix: 'kv:' });
const registry = parseRegistry(defaultRegistryConfig);
/** Long enough that no view ages out during a test: only `forget` can drop it. */
const TTL_MS = 600_000;

/**
 * Strings and hashes in memory. While held, a GET of the pointer answers what Redis held when
 * it was sent, but only when released (newest first, to let an older read land last).
 */
function memoryRedis() {
  const strings = new Map<string, string>();
  const hashes = new Map<string, Map<string, string>>();
  let held: Array<() => void> | undefined;
  const client = {
    async get(key: string) {
      const value = strings.get(key) ?? null;
      if (held && key === keys.activeVersion()) await new Promise<void>((resolve) => held!.push(resolve));
      return value;
    },
    async hgetall(key: string) {
      return Object.fromEntries(hashes.get(key) ?? []);
    },
    async hsetnx(key: string, field: string, value: string) {
      const hash = hashes.get(key) ?? new Map<string, string>();
      hashes.set(key, hash);
      if (hash.has(field)) return 0;
      hash.set(field, value);
      return 1;
    },
  };
  return {
    client: client as RedisClient,
    /** Redis as a backfill to version 2 leaves it (and a recovery puts it back): pointer at 2, built for this registry. */
    switchedTo2() {
      hashes.set(keys.layouts(), new Map([['2', layoutFingerprint(registry)]]));
      strings.set(keys.activeVersion(), '2');
    },
    openHandover(version: number) {
      hashes.set(keys.handover(), new Map([['version', String(version)], ['from', String(version - 1)]]));
    },
    /** The backfill closes the handover, tails, and deletes its record once its last batch is written. */
    closeHandover() {
      hashes.set(keys.handover(), new Map([['closed', String(Date.now())]]));
    },
    backfillRecord(version: number | undefined) {
      if (version === undefined) strings.delete(keys.backfill());
      else strings.set(keys.backfill(), JSON.stringify({ version, from: version - 1 }));
    },
    lose() {
      strings.clear();
      hashes.clear();
    },
    hold: () => (held = []),
    releaseNewest: () => held?.pop()?.(),
  };
}

describe('KeyspaceVersions across a Redis data loss', () => {
  it('decides from Redis again after forget, even within the view TTL', async () => {
    const redis = memoryRedis();
    redis.switchedTo2();
    const versions = new KeyspaceVersions(redis.client, keys, registry, TTL_MS);
    expect(await versions.forBatch('t', 0, 10)).toBe(2);
    redis.lose();
    versions.forget();
    // A timer tick before the loss is seen: the view of an empty Redis.
    expect(await versions.forTimers()).toBe(1);
    redis.switchedTo2();
    // Kept, that view sends the replay into version 1.
    expect(await versions.forBatch('t', 0, 11)).toBe(1);
    versions.forget();
    expect(await versions.forBatch('t', 0, 12)).toBe(2);
  });

  it('does not keep a read that was in flight when forget ran', async () => {
    const redis = memoryRedis();
    const versions = new KeyspaceVersions(redis.client, keys, registry, TTL_MS);
    redis.hold();
    const stale = versions.forTimers();
    await tick();
    redis.switchedTo2();
    versions.forget();
    const fresh = versions.forBatch('t', 0, 0);
    await tick();
    redis.releaseNewest();
    expect(await fresh).toBe(2);
    redis.releaseNewest();
    expect(await stale).toBe(1);
    expect(await versions.forBatch('t', 0, 1)).toBe(2);
  });

  it('says a version is under handover while the view holds its handover or its backfill’s record (the backfill tails past the close)', async () => {
    const redis = memoryRedis();
    redis.switchedTo2();
    const versions = new KeyspaceVersions(redis.client, keys, registry, TTL_MS);
    const shared = async () => {
      versions.forget();
      await versions.forTimers();
      return [versions.underHandover(1), versions.underHandover(2)];
    };
    await versions.forBatch('t', 0, 0);
    expect(versions.underHandover(2)).toBe(false);
    redis.backfillRecord(2);
    redis.openHandover(2);
    expect(await shared()).toEqual([false, true]);
    redis.closeHandover();
    expect(await shared()).toEqual([false, true]);
    redis.backfillRecord(undefined);
    expect(await shared()).toEqual([false, false]);
  });
});
