/**
 * The default registry: the seed's user features with their training-time
 * defaults, all stored in one hash per user (`user:<id>:features`).
 */
import { BUILTIN_SCHEMAS } from './events.ts';
import { defineConfig } from './registry-input.ts';

const user = { entity: 'user', keyField: 'user_id', timeField: 'ts' } as const;

export const defaultRegistryConfig = defineConfig({
  entities: [{ name: 'user' }],
  sources: [
    { name: 'transactions', ...user, schema: BUILTIN_SCHEMAS.transactions },
    { name: 'logins', ...user, schema: BUILTIN_SCHEMAS.logins },
    { name: 'profiles', ...user, schema: BUILTIN_SCHEMAS.profiles },
  ],
  features: [
    { name: 'tx_count_1h', source: 'transactions', op: 'count', window: '1h', type: 'int', default: 0 },
    { name: 'tx_sum_1h', source: 'transactions', op: 'sum', field: 'amount', window: '1h', type: 'float', default: 0.0 },
    { name: 'tx_count_24h', source: 'transactions', op: 'count', window: '24h', type: 'int', default: 0 },
    { name: 'tx_sum_24h', source: 'transactions', op: 'sum', field: 'amount', window: '24h', type: 'float', default: 0.0 },
    { name: 'avg_tx_90d', source: 'transactions', op: 'avg', field: 'amount', window: '90d', type: 'float', default: 0.0 },
    {
      name: 'distinct_merchants_7d',
      source: 'transactions',
      op: 'distinct_count',
      field: 'merchant_id',
      window: '7d',
      type: 'int',
      default: 0,
    },
    {
      name: 'recent_merchants',
      source: 'transactions',
      op: 'last_k',
      field: 'merchant_id',
      k: 10,
      type: 'string_list',
      default: [],
      freshness: '90d',
    },
    { name: 'credit_score_bucket', source: 'profiles', op: 'last', field: 'credit_score_bucket', type: 'int', default: 2, freshness: '90d' },
    { name: 'is_premium', source: 'profiles', op: 'last', field: 'is_premium', type: 'int', default: 0, freshness: '90d' },
    // Helper for account_age_days: epoch ms, read by the on-demand feature.
    { name: 'created_at', source: 'profiles', op: 'last', field: 'created_at', type: 'int', default: 0, freshness: '90d' },
    { name: 'last_login_ts', source: 'logins', op: 'last_time', type: 'int', default: 0, freshness: '4h' },
  ],
  onDemand: [
    { name: 'account_age_days', entity: 'user', kind: 'time_since', input: 'created_at', unit: 'd', default: 0 },
    {
      name: 'seconds_since_last_login',
      entity: 'user',
      kind: 'time_since',
      input: 'last_login_ts',
      inputUnit: 's',
      unit: 's',
      default: -1,
    },
    { name: 'hour_of_day', entity: 'user', kind: 'hour_of_day', default: 0 },
    { name: 'day_of_week', entity: 'user', kind: 'day_of_week', default: 0 },
    { name: 'is_weekend', entity: 'user', kind: 'is_weekend', default: 0 },
  ],
  groups: [
    {
      name: 'features',
      features: [
        'tx_count_1h',
        'tx_sum_1h',
        'tx_count_24h',
        'tx_sum_24h',
        'avg_tx_90d',
        'distinct_merchants_7d',
        'recent_merchants',
        'credit_score_bucket',
        'is_premium',
        'created_at',
        'last_login_ts',
      ],
    },
  ],
});
