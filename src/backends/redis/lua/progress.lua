-- progress: store a running job's progress, fenced by (attempt, worker).
-- KEYS[1]  queue key prefix
-- ARGV[1]  id   ARGV[2] attempt   ARGV[3] worker   ARGV[4] progress JSON
-- returns  1 recorded, 0 claim lost
local jk = job_key(KEYS[1], ARGV[1])
local f = redis.call('HMGET', jk, 'state', 'attempts', 'worker')
if f[1] == 'running' and f[2] == ARGV[2] and f[3] == ARGV[3] then
  redis.call('HSET', jk, 'progress', ARGV[4], 'updated_at', num(now_ms()))
  return 1
end
return 0
