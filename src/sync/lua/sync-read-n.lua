--[[
Reads one entity for the DynamoDB sync in one atomic step, so the vector
keys and the state hash come from the same write (a pipeline of separate
reads could interleave with a worker write and mix two versions).

Called with a variable key count (the `n` in the file name).

KEYS[1]   state hash (`s`, `_version`, `o:<topic>:<partition>` fields)
KEYS[2..] vector keys, one per feature group: hashes, or strings (packed layout)
ARGV      none

Returns a flat array: for each key in KEYS order, its content followed by its
PTTL. The content of a string key is its value; of any other key its HGETALL
reply (flat field/value list, empty when the key is absent).
]]
local out = {}
for i = 1, #KEYS do
  if redis.call('TYPE', KEYS[i]).ok == 'string' then
    out[#out + 1] = redis.call('GET', KEYS[i])
  else
    out[#out + 1] = redis.call('HGETALL', KEYS[i])
  end
  out[#out + 1] = redis.call('PTTL', KEYS[i])
end
return out
