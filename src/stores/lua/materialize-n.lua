--[[
Fenced, atomic writes of several entities in one call: per entity its window
state and every feature vector of its entity type, or nothing at all. One call
for many entities saves the per-command cost on both sides; on a Cluster the
caller only groups entities whose keys share a slot. The wire format is owned
by ../materialize-script.ts.

Called with a variable key count (the `n` in the file name).

KEYS        per entity, in the order of the entity blocks: its state hash
            (`s` = engine state bytes, `_version`, `o:<topic>:<partition>` =
            last applied offset), then one vector hash per feature group, in
            the layout of the keyspace version (../vector-layout.ts): per
            field (features, `_version`, `_updated_ms`) or packed (one field
            `_p` whose bytes 2..17 hold `_version` and `_updated_ms` as f64 LE)
ARGV[1]     MessagePack array (numbers as decimal strings):
              [1] write time, ms since epoch (stored as `_updated_ms`)
              [2..] one block per entity:
                [1] number of vector keys of the entity
                [2] expected `_version` of the state hash ("0" when the entity has no state yet),
                    or "replace": delete the entity's hashes (unreadable, even of another type) and write anew
                [3] state key TTL, ms
                [4] "1": set the state key's TTL; "0": the caller knows it was set recently (it is
                    set anyway when the hash is new)
                [5] serialized engine state
                [6] {offset field, offset, ...}: each offset must be above the stored one
                [7] one block per vector key: {key TTL ms, "1"/"0" set the TTL (as [4]; set anyway
                    when the hash is new), kind, ...}, kind one of
                      "p", blob: packed layout; the blob (its version and write time zeroed) is
                         stored as `_p` with both filled in
                      "f", {field, value, ...} to set, {field, ...} to delete: per-field layout;
                         `_version` and `_updated_ms` are set along (also when nothing else is)

Returns {status, version} pairs flattened, one per entity: {1, new version} on
success; {0, stored version} when `_version` moved (another writer won: reload
and reapply); {-1, stored version} when an offset would move backwards (the
caller's view is stale). Nothing of an entity is written unless 1.

Versions never go backwards, even after Redis lost the keys: a new version is
max(stored + 1, server time in microseconds), so it restarts above every
version written before the loss (readers and the DynamoDB sync compare them).
Versions are formatted with %d, never through Lua's tostring (which writes 1.79e+15).
]]
local time = redis.call('TIME')
local clock = tonumber(time[1]) * 1000000 + tonumber(time[2])

-- `_version` of a vector hash in either layout (one read); 0 when absent.
local function vector_version(key)
  local got = redis.call('HMGET', key, '_version', '_p')
  if got[1] then return tonumber(got[1]) or 0 end
  local blob = got[2]
  if blob and #blob >= 17 and string.byte(blob, 1) == 1 then
    local packed = struct.unpack('<d', blob, 2)
    return packed
  end
  return 0
end

local function write(state, first, last, p, now)
  local offsets = p[6]
  local fields = {'_version'}
  for i = 1, #offsets, 2 do fields[#fields + 1] = offsets[i] end
  local current = redis.call('HMGET', state, unpack(fields))
  local replace = p[2] == 'replace'
  local stored = tonumber(current[1] or '0')
  if not replace then
    if stored ~= tonumber(p[2]) then
      return 0, stored or -1
    end
    for i = 2, #current do
      if current[i] and tonumber(current[i]) >= tonumber(offsets[2 * i - 2]) then
        return -1, stored
      end
    end
  else
    -- A quarantined entity's rebuild: its hashes may hold anything (even another type).
    redis.call('DEL', state)
    for k = first, last do redis.call('DEL', KEYS[k]) end
    stored = 0
  end

  -- Without state the vector's counter may still live on (the state key expired
  -- first): versions must never go backwards for readers and the DynamoDB sync.
  local version = stored
  if stored == 0 then
    for k = first, last do
      local v = vector_version(KEYS[k])
      if v > version then version = v end
    end
  end
  version = math.max(version + 1, clock)
  local text = string.format('%d', version)

  offsets[#offsets + 1] = 's'
  offsets[#offsets + 1] = p[5]
  offsets[#offsets + 1] = '_version'
  offsets[#offsets + 1] = text
  redis.call('HSET', state, unpack(offsets))
  -- A new hash (expected "0", or replaced) has no TTL yet whatever the caller knows.
  if p[4] == '1' or stored == 0 then
    redis.call('PEXPIRE', state, p[3])
  end

  local groups = p[7]
  for k = first, last do
    local g = groups[k - first + 1]
    local key = KEYS[k]
    -- HSET counts the fields it created: > 0 whenever the hash did not exist (it then has no TTL).
    local created
    if g[3] == 'p' then
      local blob = g[4]
      created = redis.call('HSET', key, '_p', string.sub(blob, 1, 1) .. struct.pack('<dd', version, tonumber(now)) .. string.sub(blob, 18))
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
    end
    if g[2] == '1' or created > 0 then
      redis.call('PEXPIRE', key, g[1])
    end
  end
  return 1, version
end

local args = cmsgpack.unpack(ARGV[1])
local out = {}
local at = 1
for e = 2, #args do
  local p = args[e]
  local vectors = tonumber(p[1])
  local status, version = write(KEYS[at], at + 1, at + vectors, p, args[1])
  out[#out + 1] = status
  out[#out + 1] = version
  at = at + 1 + vectors
end
return out
