/**
 * A throwaway Feast feature repo holding the same vectors as featurestream:
 * feature_store.yaml with the Redis online store at REDIS_URL, the entity, one
 * feature view per featurestream group (same view and feature names, so one
 * Feast-shaped request body means the same thing to both servers), and the
 * rows written through Feast's own write path. Feast's keys end with the
 * project name, unique per run; close() deletes them through Feast's teardown.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { FeatureValue, Registry } from '../../src/schemas/registry.ts';
import { FeastDriver } from './driver.ts';

export interface FeastRepo {
  dir: string;
  /** Feast's `view:feature` references, in registry order. */
  refs: string[];
  joinKey: string;
  driver: FeastDriver;
  close(): Promise<void>;
}

/** Feast's Redis connection string (`host:port,option=value`) for a redis:// URL. */
export function feastConnectionString(redisUrl: string): string {
  const url = new URL(redisUrl);
  const parts = [`${url.hostname}:${url.port || '6379'}`];
  const db = url.pathname.replace(/^\//, '');
  if (db) parts.push(`db=${db}`);
  if (url.username) parts.push(`username=${decodeURIComponent(url.username)}`);
  if (url.password) parts.push(`password=${decodeURIComponent(url.password)}`);
  if (url.protocol === 'rediss:') parts.push('ssl=true');
  return parts.join(',');
}

/** The join key Feast sees: the entity's key field as its sources name it (`user_id`). */
export function joinKeyOf(registry: Registry, entity: string): string {
  const key = registry.sources.find((s) => s.entity === entity)?.keyField;
  if (!key) throw new Error(`entity ${entity}: no single-key source to take a join key from`);
  return key;
}

export async function createFeastRepo(options: {
  python: string;
  redisUrl: string;
  registry: Registry;
  entity: string;
  /** entity id -> stored feature values, as featurestream serves them. */
  rows: ReadonlyMap<string, Readonly<Record<string, unknown>>>;
}): Promise<FeastRepo> {
  const { registry, entity } = options;
  const groups = registry.groupsOf(entity);
  if (groups.length !== 1) throw new Error(`entity ${entity}: the Feast repo maps one group to one view; found ${groups.length}`);
  const group = groups[0]!;
  const features = group.features.map((name) => ({ name, type: registry.feature(name)!.type }));
  const joinKey = joinKeyOf(registry, entity);
  const rows = [...options.rows].map(([id, values]) => {
    const row: Record<string, unknown> = { [joinKey]: id };
    for (const f of features) row[f.name] = plain(values[f.name] as FeatureValue);
    return row;
  });
  const dir = mkdtempSync(join(tmpdir(), 'fs-feast-repo-'));
  const driver = await FeastDriver.start(options.python);
  const close = async () => {
    try {
      // A failed teardown leaves keys that expire by themselves (key_ttl_seconds in driver.py).
      await driver.request('teardown').catch((err: unknown) => console.error(`feast teardown: ${(err as Error).message}`));
    } finally {
      await driver.close();
      rmSync(dir, { recursive: true, force: true });
    }
  };
  try {
    const project = `fsbench_${process.pid}_${Date.now()}`;
    const reply = await driver.request<{ refs: string[] }>('setup', {
      repo: dir,
      redis: feastConnectionString(options.redisUrl),
      project,
      entity,
      join_key: joinKey,
      view: group.name,
      features,
      rows,
    });
    return { dir, refs: reply.refs, joinKey, driver, close };
  } catch (err) {
    await close();
    throw err;
  }
}

function plain(value: FeatureValue): unknown {
  return value instanceof Float32Array ? Array.from(value) : value;
}
