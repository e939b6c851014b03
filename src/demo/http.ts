/**
 * The demo's look at `featurestream serve`: the HTTP feature server started in this
 * process on the demo's reader, asked once exactly as the printed curl line asks it.
 */
import type { Logger } from '../logger.ts';
import { registry as processMetrics } from '../metrics.ts';
import { createFeatureServer, type FeatureServer } from '../server/server.ts';
import type { FeatureReader } from '../serving/reader.ts';

/** `featurestream serve`'s default port; any free one when it is taken. */
const PREFERRED_PORT = 8080;

export interface ServedOnce {
  server: FeatureServer;
  status: number;
  body: unknown;
  curl: string;
}

async function listen(server: FeatureServer): Promise<number> {
  try {
    return await server.listen(PREFERRED_PORT);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'EADDRINUSE') throw err;
    return server.listen(0);
  }
}

/** Starts the server (closing it closes `reader`), sends one POST /features and prints the reply and the curl line. */
export async function serveOnce(
  reader: FeatureReader,
  logger: Logger,
  request: { entity: string; ids: string[]; features: string[] },
  out: (line: string) => void,
): Promise<ServedOnce> {
  const server = createFeatureServer({ reader, metrics: processMetrics, logger });
  const port = await listen(server);
  const url = `http://127.0.0.1:${port}/features`;
  const payload = JSON.stringify(request);
  const t0 = performance.now();
  const res = await fetch(url, { method: 'POST', headers: { 'content-type': 'application/json' }, body: payload });
  const text = await res.text();
  const ms = performance.now() - t0;
  if (!res.ok) {
    await server.close();
    throw new Error(`the demo's feature server answered ${res.status}: ${text}`);
  }
  const curl = `curl -s -X POST ${url} -H 'content-type: application/json' -d '${payload}'`;
  out(`\nHTTP feature server (featurestream serve) on ${url}: ${res.status} in ${ms.toFixed(1)} ms`);
  out(text);
  out('ask it yourself with:');
  out(`  ${curl}`);
  return { server, status: res.status, body: JSON.parse(text) as unknown, curl };
}
