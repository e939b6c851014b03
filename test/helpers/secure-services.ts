/**
 * Private servers with secured listeners, for the secure-* integration tests:
 * a Kafka broker with a SASL_SSL listener (PLAIN and SCRAM users) beside its
 * PLAINTEXT one, and a Redis that speaks only TLS and has an ACL user (the
 * default user is off). Each runs on spare loopback ports in its own temp dir
 * and is stopped by pid with `stop()` (call it in afterAll).
 */
import { readFileSync, rmSync, writeFileSync } from 'node:fs';
import { connect } from 'node:tls';
import { join } from 'node:path';
import { ensureKafka, kafkaProcess } from '../../scripts/services/kafka.ts';
import { installRedis } from '../../scripts/services/redis.ts';
import { startDetached, stopProcess, waitUntil, type ManagedProcess } from '../../scripts/services/process.ts';
import { withSparePort } from './ports.ts';
import type { TestCerts } from './certs.ts';

const log = (m: string) => process.stderr.write(`[secure-services] ${m}\n`);

export interface SecureKafka {
  /** host:port of the SASL_SSL listener. */
  secureEndpoint: string;
  /** host:port of the PLAINTEXT listener (test set-up only). */
  plainEndpoint: string;
  stop(): Promise<void>;
}

export async function secureKafka(certs: TestCerts, users: { plain: Record<string, string>; scram?: Record<string, string> }): Promise<SecureKafka> {
  const { o, plainEndpoint } = await withSparePort(3, 'fs-kafka-sasl-', async (port, dir) => {
    const o = {
      dir,
      port,
      heapMb: 512,
      saslSsl: {
        port: port + 2,
        keystore: certs.serverKeystore,
        keystorePassword: certs.keystorePassword,
        plainUsers: users.plain,
        ...(users.scram ? { scramUsers: users.scram } : {}),
      },
    };
    return { o, plainEndpoint: await ensureKafka(o, log) };
  });
  return {
    plainEndpoint,
    secureEndpoint: `127.0.0.1:${o.saslSsl.port}`,
    stop: async () => {
      await stopProcess(kafkaProcess(o), 10_000);
      rmSync(o.dir, { recursive: true, force: true });
    },
  };
}

export interface SecureRedis {
  /** redis:// URL without credentials; TLS comes from REDIS_TLS_CA_FILE. */
  url: string;
  port: number;
  stop(): Promise<void>;
}

/** Answers a TLS handshake trusting only the test CA. */
function tlsUp(port: number, ca: string): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = connect({ host: '127.0.0.1', port, ca, servername: 'localhost' }, () => {
      socket.destroy();
      resolve(true);
    });
    socket.setTimeout(1_000, () => {
      socket.destroy();
      resolve(false);
    });
    socket.once('error', () => resolve(false));
  });
}

export function secureRedis(certs: TestCerts, user: { name: string; password: string }): Promise<SecureRedis> {
  return withSparePort(1, 'fs-redis-tls-', (port, dir) => startSecureRedis(certs, user, port, dir));
}

async function startSecureRedis(certs: TestCerts, user: { name: string; password: string }, port: number, dir: string): Promise<SecureRedis> {
  const conf = join(dir, 'redis.conf');
  writeFileSync(
    conf,
    [
      'bind 127.0.0.1',
      'port 0',
      `tls-port ${port}`,
      `tls-cert-file ${certs.serverCertPem}`,
      `tls-key-file ${certs.serverKeyPem}`,
      `tls-ca-cert-file ${certs.caPem}`,
      'tls-auth-clients no',
      `dir ${dir}`,
      'save ""',
      'appendonly no',
      'maxmemory-policy noeviction',
      // Redis rewrites its process title; keep the config path in it so the pid is known to be ours.
      'proc-title-template "{title} {config-file}"',
      'user default off',
      `user ${user.name} on >${user.password} ~* &* +@all`,
      '',
    ].join('\n'),
    { mode: 0o600 },
  );
  const proc: ManagedProcess = { name: `redis-tls-${port}`, dir, marker: conf };
  startDetached(proc, installRedis(log), [conf]);
  const ca = readFileSync(certs.caPem, 'utf8');
  await waitUntil(proc, 'ready', () => tlsUp(port, ca), 20_000);
  return {
    url: `redis://127.0.0.1:${port}`,
    port,
    stop: async () => {
      await stopProcess(proc, 3_000);
      rmSync(dir, { recursive: true, force: true });
    },
  };
}
