-- cancel: scheduled | queued | running -> cancelled (finished_at now, unique key freed). A running
-- job's worker finds its claim lost at its next lease extension; its outcome is refused.
-- KEYS[1]  queue key prefix
-- ARGV[1]  cancelled jobs to keep (negative: no limit)   ARGV[2] their max age ms (0: none)
-- ARGV[3]  dry run ('1' | '0')
-- ARGV[4..] ids
-- returns  { id, '' (changed) | skip reason, ... }
local P = KEYS[1]
local now = now_ms()
local dry = ARGV[3] == '1'
local out = {}
local n = 0
for i = 4, #ARGV do
  local id = ARGV[i]
  local jk = job_key(P, id)
  local f = redis.call('HMGET', jk, 'state', 'run_at', 'unique_key')
  local reason = ''
  if not f[1] then
    reason = 'not found'
  elseif f[1] ~= 'scheduled' and f[1] ~= 'queued' and f[1] ~= 'running' then
    reason = 'already ' .. f[1]
  elseif not dry then
    leave_state(P, id, f[1], f[2])
    redis.call('HDEL', jk, 'lease_expires_at', 'worker')
    redis.call('HSET', jk, 'state', 'cancelled', 'finished_at', num(now), 'updated_at', num(now))
    enter_finished(P, id, 'cancelled', now, f[3])
    n = n + 1
  end
  out[#out + 1] = id
  out[#out + 1] = reason
end
if n > 0 then trim_finished(P, 'cancelled', tonumber(ARGV[1]), tonumber(ARGV[2]), now) end
return out
