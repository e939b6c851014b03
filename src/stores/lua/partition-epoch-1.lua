--[[
Takes the write epoch of one Kafka partition of one keyspace version for the
caller (../../consumers/partition-epoch.ts): every later materialize call of an
older epoch is refused. On a single node the epoch key is also the partition's
fence key (lua/materialize-n.lua); on a Cluster the per-slot fence keys follow
lazily, on each slot's next write.

KEYS[1]     the epoch key (a decimal string; absent = 0)
ARGV[1]     key TTL, ms: a partition nobody writes for that long forgets its epoch
            (the next one is above it anyway: epochs follow the server clock)
ARGV[2]     "1": the caller yields to the others (a backfill to the live workers of a
            version it hands over): it takes no epoch over one of theirs. Yielding
            callers hold odd epochs, the others even ones.

Returns {previous epoch, new epoch} as decimal strings; previous is "0" when
the key was absent. The new epoch is max(previous + 1, server time in
microseconds), so epochs only grow, also across a key lost with Redis data. A
yielding caller finding a live worker's epoch gets the odd one below it, the
key left alone: it fences no live worker, and materialize-n.lua lets it write beside them.
]]
local time = redis.call('TIME')
local clock = tonumber(time[1]) * 1000000 + tonumber(time[2])
local previous = tonumber(redis.call('GET', KEYS[1]) or '0') or 0
local yields = ARGV[2] == '1'
if yields and previous > 0 and previous % 2 == 0 then
  return {string.format('%d', previous), string.format('%d', previous - 1)}
end
local epoch = math.max(previous + 1, clock)
if (epoch % 2 == 1) ~= yields then epoch = epoch + 1 end
local text = string.format('%d', epoch)
redis.call('SET', KEYS[1], text, 'PX', ARGV[1])
return {string.format('%d', previous), text}
