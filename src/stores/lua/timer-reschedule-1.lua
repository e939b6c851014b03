--[[
Moves one entity's timer after a timer-driven write, unless a concurrent event
write already moved it (those use ZADD LT, so the stored due time differs).

KEYS[1]   timer index zset (score = due time ms, member = entity id)
ARGV[1]   member (entity id)
ARGV[2]   due time the caller processed
ARGV[3]   next due time, or "" to remove the timer

Returns 1 when the timer was moved or removed, 0 when it was left alone.
]]
local current = redis.call('ZSCORE', KEYS[1], ARGV[1])
if not current or tonumber(current) ~= tonumber(ARGV[2]) then
  return 0
end
if ARGV[3] == '' then
  redis.call('ZREM', KEYS[1], ARGV[1])
else
  redis.call('ZADD', KEYS[1], ARGV[3], ARGV[1])
end
return 1
