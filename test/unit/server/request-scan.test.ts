/**
 * The POST /features body read without JSON.parse (src/server/request-scan.ts)
 * is what JSON.parse reads, or undefined: for the common body, for any JSON
 * value, for request bodies with odd spacing, strings and shapes, and for
 * malformed text.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { scanFeaturesBody } from '../../../src/server/request-scan.ts';

function parsed(text: string): unknown {
  try {
    return JSON.parse(text);
  } catch {
    return 'invalid';
  }
}

/** The scan gives JSON.parse's value or nothing; a text JSON.parse refuses is never read. */
function agrees(text: string): void {
  const scanned = scanFeaturesBody(text);
  if (scanned !== undefined) expect(scanned).toStrictEqual(parsed(text));
}

const space = fc.stringMatching(/^[ \t\r\n]{0,2}$/);
const key = fc.constantFrom('"entity"', '"ids"', '"features"', '"context"', '"other"', '"ent\\u0069ty"', '"__proto__"');
const text = fc.oneof(fc.string({ unit: 'binary' }), fc.constantFrom('u1', 'a\\"b', 'tab\there', 'é\ud800', 'line\nbreak', ''));
const literal = text.map((t) => (t.includes('\\') ? `"${t}"` : JSON.stringify(t)));
const value = fc.oneof(literal, fc.array(literal).map((xs) => `[${xs.join(',')}]`), fc.constantFrom('1', 'null', '{}', '[1]', '["a",]', '[', '"open'));
/** Request-like text, spaced and shaped at random, often valid JSON and often not. */
const body = fc
  .array(fc.tuple(space, key, space, value, space), { maxLength: 4 })
  .chain((members) =>
    fc.tuple(space, fc.constantFrom('', ',', '}', ' x')).map(([lead, tail]) => `${lead}{${members.map(([a, k, b, v, c]) => `${a}${k}${b}:${c}${v}`).join(',')}}${tail === '}' ? '' : tail}`),
  );

describe('scanFeaturesBody', () => {
  it('reads the common body as JSON.parse does', () => {
    const common = JSON.stringify({ entity: 'user', ids: ['u1', 'u2'], features: ['tx_count_1h'] });
    expect(scanFeaturesBody(common)).toStrictEqual(JSON.parse(common));
    expect(scanFeaturesBody(' {\n "ids" : [ ] , "entity":"é" }\t')).toStrictEqual({ ids: [], entity: 'é' });
    expect(scanFeaturesBody('{"entity":"a","entity":"b"}')).toStrictEqual({ entity: 'b' });
  });

  it('leaves every other text to JSON.parse', () => {
    for (const other of ['', '{', '{"entity":"u"', '{"entity":"u"}x', '{"entity":"u",}', '{"ids":["a",]}', '{"ids":"a"}', '{"entity":1}', '{"entity":"a\\nb"}', '{"entity":"a\tb"}', '{"context":{}}', '[]', '"u"', '\ufeff{}']) {
      expect(scanFeaturesBody(other), other).toBeUndefined();
    }
  });

  it('agrees with JSON.parse on request-like text', () => {
    fc.assert(fc.property(body, agrees), { numRuns: 2_000 });
  });

  it('agrees with JSON.parse on any JSON value', () => {
    fc.assert(fc.property(fc.json(), agrees));
  });
});
