import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, writeFileSync } from 'node:fs';
import { homedir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Kafka, logLevel } from 'kafkajs';
import { ownPid, portOpen, startDetached, stopProcess, waitUntil, type ManagedProcess } from './process.ts';

/**
 * The broker version the services script starts: a current 4.x by default;
 * FS_KAFKA_VERSION=3.9.1 keeps the 3.9 line (CI runs a lighter pass on it).
 */
export const KAFKA_VERSION = process.env.FS_KAFKA_VERSION ?? '4.1.1';
const CLUSTER_ID = 'ZmVhdHVyZXN0cmVhbTAx';
const pom = resolve(dirname(fileURLToPath(import.meta.url)), '../kafka/pom.xml');

export function kafkaMajor(version: string): number {
  const major = Number(version.split('.')[0]);
  if (!Number.isInteger(major) || major < 3) throw new Error(`FS_KAFKA_VERSION=${version}: expected 3.x or 4.x`);
  return major;
}

/** 4.x logs through log4j2; 3.x through reload4j (the pom's profiles). */
function loggingOf(version: string): 'log4j2' | 'reload4j' {
  return kafkaMajor(version) >= 4 ? 'log4j2' : 'reload4j';
}

export function kafkaLibsDir(version = KAFKA_VERSION): string {
  const cache = process.env.XDG_CACHE_HOME ?? join(homedir(), '.cache');
  return join(cache, 'featurestream', `kafka-${version}`);
}

/** Downloads the broker jars from Maven Central once (reused by later runs and clones). */
export function installKafka(log: (m: string) => void, version = KAFKA_VERSION): string {
  const libs = kafkaLibsDir(version);
  const marker = join(libs, '.complete');
  if (existsSync(marker)) return libs;
  if (!existsSync('/usr/bin/mvn') && !process.env.PATH?.split(':').some((d) => existsSync(join(d, 'mvn')))) {
    throw new Error('Kafka needs Maven (`mvn`) to fetch its jars: apt-get install -y maven');
  }
  log(`installing Apache Kafka ${version} jars from Maven Central into ${libs} ...`);
  mkdirSync(libs, { recursive: true });
  const args = ['-q', '-B', '-Dstyle.color=never', '-f', pom, 'package', `-Dkafka.version=${version}`, `-Dkafka.logging=${loggingOf(version)}`, `-Dkafka.libs.dir=${libs}`];
  execFileSync('mvn', args, { stdio: ['ignore', 'inherit', 'inherit'] });
  writeFileSync(marker, new Date().toISOString());
  return libs;
}

/** A SASL_SSL listener beside the PLAINTEXT one (secured-connection tests). */
export interface KafkaSaslSsl {
  port: number;
  /** PKCS12 keystore holding the broker's key and certificate (SAN IP:127.0.0.1). */
  keystore: string;
  keystorePassword: string;
  /** PLAIN users: name -> password. */
  plainUsers: Record<string, string>;
  /** SCRAM-SHA-256 and SCRAM-SHA-512 users (added to the metadata log at format time). */
  scramUsers?: Record<string, string>;
}

export interface KafkaOptions {
  dir: string;
  port: number;
  controllerPort?: number;
  heapMb?: number;
  /** Broker version (default KAFKA_VERSION). */
  version?: string;
  saslSsl?: KafkaSaslSsl;
}

export function kafkaProcess(o: KafkaOptions): ManagedProcess {
  return { name: `kafka-${o.port}`, dir: o.dir, marker: join(o.dir, `kafka-${o.port}`) };
}

export async function kafkaHealthy(port: number): Promise<boolean> {
  if (!(await portOpen(port))) return false;
  const admin = new Kafka({
    brokers: [`127.0.0.1:${port}`],
    clientId: 'featurestream-services',
    logLevel: logLevel.NOTHING,
    connectionTimeout: 1_000,
    requestTimeout: 3_000,
    retry: { retries: 0 },
  }).admin();
  try {
    await admin.connect();
    const cluster = await admin.describeCluster();
    return cluster.brokers.length > 0;
  } catch {
    return false;
  } finally {
    await admin.disconnect().catch(() => undefined);
  }
}

function securityProps(o: KafkaOptions): { listeners: string[]; advertised: string[]; protocols: string[]; props: string[] } {
  const s = o.saslSsl;
  if (!s) return { listeners: [], advertised: [], protocols: [], props: [] };
  const jaas = (module: string, extra = '') => `org.apache.kafka.common.security.${module} required${extra};`;
  const plainUsers = Object.entries(s.plainUsers).map(([u, p]) => ` user_${u}="${p}"`).join('');
  return {
    listeners: [`SASL_SSL://127.0.0.1:${s.port}`],
    advertised: [`SASL_SSL://127.0.0.1:${s.port}`],
    protocols: ['SASL_SSL:SASL_SSL'],
    props: [
      'sasl.enabled.mechanisms=PLAIN,SCRAM-SHA-256,SCRAM-SHA-512',
      `listener.name.sasl_ssl.plain.sasl.jaas.config=${jaas('plain.PlainLoginModule', plainUsers)}`,
      `listener.name.sasl_ssl.scram-sha-256.sasl.jaas.config=${jaas('scram.ScramLoginModule')}`,
      `listener.name.sasl_ssl.scram-sha-512.sasl.jaas.config=${jaas('scram.ScramLoginModule')}`,
      `ssl.keystore.location=${s.keystore}`,
      'ssl.keystore.type=PKCS12',
      `ssl.keystore.password=${s.keystorePassword}`,
      `ssl.key.password=${s.keystorePassword}`,
      'ssl.client.auth=none',
    ],
  };
}

function writeConfig(o: KafkaOptions, home: string, version: string): { props: string; log4j: string; data: string } {
  const controllerPort = o.controllerPort ?? o.port + 1;
  const data = join(home, 'data');
  mkdirSync(data, { recursive: true });
  const props = join(home, 'server.properties');
  const sec = securityProps(o);
  const major = kafkaMajor(version);
  writeFileSync(
    props,
    [
      'process.roles=broker,controller',
      'node.id=1',
      // A static single-voter quorum: supported on 3.9 and 4.x alike (4.x also offers `format --standalone`).
      `controller.quorum.voters=1@127.0.0.1:${controllerPort}`,
      `listeners=${[`PLAINTEXT://127.0.0.1:${o.port}`, `CONTROLLER://127.0.0.1:${controllerPort}`, ...sec.listeners].join(',')}`,
      `advertised.listeners=${[`PLAINTEXT://127.0.0.1:${o.port}`, ...sec.advertised].join(',')}`,
      'controller.listener.names=CONTROLLER',
      'inter.broker.listener.name=PLAINTEXT',
      `listener.security.protocol.map=${['CONTROLLER:PLAINTEXT', 'PLAINTEXT:PLAINTEXT', ...sec.protocols].join(',')}`,
      `log.dirs=${data}`,
      'num.partitions=1',
      'auto.create.topics.enable=true',
      'offsets.topic.replication.factor=1',
      'offsets.topic.num.partitions=1',
      'transaction.state.log.replication.factor=1',
      'transaction.state.log.min.isr=1',
      // 4.x has a share-group coordinator (on by default from 4.2); its state topic defaults to 3 replicas.
      ...(major >= 4 ? ['share.coordinator.state.topic.replication.factor=1', 'share.coordinator.state.topic.min.isr=1'] : []),
      'group.initial.rebalance.delay.ms=0',
      'log.retention.hours=-1',
      'log.segment.bytes=104857600',
      'message.max.bytes=2097152',
      'replica.fetch.max.bytes=2097152',
      ...sec.props,
      '',
    ].join('\n'),
  );
  const log4j = major >= 4 ? writeLog4j2(home) : writeReload4j(home);
  return { props, log4j, data };
}

/** The start-up lines at INFO, everything else at WARN: quiet logs in .services/. */
const STARTUP_LOGGERS = ['kafka.server.KafkaRaftServer', 'kafka.server.BrokerLifecycleManager'];

function writeReload4j(home: string): string {
  const file = join(home, 'log4j.properties');
  writeFileSync(
    file,
    [
      'log4j.rootLogger=WARN, stdout',
      'log4j.appender.stdout=org.apache.log4j.ConsoleAppender',
      'log4j.appender.stdout.layout=org.apache.log4j.PatternLayout',
      'log4j.appender.stdout.layout.ConversionPattern=[%d] %p %m (%c)%n',
      ...STARTUP_LOGGERS.map((l) => `log4j.logger.${l}=INFO`),
      '',
    ].join('\n'),
  );
  return file;
}

function writeLog4j2(home: string): string {
  const file = join(home, 'log4j2.xml');
  writeFileSync(
    file,
    [
      '<?xml version="1.0" encoding="UTF-8"?>',
      '<Configuration status="WARN">',
      '  <Appenders>',
      '    <Console name="stdout" target="SYSTEM_OUT"><PatternLayout pattern="[%d] %p %m (%c)%n"/></Console>',
      '  </Appenders>',
      '  <Loggers>',
      '    <Root level="WARN"><AppenderRef ref="stdout"/></Root>',
      ...STARTUP_LOGGERS.map((l) => `    <Logger name="${l}" level="INFO"/>`),
      '  </Loggers>',
      '</Configuration>',
      '',
    ].join('\n'),
  );
  return file;
}

/** JVM flags that point the broker's logging at our config file. */
function loggingFlag(version: string, file: string): string {
  return loggingOf(version) === 'log4j2' ? `-Dlog4j2.configurationFile=${file}` : `-Dlog4j.configuration=file:${file}`;
}

/** `kafka.tools.StorageTool` on 3.9 and 4.x (4.x keeps the class in the core jar). */
const STORAGE_TOOL = 'kafka.tools.StorageTool';

function formatArgs(o: KafkaOptions): string[] {
  const users = o.saslSsl?.scramUsers ?? {};
  return Object.entries(users).flatMap(([u, p]) => ['SCRAM-SHA-256', 'SCRAM-SHA-512'].flatMap((m) => ['--add-scram', `${m}=[name=${u},password=${p}]`]));
}

/** Starts (or reuses) a single-node KRaft broker+controller on loopback. */
export async function ensureKafka(o: KafkaOptions, log: (m: string) => void): Promise<string> {
  const version = o.version ?? KAFKA_VERSION;
  const proc = kafkaProcess(o);
  const endpoint = `127.0.0.1:${o.port}`;
  if (ownPid(proc) !== undefined) {
    if (await kafkaHealthy(o.port)) return endpoint;
    log(`kafka on ${o.port} is running but unhealthy; waiting, then replacing it`);
    try {
      await waitUntil(proc, 'healthy', () => kafkaHealthy(o.port), 20_000);
      return endpoint;
    } catch {
      await stopProcess(proc);
    }
  } else if (await portOpen(o.port)) {
    throw new Error(`port ${o.port} is taken by a process that is not ours; set FS_KAFKA_PORT or KAFKA_BROKERS`);
  }
  const libs = installKafka(log, version);
  const home = proc.marker;
  const { props, log4j, data } = writeConfig(o, home, version);
  const jvm = [loggingFlag(version, log4j), '-cp', `${libs}/*`];
  if (!existsSync(join(data, 'meta.properties'))) {
    execFileSync('java', [...jvm, STORAGE_TOOL, 'format', '-t', CLUSTER_ID, '-c', props, '--ignore-formatted', ...formatArgs(o)], {
      stdio: 'pipe',
    });
  }
  const heap = o.heapMb ?? 768;
  startDetached(proc, 'java', [`-Xms256m`, `-Xmx${heap}m`, '-XX:+UseG1GC', '-XX:TieredStopAtLevel=1', ...jvm, 'kafka.Kafka', props]);
  await waitUntil(proc, 'ready', () => kafkaHealthy(o.port), 90_000);
  return endpoint;
}
