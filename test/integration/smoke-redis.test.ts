import { describe, expect, it } from 'vitest';
import { testRedis } from '../helpers/services.ts';
import { randomName } from '../helpers/names.ts';

describe('Redis smoke (real server)', () => {
  it('runs HSET + EXPIRE in one pipeline and a Lua script atomically', async () => {
    const prefix = `${randomName()}:`;
    const redis = await testRedis(prefix);
    const key = `${prefix}user:u1:features`;

    const results = await redis.pipeline().hset(key, { tx_count_1h: '14', tx_sum_1h: '892.5' }).expire(key, 7200).exec();
    expect(results?.map(([err]) => err)).toEqual([null, null]);
    expect(await redis.hgetall(key)).toEqual({ tx_count_1h: '14', tx_sum_1h: '892.5' });
    const ttl = await redis.ttl(key);
    expect(ttl).toBeGreaterThan(7000);
    expect(ttl).toBeLessThanOrEqual(7200);

    // Compare-and-set on a version field: the shape every fenced write uses.
    const cas = `if tonumber(redis.call('HGET', KEYS[1], '_version') or '0') ~= tonumber(ARGV[1]) then return 0 end
      redis.call('HSET', KEYS[1], '_version', ARGV[2]) return 1`;
    expect(await redis.eval(cas, 1, key, '0', '1')).toBe(1);
    expect(await redis.eval(cas, 1, key, '0', '2')).toBe(0);
    expect(await redis.hget(key, '_version')).toBe('1');
  });
});
