-- heartbeat-worker (registry slot): refresh a worker's heartbeat and running-job count.
-- KEYS[1]  {<prefix>}:workers   KEYS[2] {<prefix>}:worker-beats
-- ARGV[1]  name   ARGV[2] running jobs
-- returns  1, or 0 when the record is gone (the worker registers again)
local cur = redis.call('HGET', KEYS[2], ARGV[1])
if not cur or redis.call('HEXISTS', KEYS[1], ARGV[1]) == 0 then return 0 end
local ttl, started = string.match(cur, '^%d+:%d+:(%d+):(%d+)$')
redis.call('HSET', KEYS[2], ARGV[1], num(now_ms()) .. ':' .. ARGV[2] .. ':' .. ttl .. ':' .. started)
return 1
