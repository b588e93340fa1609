-- release: give running jobs back (graceful shutdown), fenced by (attempt, worker): queued to
-- run now with the attempt counted; a job on its last attempt is failed with the reason.
-- KEYS[1]  queue key prefix
-- ARGV[1]  failed jobs to keep (negative: no limit)
-- ARGV[2]  failed jobs' max age ms (0: no limit)
-- ARGV[3]  wake channel
-- ARGV[4..] per job, 5 values: id, attempt, worker, reason, not_started ('1': prefetched and
--          never run: the attempt is given back, run_at kept, never failed)
-- returns  { 'queued' | 'failed' | 0, ... } per job (0 = claim lost)
local P = KEYS[1]
local now = now_ms()
local out = {}
local failed, woke = 0, false
for i = 4, #ARGV, 5 do
  local id = ARGV[i]
  local jk = job_key(P, id)
  local f = redis.call('HMGET', jk, unpack(CLAIM_FIELDS))
  if f[1] == 'running' and f[2] == ARGV[i + 1] and f[3] == ARGV[i + 2] then
    local last = tonumber(f[2]) >= tonumber(f[7])
    local st
    if ARGV[i + 4] == '1' then
      redis.call('HINCRBY', jk, 'attempts', -1)
      redis.call('HDEL', jk, 'started_at')
      st = unclaim(P, id, jk, f, now, tonumber(redis.call('HGET', jk, 'run_at')) or now, false, nil)
      woke = true
    elseif last then
      st = unclaim(P, id, jk, f, now, now, true, ARGV[i + 3])
      failed = failed + 1
    else
      st = unclaim(P, id, jk, f, now, now, false, nil)
      woke = true
    end
    out[#out + 1] = st
  else
    out[#out + 1] = 0
  end
end
if failed > 0 then trim_finished(P, 'failed', tonumber(ARGV[1]), tonumber(ARGV[2]), now) end
if woke then redis.call('PUBLISH', ARGV[3], '1') end
return out
