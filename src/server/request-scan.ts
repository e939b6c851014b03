/**
 * The common `POST /features` body read without JSON.parse: an object of
 * "entity" (a string) and "ids" and "features" (arrays of strings) whose
 * strings have no escapes (a key given twice: the last one, as JSON.parse).
 * JSON.parse internalizes every short string it reads (each id: a lookup in
 * V8's string table), most of the cost of reading a batch of 100 ids; here
 * each string is a slice of the text. Gives what JSON.parse gives for such a body, or undefined for
 * any other text (other keys, a context, composite ids, escapes, numbers,
 * anything malformed), which the caller then hands to JSON.parse.
 */
const QUOTE = 0x22;
const BACKSLASH = 0x5c;
const COMMA = 0x2c;
const COLON = 0x3a;

/** The text and where the scan is in it. */
interface Scan {
  text: string;
  at: number;
}

function skipSpace(s: Scan): number {
  const { text } = s;
  let at = s.at;
  for (; at < text.length; at++) {
    const c = text.charCodeAt(at);
    if (c !== 0x20 && c !== 0x0a && c !== 0x0d && c !== 0x09) break;
  }
  s.at = at;
  return at < text.length ? text.charCodeAt(at) : -1;
}

/** A string literal without escapes or control characters (which JSON.parse refuses) at `s.at`. */
function scanString(s: Scan): string | undefined {
  const { text } = s;
  if (text.charCodeAt(s.at) !== QUOTE) return undefined;
  const start = s.at + 1;
  for (let at = start; at < text.length; at++) {
    const c = text.charCodeAt(at);
    if (c === QUOTE) {
      s.at = at + 1;
      return text.slice(start, at);
    }
    if (c === BACKSLASH || c < 0x20) return undefined;
  }
  return undefined;
}

function scanStrings(s: Scan): string[] | undefined {
  if (s.text.charCodeAt(s.at) !== 0x5b) return undefined;
  s.at++;
  const out: string[] = [];
  if (skipSpace(s) === 0x5d) {
    s.at++;
    return out;
  }
  for (;;) {
    skipSpace(s);
    const item = scanString(s);
    if (item === undefined) return undefined;
    out.push(item);
    const next = skipSpace(s);
    s.at++;
    if (next === 0x5d) return out;
    if (next !== COMMA) return undefined;
  }
}

export function scanFeaturesBody(text: string): Record<string, unknown> | undefined {
  const s: Scan = { text, at: 0 };
  if (skipSpace(s) !== 0x7b) return undefined;
  s.at++;
  const body: Record<string, unknown> = {};
  if (skipSpace(s) === 0x7d) {
    s.at++;
  } else {
    for (;;) {
      skipSpace(s);
      const key = scanString(s);
      if ((key !== 'entity' && key !== 'ids' && key !== 'features')) return undefined;
      if (skipSpace(s) !== COLON) return undefined;
      s.at++;
      skipSpace(s);
      const value = key === 'entity' ? scanString(s) : scanStrings(s);
      if (value === undefined) return undefined;
      body[key] = value;
      const next = skipSpace(s);
      s.at++;
      if (next === 0x7d) break;
      if (next !== COMMA) return undefined;
    }
  }
  return skipSpace(s) === -1 ? body : undefined;
}
