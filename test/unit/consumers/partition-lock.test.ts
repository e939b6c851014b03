import { describe, expect, it } from 'vitest';
import { PartitionLock } from '../../../src/consumers/partition-lock.ts';

describe('PartitionLock', () => {
  it('runs tasks of one partition one at a time, in order, and others concurrently', async () => {
    const lock = new PartitionLock();
    const events: string[] = [];
    let release!: () => void;
    const gate = new Promise<void>((r) => (release = r));
    const first = lock.run(0, async () => {
      events.push('0a start');
      await gate;
      events.push('0a end');
    });
    const second = lock.run(0, async () => void events.push('0b'));
    const other = lock.run(1, async () => void events.push('1'));
    await other;
    expect(events).toEqual(['0a start', '1']);
    release();
    await Promise.all([first, second]);
    expect(events).toEqual(['0a start', '1', '0a end', '0b']);
  });

  it('releases the partition when a task throws', async () => {
    const lock = new PartitionLock();
    await expect(lock.run(0, async () => Promise.reject(new Error('boom')))).rejects.toThrow('boom');
    expect(await lock.run(0, async () => 'next')).toBe('next');
  });
});
