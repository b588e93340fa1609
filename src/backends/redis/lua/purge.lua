-- purge: delete finished jobs (and their log streams) finished before now - age.
-- KEYS[1]  queue key prefix
-- ARGV[1]  age ms
-- ARGV[2]  limit
-- ARGV[3..] states ('completed' | 'failed' | 'cancelled')
-- returns  number of jobs deleted
local P = KEYS[1]
local cutoff = num(now_ms() - tonumber(ARGV[1]))
local left = tonumber(ARGV[2])
local deleted = 0
for i = 3, #ARGV do
  if left <= 0 then break end
  -- strictly before the cutoff
  local ids = redis.call('ZRANGEBYSCORE', P .. K.finished .. ARGV[i], '-inf', '(' .. cutoff, 'LIMIT', 0, left)
  local n = delete_finished(P, ARGV[i], ids)
  deleted = deleted + n
  left = left - n
end
return deleted
