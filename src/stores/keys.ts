/**
 * The one place that builds Redis keys and DynamoDB keys. Nothing else formats
 * a key, so layout changes (prefixes, hash tags, versions) happen here only.
 *
 * Redis layout, version 1 without prefix (the seed's layout):
 *   user:u12345:features      final feature vector of one feature group (hash)
 *   user:u12345:state         serialized window state + applied offsets (hash)
 *   fs:timers:<partition>     due time -> entity, for re-materializing quiet entities (zset)
 *   fs:active_version         the keyspace version readers follow (string)
 * Version N >= 2 inserts `vN:` after the prefix. With hashTags the entity part
 * becomes `{u12345}` so an entity's keys share one Cluster slot (one Lua call).
 */

export interface KeyspaceOptions {
  /** Namespace in front of every key (tests use a random one). */
  prefix?: string;
  /** Wrap entity ids in `{}` so all of an entity's keys land in one Cluster slot. */
  hashTags?: boolean;
}

export interface EntityRef {
  entityType: string;
  entityId: string;
}

export const DYNAMO_PARTITION_KEY = 'pk';

export class Keys {
  readonly prefix: string;
  readonly hashTags: boolean;

  constructor(options: KeyspaceOptions = {}) {
    this.prefix = options.prefix ?? '';
    this.hashTags = options.hashTags ?? false;
  }

  private base(version: number): string {
    return version <= 1 ? this.prefix : `${this.prefix}v${version}:`;
  }

  private entity(ref: EntityRef, version: number): string {
    const id = this.hashTags ? `{${ref.entityId}}` : ref.entityId;
    return `${this.base(version)}${ref.entityType}:${id}`;
  }

  vector(ref: EntityRef, group: string, version = 1): string {
    return `${this.entity(ref, version)}:${group}`;
  }

  state(ref: EntityRef, version = 1): string {
    return `${this.entity(ref, version)}:state`;
  }

  timers(partition: number, version = 1): string {
    return `${this.base(version)}fs:timers:${partition}`;
  }

  activeVersion(): string {
    return `${this.prefix}fs:active_version`;
  }

  /** Redis key prefix matching every key of one version, for SCAN-based tools. */
  versionPattern(version = 1): string {
    return `${this.base(version)}*`;
  }

  /** DynamoDB partition key value of an entity in one keyspace version. */
  dynamoPk(ref: EntityRef, version = 1): string {
    const v = version <= 1 ? '' : `v${version}#`;
    return `${this.prefix}${v}${ref.entityType}#${ref.entityId}`;
  }

  dynamoKey(ref: EntityRef, version = 1): Record<string, { S: string }> {
    return { [DYNAMO_PARTITION_KEY]: { S: this.dynamoPk(ref, version) } };
  }

  /** Inverse of dynamoPk for one version; undefined when the pk belongs elsewhere. */
  parseDynamoPk(pk: string, version = 1): EntityRef | undefined {
    const head = `${this.prefix}${version <= 1 ? '' : `v${version}#`}`;
    if (!pk.startsWith(head)) return undefined;
    const rest = pk.slice(head.length);
    // Version 1 has no marker, so a `vN#` head means the pk belongs to version N.
    if (version <= 1 && /^v\d+#/.test(rest)) return undefined;
    const sep = rest.indexOf('#');
    if (sep <= 0) return undefined;
    return { entityType: rest.slice(0, sep), entityId: rest.slice(sep + 1) };
  }
}
