-- requeue: operator puts finished jobs (failed | cancelled | completed) back to queued now;
-- worker, lease and finished_at cleared. resetAttempts sets attempts to 0, otherwise a job with
-- no attempts left gets one more (max_attempts = attempts + 1). A job whose unique key is now
-- held by another unfinished job is skipped.
-- KEYS[1]  queue key prefix
-- ARGV[1]  wake channel
-- ARGV[2]  dry run ('1' | '0')
-- ARGV[3]  reset attempts ('1' | '0')
-- ARGV[4]  state to take a batch from ('failed' | 'cancelled' | 'completed'), '' = the ids below
-- ARGV[5]  limit (with a state)
-- ARGV[6..] ids (without a state)
-- returns  { id, '' (changed) | skip reason, ... }
local P = KEYS[1]
local now = now_ms()
local dry, reset_attempts = ARGV[2] == '1', ARGV[3] == '1'
local ids = {}
if ARGV[4] ~= '' then
  ids = redis.call('ZRANGE', P .. K.state .. ARGV[4], 0, tonumber(ARGV[5]) - 1)
else
  for i = 6, #ARGV do ids[#ids + 1] = ARGV[i] end
end
local out = {}
local woke = false
for _, id in ipairs(ids) do
  local jk = job_key(P, id)
  local f = redis.call('HMGET', jk, 'state', 'attempts', 'max_attempts', 'priority', 'unique_key', 'run_at')
  local st = f[1]
  local reason = ''
  if not st then
    reason = 'not found'
  elseif st ~= 'failed' and st ~= 'cancelled' and st ~= 'completed' then
    reason = 'not finished (' .. st .. ')'
  elseif f[5] and f[5] ~= '' then
    local holder = redis.call('GET', P .. K.unique .. f[5])
    if holder and holder ~= id then
      local hst = redis.call('HGET', job_key(P, holder), 'state')
      if hst == 'scheduled' or hst == 'queued' or hst == 'running' then
        reason = 'unique key held by job ' .. holder
      end
    end
  end
  if reason == '' and not dry then
    leave_state(P, id, st, f[6])
    if f[5] and f[5] ~= '' then redis.call('SET', P .. K.unique .. f[5], id) end
    redis.call('HDEL', jk, 'worker', 'lease_expires_at', 'finished_at')
    if reset_attempts then
      redis.call('HSET', jk, 'attempts', 0)
    elseif tonumber(f[2]) >= tonumber(f[3]) then
      redis.call('HSET', jk, 'max_attempts', tonumber(f[2]) + 1)
    end
    enter_waiting(P, id, f[4], now, now)
    redis.call('HSET', jk, 'state', 'queued', 'run_at', num(now), 'updated_at', num(now))
    woke = true
  end
  out[#out + 1] = id
  out[#out + 1] = reason
end
if woke then redis.call('PUBLISH', ARGV[1], '1') end
return out
