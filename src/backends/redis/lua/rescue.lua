-- rescue: put orphaned running jobs of one queue back to queued (attempt counted, error appended),
-- or fail them when that was their last attempt. Orphaned = lease expired, or the holding worker
-- was not alive at the registry snapshot (and the job was claimed before it). Fenced by the
-- script's atomicity: two rescuers never move the same job twice.
-- KEYS[1]  queue key prefix
-- ARGV[1]  failed jobs to keep (negative: no limit)   ARGV[2] failed jobs' max age ms (0: none)
-- ARGV[3]  wake channel
-- ARGV[4]  registry snapshot time (ms)
-- ARGV[5]  limit
-- ARGV[6]  n live workers, then ARGV[7 .. 6+n] their names
-- returns  { { requeued id, ... }, { failed id, ... } }
local P = KEYS[1]
local now = now_ms()
local snapshot, limit = tonumber(ARGV[4]), tonumber(ARGV[5])
local live = live_set(6)
local requeued, failed = {}, {}
local woke = false
for _, id in ipairs(redis.call('ZRANGE', P .. K.leases, 0, 9999)) do
  if #requeued + #failed >= limit then break end
  local jk = job_key(P, id)
  local f = redis.call('HMGET', jk, unpack(CLAIM_FIELDS))
  if not f[1] then
    redis.call('ZREM', P .. K.leases, id)
  elseif classify(f, now, live, snapshot) == 'orphaned' then
    local why
    if (tonumber(f[8]) or 0) <= now then
      why = 'lease expired (worker ' .. (f[3] or '?') .. ')'
    else
      why = 'worker ' .. (f[3] or '?') .. ' is gone (no heartbeat)'
    end
    local last = tonumber(f[2]) >= tonumber(f[7])
    local st = unclaim(P, id, jk, f, now, now, last, why)
    if st == 'failed' then failed[#failed + 1] = id else requeued[#requeued + 1] = id; woke = true end
  end
end
if #failed > 0 then trim_finished(P, 'failed', tonumber(ARGV[1]), tonumber(ARGV[2]), now) end
if woke then redis.call('PUBLISH', ARGV[3], '1') end
return { requeued, failed }
