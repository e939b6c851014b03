/**
 * Serializes work per Kafka partition number inside one process: the batches
 * of partition p of every co-partitioned topic and the timers of p touch the
 * same entities, so running them one after another avoids needless CAS conflicts,
 * and a partition's write epoch is taken once (partition-epoch.ts).
 */
export class PartitionLock {
  private readonly tails = new Map<number, Promise<void>>();

  async run<T>(partition: number, task: () => Promise<T>): Promise<T> {
    const previous = this.tails.get(partition) ?? Promise.resolve();
    let release!: () => void;
    const mine = new Promise<void>((resolve) => (release = resolve));
    const tail = previous.then(() => mine);
    this.tails.set(partition, tail);
    await previous;
    try {
      return await task();
    } finally {
      release();
      if (this.tails.get(partition) === tail) this.tails.delete(partition);
    }
  }
}
