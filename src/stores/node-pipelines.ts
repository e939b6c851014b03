/**
 * Commands routed to the master that owns their key: on a Cluster one pipeline
 * per master, sent in parallel (ioredis refuses a pipeline whose keys live on
 * different masters); on a single node one pipeline. Owners come from the slot
 * table the ioredis Cluster client keeps (CLUSTER SLOTS, refreshed on MOVED and
 * periodically), which also lists each master's replicas for `WAIT`.
 */
import type { ChainableCommander } from 'ioredis';
import { FeaturestreamError, ServiceUnavailableError } from '../errors.ts';
import { classifyRedisError, execPipeline, isCluster, type RedisClient } from './redis.ts';
import { keySlot } from './slot.ts';

/** Replicas a write must reach before it counts as durable: a number, or every master's known replica count capped at 1 (`auto`). */
export type WaitReplicas = number | 'auto';

export interface ReplicaWait {
  replicas: WaitReplicas;
  timeoutMs: number;
}

/** How long a single node's replica count (INFO replication) is trusted; a Cluster's comes from the client's slot table. */
const REPLICA_COUNT_TTL_MS = 5_000;
const replicaCounts = new WeakMap<object, { atMs: number; count: Promise<number> }>();

/** Connected replicas of a single node, cached for a few seconds. */
export function singleNodeReplicas(client: RedisClient): Promise<number> {
  const cached = replicaCounts.get(client);
  if (cached && Date.now() - cached.atMs < REPLICA_COUNT_TTL_MS) return cached.count;
  const count = client.info('replication').then(
    (info) => Number(/^connected_slaves:(\d+)/m.exec(info)?.[1] ?? 0),
    (err: unknown) => {
      replicaCounts.delete(client);
      throw classifyRedisError(err instanceof Error ? err : new Error(String(err)));
    },
  );
  replicaCounts.set(client, { atMs: Date.now(), count });
  return count;
}

interface NodeBatch {
  pipeline: ChainableCommander;
  /** Positions, in queue order, of this node's commands in the reply array. */
  at: number[];
  replicas: number;
}

const SINGLE = 'single';

export class NodePipelines {
  private readonly nodes = new Map<string, NodeBatch>();
  private size = 0;

  constructor(private readonly client: RedisClient) {}

  /** Number of commands queued so far. */
  get length(): number {
    return this.size;
  }

  /** The master owning `key`; throws a retriable error while the slot table is not loaded. */
  ownerOf(key: string): string {
    if (!isCluster(this.client)) return SINGLE;
    const owner = this.client.slots[keySlot(key)]?.[0];
    if (owner === undefined) throw new ServiceUnavailableError('redis', 'cluster slot table not loaded');
    return owner;
  }

  /** Keys with the same group may share one multi-key command: one slot on a Cluster, anything on a single node. */
  slotGroup(key: string): string {
    return isCluster(this.client) ? String(keySlot(key)) : SINGLE;
  }

  /**
   * Queues one command on the pipeline of `key`'s master (every key of the command must
   * share its slot) and returns the command's position in exec()'s replies.
   */
  queue(key: string, command: (pipeline: ChainableCommander) => void): number {
    const node = this.node(this.ownerOf(key), key);
    command(node.pipeline);
    node.at.push(this.size);
    return this.size++;
  }

  /** Makes sure `key`'s master is part of exec() (and its WAIT) even without commands. */
  touch(key: string): void {
    this.node(this.ownerOf(key), key);
  }

  private node(owner: string, key: string): NodeBatch {
    let node = this.nodes.get(owner);
    if (!node) {
      const replicas = isCluster(this.client) ? Math.max(0, (this.client.slots[keySlot(key)]?.length ?? 1) - 1) : -1;
      node = { pipeline: this.client.pipeline(), at: [], replicas };
      this.nodes.set(owner, node);
    }
    return node;
  }

  /**
   * Sends every node's pipeline in parallel. With `wait`, each pipeline ends with
   * `WAIT n timeout`, so it resolves only once its writes reached n replicas; fewer
   * acknowledgements is a retriable error (the caller must not treat the writes as
   * durable). Returns each command's [error, reply] in queue order.
   */
  async exec(wait?: ReplicaWait): Promise<Array<[Error | null, unknown]>> {
    const out = new Array<[Error | null, unknown]>(this.size);
    await Promise.all(
      [...this.nodes].map(async ([owner, node]) => {
        const required = wait ? requiredAcks(wait, node.replicas < 0 ? await singleNodeReplicas(this.client) : node.replicas) : 0;
        if (node.at.length === 0 && required === 0) return;
        if (required > 0) node.pipeline.wait(required, wait!.timeoutMs);
        const replies = await execPipeline(node.pipeline);
        node.at.forEach((position, i) => (out[position] = replies[i] ?? [new Error('missing reply'), null]));
        if (required > 0) {
          const [err, acks] = replies[node.at.length] ?? [new Error('missing WAIT reply'), 0];
          if (err) throw new ServiceUnavailableError('redis', `WAIT on ${owner} failed: ${err.message}`, { cause: err });
          if (Number(acks) < required) {
            throw new FeaturestreamError('REPLICA_LAG', `${owner}: ${String(acks)} of ${required} replicas acknowledged within ${wait!.timeoutMs} ms`, true, {
              details: { node: owner, acks, required },
            });
          }
        }
      }),
    );
    return out;
  }
}

function requiredAcks(wait: ReplicaWait, known: number): number {
  return wait.replicas === 'auto' ? Math.min(1, known) : wait.replicas;
}
