import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, writeFileSync } from 'node:fs';
import { homedir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Kafka, logLevel } from 'kafkajs';
import { ownPid, portOpen, startDetached, stopProcess, waitUntil, type ManagedProcess } from './process.ts';

/** 3.9.x: the newest line whose protocol versions kafkajs 2.2.4 was built against (4.x removed old ones, KIP-896). */
export const KAFKA_VERSION = process.env.FS_KAFKA_VERSION ?? '3.9.1';
const CLUSTER_ID = 'ZmVhdHVyZXN0cmVhbTAx';
const pom = resolve(dirname(fileURLToPath(import.meta.url)), '../kafka/pom.xml');

export function kafkaLibsDir(): string {
  const cache = process.env.XDG_CACHE_HOME ?? join(homedir(), '.cache');
  return join(cache, 'featurestream', `kafka-${KAFKA_VERSION}`);
}

/** Downloads the broker jars from Maven Central once (reused by later runs and clones). */
export function installKafka(log: (m: string) => void): string {
  const libs = kafkaLibsDir();
  const marker = join(libs, '.complete');
  if (existsSync(marker)) return libs;
  if (!existsSync('/usr/bin/mvn') && !process.env.PATH?.split(':').some((d) => existsSync(join(d, 'mvn')))) {
    throw new Error('Kafka needs Maven (`mvn`) to fetch its jars: apt-get install -y maven');
  }
  log(`installing Apache Kafka ${KAFKA_VERSION} jars from Maven Central into ${libs} ...`);
  mkdirSync(libs, { recursive: true });
  execFileSync('mvn', ['-q', '-B', '-Dstyle.color=never', '-f', pom, 'package', `-Dkafka.version=${KAFKA_VERSION}`, `-Dkafka.libs.dir=${libs}`], {
    stdio: ['ignore', 'inherit', 'inherit'],
  });
  writeFileSync(marker, new Date().toISOString());
  return libs;
}

export interface KafkaOptions {
  dir: string;
  port: number;
  controllerPort?: number;
  heapMb?: number;
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

function writeConfig(o: KafkaOptions, home: string): { props: string; log4j: string; data: string } {
  const controllerPort = o.controllerPort ?? o.port + 1;
  const data = join(home, 'data');
  mkdirSync(data, { recursive: true });
  const props = join(home, 'server.properties');
  writeFileSync(
    props,
    [
      'process.roles=broker,controller',
      'node.id=1',
      `controller.quorum.voters=1@127.0.0.1:${controllerPort}`,
      `listeners=PLAINTEXT://127.0.0.1:${o.port},CONTROLLER://127.0.0.1:${controllerPort}`,
      `advertised.listeners=PLAINTEXT://127.0.0.1:${o.port}`,
      'controller.listener.names=CONTROLLER',
      'inter.broker.listener.name=PLAINTEXT',
      'listener.security.protocol.map=CONTROLLER:PLAINTEXT,PLAINTEXT:PLAINTEXT',
      `log.dirs=${data}`,
      'num.partitions=1',
      'auto.create.topics.enable=true',
      'offsets.topic.replication.factor=1',
      'offsets.topic.num.partitions=1',
      'transaction.state.log.replication.factor=1',
      'transaction.state.log.min.isr=1',
      'group.initial.rebalance.delay.ms=0',
      'log.retention.hours=-1',
      'log.segment.bytes=104857600',
      'message.max.bytes=2097152',
      'replica.fetch.max.bytes=2097152',
      '',
    ].join('\n'),
  );
  const log4j = join(home, 'log4j.properties');
  writeFileSync(
    log4j,
    [
      'log4j.rootLogger=WARN, stdout',
      'log4j.appender.stdout=org.apache.log4j.ConsoleAppender',
      'log4j.appender.stdout.layout=org.apache.log4j.PatternLayout',
      'log4j.appender.stdout.layout.ConversionPattern=[%d] %p %m (%c)%n',
      'log4j.logger.kafka.server.KafkaRaftServer=INFO',
      'log4j.logger.kafka.server.BrokerLifecycleManager=INFO',
      '',
    ].join('\n'),
  );
  return { props, log4j, data };
}

/** Starts (or reuses) a single-node KRaft broker+controller on loopback. */
export async function ensureKafka(o: KafkaOptions, log: (m: string) => void): Promise<string> {
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
  const libs = installKafka(log);
  const home = proc.marker;
  const { props, log4j, data } = writeConfig(o, home);
  const cp = `${libs}/*`;
  const jvm = [`-Dlog4j.configuration=file:${log4j}`, '-cp', cp];
  if (!existsSync(join(data, 'meta.properties'))) {
    execFileSync('java', [...jvm, 'kafka.tools.StorageTool', 'format', '-t', CLUSTER_ID, '-c', props, '--ignore-formatted'], {
      stdio: 'ignore',
    });
  }
  const heap = o.heapMb ?? 768;
  startDetached(proc, 'java', [`-Xms256m`, `-Xmx${heap}m`, '-XX:+UseG1GC', '-XX:TieredStopAtLevel=1', ...jvm, 'kafka.Kafka', props]);
  await waitUntil(proc, 'ready', () => kafkaHealthy(o.port), 90_000);
  return endpoint;
}
