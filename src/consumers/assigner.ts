/**
 * Co-partitioned assigner: partition p of every subscribed topic goes to the
 * same member, so one worker sees all of an entity's events (sources share the
 * key and partition count) and owns its timers. Correctness never depends on it:
 * the partition epochs and (unless `coPartitioned`) the per-entity version CAS make
 * any assignment safe; this one only avoids write conflicts between workers.
 */
import { AssignerProtocol, type PartitionAssigner } from './kafka-client.ts';

export const CO_PARTITIONED = 'FeaturestreamCoPartitioned';

/** Pure core: partition numbers are dealt round-robin over the sorted member ids. */
export function assignCoPartitioned(
  memberIds: string[],
  partitionsByTopic: Record<string, number[]>,
): Map<string, Record<string, number[]>> {
  const members = [...memberIds].sort();
  const result = new Map<string, Record<string, number[]>>();
  if (members.length === 0) return result;
  const numbers = [...new Set(Object.values(partitionsByTopic).flat())].sort((a, b) => a - b);
  const owner = new Map(numbers.map((p, i) => [p, members[i % members.length]!]));
  for (const [topic, partitions] of Object.entries(partitionsByTopic)) {
    for (const p of partitions) {
      const member = owner.get(p)!;
      const assignment = result.get(member) ?? {};
      (assignment[topic] ??= []).push(p);
      result.set(member, assignment);
    }
  }
  return result;
}

export const coPartitionedAssigner: PartitionAssigner = ({ cluster }) => ({
  name: CO_PARTITIONED,
  version: 0,
  async assign({ members, topics }) {
    const partitionsByTopic: Record<string, number[]> = {};
    for (const topic of topics) {
      partitionsByTopic[topic] = cluster.findTopicPartitionMetadata(topic).map((m) => m.partitionId);
    }
    const assignment = assignCoPartitioned(
      members.map((m) => m.memberId),
      partitionsByTopic,
    );
    return members.map(({ memberId }) => ({
      memberId,
      memberAssignment: AssignerProtocol.MemberAssignment.encode({
        version: 0,
        assignment: assignment.get(memberId) ?? {},
        userData: Buffer.alloc(0),
      }),
    }));
  },
  protocol({ topics }) {
    return {
      name: CO_PARTITIONED,
      metadata: AssignerProtocol.MemberMetadata.encode({ version: 0, topics, userData: Buffer.alloc(0) }),
    };
  },
});
