/**
 * The load generator's HTTP/1.1 client: one keep-alive socket that writes a
 * request prepared once as bytes and reads one answer at a time, looking only
 * at the status, the framing (Content-Length or chunked) and `Connection:
 * close`. node:http's client built a request, a response stream and header
 * objects per request, and on these 2 cores the load generator's CPU and
 * garbage come out of the servers' share: against a server answering 45 KB at
 * 1,000 req/s this client spends 130-175 us of CPU per request, node:http's
 * 314-491 us (the 1 ms pacing timer alone is ~35 us of it).
 */
import { connect, type Socket } from 'node:net';

/** The whole request, headers and body, as it goes on the wire. */
export function requestBytes(o: { host: string; port: number; path: string; headers: Record<string, string>; body: Buffer }): Buffer {
  const lines = [`POST ${o.path} HTTP/1.1`, `Host: ${o.host}:${o.port}`, ...Object.entries(o.headers).map(([k, v]) => `${k}: ${v}`), `Content-Length: ${o.body.length}`];
  return Buffer.concat([Buffer.from(`${lines.join('\r\n')}\r\n\r\n`, 'latin1'), o.body]);
}

const CRLF = Buffer.from('\r\n');
const HEADERS_END = Buffer.from('\r\n\r\n');

/** How far an answer has been read. */
type Reading =
  | { phase: 'head' }
  | { phase: 'body'; left: number }
  | { phase: 'chunk-size' }
  | { phase: 'chunk'; left: number }
  | { phase: 'trailer' };

export class Http1Connection {
  private readonly socket: Socket;
  private pending: Buffer = Buffer.alloc(0);
  private reading: Reading = { phase: 'head' };
  private status = 0;
  private closeAfter = false;
  private onAnswer: ((status: number) => void) | undefined;
  /** False once the socket failed or the server asked to close: open a new one. */
  usable = true;

  constructor(
    host: string,
    port: number,
    private readonly onFailure: (code: string) => void,
  ) {
    this.socket = connect({ host, port, noDelay: true });
    this.socket.on('data', (chunk: Buffer) => this.read(chunk));
    this.socket.on('error', (err: NodeJS.ErrnoException) => this.fail(err.code ?? err.message));
    this.socket.on('close', () => this.fail('ECONNRESET'));
  }

  get busy(): boolean {
    return this.onAnswer !== undefined;
  }

  /** Sends `request`; `onAnswer` gets the status once the whole answer is in. */
  send(request: Buffer, onAnswer: (status: number) => void): void {
    this.onAnswer = onAnswer;
    this.reading = { phase: 'head' };
    this.socket.write(request);
  }

  destroy(code?: string): void {
    if (code !== undefined) this.fail(code);
    this.usable = false;
    this.socket.destroy();
  }

  private fail(code: string): void {
    this.usable = false;
    const answer = this.onAnswer;
    this.onAnswer = undefined;
    if (answer !== undefined) this.onFailure(code);
  }

  private read(chunk: Buffer): void {
    this.pending = this.pending.length === 0 ? chunk : Buffer.concat([this.pending, chunk]);
    while (this.onAnswer !== undefined && this.step());
  }

  /** Consumes what it can of `pending`; true if it made progress and may go on. */
  private step(): boolean {
    const r = this.reading;
    const data = this.pending;
    if (r.phase === 'head') {
      const end = data.indexOf(HEADERS_END);
      if (end < 0) return false;
      this.head(data.toString('latin1', 0, end));
      this.pending = data.subarray(end + 4);
      return true;
    }
    if (r.phase === 'body' || r.phase === 'chunk') {
      const take = Math.min(r.left, data.length);
      r.left -= take;
      this.pending = data.subarray(take);
      if (r.left > 0) return false;
      if (r.phase === 'body') this.finish();
      else this.reading = { phase: 'chunk-size' };
      return true;
    }
    const eol = data.indexOf(CRLF);
    if (eol < 0) return false;
    const line = data.toString('latin1', 0, eol);
    this.pending = data.subarray(eol + 2);
    if (r.phase === 'trailer') {
      if (line === '') this.finish();
      return true;
    }
    // The CRLF that closes a chunk's data comes first: skip its empty line.
    if (line === '') return true;
    const size = Number.parseInt(line, 16);
    this.reading = size === 0 ? { phase: 'trailer' } : { phase: 'chunk', left: size };
    return true;
  }

  private head(text: string): void {
    const lines = text.split('\r\n');
    this.status = Number(lines[0]!.split(' ')[1]);
    let length = 0;
    let chunked = false;
    this.closeAfter = false;
    for (let i = 1; i < lines.length; i++) {
      const colon = lines[i]!.indexOf(':');
      const name = lines[i]!.slice(0, colon).trim().toLowerCase();
      const value = lines[i]!.slice(colon + 1).trim().toLowerCase();
      if (name === 'content-length') length = Number(value);
      else if (name === 'transfer-encoding') chunked = value.includes('chunked');
      else if (name === 'connection') this.closeAfter = value === 'close';
    }
    this.reading = chunked ? { phase: 'chunk-size' } : { phase: 'body', left: length };
  }

  private finish(): void {
    const answer = this.onAnswer!;
    this.onAnswer = undefined;
    if (this.closeAfter) this.destroy();
    answer(this.status);
  }
}
