/**
 * Vector keys as tests inspect them, whichever their layout (see
 * src/stores/vector-layout.ts): decoded values and `_version`.
 */
import type { FeatureValue, Registry } from '../../src/schemas/registry.ts';
import type { RedisClient } from '../../src/stores/redis.ts';
import { readVectorKey } from '../../src/stores/stored-vector.ts';
import { GroupCodec, type StoredGroup } from '../../src/stores/vector-layout.ts';

/** The key `key` of group `group`, decoded; undefined when absent. */
export async function readGroup(redis: RedisClient, registry: Registry, key: string, group = 'features'): Promise<StoredGroup | undefined> {
  const g = registry.groups.find((x) => x.name === group);
  if (!g) throw new Error(`no group ${group} in the registry`);
  return new GroupCodec(g.features.map((n) => registry.feature(n)!)).decode(await readVectorKey(redis, key));
}

/** One feature's stored value in the key `key` (undefined when absent or lapsed). */
export async function storedValue(redis: RedisClient, registry: Registry, key: string, feature: string): Promise<FeatureValue | undefined> {
  return (await readGroup(redis, registry, key, registry.feature(feature)!.group))?.values[feature];
}
