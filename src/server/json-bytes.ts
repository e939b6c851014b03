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
/** 10^i: the smallest number with i + 1 digits. */
const POWERS = Array.from({ length: 16 }, (_, i) => 10 ** i);
/** micros(): below this size, k / 10^6 with k a safe integer, and 10^-6 apart is always another double. */
const MICROS_BELOW = 1e9;

function allStrings(list: readonly unknown[]): list is readonly string[] {
  // By index: for-of allocates an iterator result per element until the function is optimized.
  for (let i = 0; i < list.length; i++) if (typeof list[i] !== 'string') return false;
  return true;
}

/** A buffer grown past this by one large answer is not kept for the next ones. */
const KEPT_BYTES = 1024 * 1024;

/**
 * Answers are written one after another into a slab and handed out as views
 * of it, never copied: an answer handed out is not written over (the socket
 * may still be sending it), and a slab with too little room left for another
 * answer is left to the answers still using it, for a fresh one.
 */
export class JsonBytes {
  private buf: Buffer;
  /** Where the answer being written starts in `buf`. */
  private start = 0;
  private at = 0;

  constructor(private readonly initialBytes = 64 * 1024) {
    this.buf = Buffer.allocUnsafeSlow(initialBytes * 4);
  }

  reset(): void {
    if (this.buf.length > KEPT_BYTES || this.buf.length - this.at < this.initialBytes) {
      this.buf = Buffer.allocUnsafeSlow(this.initialBytes * 4);
      this.at = 0;
    }
    this.start = this.at;
  }

  /** Bytes written since reset(). */
  get length(): number {
    return this.at - this.start;
  }

  /** The bytes written since reset(), as a view no later answer writes over: the caller may hold it. */
  take(): Buffer {
    const out = this.buf.subarray(this.start, this.at);
    this.start = this.at;
    return out;
  }

  /**
   * A copy of the bytes written from `from` (a length seen before) on: kept
   * long, so neither a view of the slab nor from Node's shared pool (a kept
   * slice would keep a whole pool slab alive).
   */
  since(from: number): Buffer {
    const out = Buffer.allocUnsafeSlow(this.at - this.start - from);
    this.buf.copy(out, 0, this.start + from, this.at);
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
    else if (!this.micros(value)) this.ascii(Number.isFinite(value) ? String(value) : 'null');
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
    let n = value;
    if (n < 0) {
      this.buf[this.at++] = 0x2d;
      n = -n;
    }
    this.digits(n);
  }

  /** A non-negative safe integer's digits, each written once, last first. */
  private digits(n: number): void {
    const buf = this.buf;
    let digits = 1;
    while (digits < 16 && n >= POWERS[digits]!) digits++;
    let at = this.at + digits;
    this.at = at;
    do {
      const q = Math.floor(n / 10);
      buf[--at] = 0x30 + (n - q * 10);
      n = q;
    } while (n > 0);
  }

  /**
   * A finite number that is an exact multiple of 10^-6 below 10^9 in size
   * (prices, sums, averages of a few decimals), written from its digits
   * without String(): the decimal k / 10^6 is then the one JSON.stringify
   * writes. It reads back as the same double (the check below), and no
   * shorter decimal does, since at this size two different multiples of
   * 10^-6 are never the same double; plain notation holds from 10^-6 to 10^21.
   * False, with nothing written, for any other number.
   */
  private micros(value: number): boolean {
    if (!(value > -MICROS_BELOW && value < MICROS_BELOW)) return false;
    const k = Math.round(value * 1e6);
    if (k / 1e6 !== value) return false;
    this.room(24);
    let m = k;
    if (m < 0) {
      this.buf[this.at++] = 0x2d;
      m = -m;
    }
    const whole = Math.floor(m / 1e6);
    let frac = m - whole * 1e6;
    this.digits(whole);
    if (frac === 0) return true;
    let places = 6;
    while (frac % 10 === 0) {
      frac /= 10;
      places--;
    }
    const buf = this.buf;
    buf[this.at] = 0x2e;
    let at = this.at + 1 + places;
    this.at = at;
    for (let i = 0; i < places; i++) {
      const q = Math.floor(frac / 10);
      buf[--at] = 0x30 + (frac - q * 10);
      frac = q;
    }
    return true;
  }

  /** Room for `n` more bytes: the answer so far moves to a bigger buffer when the slab runs out. */
  private room(n: number): void {
    if (this.at + n <= this.buf.length) return;
    const written = this.at - this.start;
    const bigger = Buffer.allocUnsafeSlow(Math.max(this.buf.length * 2, (written + n) * 2));
    this.buf.copy(bigger, 0, this.start, this.at);
    this.buf = bigger;
    this.start = 0;
    this.at = written;
  }
}
