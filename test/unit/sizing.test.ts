import { describe, expect, it } from 'vitest';
import { estimateCapacity, formatBytes } from '../../src/stores/sizing.ts';

describe('estimateCapacity', () => {
  it('applies the 1.3 overhead to sampled bytes x active entities (seed example: 200 B x 10M)', () => {
    const e = estimateCapacity({ bytesPerEntity: 200, activeEntities: 10_000_000, itemBytes: 900, readsPerSec: 0, writesPerSec: 0 });
    expect(e.redisBytes).toBe(2_600_000_000);
  });

  it('rounds DynamoDB units up per started 4 KB read and 1 KB write', () => {
    expect(estimateCapacity({ bytesPerEntity: 1, activeEntities: 1, itemBytes: 900, readsPerSec: 10_000, writesPerSec: 100 })).toMatchObject({
      rcuPerSec: 5_000,
      wcuPerSec: 100,
    });
    expect(estimateCapacity({ bytesPerEntity: 1, activeEntities: 1, itemBytes: 5_000, readsPerSec: 10, writesPerSec: 10 })).toMatchObject({
      rcuPerSec: 10,
      wcuPerSec: 50,
    });
  });

  it('formats bytes in binary units', () => {
    expect(formatBytes(512)).toBe('512 B');
    expect(formatBytes(2.5 * 2 ** 30)).toBe('2.5 GiB');
  });
});
