--[[
Restores one entity from its DynamoDB item after Redis lost data, unless
Redis already holds this or a newer version of it (the worker may have
written since): versions never go backwards.

Called with a variable key count (the `n` in the file name).

KEYS[1]   state hash
KEYS[2..] vector keys, one per feature group, in the order of the blocks below:
          hashes per field, or packed strings (blobs whose bytes 2..17 hold
          `_version` and `_updated_ms` as f64 LE; see ../../stores/vector-layout.ts)
ARGV[1]   item version (`_version`)
ARGV[2]   item write time, ms (`_updated_ms`)
ARGV[3]   state key TTL, ms
ARGV[4]   serialized engine state, or "" to leave the state hash alone (item without state)
ARGV[5]   m = number of applied-offset pairs that follow
ARGV[6..] m pairs: offset field, offset
then one block per vector key: key TTL ms, packed blob (its version and write
          time zeroed) or "" for the per-field layout, s, s pairs (field, value)

Returns 1 when restored; 0 when Redis already had this or a newer version
(nothing written).
]]
local version = tonumber(ARGV[1])

local function blob_version(blob)
  if blob and #blob >= 17 and string.byte(blob, 1) == 1 then
    local packed = struct.unpack('<d', blob, 2)
    return packed
  end
  return 0
end

-- `_version` of a key in any layout (packed-hash: a hash holding the blob as `_p`); 0 when absent.
local function stored_version(key)
  local kind = redis.call('TYPE', key).ok
  if kind == 'string' then return blob_version(redis.call('GET', key)) end
  if kind ~= 'hash' then return 0 end
  local v = redis.call('HGET', key, '_version')
  if v then return tonumber(v) or 0 end
  return blob_version(redis.call('HGET', key, '_p'))
end

for k = 1, #KEYS do
  if stored_version(KEYS[k]) >= version then
    return 0
  end
end

-- Older leftovers (e.g. a fresh state the worker built after the data loss)
-- are replaced whole, so no stale field survives next to restored ones.
redis.call('DEL', unpack(KEYS))

local m = tonumber(ARGV[5])
local i = 6
if ARGV[4] ~= '' then
  local set = {'s', ARGV[4], '_version', version}
  for _ = 1, m do
    set[#set + 1] = ARGV[i]
    set[#set + 1] = ARGV[i + 1]
    i = i + 2
  end
  redis.call('HSET', KEYS[1], unpack(set))
  redis.call('PEXPIRE', KEYS[1], ARGV[3])
else
  i = i + 2 * m
end

for k = 2, #KEYS do
  local ttl = ARGV[i]
  local blob = ARGV[i + 1]
  local s = tonumber(ARGV[i + 2])
  i = i + 3
  if blob ~= '' then
    redis.call('SET', KEYS[k], string.sub(blob, 1, 1) .. struct.pack('<dd', version, tonumber(ARGV[2])) .. string.sub(blob, 18), 'PX', ttl)
  else
    local set = {'_version', ARGV[1], '_updated_ms', ARGV[2]}
    for _ = 1, s do
      set[#set + 1] = ARGV[i]
      set[#set + 1] = ARGV[i + 1]
      i = i + 2
    end
    redis.call('HSET', KEYS[k], unpack(set))
    redis.call('PEXPIRE', KEYS[k], ttl)
  end
end
return 1
