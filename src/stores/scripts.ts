/**
 * Loads the Lua scripts in ./lua into an ioredis client with defineCommand, so
 * calls go out as EVALSHA (falling back to EVAL on NOSCRIPT, e.g. after a Redis
 * restart), also inside pipelines; or calls one as a plain EVALSHA (evalshaCall). File names are `<name>-<NUMKEYS>.lua`; a
 * NUMKEYS of `n` means callers pass the key count first.
 */
import { createHash } from 'node:crypto';
import { readdirSync, readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { ReplyError, type ChainableCommander } from 'ioredis';
import type { RedisClient } from './redis.ts';

const luaDir = fileURLToPath(new URL('./lua/', import.meta.url));

/** Bumped when a script's contract changes, so two releases sharing one Redis never run each other's script under one name. */
const SCRIPT_VERSION = 7;

type ScriptName = 'materialize' | 'timerReschedule' | 'readPacked' | 'partitionEpoch';

function commandName(name: ScriptName): string {
  return `fs_${name}_v${SCRIPT_VERSION}`;
}

function toCamel(file: string): string {
  return file.replace(/-([a-z])/g, (_, c: string) => c.toUpperCase());
}

/** Every script's body and key count (`n`: the caller passes it), read once. */
const scripts: ReadonlyMap<ScriptName, { lua: string; keys: string }> = new Map(
  readdirSync(luaDir).flatMap((file) => {
    const match = /^(.+)-(\d+|n)\.lua$/.exec(file);
    return match ? [[toCamel(match[1]!) as ScriptName, { lua: readFileSync(luaDir + file, 'utf8'), keys: match[2]! }] as const] : [];
  }),
);

const loaded = new WeakSet<object>();

export function loadScripts(client: RedisClient): void {
  if (loaded.has(client)) return;
  for (const [name, { lua, keys }] of scripts) {
    client.defineCommand(commandName(name), keys === 'n' ? { lua } : { lua, numberOfKeys: Number(keys) });
  }
  loaded.add(client);
}

/**
 * A fixed-key-count script as a plain EVALSHA on `client`, replies as Buffers,
 * sending the body by EVAL where Redis does not know it yet (first use, a
 * flushed or restarted Redis), which loads it for the next calls. Cheaper per
 * call than a defineCommand command (its wrapping cost ~10% of a 100-key read),
 * and it needs no loadScripts on the caller's client.
 */
export function evalshaCall(client: RedisClient, name: ScriptName): (...keysThenArgs: string[]) => Promise<unknown> {
  const script = scripts.get(name);
  if (!script || script.keys === 'n') throw new Error(`Lua script ${name} has no fixed key count`);
  const { lua } = script;
  const keys = Number(script.keys);
  const sha = createHash('sha1').update(lua).digest('hex');
  return (...keysThenArgs) =>
    client.callBuffer('evalsha', sha, keys, ...keysThenArgs).catch((err: unknown) => {
      if (!(err instanceof ReplyError) || !(err instanceof Error && err.message.startsWith('NOSCRIPT'))) throw err;
      return client.callBuffer('eval', lua, keys, ...keysThenArgs);
    });
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
