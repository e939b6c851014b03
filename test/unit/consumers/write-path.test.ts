/**
 * The write path without services: the materialize script's reply contract,
 * WAIT acknowledgements, and the per-entity error paths of the Materializer
 * (a corrupt state hash, a store rejection inside a shared script call).
 */
import { describe, expect, it } from 'vitest';
import { WindowEngine } from '../../../src/aggregations/engine.ts';
import { Materializer, type EntityWork } from '../../../src/consumers/materializer.ts';
import type { DeadLetter } from '../../../src/consumers/dead-letter.ts';
import { FeaturestreamError } from '../../../src/errors.ts';
import { createLogger } from '../../../src/logger.ts';
import { parseRegistry } from '../../../src/schemas/registry.ts';
import { Keys } from '../../../src/stores/keys.ts';
import { queueMaterialize, type EntityWrite } from '../../../src/stores/materialize-script.ts';
import { NodePipelines } from '../../../src/stores/node-pipelines.ts';
import { registryInput } from '../../helpers/worker-fixtures.ts';
import { fakeRedis, replyError, type FakeCommand } from './fake-redis.ts';

const SCRIPT = 'fs_materialize_v7';
const FENCE = () => ({ epoch: 100, ttlMs: 1_000, keyFor: () => 'fence' });

function write(key: string): EntityWrite {
  return { stateKey: `${key}:state`, knownVersion: 0, compare: true, stateTtlMs: 1_000, refreshStateTtl: true, state: new Uint8Array([1]), offsets: [['o:t:0', 3]], vectors: [] };
}

describe('materialize script writer', () => {
  it('packs entities into one call behind the fence key and reads written / conflict per entity', async () => {
    const { client, sent } = fakeRedis(() => [null, [1, 1, 1_796_000_000_000_001, 0, 7, 1, 1_796_000_000_000_003]]);
    const pipelines = new NodePipelines(client);
    const outcomes = queueMaterialize(pipelines, FENCE, 5, [write('a'), write('b'), write('c')]);
    const replies = await pipelines.exec();
    expect(sent[0]!.map((c) => c.name)).toEqual([SCRIPT]);
    expect(sent[0]![0]!.args.slice(0, 5)).toEqual([4, 'fence', 'a:state', 'b:state', 'c:state']);
    expect(outcomes(replies)).toEqual([
      { status: 'written', version: 1_796_000_000_000_001 },
      { status: 'conflict', stored: 7 },
      { status: 'written', version: 1_796_000_000_000_003 },
    ]);
  });

  it('reads a refused call as fenced for each of its entities', async () => {
    const { client } = fakeRedis(() => [null, [0, '1796000000000009']]);
    const pipelines = new NodePipelines(client);
    const outcomes = queueMaterialize(pipelines, FENCE, 5, [write('a'), write('b')]);
    expect(outcomes(await pipelines.exec())).toEqual([
      { status: 'fenced', stored: 1_796_000_000_000_009 },
      { status: 'fenced', stored: 1_796_000_000_000_009 },
    ]);
  });

  it('reports a failed call for each of its entities, and says when an entity was alone', async () => {
    const { client } = fakeRedis(() => [replyError('ERR boom'), null]);
    const pipelines = new NodePipelines(client);
    const outcomes = queueMaterialize(pipelines, FENCE, 5, [write('a'), write('b'), write('c')], (i) => i === 2);
    const result = outcomes(await pipelines.exec());
    expect(result.map((o) => (o.status === 'failed' ? o.alone : undefined))).toEqual([false, false, true]);
  });
});

describe('WAIT for replicas', () => {
  it('is a retriable REPLICA_LAG error when fewer replicas acknowledge', async () => {
    const { client, sent } = fakeRedis((c) => [null, c.name === 'wait' ? 0 : 'OK'], 'connected_slaves:1\r\n');
    const pipelines = new NodePipelines(client);
    pipelines.queue('k', (p) => p.set('k', 'v'));
    const failure = await pipelines.exec({ replicas: 'auto', timeoutMs: 10 }).catch((err: unknown) => err);
    expect(failure).toBeInstanceOf(FeaturestreamError);
    expect(failure).toMatchObject({ code: 'REPLICA_LAG', retriable: true });
    expect(sent[0]!.at(-1)).toEqual({ name: 'wait', args: [1, 10] });
  });

  it('is skipped in auto mode on a node without replicas', async () => {
    const { client, sent } = fakeRedis(() => [null, 'OK']);
    const pipelines = new NodePipelines(client);
    pipelines.queue('k', (p) => p.set('k', 'v'));
    await pipelines.exec({ replicas: 'auto', timeoutMs: 10 });
    expect(sent[0]!.map((c) => c.name)).toEqual(['set']);
  });
});

describe('Materializer per-entity errors', () => {
  const registry = parseRegistry(registryInput({ tx: 'wp-tx', logins: 'wp-logins' }));
  const keys = new Keys({ prefix: 't:' });
  const now = Date.now();
  const work = (id: string): EntityWork => ({
    ref: { entityType: 'user', entityId: id },
    partition: 0,
    topic: 'wp-tx',
    events: [0, 1].map((offset) => ({
      offset,
      message: { offset: String(offset) } as never,
      event: { source: 'tx', entityId: id, eventTimeMs: now - 1_000, fields: { user_id: id, amount: 1, merchant_id: 'm', ts: now - 1_000 } },
    })),
  });
  const statesIn = (c: FakeCommand) => c.args.filter((a) => typeof a === 'string' && a.endsWith(':state')) as string[];
  const make = (client: ReturnType<typeof fakeRedis>['client']) =>
    new Materializer({ redis: client, keys, registry, engine: new WindowEngine(registry), keyspaceVersion: 1, logger: createLogger({ level: 'silent' }) });

  it('dead-letters the events of an entity whose state is undecodable and writes the others', async () => {
    const { client, sent } = fakeRedis((c) => {
      if (c.name === 'hgetallBuffer') return [null, c.args[0] === 't:user:bad:state' ? { s: Buffer.from('garbage'), _version: Buffer.from('3') } : {}];
      if (c.name === SCRIPT) return [null, [1, ...statesIn(c).flatMap(() => [1, 10])]];
      return [null, 1];
    });
    const letters: DeadLetter[] = [];
    await make(client).run([work('ok'), work('bad')], now, { deadLetter: async (d) => void letters.push(...d) });
    expect(letters.map((d) => [d.message.offset, d.error.code])).toEqual([
      ['0', 'STATE_CORRUPT'],
      ['1', 'STATE_CORRUPT'],
    ]);
    const scripted = sent.flat().filter((c) => c.name === SCRIPT).flatMap(statesIn);
    expect(scripted).toEqual(['t:user:ok:state']);
  });

  it('writes the entities of a rejected call one by one and quarantines only the rejected one', async () => {
    const { client, sent } = fakeRedis((c) => {
      if (c.name === 'hgetallBuffer') return [null, {}];
      if (c.name === SCRIPT) {
        const states = statesIn(c);
        if (states.includes('t:user:bad:state')) return [replyError('ERR Error running script: WRONGTYPE Operation against a key holding the wrong kind of value'), null];
        return [null, [1, ...states.flatMap(() => [1, 10])]];
      }
      return [null, 1];
    });
    const letters: DeadLetter[] = [];
    await make(client).run([work('a'), work('bad'), work('b')], now, { deadLetter: async (d) => void letters.push(...d) });
    expect(letters.map((d) => d.error.code)).toEqual(['STORE_REJECTED', 'STORE_REJECTED']);
    const calls = sent.flat().filter((c) => c.name === SCRIPT).map(statesIn);
    expect(calls[0]).toEqual(['t:user:a:state', 't:user:bad:state', 't:user:b:state']);
    expect(calls.slice(1).sort()).toEqual([['t:user:a:state'], ['t:user:b:state'], ['t:user:bad:state']]);
  });
});
