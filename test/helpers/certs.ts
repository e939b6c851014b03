/**
 * A throw-away PKI for secured-connection tests, made with the JDK's keytool
 * (as an operator would for a Kafka broker): a self-signed CA, and a server
 * key and certificate for 127.0.0.1 / localhost signed by it. The client side
 * gets the CA as PEM; Kafka reads the PKCS12 keystore; Redis reads PEM files
 * (key extracted with openssl).
 */
import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

export interface TestCerts {
  dir: string;
  /** PEM of the CA that signed the server certificate: what clients trust. */
  caPem: string;
  /** PKCS12 keystore with the server key and its chain (for Kafka). */
  serverKeystore: string;
  keystorePassword: string;
  /** PEM server certificate and unencrypted key (for Redis). */
  serverCertPem: string;
  serverKeyPem: string;
  remove(): void;
}

function keytool(args: string[]): void {
  execFileSync('keytool', args, { stdio: 'pipe' });
}

export function makeTestCerts(): TestCerts {
  const dir = mkdtempSync(join(tmpdir(), 'fs-certs-'));
  const password = 'fs-test-store';
  const ca = join(dir, 'ca.p12');
  const server = join(dir, 'server.p12');
  const store = (file: string) => ['-keystore', file, '-storetype', 'PKCS12', '-storepass', password, '-keypass', password];
  const caPem = join(dir, 'ca.pem');
  const csr = join(dir, 'server.csr');
  const signed = join(dir, 'server.pem');
  keytool(['-genkeypair', '-alias', 'ca', '-keyalg', 'RSA', '-keysize', '2048', '-validity', '2', '-dname', 'CN=featurestream test CA', '-ext', 'bc:c', ...store(ca)]);
  keytool(['-exportcert', '-rfc', '-alias', 'ca', '-file', caPem, ...store(ca)]);
  keytool(['-genkeypair', '-alias', 'server', '-keyalg', 'RSA', '-keysize', '2048', '-validity', '2', '-dname', 'CN=127.0.0.1', ...store(server)]);
  keytool(['-certreq', '-alias', 'server', '-file', csr, ...store(server)]);
  keytool(['-gencert', '-alias', 'ca', '-infile', csr, '-outfile', signed, '-rfc', '-validity', '2', '-ext', 'SAN=ip:127.0.0.1,dns:localhost', '-ext', 'EKU=serverAuth', ...store(ca)]);
  keytool(['-importcert', '-noprompt', '-alias', 'ca', '-file', caPem, ...store(server)]);
  keytool(['-importcert', '-noprompt', '-alias', 'server', '-file', signed, ...store(server)]);
  const keyPem = join(dir, 'server-key.pem');
  const key = execFileSync('openssl', ['pkcs12', '-in', server, '-nocerts', '-nodes', '-passin', `pass:${password}`], { encoding: 'utf8' });
  writeFileSync(keyPem, key.slice(key.indexOf('-----BEGIN')), { mode: 0o600 });
  return {
    dir,
    caPem,
    serverKeystore: server,
    keystorePassword: password,
    serverCertPem: signed,
    serverKeyPem: keyPem,
    remove: () => rmSync(dir, { recursive: true, force: true }),
  };
}
