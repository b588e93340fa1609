-- complete: record successful outcomes, fenced by (attempt, worker); then apply retention.
-- KEYS[1]  queue key prefix
-- ARGV[1]  completed jobs to keep (negative: no limit)
-- ARGV[2]  completed jobs' max age ms (0: no limit)
-- ARGV[3..] per job, 4 values: id, attempt, worker, result JSON
-- returns  { 1 | 0, ... } per job: 1 recorded, 0 claim lost (nothing written)
local P = KEYS[1]
local now = now_ms()
local snow = num(now)
local out = {}
local done, by_id, by_time = {}, {}, {}
for i = 3, #ARGV, 4 do
  local id = ARGV[i]
  local jk = job_key(P, id)
  local f = redis.call('HMGET', jk, 'state', 'attempts', 'worker', 'unique_key')
  if f[1] == 'running' and f[2] == ARGV[i + 1] and f[3] == ARGV[i + 2] then
    -- worker and lease cleared ('' reads as none)
    redis.call('HSET', jk, 'state', 'completed', 'result', ARGV[i + 3], 'finished_at', snow, 'updated_at', snow, 'worker', '', 'lease_expires_at', '')
    release_unique(P, id, f[4])
    done[#done + 1] = id
    by_id[#by_id + 1] = id
    by_id[#by_id + 1] = id
    by_time[#by_time + 1] = snow
    by_time[#by_time + 1] = id
    out[#out + 1] = 1
  else
    out[#out + 1] = 0
  end
end
if #done > 0 then
  redis.call('ZREM', P .. K.leases, unpack(done))
  redis.call('ZADD', P .. K.state .. 'completed', unpack(by_id))
  redis.call('ZADD', P .. K.finished .. 'completed', unpack(by_time))
  trim_finished(P, 'completed', tonumber(ARGV[1]), tonumber(ARGV[2]), now)
end
return out
