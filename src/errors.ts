/**
 * Every error featurestream throws on purpose is a FeaturestreamError: callers
 * branch on `code` and `retriable`, never on message text.
 */
export type ErrorCode =
  | 'CONFIG_INVALID'
  | 'REGISTRY_INVALID'
  | 'EVENT_INVALID'
  | 'EVENT_TOO_LARGE'
  | 'EVENT_IN_FUTURE'
  | 'ENTITY_ID_INVALID'
  | 'STATE_CORRUPT'
  | 'SERVICE_UNAVAILABLE'
  | 'TIMEOUT'
  | 'CIRCUIT_OPEN'
  | 'FENCED'
  | 'STORE_REJECTED'
  | 'NOT_FOUND'
  | 'REPLICA_LAG'
  | 'REDIS_DATA_LOST'
  | 'SCRIPT_UNUSABLE';

export interface ErrorOptions {
  cause?: unknown;
  details?: Record<string, unknown>;
}

export class FeaturestreamError extends Error {
  readonly code: ErrorCode;
  readonly retriable: boolean;
  readonly details: Record<string, unknown>;

  constructor(code: ErrorCode, message: string, retriable: boolean, options: ErrorOptions = {}) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.name = new.target.name;
    this.code = code;
    this.retriable = retriable;
    this.details = options.details ?? {};
  }
}

/** Bad configuration: fails at start-up; the message names the offending field or variable. */
export class ConfigError extends FeaturestreamError {
  constructor(message: string, options?: ErrorOptions) {
    super('CONFIG_INVALID', message, false, options);
  }
}

/** A feature registry that breaks a schema or cross-field rule; the message names the path. */
export class RegistryError extends FeaturestreamError {
  constructor(message: string, options?: ErrorOptions) {
    super('REGISTRY_INVALID', message, false, options);
  }
}

/** Input that can never be processed: dead-lettered, never retried. */
export class InvalidEventError extends FeaturestreamError {
  constructor(
    code: Extract<ErrorCode, 'EVENT_INVALID' | 'EVENT_TOO_LARGE' | 'EVENT_IN_FUTURE' | 'ENTITY_ID_INVALID'>,
    message: string,
    options?: ErrorOptions,
  ) {
    super(code, message, false, options);
  }
}

export class EntityIdError extends FeaturestreamError {
  constructor(message: string, options?: ErrorOptions) {
    super('ENTITY_ID_INVALID', message, false, options);
  }
}

export class StateCorruptError extends FeaturestreamError {
  constructor(message: string, options?: ErrorOptions) {
    super('STATE_CORRUPT', message, false, options);
  }
}

/** A backing service (Kafka, Redis, DynamoDB) could not be reached; worth retrying. */
export class ServiceUnavailableError extends FeaturestreamError {
  constructor(service: 'kafka' | 'redis' | 'dynamodb', message: string, options?: ErrorOptions) {
    super('SERVICE_UNAVAILABLE', `${service}: ${message}`, true, {
      ...options,
      details: { service, ...options?.details },
    });
  }
}

export class TimeoutError extends FeaturestreamError {
  constructor(message: string, options?: ErrorOptions) {
    super('TIMEOUT', message, true, options);
  }
}

export class CircuitOpenError extends FeaturestreamError {
  constructor(message: string, options?: ErrorOptions) {
    super('CIRCUIT_OPEN', message, true, options);
  }
}

export function isFeaturestreamError(e: unknown): e is FeaturestreamError {
  return e instanceof FeaturestreamError;
}

export function isRetriable(e: unknown): boolean {
  return isFeaturestreamError(e) ? e.retriable : false;
}
