import { DynamoDBClient, type DynamoDBClientConfig } from '@aws-sdk/client-dynamodb';
import type { EnvConfig } from '../config.ts';

// The SDK version is pinned (package-lock) for Node 20, so its Node 22 notice is noise on every start.
process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED ??= 'true';

/**
 * DynamoDB client for real AWS (ordinary SDK credential chain) or a local
 * endpoint such as dynalite, which accepts any credentials.
 */
export function createDynamoClient(
  env: Pick<EnvConfig, 'DYNAMODB_ENDPOINT' | 'AWS_REGION'>,
  overrides: DynamoDBClientConfig = {},
): DynamoDBClient {
  const local = env.DYNAMODB_ENDPOINT !== undefined;
  const hasCreds = Boolean(process.env.AWS_ACCESS_KEY_ID || process.env.AWS_PROFILE);
  return new DynamoDBClient({
    region: env.AWS_REGION,
    ...(local ? { endpoint: env.DYNAMODB_ENDPOINT } : {}),
    ...(local && !hasCreds ? { credentials: { accessKeyId: 'local', secretAccessKey: 'local' } } : {}),
    ...overrides,
  });
}
