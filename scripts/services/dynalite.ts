import { dirname, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { DynamoDBClient, ListTablesCommand } from '@aws-sdk/client-dynamodb';
import { ownPid, portOpen, startDetached, stopProcess, waitUntil, type ManagedProcess } from './process.ts';

process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED ??= 'true';
const serverScript = resolve(dirname(fileURLToPath(import.meta.url)), 'dynalite-server.mjs');

export interface DynaliteOptions {
  dir: string;
  port: number;
  /** LevelDB directory: tables survive a stop/start (outage tests). Default: in memory. */
  dataDir?: string;
}

export function dynaliteProcess(o: DynaliteOptions): ManagedProcess {
  return { name: `dynalite-${o.port}`, dir: o.dir, marker: `dynalite-server.mjs ${o.port}` };
}

export async function dynaliteHealthy(port: number): Promise<boolean> {
  if (!(await portOpen(port))) return false;
  const client = new DynamoDBClient({
    endpoint: `http://127.0.0.1:${port}`,
    region: 'us-east-1',
    credentials: { accessKeyId: 'local', secretAccessKey: 'local' },
    maxAttempts: 1,
  });
  try {
    await client.send(new ListTablesCommand({ Limit: 1 }));
    return true;
  } catch {
    return false;
  } finally {
    client.destroy();
  }
}

export async function ensureDynalite(o: DynaliteOptions, log: (m: string) => void): Promise<string> {
  const proc = dynaliteProcess(o);
  const endpoint = `http://127.0.0.1:${o.port}`;
  if (ownPid(proc) !== undefined) {
    if (await dynaliteHealthy(o.port)) return endpoint;
    log(`dynalite on ${o.port} is running but unhealthy; replacing it`);
    await stopProcess(proc, 3_000);
  } else if (await portOpen(o.port)) {
    throw new Error(`port ${o.port} is taken by a process that is not ours; set FS_DYNAMODB_PORT or DYNAMODB_ENDPOINT`);
  }
  startDetached(proc, process.execPath, [serverScript, String(o.port), ...(o.dataDir ? [o.dataDir] : [])]);
  await waitUntil(proc, 'ready', () => dynaliteHealthy(o.port), 20_000);
  return endpoint;
}
