import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { portOpen } from '../../scripts/services/process.ts';

/**
 * A loopback port (`span` ports from the one returned) nobody listens on right now, for a server
 * a test owns; with `bus`, also each one's Cluster bus port (+10000).
 * Drawn from 12000-20999 (bus ports 22000-30999), below Linux's ephemeral range (32768+): a port
 * in that range can be taken by an outgoing connection, which no listen check sees.
 */
export async function sparePort(span = 1, bus = false): Promise<number> {
  for (;;) {
    const port = 12_000 + Math.floor(Math.random() * (9_000 - span));
    const ports = Array.from({ length: span }, (_, i) => port + i);
    const taken = await Promise.all([...ports, ...(bus ? ports.map((p) => p + 10_000) : [])].map((p) => portOpen(p)));
    if (!taken.some(Boolean)) return port;
  }
}

/**
 * Starts a server on spare ports in a fresh temp dir (named from `dirPrefix`). When the server
 * could not bind, the dir is removed and new ports are drawn: another test process may take a
 * port between the check above and the server's bind.
 */
export async function withSparePort<T>(span: number, dirPrefix: string, start: (port: number, dir: string) => Promise<T>, attempts = 3): Promise<T> {
  for (let attempt = 1; ; attempt++) {
    const port = await sparePort(span);
    const dir = mkdtempSync(join(tmpdir(), dirPrefix));
    try {
      return await start(port, dir);
    } catch (err) {
      rmSync(dir, { recursive: true, force: true });
      if (attempt >= attempts || !/address already in use|is taken by/i.test(String(err))) throw err;
    }
  }
}
