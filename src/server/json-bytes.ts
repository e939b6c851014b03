/**
 * JSON text written straight into bytes: the server's answers are mostly
 * short ASCII names, ids and numbers, and building them as strings cost
 * about four bytes of garbage per byte sent (string pieces, number strings,
 * then the flattened text and its UTF-8 copy for the socket). Here ASCII is
 * copied by hand into one reused buffer, integers are written digit by digit,
 * and only what needs escaping or is not ASCII goes through JSON.stringify.
 * Synchronous from reset() to take(), so one writer serves every request.
 */
const QUOTE = 0x22;
const BACKSLASH = 0x5c;
const COMMA = 0x2c;

function allStrings(list: readonly unknown[]): list is readonly string[] {
  for (const x of list) if (typeof x !== 'string') return false;
  return true;
}

/** A buffer grown past this by one large answer is not kept for the next ones. */
const KEPT_BYTES = 1024 * 1024;

export class JsonBytes {
  private buf: Buffer;
  private at = 0;

  constructor(private readonly initialBytes = 64 * 1024) {
    this.buf = Buffer.allocUnsafeSlow(initialBytes);
  }

  reset(): void {
    this.at = 0;
    if (this.buf.length > KEPT_BYTES) this.buf = Buffer.allocUnsafeSlow(this.initialBytes);
  }

  get length(): number {
    return this.at;
  }

  /** A copy of the bytes written since reset(): the caller may hold it past the next request. */
  take(): Buffer {
    const out = Buffer.allocUnsafe(this.at);
    this.buf.copy(out, 0, 0, this.at);
    return out;
  }

  /** A copy of the bytes written from `start` on. */
  since(start: number): Buffer {
    const out = Buffer.allocUnsafe(this.at - start);
    this.buf.copy(out, 0, start, this.at);
    return out;
  }

  /** Text known to be ASCII with nothing to escape: punctuation, keys written once, number strings. */
  ascii(text: string): void {
    const n = text.length;
    this.room(n);
    const buf = this.buf;
    let at = this.at;
    for (let i = 0; i < n; i++) buf[at++] = text.charCodeAt(i);
    this.at = at;
  }

  byte(b: number): void {
    this.room(1);
    this.buf[this.at++] = b;
  }

  bytes(chunk: Uint8Array): void {
    const n = chunk.length;
    this.room(n);
    // A short chunk (a quoted name) copies faster by hand than through a native call.
    if (n > 64) {
      this.buf.set(chunk, this.at);
      this.at += n;
      return;
    }
    const buf = this.buf;
    let at = this.at;
    for (let i = 0; i < n; i++) buf[at++] = chunk[i]!;
    this.at = at;
  }

  /** Any text, as UTF-8. */
  utf8(text: string): void {
    this.room(Buffer.byteLength(text));
    this.at += this.buf.write(text, this.at, 'utf8');
  }

  /** A JSON string literal, as JSON.stringify writes it. */
  string(text: string): void {
    const n = text.length;
    this.room(n + 2);
    const buf = this.buf;
    const start = this.at;
    let at = start;
    buf[at++] = QUOTE;
    for (let i = 0; i < n; i++) {
      const c = text.charCodeAt(i);
      if (c < 0x20 || c > 0x7e || c === QUOTE || c === BACKSLASH) return this.escaped(text, start);
      buf[at++] = c;
    }
    buf[at++] = QUOTE;
    this.at = at;
  }

  /** A number as JSON.stringify writes it: non-finite ones are null. */
  number(value: number): void {
    if (Number.isSafeInteger(value)) this.integer(value);
    else this.ascii(Number.isFinite(value) ? String(value) : 'null');
  }

  /** A defined value's JSON, as JSON.stringify writes it; a Float32Array as a plain array. */
  value(value: unknown): void {
    if (typeof value === 'number') this.number(value);
    else if (typeof value === 'string') this.string(value);
    else if (typeof value === 'boolean') this.ascii(value ? 'true' : 'false');
    else if (value === null) this.ascii('null');
    else if (value instanceof Float32Array) {
      this.byte(0x5b);
      for (let i = 0; i < value.length; i++) {
        if (i > 0) this.byte(COMMA);
        this.number(value[i]!);
      }
      this.byte(0x5d);
    } else if (Array.isArray(value) && allStrings(value)) {
      this.byte(0x5b);
      for (let i = 0; i < value.length; i++) {
        if (i > 0) this.byte(COMMA);
        this.string(value[i]!);
      }
      this.byte(0x5d);
    } else this.utf8(JSON.stringify(value));
  }

  /** Rewinds to `start` and writes the literal the slow way: escapes, or characters beyond ASCII. */
  private escaped(text: string, start: number): void {
    this.at = start;
    this.utf8(JSON.stringify(text));
  }

  private integer(value: number): void {
    // -0 is written 0, as JSON.stringify does; 16 digits and a sign cover every safe integer.
    this.room(17);
    const buf = this.buf;
    let n = value;
    if (n < 0) {
      buf[this.at++] = 0x2d;
      n = -n;
    }
    if (n < 10) {
      buf[this.at++] = 0x30 + n;
      return;
    }
    let digits = 0;
    for (let m = n; m > 0; m = Math.floor(m / 10)) digits++;
    let at = this.at + digits;
    this.at = at;
    while (n > 0) {
      buf[--at] = 0x30 + (n % 10);
      n = Math.floor(n / 10);
    }
  }

  private room(n: number): void {
    if (this.at + n <= this.buf.length) return;
    const bigger = Buffer.allocUnsafeSlow(Math.max(this.buf.length * 2, this.at + n));
    this.buf.copy(bigger, 0, 0, this.at);
    this.buf = bigger;
  }
}
