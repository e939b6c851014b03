--[[
Fenced, atomic write of one entity: its window state and every feature vector
of its entity type, or nothing at all.

Called with a variable key count (the `n` in the file name): the caller passes
numkeys = 1 + number of feature groups.

KEYS[1]     state hash: `s` = engine state bytes, `_version`, `o:<topic>:<partition>` = last applied offset
KEYS[2..]   one vector hash per feature group, in the order of the group blocks below
ARGV[1]     MessagePack array (numbers as decimal strings):
              [1] expected `_version` of the state hash ("0" when the entity has no state yet)
              [2] write time, ms since epoch (stored as `_updated_ms`)
              [3] state key TTL, ms
              [4] serialized engine state (bin)
              [5] {offset field, offset, ...}: each offset must be above the stored one
              [6] one block per vector key: {key TTL ms, {field, value, ...} to set, {field, ...} to delete}

Returns {1, new version} on success; {0, stored version} when `_version` moved
(another writer won: reload and reapply); {-1, stored version} when an offset
would move backwards (the caller's view is stale). Nothing is written unless 1.
]]
local p = cmsgpack.unpack(ARGV[1])
local state = KEYS[1]
local offsets = p[5]
local fields = {'_version'}
for i = 1, #offsets, 2 do fields[#fields + 1] = offsets[i] end
local current = redis.call('HMGET', state, unpack(fields))
local stored = tonumber(current[1] or '0')
if stored ~= tonumber(p[1]) then
  return {0, stored}
end
for i = 2, #current do
  if current[i] and tonumber(current[i]) >= tonumber(offsets[2 * i - 2]) then
    return {-1, stored}
  end
end

-- Without state the vector's counter may still live on (the state key expired
-- first): versions must never go backwards for readers and the DynamoDB sync.
local version = stored
if stored == 0 then
  for k = 2, #KEYS do
    local v = tonumber(redis.call('HGET', KEYS[k], '_version') or '0')
    if v > version then version = v end
  end
end
version = version + 1

offsets[#offsets + 1] = 's'
offsets[#offsets + 1] = p[4]
offsets[#offsets + 1] = '_version'
offsets[#offsets + 1] = version
redis.call('HSET', state, unpack(offsets))
redis.call('PEXPIRE', state, p[3])

local groups = p[6]
for k = 2, #KEYS do
  local g = groups[k - 1]
  local key = KEYS[k]
  local set = g[2]
  set[#set + 1] = '_version'
  set[#set + 1] = version
  set[#set + 1] = '_updated_ms'
  set[#set + 1] = p[2]
  redis.call('HSET', key, unpack(set))
  if #g[3] > 0 then
    redis.call('HDEL', key, unpack(g[3]))
  end
  redis.call('PEXPIRE', key, g[1])
end

return {1, version}
