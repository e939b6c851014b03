import { describe, expect, it } from 'vitest';
import { crc16, keySlot } from '../../../src/serving/slot.ts';

describe('keySlot', () => {
  it('matches the CRC16/XMODEM check value from the Redis Cluster spec', () => {
    expect(crc16(new TextEncoder().encode('123456789'))).toBe(0x31c3);
  });

  it('matches CLUSTER KEYSLOT for plain keys', () => {
    // Values from `redis-cli CLUSTER KEYSLOT <key>` on Redis 7.0.
    expect(keySlot('foo')).toBe(12182);
    expect(keySlot('somekey')).toBe(11058);
    expect(keySlot('')).toBe(0);
  });

  it('hashes only the first non-empty hash tag', () => {
    expect(keySlot('user:{u1}:features')).toBe(keySlot('u1'));
    expect(keySlot('user:{u1}:state')).toBe(keySlot('x{u1}y'));
    expect(keySlot('a{}{b}')).not.toBe(keySlot('b'));
    expect(keySlot('{a}{b}')).toBe(keySlot('a'));
  });
});
