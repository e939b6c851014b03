import { envFields, envSchema, SECRET_VARIABLES, type EnvConfig } from './schemas/env.ts';
import { ConfigError } from './errors.ts';

export type { EnvConfig };

/** A value as an error may print it: secrets are named, never echoed; a URL loses its password. */
function shown(name: string, value: string): string {
  if (SECRET_VARIABLES.has(name)) return '<redacted>';
  if (name === 'REDIS_URL' && value.includes('@')) {
    try {
      const url = new URL(value);
      if (url.password) url.password = 'redacted';
      return JSON.stringify(url.toString());
    } catch {
      return '<redacted: not a URL, may hold a password>';
    }
  }
  return JSON.stringify(value);
}

/**
 * Parses the environment once at start-up. Empty strings count as unset so a
 * blank `export X=` falls back to the default instead of failing obscurely.
 */
export function loadEnvConfig(env: NodeJS.ProcessEnv = process.env): EnvConfig {
  const input: Record<string, string> = {};
  for (const key of Object.keys(envFields.shape)) {
    const value = env[key];
    if (value !== undefined && value !== '') input[key] = value;
  }
  const parsed = envSchema.safeParse(input);
  if (!parsed.success) {
    const problems = parsed.error.issues.map((issue) => {
      const name = String(issue.path[0] ?? 'environment');
      return `${name}=${shown(name, input[name] ?? '')}: ${issue.message}`;
    });
    throw new ConfigError(`invalid environment: ${problems.join('; ')}`, {
      details: { variables: parsed.error.issues.map((i) => String(i.path[0])) },
    });
  }
  return parsed.data;
}
