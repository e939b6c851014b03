import { EventEmitter } from 'node:events';
import { pino } from 'pino';
import { describe, expect, it } from 'vitest';
import { GroupMember } from '../../src/consumers/group.ts';
import type { Consumer, Kafka, TopicPartitionOffsetAndMetadata } from '../../src/consumers/kafka-client.ts';
import { OffsetCommitter } from '../../src/consumers/offsets.ts';
import { workerMetrics } from '../../src/metrics.ts';

const silent = pino({ level: 'silent' });

/** A commit function whose calls stay open until the test releases them. */
function gatedCommits() {
  const calls: Array<{ offsets: TopicPartitionOffsetAndMetadata[]; settle: (err?: Error) => void }> = [];
  const commit = (offsets: TopicPartitionOffsetAndMetadata[]) =>
    new Promise<void>((resolve, reject) => calls.push({ offsets, settle: (err) => (err ? reject(err) : resolve()) }));
  return { calls, commit };
}

const tick = () => new Promise<void>((r) => setImmediate(r));

describe('OffsetCommitter', () => {
  it('sends the first request at once and everything requested meanwhile in one later commit, newest offset per partition', async () => {
    const { calls, commit } = gatedCommits();
    const c = new OffsetCommitter(commit, silent);
    c.request({ topic: 't', partition: 0, lastOffset: '9', valid: () => true });
    expect(calls.map((x) => x.offsets)).toEqual([[{ topic: 't', partition: 0, offset: '10' }]]);
    c.request({ topic: 't', partition: 1, lastOffset: '4', valid: () => true });
    c.request({ topic: 't', partition: 0, lastOffset: '19', valid: () => true });
    c.request({ topic: 't', partition: 0, lastOffset: '29', valid: () => true });
    await tick();
    expect(calls).toHaveLength(1);
    calls[0]!.settle();
    await tick();
    expect(calls).toHaveLength(2);
    expect(calls[1]!.offsets).toEqual([
      { topic: 't', partition: 1, offset: '5' },
      { topic: 't', partition: 0, offset: '30' },
    ]);
    const flushed = c.flush();
    let done = false;
    void flushed.then(() => (done = true));
    await tick();
    expect(done).toBe(false);
    calls[1]!.settle();
    await flushed;
    expect(calls).toHaveLength(2);
  });

  it('drops offsets that are no longer valid when their turn comes', async () => {
    const { calls, commit } = gatedCommits();
    const c = new OffsetCommitter(commit, silent);
    let stale = false;
    c.request({ topic: 't', partition: 0, lastOffset: '1', valid: () => true });
    c.request({ topic: 't', partition: 1, lastOffset: '7', valid: () => !stale });
    c.request({ topic: 't', partition: 2, lastOffset: '3', valid: () => true });
    stale = true;
    calls[0]!.settle();
    await tick();
    expect(calls[1]!.offsets).toEqual([{ topic: 't', partition: 2, offset: '4' }]);
    calls[1]!.settle();
    await c.flush();
  });

  it('counts a failed commit and keeps committing what comes next', async () => {
    const { calls, commit } = gatedCommits();
    const c = new OffsetCommitter(commit, silent);
    const before = (await workerMetrics.commitFailures.get()).values[0]?.value ?? 0;
    c.request({ topic: 't', partition: 0, lastOffset: '1', valid: () => true });
    calls[0]!.settle(new Error('REBALANCE_IN_PROGRESS'));
    await c.flush();
    expect((await workerMetrics.commitFailures.get()).values[0]?.value).toBe(before + 1);
    c.request({ topic: 't', partition: 0, lastOffset: '2', valid: () => true });
    expect(calls[1]!.offsets).toEqual([{ topic: 't', partition: 0, offset: '3' }]);
    calls[1]!.settle();
    await c.flush();
  });
});

/** Just enough of a kafkajs consumer for GroupMember: its events, lifecycle calls and commits. */
function fakeKafka() {
  const log: string[] = [];
  const emitter = new EventEmitter();
  const events = { GROUP_JOIN: 'join', REBALANCING: 'rebalancing', CRASH: 'crash', STOP: 'stop' };
  const consumer: Partial<Consumer> = {
    events: events as Consumer['events'],
    on: ((event: string, listener: (e: unknown) => void) => {
      emitter.on(event, listener);
      return () => emitter.off(event, listener);
    }) as Consumer['on'],
    connect: async () => undefined,
    subscribe: async () => undefined,
    run: async () => undefined,
    commitOffsets: async (offsets: TopicPartitionOffsetAndMetadata[]) => {
      await tick();
      log.push(`commit ${offsets.map((o) => `${o.partition}@${o.offset}`).join(',')}`);
    },
    disconnect: async () => void log.push('disconnect'),
  };
  const join = () => emitter.emit(events.GROUP_JOIN, { payload: { memberAssignment: { t: [0, 1] }, memberId: 'm' } });
  const kafka: Pick<Kafka, 'consumer'> = { consumer: () => consumer as Consumer };
  return { kafka, log, join, rebalance: () => emitter.emit(events.REBALANCING, {}) };
}

describe('GroupMember commits', () => {
  const options = (kafka: Pick<Kafka, 'consumer'>) => ({
    kafka,
    groupId: 'g',
    topics: ['t'],
    eachBatch: async () => undefined,
    logger: silent,
    sessionTimeoutMs: 10_000,
    heartbeatIntervalMs: 2_000,
    partitionsConsumedConcurrently: 1,
  });

  const joined = async () => {
    const f = fakeKafka();
    const member = new GroupMember(options(f.kafka));
    await member.start();
    f.join();
    return { f, member };
  };

  it('does not send a commit requested before the group changed', async () => {
    const { f, member } = await joined();
    // The first goes out at once; the second waits for it, and the group moves on meanwhile.
    member.commitAfter('t', 0, '5', () => false);
    member.commitAfter('t', 1, '8', () => false);
    f.rebalance();
    f.join();
    member.commitAfter('t', 0, '6', () => false);
    await member.stop();
    expect(f.log).toEqual(['commit 0@6', 'commit 0@7', 'disconnect']);
  });

  it('sends the queued commits before it leaves the group', async () => {
    const { f, member } = await joined();
    member.commitAfter('t', 0, '5', () => false);
    member.commitAfter('t', 1, '8', () => false);
    member.commitAfter('t', 2, '3', () => false);
    await member.stop();
    expect(f.log).toEqual(['commit 0@6', 'commit 1@9,2@4', 'disconnect']);
  });

  it('does not send a commit whose partition was sought', async () => {
    const { f, member } = await joined();
    let sought = false;
    member.commitAfter('t', 0, '5', () => false);
    member.commitAfter('t', 1, '8', () => sought);
    sought = true;
    await member.stop();
    expect(f.log).toEqual(['commit 0@6', 'disconnect']);
  });
});
