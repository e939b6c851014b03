--[[
Fenced, atomic writes of several entities in one call: per entity its window
state and every feature vector of its entity type. One call for many entities
saves the per-command cost on both sides; on a Cluster the caller only groups
entities whose keys share a slot. The wire format is owned by
../materialize-script.ts.

The fence is per call: the caller holds the write epoch of the entities' Kafka
partition (lua/partition-epoch-1.lua) and the call runs only if the partition's
fence key (in the entities' slot) holds no newer epoch, except that a yielding
caller (odd epoch: a backfill) is never fenced by a live worker's (even) one:
during a handover both write the new version, a live worker one topic of the
partition, the backfill the others it has not switched yet, and the `_version`
CAS (which live workers use on a version under handover) keeps them exact. With co-partitioned
sources the caller is then the only writer of its entities, so it knows their
versions and applied offsets without reading them; otherwise (an entity fed by
several partitions) each entity's write also compares `_version` (CAS).

Called with a variable key count (the `n` in the file name).

KEYS[1]     the partition's fence key in the slot of the other keys (decimal epoch)
KEYS[2..]   per entity, in the order of the entity blocks: its state hash
            (`s` = engine state bytes, `_version`, `o:<topic>:<partition>` =
            last applied offset), then one vector key per feature group, in
            the layout of the keyspace version (../vector-layout.ts): a hash
            per field (features, `_version`, `_updated_ms`) or packed (a string
            key, a blob whose bytes 2..17 hold `_version` and `_updated_ms` as f64 LE)
ARGV[1]     MessagePack array (numbers as decimal strings):
              [1] write time, ms since epoch (stored as `_updated_ms`)
              [2] the caller's epoch
              [3] fence key TTL, ms (set when the call moves the fence)
              [4..] one block per entity:
                [1] number of vector keys of the entity
                [2] the entity's last known `_version` ("0" when it has no state yet),
                    or "replace": delete the entity's hashes (unreadable, even of another type) and write anew
                [3] state key TTL, ms
                [4] "1": set the state key's TTL; "0": the caller knows it was set recently (it is
                    set anyway when the hash is new)
                [5] serialized engine state, or "" (write-behind): the state hash is left
                    alone (the worker checkpoints it later); [3], [4] and [6] are then unused
                [6] {offset field, offset, ...} to set
                [7] "1": write only if `_version` still equals [2] (CAS); "0": write unread
                [8] one block per vector key: {key TTL ms, "1"/"0" set the TTL (as [4]; set anyway
                    when the hash is new), kind, ...}, kind one of
                      "p", blob: packed layout; the blob (its version and write time zeroed) is
                         stored with both filled in, by SET with the TTL (so the flag is unused)
                      "f", {field, value, ...} to set, {field, ...} to delete: per-field layout;
                         `_version` and `_updated_ms` are set along (also when nothing else is)
                [9] "1": keep the version: write `_version` = [2] (a write-behind checkpoint of
                    the state whose vectors already carry that version); "0": a new version

Returns {1, status, version, ...}: per entity, in order, {1, written version} when
written, {0, stored version} when a CAS found `_version` moved (nothing of the
entity written: reload and reapply); or {0, stored epoch} when the fence holds a
newer epoch that fences the caller (nothing written: the caller lost the partition).

Versions never go backwards, even after Redis lost the keys: a new version is
max(known + 1, server time in microseconds), so it lies above every version
written before (readers and the DynamoDB sync compare them).
Versions are formatted with %d, never through Lua's tostring (which writes 1.79e+15).
]]
local args = cmsgpack.unpack(ARGV[1])
local fence = tonumber(redis.call('GET', KEYS[1]) or '0') or 0
local mine = tonumber(args[2])
if fence > mine and (mine % 2 == 0 or fence % 2 == 1) then
  return {0, string.format('%d', fence)}
end
if fence < mine then
  redis.call('SET', KEYS[1], args[2], 'PX', args[3])
end

local time = redis.call('TIME')
local clock = tonumber(time[1]) * 1000000 + tonumber(time[2])

local function write(state, first, last, p, now)
  local known = 0
  if p[2] == 'replace' then
    -- A quarantined entity's rebuild: its hashes may hold anything (even another type).
    redis.call('DEL', state)
    for k = first, last do redis.call('DEL', KEYS[k]) end
  else
    known = tonumber(p[2])
    if p[7] == '1' then
      local stored = tonumber(redis.call('HGET', state, '_version') or '0')
      if stored ~= known then return 0, stored or -1 end
    end
  end
  local version = math.max(known + 1, clock)
  if p[9] == '1' then
    version = known
  end
  local text = string.format('%d', version)

  -- Vectors before the state: a hash key of the wrong type fails the call before the entity's
  -- offsets move, so the entity's retry fails again and is quarantined. (SET replaces any type.)
  local created
  local groups = p[8]
  for k = first, last do
    local g = groups[k - first + 1]
    local key = KEYS[k]
    if g[3] == 'p' then
      local blob = g[4]
      redis.call('SET', key, string.sub(blob, 1, 1) .. struct.pack('<dd', version, tonumber(now)) .. string.sub(blob, 18), 'PX', g[1])
    else
      local set = g[4]
      set[#set + 1] = '_version'
      set[#set + 1] = text
      set[#set + 1] = '_updated_ms'
      set[#set + 1] = now
      created = redis.call('HSET', key, unpack(set))
      if #g[5] > 0 then
        redis.call('HDEL', key, unpack(g[5]))
      end
      if g[2] == '1' or created > 0 then
        redis.call('PEXPIRE', key, g[1])
      end
    end
  end

  if p[5] == '' then
    return 1, version
  end
  local fields = p[6]
  fields[#fields + 1] = 's'
  fields[#fields + 1] = p[5]
  fields[#fields + 1] = '_version'
  fields[#fields + 1] = text
  -- HSET counts the fields it created: all of them when the hash did not exist (it then has no TTL).
  created = redis.call('HSET', state, unpack(fields))
  if p[4] == '1' or known == 0 or created * 2 == #fields then
    redis.call('PEXPIRE', state, p[3])
  end
  return 1, version
end

local out = {1}
local at = 2
for e = 4, #args do
  local p = args[e]
  local vectors = tonumber(p[1])
  local status, version = write(KEYS[at], at + 1, at + vectors, p, args[1])
  out[#out + 1] = status
  out[#out + 1] = version
  at = at + 1 + vectors
end
return out
