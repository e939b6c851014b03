/**
 * States written before approx_distinct existed still load: the bytes below
 * were written by main's engine (a2034a6; src/aggregations as at 157b2ef,
 * where this branch started)
 * for the default registry and for a registry of the other issue-13
 * operators. The same stream gives the same bytes today, and they read back
 * and re-serialize unchanged.
 */
import { describe, expect, it } from 'vitest';
import { WindowEngine, type EntityState } from '../../../src/aggregations/engine.ts';
import { loadRegistryFile, parseRegistry, type Registry } from '../../../src/schemas/registry.ts';

const T = Date.UTC(2025, 0, 6);

const others = parseRegistry({
  entities: [{ name: 'user' }],
  sources: [{ name: 'tx', entity: 'user', keyField: 'user_id', timeField: 'ts', schema: { event_id: 'string?', user_id: 'string', amount: 'number', merchant: 'string', ts: 'time' } }],
  features: [
    { name: 'c1h', source: 'tx', op: 'count', window: '1h', type: 'int', default: 0 },
    { name: 'big1h', source: 'tx', op: 'count', window: '1h', type: 'int', default: 0, where: [{ field: 'amount', gte: 100 }] },
    { name: 'sd1h', source: 'tx', op: 'stddev', field: 'amount', window: '1h', type: 'float', default: 0 },
    { name: 'd1h', source: 'tx', op: 'distinct_count', field: 'merchant', window: '1h', type: 'int', default: 0 },
    { name: 'top1h', source: 'tx', op: 'top_k', field: 'merchant', k: 2, window: '1h', type: 'string_list', default: [] },
    { name: 'p90', source: 'tx', op: 'approx_quantile', field: 'amount', q: 0.9, window: '1h', type: 'float', default: 0 },
    { name: 'life', source: 'tx', op: 'count', window: 'lifetime', type: 'int', default: 0, freshness: '30d' },
    { name: 'first3', source: 'tx', op: 'first_k', field: 'merchant', k: 3, type: 'string_list', default: [], freshness: '30d' },
    { name: 'last3', source: 'tx', op: 'last_k', field: 'merchant', k: 3, type: 'string_list', default: [], freshness: '1d' },
  ],
});

const written = {
  default:
      '020034926889efa5a98e876506026d30026d31026d32026d33026d34026d35032880a0ca8e8765d4419890d3d90600c0b59de8d8d6110021b9c649f4a31000ffbce29fcfb1200026272beffdc92c00e9' +
      '58e994a8f23800c764085ce3b31f00515353699f8a0b00bffd2cebdfc1320019eec92b9e940e00f10fe70db38d11001674adca9d861d00794862eab3f5020044f4f4fcbbf724006c2e583581c4170029' +
      '112154e1fe070067914d4a9aa01700f6b31c31f9a82100e0d67f0ce2de3600257d885fd6911e007295e887ddf326003ae99892e4a421009ec9a73bb4f72c003bb8ae168b822200c9f65563d6d4200007' +
      'a1b251d5ba3b00d1d77224baf73500e694aaf982eb180084cc9606c8b63000636b323a8a8119005f031d8b8ed61c001e56c526afb31400d8dadce3ebdf1400edccc96accd21a00302383c98fda28000c' +
      'be5f8081ed15009d7eb266fb8f3900bf77d25ac2d306005f339d57aa853a00c9eb3a2f9c94110000000117160000000000000000000000000000000000000000000002d2ed020292bc0602d28a0a01b1' +
      '1302b2de0502f2ac0901f2920102d280050292cf0802d2ac0701912102b2f10702f2ce0601b29c0202d293070292e20a02d2ce0401f12e02b2840a02f2f00301f2a50302d2a6090292930301010028c2' +
      'a6850101010028c2a685010000000001060001000101000201000301000401000501000600d3e80c01e2c50802f1a204030004b5ae1505c48b11',
  others:
      '020098aa9281efa5a98e876506026d30026d31026d32026d33026d34026d35012880a0ca8e87650d5ccb8fcc9b2100834189bc8de536000802949889900b00f7193305a3e9080010b18c9ac18e1a0059' +
      '2f21f7f1842700e09923baca863d00f419f8bfab940f00e78039efabc51700b4e93649b4bc04006ae314b7a1fa1900fad12889e7930900514f6a269df62a00a4d0ce61c788220050f91842f2ed3f006c' +
      '808410d3f72900bbb10e809b87120051ea0c988fbc3100857dc0a09c8917005a0d4fc798fd020034d1423b98e00e00033f4b89e2a11800896b18c8aeb42a00270133e5b88c270023c59918ccaa21007d' +
      'a6c90ed7973a009fcbac1a88d22800a0acab8686ac2e004f15f697fea814002d0f0b86af941100b4429617fef13a00d00ea39d9bc13700e93a1e1efba604006fbb9301e4da1700666ef0b1d1dd0f0036' +
      '47d5d4b7c5060014ca0f6e8db91c0091e21c62f73000ad72f18fabf73a00d37a5915addb1800011716000000000000000000000000000000000000000000000293a40ed5edd12002d3ac20d5edd12002' +
      '93b532d5edd12001b1130002f3d71cd5edd12002b3e02ed5edd12001f292010002938319d5edd12002d38b2bd5edd1200293df24d593baf9040191210002f3b627d5edd12002b38a21d593baf90401b2' +
      '9c02000293e223d5edd12002d3ea35d5edd12002938917d5edd12001f12e0002f39532d5edd12002b3b413d5edd12001f2a503000293c12ed5edd12002d3df0fd5edd120000106000101010101020100' +
      '03010004010305010203030001e2c50802f1a2040128000000010300b7d0a60101c6ada20102d58a9e010106000716020302030203010101010101010107160302030203020101010101010102071502' +
      '0302030203010101010101010307150302030203020101010101010104061402030203020101010101010506140302030203010101010101011716000000000000000000000000000000000000000000' +
      '0002821201400102ea12011c01029c1301120101ae120102dc120120010294130114010192120102cc12012401028a1301160102b812017a0101e2120102801301180102a012018a010101d4120102f6' +
      '1201180102a41301100102c21201280101861301029c1301120102ac12012e0101fa1201029413011201029012013a01',
};

function stream(registry: Registry, source: string): { engine: WindowEngine; state: EntityState } {
  const engine = new WindowEngine(registry);
  const s = engine.newState('user');
  for (let i = 0; i < 40; i++) {
    const t = T - 3_000_000 + i * 70_001;
    const merchant = `m${i % 6}`;
    engine.apply(s, { source, entityId: 'u1', eventTimeMs: t, eventId: `e${i}`, fields: { amount: 10 + ((i * 37) % 200) / 4, merchant, merchant_id: merchant } }, T);
  }
  return { engine, state: s };
}

describe('state format without approx_distinct slots', () => {
  it.each([
    ['default', async () => loadRegistryFile(), 'transactions'],
    ['others', async () => others, 'tx'],
  ] as const)('%s registry: same bytes as before, and they load and re-serialize unchanged', async (name, registry, source) => {
    const { engine, state } = stream(await registry(), source);
    const before = Buffer.from(written[name], 'hex');
    expect(Buffer.from(engine.serialize(state)).toString('hex')).toBe(written[name]);
    const loaded = engine.deserialize(before);
    expect(Buffer.from(engine.serialize(loaded)).equals(before)).toBe(true);
    expect(engine.evaluate(loaded, T + 1)).toEqual(engine.evaluate(state, T + 1));
  });
});
