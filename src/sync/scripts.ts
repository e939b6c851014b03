/**
 * Loads the sync's Lua scripts (./lua, `<name>-n.lua`: callers pass the key
 * count first) with defineCommand, so calls go out as EVALSHA with EVAL as the
 * NOSCRIPT fallback — which matters here: rewarm runs right after Redis lost
 * everything, scripts included. The worker's loader (stores/scripts.ts) only
 * knows its own directory and names, hence this small twin.
 */
import { readFileSync } from 'node:fs';
import type { ChainableCommander } from 'ioredis';
import type { RedisClient } from '../stores/redis.ts';
import { definedCommand } from '../stores/scripts.ts';

/** Bumped when a script's contract changes, so two releases sharing one Redis never run each other's script under one name. */
const SCRIPT_VERSION = 2;

const FILES = { syncRead: 'sync-read-n.lua', rewarm: 'rewarm-n.lua' } as const;
export type SyncScript = keyof typeof FILES;

const sources = Object.fromEntries(
  Object.entries(FILES).map(([name, file]) => [name, readFileSync(new URL(`./lua/${file}`, import.meta.url), 'utf8')]),
) as Record<SyncScript, string>;

function commandName(name: SyncScript): string {
  return `fs_${name}_v${SCRIPT_VERSION}`;
}

const loaded = new WeakSet<object>();

export function loadSyncScripts(client: RedisClient): void {
  if (loaded.has(client)) return;
  for (const name of Object.keys(FILES) as SyncScript[]) client.defineCommand(commandName(name), { lua: sources[name] });
  loaded.add(client);
}

/**
 * Queues a script call on a pipeline. `buffers` asks for Buffer replies (the
 * `...Buffer` twin ioredis defines), needed where replies hold binary state.
 */
export function queueSyncScript(
  pipeline: ChainableCommander,
  name: SyncScript,
  keys: string[],
  args: Array<string | Buffer | number>,
  buffers = false,
): void {
  const method = `${commandName(name)}${buffers ? 'Buffer' : ''}`;
  const fn = definedCommand(pipeline, method);
  if (!fn) throw new Error(`Lua script ${name} is not loaded: call loadSyncScripts(client) first`);
  fn.call(pipeline, keys.length, ...keys, ...args);
}
