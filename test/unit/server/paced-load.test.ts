/**
 * The HTTP bench's open-loop load generator (bench/feast/paced.ts) and its
 * HTTP/1.1 client (bench/feast/http1.ts), against a local node:http server:
 * every request sent is answered or counted as an error, whatever the
 * framing (Content-Length, chunked, `Connection: close`), and a request
 * left unanswered is a timeout, not a hang.
 */
import { createServer, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { pacedLoad } from '../../../bench/feast/paced.ts';

let server: Server | undefined;

afterEach(async () => {
  server?.closeAllConnections();
  await new Promise((resolve) => server?.close(resolve));
  server = undefined;
});

async function serve(answer: (n: number, res: ServerResponse) => void): Promise<{ url: string; bodies: string[] }> {
  const bodies: string[] = [];
  server = createServer((req, res) => {
    let body = '';
    req.on('data', (c: Buffer) => (body += c.toString()));
    req.on('end', () => {
      bodies.push(body);
      answer(bodies.length, res);
    });
  });
  await new Promise<void>((resolve) => server!.listen(0, '127.0.0.1', resolve));
  return { url: `http://127.0.0.1:${(server.address() as AddressInfo).port}/features`, bodies };
}

const load = { body: Buffer.from('{"entity":"user","ids":["u1"]}'), headers: { 'content-type': 'application/json' }, rate: 200, durationMs: 500, connections: 4, maxBacklog: 256 };

describe('pacedLoad', () => {
  it('counts every answer, whatever its framing, and sends the body as given', async () => {
    const { url, bodies } = await serve((n, res) => {
      if (n % 3 === 0) {
        res.writeHead(200, { 'content-type': 'application/json' });
        res.write('x'.repeat(70_000));
        res.end('{}');
      } else if (n % 3 === 1) {
        const body = Buffer.alloc(45_000, 65);
        res.writeHead(200, { 'content-length': body.length });
        res.end(body);
      } else {
        res.writeHead(503, { 'content-length': 2, connection: 'close' });
        res.end('no');
      }
    });
    const r = await pacedLoad({ ...load, url, timeoutMs: 10_000 });
    expect(r.sent).toBe(100);
    expect(bodies).toHaveLength(100);
    expect(new Set(bodies)).toEqual(new Set([load.body.toString()]));
    expect(r.errors).toBe(33);
    expect(r.error_kinds).toBe('http 503: 33');
    expect(r.ok).toBe(67);
  });

  it('gives up on a request left unanswered: a timeout, and the rest go on', async () => {
    const { url } = await serve((n, res) => {
      if (n % 10 === 5) return;
      res.writeHead(200, { 'content-length': 2 });
      res.end('{}');
    });
    const r = await pacedLoad({ ...load, url, timeoutMs: 200 });
    expect(r.sent).toBe(100);
    expect(r.error_kinds).toBe('timeout: 10');
    expect(r.ok).toBe(90);
  });
});
