/**
 * `featurestream serve`: the reader behind HTTP/1.1 keep-alive JSON, for
 * callers outside Node (Python model servers). Same deadline, breaker,
 * fallback and defaults as the library, because it is the library.
 *
 *   POST /features  {"entity", "ids", "features"?, "context"?} -> {"vectors": [{entity_id, features, source, defaulted, age_ms}]}
 *   POST /get-online-features  Feast's request and response shape (feast-shape.ts)
 *   GET  /metrics   Prometheus text
 *   GET  /healthz   200 while the process runs, with its pid
 *   GET  /readyz    200 once Redis is connected, 503 before that and while draining
 *
 * Bad input is a 400 naming the problem (never a 500), a body over the limit
 * a 413, a missing or wrong bearer token (when one is configured) a 401.
 */
import { createHash, timingSafeEqual } from 'node:crypto';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { isFeaturestreamError } from '../errors.ts';
import type { MetricsSource } from '../http-server.ts';
import type { Logger } from '../logger.ts';
import type { FeatureReader } from '../serving/reader.ts';
import type { FeatureVector } from '../serving/types.ts';
import { readBody } from './body.ts';
import { serveFeastShape } from './feast-shape.ts';
import { parseFeaturesRequest } from './request.ts';
import { vectorsJson } from './response.ts';

export interface FeatureServerOptions {
  reader: FeatureReader;
  /** What /metrics serves: a prom-client registry, or the sum over `serve --processes` children. */
  metrics: MetricsSource;
  logger: Logger;
  /** Most ids one request may ask for; default 1000. */
  maxIds?: number;
  /** Largest request body in bytes; default 1 MiB. */
  bodyLimitBytes?: number;
  /** When set, every request except /healthz needs `Authorization: Bearer <token>`. */
  token?: string;
  /** How long shutdown waits for requests in flight before closing their connections; default 10 s. */
  drainMs?: number;
}

export interface FeatureServer {
  /** Binds `host` (default 127.0.0.1); resolves with the bound port (0 picks one). */
  listen(port: number, host?: string): Promise<number>;
  /** Graceful: stops accepting, answers /readyz 503, lets requests in flight finish, then closes the reader. */
  close(): Promise<void>;
  readonly server: Server;
}

/** Codes a caller's mistake carries on the way out of the reader: a 400, never a 500. */
const CALLER_ERRORS = new Set(['NOT_FOUND', 'CONFIG_INVALID', 'ENTITY_ID_INVALID']);

export function createFeatureServer(options: FeatureServerOptions): FeatureServer {
  const { reader, metrics, logger } = options;
  const maxIds = options.maxIds ?? 1_000;
  const bodyLimit = options.bodyLimitBytes ?? 1_048_576;
  const tokenDigest = options.token ? digest(options.token) : undefined;
  let draining = false;
  let inFlight = 0;
  let drained: (() => void) | undefined;

  // One listener for every response: nothing is allocated per request for the count.
  const responseClosed = (): void => {
    inFlight--;
    if (draining && inFlight === 0) drained?.();
  };
  const server = createServer((req, res) => {
    inFlight++;
    res.on('close', responseClosed);
    handle(req, res).catch((err: unknown) => {
      logger.error({ err }, 'feature server: unexpected error');
      if (!res.headersSent) send(res, 500, { error: { code: 'INTERNAL', message: 'internal error' } });
      else res.destroy();
    });
  });
  server.keepAliveTimeout = 65_000;

  async function handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const url = req.url ?? '/';
    const query = url.indexOf('?');
    const path = query < 0 ? url : url.slice(0, query);
    // The pid tells `serve --processes` children apart.
    if (path === '/healthz') return send(res, 200, { status: 'ok', pid: process.pid });
    if (tokenDigest !== undefined && !authorized(req.headers.authorization, tokenDigest)) {
      res.setHeader('WWW-Authenticate', 'Bearer');
      return send(res, 401, { error: { code: 'UNAUTHORIZED', message: 'missing or wrong bearer token' } });
    }
    if (path === '/readyz') {
      const ready = !draining && (await reader.ready(1));
      return send(res, ready ? 200 : 503, { status: ready ? 'ready' : draining ? 'draining' : 'redis not connected' });
    }
    if (path === '/metrics') {
      res.writeHead(200, { 'Content-Type': metrics.contentType });
      res.end(await metrics.metrics());
      return;
    }
    if (path === '/get-online-features') return serveFeastShape(req, res, { reader, maxIds, bodyLimit });
    if (path !== '/features') return send(res, 404, { error: { code: 'NOT_FOUND', message: `no route ${path}; try POST /features` } });
    if (req.method !== 'POST') {
      res.setHeader('Allow', 'POST');
      return send(res, 405, { error: { code: 'METHOD_NOT_ALLOWED', message: 'POST /features' } });
    }
    const body = await readBody(req, bodyLimit);
    if (!body.ok) {
      if (body.reason === 'aborted') return void res.destroy();
      // The rest of the body is not read: close the connection after answering.
      res.setHeader('Connection', 'close');
      return send(res, 413, { error: { code: 'TOO_LARGE', message: `request body is over the ${bodyLimit}-byte limit` } });
    }
    const parsed = parseFeaturesRequest(body.text, maxIds);
    if (!parsed.ok) return send(res, 400, { error: { code: parsed.code, message: parsed.message } });
    const { entity, ids, features, context } = parsed.request;
    let vectors: FeatureVector[];
    try {
      vectors = await reader.getMany(entity, ids, { strict: true, features, context });
    } catch (err) {
      if (isFeaturestreamError(err) && CALLER_ERRORS.has(err.code)) return send(res, 400, { error: { code: err.code, message: err.message } });
      throw err;
    }
    sendJson(res, 200, vectorsJson(vectors));
  }

  return {
    server,
    listen: (port, host = '127.0.0.1') =>
      new Promise((resolve, reject) => {
        server.once('error', reject);
        server.listen(port, host, () => {
          server.off('error', reject);
          resolve((server.address() as AddressInfo).port);
        });
      }),
    close: async () => {
      draining = true;
      const closed = new Promise<void>((resolve) => server.close(() => resolve()));
      server.closeIdleConnections();
      if (inFlight > 0) {
        const grace = new Promise<void>((resolve) => {
          drained = resolve;
          setTimeout(resolve, options.drainMs ?? 10_000).unref();
        });
        await grace;
      }
      server.closeAllConnections();
      await closed;
      await reader.close();
    },
  };
}

function send(res: ServerResponse, status: number, body: unknown): void {
  sendJson(res, status, JSON.stringify(body));
}

/** One body, its length known: one write with the headers, no chunked encoding. Headers as a flat list: no object per answer. */
function sendJson(res: ServerResponse, status: number, body: string | Buffer): void {
  res.writeHead(status, ['Content-Type', 'application/json', 'Content-Length', String(typeof body === 'string' ? Buffer.byteLength(body) : body.length)]);
  res.end(body);
}

function digest(text: string): Buffer {
  return createHash('sha256').update(text).digest();
}

/** Constant time: both sides are hashed to 32 bytes first, so neither length nor content leaks. */
function authorized(header: string | undefined, expected: Buffer): boolean {
  const match = /^Bearer (.+)$/.exec(header ?? '');
  return match !== null && timingSafeEqual(digest(match[1]!), expected);
}
