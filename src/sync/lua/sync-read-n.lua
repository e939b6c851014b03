--[[
Reads one entity for the DynamoDB sync in one atomic step, so the vector
hashes and the state hash come from the same write (a pipeline of separate
HGETALLs could interleave with a worker write and mix two versions).

Called with a variable key count (the `n` in the file name).

KEYS[1]   state hash (`s`, `_version`, `o:<topic>:<partition>` fields)
KEYS[2..] vector hashes, one per feature group
ARGV      none

Returns a flat array: for each key in KEYS order, its HGETALL reply (flat
field/value list, empty when the key is absent) followed by its PTTL.
]]
local out = {}
for i = 1, #KEYS do
  out[#out + 1] = redis.call('HGETALL', KEYS[i])
  out[#out + 1] = redis.call('PTTL', KEYS[i])
end
return out
