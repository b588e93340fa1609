-- fail: record failed attempts, fenced by (attempt, worker). The error is appended to `errors`
-- and kept as `last_error`; with attempts left the job waits `retry_delay` ms (scheduled, or
-- queued when 0), else (or when `final`) it is failed. Then retention for failed jobs.
-- KEYS[1]  queue key prefix
-- ARGV[1]  failed jobs to keep (negative: no limit)
-- ARGV[2]  failed jobs' max age ms (0: no limit)
-- ARGV[3]  wake channel
-- ARGV[4..] per job, 6 values: id, attempt, worker, error text, retry delay ms, final ('1'|'0')
-- returns  { new state | 0, ... } per job: 'failed' | 'queued' | 'scheduled', 0 = claim lost
local P = KEYS[1]
local now = now_ms()
local out = {}
local failed, woke = 0, false
for i = 4, #ARGV, 6 do
  local id = ARGV[i]
  local jk = job_key(P, id)
  local f = redis.call('HMGET', jk, unpack(CLAIM_FIELDS))
  if f[1] == 'running' and f[2] == ARGV[i + 1] and f[3] == ARGV[i + 2] then
    local final = ARGV[i + 5] == '1' or tonumber(f[2]) >= tonumber(f[7])
    local st = unclaim(P, id, jk, f, now, now + tonumber(ARGV[i + 4]), final, ARGV[i + 3])
    if st == 'failed' then failed = failed + 1 end
    if st == 'queued' then woke = true end
    out[#out + 1] = st
  else
    out[#out + 1] = 0
  end
end
if failed > 0 then trim_finished(P, 'failed', tonumber(ARGV[1]), tonumber(ARGV[2]), now) end
if woke then redis.call('PUBLISH', ARGV[3], '1') end
return out
