/**
 * Public API of the featurestream package. The serving reader and the
 * registry helpers live here; other subsystems add their exports below theirs.
 */

// Serving reader
export { createFeatureReader } from './serving/reader.ts';
export type { FeatureReader, GetOptions } from './serving/reader.ts';
export type { FeatureReaderOptions, RedisSettings } from './serving/setup.ts';
export type { FeatureVector, VectorSource, EntityName, EntityFeatureValues, EntityIdInput, EntityKeyObject, ServedValue, ServedFeatures } from './serving/types.ts';
export type { ReadSource } from './serving/fetcher.ts';
export type { BreakerOptions, BreakerState } from './serving/breaker.ts';
export { validateEntityId, MAX_ENTITY_ID_LENGTH } from './schemas/entity-id.ts';

// Registry
export { defineConfig, loadRegistryFile, parseRegistry } from './schemas/registry.ts';
export type { Registry, RegistryInput, FeatureValues, FeatureValue, DefaultFeatures, RequestContext } from './schemas/registry.ts';

// Errors
export {
  FeaturestreamError,
  ConfigError,
  RegistryError,
  EntityIdError,
  ServiceUnavailableError,
  TimeoutError,
  CircuitOpenError,
  isFeaturestreamError,
  isRetriable,
} from './errors.ts';
export type { ErrorCode } from './errors.ts';

// Connections: the OAUTHBEARER token hook for the Kafka clients featurestream builds
export { setKafkaOAuthBearerProvider } from './consumers/kafka-client.ts';
export type { OAuthBearerProvider } from './consumers/kafka-client.ts';
