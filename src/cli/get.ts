/**
 * `featurestream get <entity> <id...>`: reads feature vectors the way a model
 * server would, for checking what is served. Stdout carries the vectors only
 * (JSON lines with --json); logs go to stderr.
 */
import { InvalidArgumentError, Option, type Command } from 'commander';
import { loadRegistryFile } from '../schemas/registry.ts';
import type { ReadSource } from '../serving/fetcher.ts';
import { createFeatureReader } from '../serving/reader.ts';
import type { FeatureVector } from '../serving/types.ts';

interface GetFlags {
  source: ReadSource;
  json?: boolean;
  config?: string;
  deadline: number;
  features?: string[];
}

function positiveInt(value: string): number {
  const n = Number(value);
  if (!Number.isSafeInteger(n) || n <= 0) throw new InvalidArgumentError('expected a positive whole number of ms');
  return n;
}

export function register(program: Command): void {
  program
    .command('get')
    .description('print the feature vectors served for entities')
    .argument('<entity>', 'entity type, e.g. user')
    .argument('<id...>', 'entity ids')
    .addOption(new Option('--source <store>', 'where to read').choices(['auto', 'redis', 'dynamodb']).default('auto'))
    .option('--json', 'one JSON object per line: {entity_id, features, source, defaulted, age_ms}')
    .option('--config <file>', 'feature registry (.json, or a module exporting defineConfig); default: the built-in registry')
    .option('--features <names...>', 'only these features (the groups holding them are the only ones read)')
    .option('--deadline <ms>', 'per-call deadline; generous by default since this is not the hot path', positiveInt, 2_000)
    .action(async (entity: string, ids: string[], flags: GetFlags) => {
      const registry = await loadRegistryFile(flags.config);
      const reader = createFeatureReader({ registry, cache: false, deadlineMs: flags.deadline });
      try {
        if (flags.source !== 'dynamodb') await reader.ready(flags.deadline);
        // strict: an invalid id fails the command (non-zero exit, naming it) instead of printing a rejected row.
        const vectors = await reader.getMany(entity, ids, { source: flags.source, strict: true, ...(flags.features ? { features: flags.features } : {}) });
        process.stdout.write(flags.json ? vectors.map(toJsonLine).join('') : vectors.map(toTable).join('\n'));
      } finally {
        await reader.close();
      }
    });
}

/** Float32Array would serialize as an index-keyed object; plain arrays read better everywhere. */
function plain(value: unknown): unknown {
  return value instanceof Float32Array ? Array.from(value) : value;
}

function toJsonLine(v: FeatureVector): string {
  const features: Record<string, unknown> = {};
  for (const [name, value] of Object.entries(v.features)) features[name] = plain(value);
  return `${JSON.stringify({ entity_id: v.entityId, features, source: v.source, defaulted: v.defaulted, age_ms: v.ageMs ?? null })}\n`;
}

function toTable(v: FeatureVector): string {
  const age = v.ageMs === undefined ? '-' : `${v.ageMs} ms`;
  const version = v.version === undefined ? '' : `  version ${v.version}`;
  const defaulted = new Set(v.defaulted);
  const rows = Object.entries(v.features).map(([name, value]) => [name, JSON.stringify(plain(value)) ?? String(value), defaulted.has(name) ? 'default' : '']);
  const width = Math.max(7, ...rows.map((r) => r[0]!.length));
  const valueWidth = Math.max(5, ...rows.map((r) => r[1]!.length));
  const lines = [
    `${v.entityId}  source ${v.source}  age ${age}${version}`,
    `  ${'feature'.padEnd(width)}  ${'value'.padEnd(valueWidth)}  note`,
    ...rows.map(([name, value, note]) => `  ${name!.padEnd(width)}  ${value!.padEnd(valueWidth)}  ${note}`.trimEnd()),
  ];
  return `${lines.join('\n')}\n`;
}
