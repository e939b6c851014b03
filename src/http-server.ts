/**
 * Minimal node:http server for long-running commands: /metrics (Prometheus
 * text), /healthz (the process can make progress), /readyz (it is doing its job).
 */
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';

export interface Probe {
  ok: boolean;
  detail?: Record<string, unknown>;
}

/** What /metrics serves: a prom-client registry, or the primary's aggregate over worker processes. */
export interface MetricsSource {
  readonly contentType: string;
  metrics(): Promise<string>;
}

export interface HttpServerOptions {
  port: number;
  host?: string;
  registry: MetricsSource;
  health: () => Probe;
  ready: () => Probe;
}

export interface RunningHttpServer {
  port: number;
  close(): Promise<void>;
}

export async function startHttpServer(options: HttpServerOptions): Promise<RunningHttpServer> {
  const server: Server = createServer((req, res) => {
    const path = (req.url ?? '/').split('?')[0];
    const probe = path === '/healthz' ? options.health : path === '/readyz' ? options.ready : undefined;
    if (probe) {
      const result = probe();
      res.writeHead(result.ok ? 200 : 503, { 'content-type': 'application/json' });
      res.end(JSON.stringify({ ok: result.ok, ...result.detail }));
      return;
    }
    if (path === '/metrics') {
      options.registry.metrics().then(
        (text) => {
          res.writeHead(200, { 'content-type': options.registry.contentType });
          res.end(text);
        },
        (err: unknown) => {
          res.writeHead(500, { 'content-type': 'text/plain' });
          res.end(String(err));
        },
      );
      return;
    }
    res.writeHead(404, { 'content-type': 'text/plain' });
    res.end('not found\n');
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(options.port, options.host ?? '0.0.0.0', () => resolve());
  });
  return {
    port: (server.address() as AddressInfo).port,
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}
