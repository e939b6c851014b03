#!lua flags=no-writes,allow-cross-slot-keys
--[[
Reads many string keys on one Cluster node in one call: the reader's batch
read of the packed vector layout (../vector-layout.ts) on a Cluster, where
MGET refuses keys of different slots, so the client builds one command and
parses one reply instead of one per key. Read-only. Its arguments and reply
are owned by ../../serving/packed-script.ts.

KEYS[1]   the first key: it routes the call to its node
ARGV[1]   the other keys, all on the same node as KEYS[1], joined by "\n"
          (keys never contain one: the caller checks); "" when there are none

The other keys travel in ARGV because a Cluster refuses declared keys of
different slots (CROSSSLOT) even when one node serves them all; the
allow-cross-slot-keys flag lets the script read them, and Redis still fails
the call ("non local key") for a key this node does not serve (resharding),
which the caller answers with a pipeline. One joined argument instead of one
per key: fewer arguments to encode and parse on both sides.

Returns an array, one element per key in the order KEYS[1], then ARGV[1]'s:
the value, nil when the key is absent, or the WRONGTYPE error when the key
holds another type. Any other error fails the call.
]]
-- The per-key step is written out twice rather than as a helper function:
-- without a Lua call per key the script takes ~20% less Redis time (100 keys).
-- Library functions are locals, and ARGV[1] is cut with a plain find rather
-- than gmatch's pattern: together ~7% less Redis time (100 keys).
local get = redis.pcall
local type, sub, find = type, string.sub, string.find
local out = {}
local v = get('GET', KEYS[1])
if type(v) == 'table' and v.err ~= nil and sub(v.err, 1, 9) ~= 'WRONGTYPE' then return v end
out[1] = v
local n = 1
local rest = ARGV[1]
local at, last = 1, #rest
while at <= last do
  local stop = find(rest, '\n', at, true) or last + 1
  n = n + 1
  v = get('GET', sub(rest, at, stop - 1))
  if type(v) == 'table' and v.err ~= nil and sub(v.err, 1, 9) ~= 'WRONGTYPE' then return v end
  out[n] = v
  at = stop + 1
end
return out
