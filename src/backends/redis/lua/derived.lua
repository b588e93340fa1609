-- derived (read-only): ids of one queue's running jobs that are stuck or orphaned, ascending,
-- after a cursor.
-- KEYS[1]  queue key prefix
-- ARGV[1]  registry snapshot time (ms)
-- ARGV[2]  which: 'stuck' | 'orphaned'
-- ARGV[3]  after id ('' = from the start)
-- ARGV[4]  limit
-- ARGV[5]  n live workers, then their names
-- returns  { id, ... } ascending
local P = KEYS[1]
local now = now_ms()
local live = live_set(5)
local snapshot, which, limit = tonumber(ARGV[1]), ARGV[2], tonumber(ARGV[4])
local after = tonumber(ARGV[3]) or 0
local ids = {}
for _, id in ipairs(redis.call('ZRANGE', P .. K.leases, 0, 9999)) do
  if tonumber(id) > after then
    local c = classify(redis.call('HMGET', job_key(P, id), unpack(CLAIM_FIELDS)), now, live, snapshot)
    if c == which then ids[#ids + 1] = id end
  end
end
table.sort(ids, function(a, b) return tonumber(a) < tonumber(b) end)
local out = {}
for i = 1, math.min(limit, #ids) do out[i] = ids[i] end
return out
