/**
 * Loads the Lua scripts in ./lua into an ioredis client with defineCommand, so
 * calls go out as EVALSHA (falling back to EVAL on NOSCRIPT, e.g. after a Redis
 * restart), also inside pipelines. File names are `<name>-<NUMKEYS>.lua`; a
 * NUMKEYS of `n` means callers pass the key count first.
 */
import { readdirSync, readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import type { ChainableCommander } from 'ioredis';
import type { RedisClient } from './redis.ts';

const luaDir = fileURLToPath(new URL('./lua/', import.meta.url));

/** Bumped when a script's contract changes, so two releases sharing one Redis never run each other's script under one name. */
const SCRIPT_VERSION = 6;

type ScriptName = 'materialize' | 'timerReschedule' | 'readPacked' | 'partitionEpoch';

function commandName(name: ScriptName): string {
  return `fs_${name}_v${SCRIPT_VERSION}`;
}

function toCamel(file: string): string {
  return file.replace(/-([a-z])/g, (_, c: string) => c.toUpperCase());
}

const loaded = new WeakSet<object>();

export function loadScripts(client: RedisClient): void {
  if (loaded.has(client)) return;
  for (const file of readdirSync(luaDir)) {
    const match = /^(.+)-(\d+|n)\.lua$/.exec(file);
    if (!match) continue;
    const base = match[1]!;
    const keys = match[2]!;
    const lua = readFileSync(luaDir + file, 'utf8');
    client.defineCommand(commandName(toCamel(base) as ScriptName), keys === 'n' ? { lua } : { lua, numberOfKeys: Number(keys) });
  }
  loaded.add(client);
}

export type Callable = (...args: Array<string | Buffer | number>) => unknown;

/** A command defineCommand added to the client and its pipelines (ioredis' types cannot list those). */
export function definedCommand(pipeline: ChainableCommander, method: string): Callable | undefined {
  const fn: unknown = Reflect.get(pipeline, method);
  return typeof fn === 'function' ? (fn as Callable) : undefined;
}

/** Queues a script call on a pipeline; the reply arrives with the pipeline's exec(). */
export function queueScript(pipeline: ChainableCommander, name: ScriptName, keys: string[], args: Array<string | Buffer | number>): void {
  const fn = definedCommand(pipeline, commandName(name));
  if (!fn) throw new Error(`Lua script ${name} is not loaded: call loadScripts(client) first`);
  const lead = name === 'materialize' ? [keys.length] : [];
  fn.call(pipeline, ...lead, ...keys, ...args);
}

/**
 * Calls a script on the client itself (not a pipeline), replies as Buffers;
 * undefined when loadScripts has not run on this client. The client answers
 * NOSCRIPT (a flushed or restarted Redis) by sending the script's body.
 */
export function scriptCall(client: RedisClient, name: ScriptName): ((...args: Array<string | Buffer | number>) => Promise<unknown>) | undefined {
  const method = `${commandName(name)}Buffer`;
  const fn: unknown = Reflect.get(client, method);
  if (typeof fn !== 'function') return undefined;
  return (...args) => Promise.resolve((fn as Callable).apply(client, args));
}
