import { keySlot, SLOT_COUNT } from './slot.ts';

/**
 * The one place that builds Redis keys and DynamoDB keys. Nothing else formats
 * a key, so layout changes (prefixes, hash tags, versions) happen here only.
 *
 * Redis layout, version 1 without prefix (the seed's layout):
 *   user:u12345:features      final feature vector of one feature group (hash)
 *   user:u12345:state         serialized window state + applied offsets (hash)
 *   fs:timers:<partition>     due time -> entity, for re-materializing quiet entities (zset)
 *   fs:epoch:<partition>      write epoch of a Kafka partition; on a single node also its fence (string)
 *   fs:fence:{<tag>}:<partition>   Cluster: the partition's fence in the slot of <tag> (string)
 *   fs:active_version         the keyspace version readers follow (string)
 *   fs:backfill, fs:handover, fs:layouts   backfill bookkeeping (see consumers/backfill)
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

/** Stands for the id in `vectorAround`: entity and group names never hold it (registry names are [a-z0-9_]). */
const ID_MARK = '*';

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

  /** Write epoch of one Kafka partition (consumers/partition-epoch.ts); on a single node also the partition's fence key. */
  partitionEpoch(partition: number, version = 1): string {
    return `${this.base(version)}fs:epoch:${partition}`;
  }

  /** Cluster: the fence key of one Kafka partition in one slot (a Lua call may only touch keys of its own slot). */
  partitionFence(partition: number, slot: number, version = 1): string {
    return `${this.base(version)}fs:fence:{${slotTag(slot)}}:${partition}`;
  }

  activeVersion(): string {
    return `${this.prefix}fs:active_version`;
  }

  /** The running backfill's record (JSON: target version, group, offsets), so a restart resumes the same build. */
  backfill(): string {
    return `${this.prefix}fs:backfill`;
  }

  /** Hash the backfill and live workers share while version N takes over: positions and switched partitions. */
  handover(): string {
    return `${this.prefix}fs:handover`;
  }

  /** Hash keyspace version -> registry layout fingerprint: a worker writes only versions built for its registry. */
  layouts(): string {
    return `${this.prefix}fs:layouts`;
  }

  /**
   * Recovery mark of one consumer group's topic-partition on one Redis master:
   * the last offset whose writes that master acknowledged (consumers/recovery-marks.ts).
   * `nodeTag` is a hash tag chosen to land on that master; none on a single node.
   */
  recoveryMark(groupId: string, topic: string, partition: number, nodeTag?: string): string {
    const tag = nodeTag === undefined ? '' : `{${nodeTag}}:`;
    return `${this.prefix}fs:mark:${tag}${groupId}:${topic}:${partition}`;
  }

  /** DynamoDB pk of the durable keyspace record (active version + layouts); `#` first, so parseDynamoPk never takes it for an entity. */
  dynamoKeyspacePk(): string {
    return `${this.prefix}#fs#keyspace`;
  }

  /**
   * BullMQ queue name of the DynamoDB sync. BullMQ forbids `:` in queue names
   * and builds its own keys as `<bullPrefix>:<name>:...`, so our namespace goes
   * into the prefix instead. One queue serves every keyspace version (jobs say
   * which version they are for).
   */
  syncQueueName(): string {
    return 'fs-sync';
  }

  /** BullMQ `prefix` option; on a Cluster the `{}` hash tag keeps all queue keys in one slot, as BullMQ requires. */
  bullPrefix(): string {
    return this.hashTags ? `${this.prefix}{fs-bull}` : `${this.prefix}fs-bull`;
  }

  /** SCAN pattern matching the vector hashes of one entity type and group. */
  vectorPattern(entityType: string, group: string, version = 1): string {
    return this.vector({ entityType, entityId: '*' }, group, version);
  }

  /**
   * The vector key of any id of one entity type and group is `head + id + tail`:
   * for callers building many keys at once (the reader's batches), two concatenations each.
   */
  vectorAround(entityType: string, group: string, version = 1): [head: string, tail: string] {
    const key = this.vector({ entityType, entityId: ID_MARK }, group, version);
    const at = key.lastIndexOf(ID_MARK);
    return [key.slice(0, at), key.slice(at + ID_MARK.length)];
  }

  /** Inverse of `vector` for one entity type, group and version; undefined for other keys. */
  parseVector(key: string, entityType: string, group: string, version = 1): EntityRef | undefined {
    const [head, tail] = this.vectorAround(entityType, group, version);
    if (!key.startsWith(head) || !key.endsWith(tail) || key.length <= head.length + tail.length) return undefined;
    const id = key.slice(head.length, key.length - tail.length);
    const entityId = this.hashTags ? id.replace(/^\{(.*)\}$/, '$1') : id;
    return { entityType, entityId };
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

let slotTags: string[] | undefined;

/** A short hash tag landing in `slot`, found once for every slot by trying base-36 counters in order. */
export function slotTag(slot: number): string {
  if (!slotTags) {
    const tags = new Array<string>(SLOT_COUNT);
    for (let i = 0, left = SLOT_COUNT; left > 0; i++) {
      const tag = i.toString(36);
      const s = keySlot(tag);
      if (tags[s] === undefined) {
        tags[s] = tag;
        left -= 1;
      }
    }
    slotTags = tags;
  }
  return slotTags[slot]!;
}
