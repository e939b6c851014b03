--[[
Reads one field of many hashes and answers with ONE bulk string, so a client
parses one reply per call instead of one per key: the reader's batch read of
the packed vector layout (../vector-layout.ts) on a single node. Read-only.
The wire format is owned by ../read-field-script.ts.

Called with a variable key count (the `n` in the file name).

KEYS      the hashes
ARGV[1]   the field to read

Returns one string: per key, in KEYS order, a u32 little-endian length and
then that many bytes of the value; length 0xFFFFFFFF = no such key or field,
0xFFFFFFFE = the key holds another type (nothing follows either).
]]
local field = ARGV[1]
local out = {}
for i = 1, #KEYS do
  local v = redis.pcall('HGET', KEYS[i], field)
  if type(v) == 'string' then
    out[i] = struct.pack('<I4', #v) .. v
  elseif type(v) == 'table' and v.err then
    out[i] = struct.pack('<I4', 4294967294)
  else
    out[i] = struct.pack('<I4', 4294967295)
  end
end
return table.concat(out)
