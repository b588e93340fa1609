-- complete: record successful outcomes, fenced by (attempt, worker), with their event lines
-- (written only for outcomes recorded, in the same script: to the job's log, see job_log_add,
-- and as one entry to the queue's stream); then apply retention.
-- KEYS[1]  queue key prefix
-- ARGV[1]  completed jobs to keep (negative: no limit)
-- ARGV[2]  completed jobs' max age ms (0: no limit)
-- ARGV[3]  lines kept in the queue's log stream   ARGV[4] lines kept in a job's log stream
--          (MAXLEN ~ of an entry = max(1, lines kept / its line count), as logs.ts maxlenFor)
-- ARGV[5]  MINID for age trimming of the queue's log stream ('' = not this time)
-- ARGV[6..] per job, 6 values: id, attempt, worker, result JSON, event line count, event rows
--          (JSON rows of logs.ts joined by ',' without the brackets; '' when count is 0)
-- returns  { 1 | 0, ... } per job: 1 recorded, 0 claim lost (nothing written)
local P = KEYS[1]
local now = now_ms()
local snow = num(now)
local out = {}
local done, by_id, by_time = {}, {}, {}
local rows, nrows = {}, 0
for i = 6, #ARGV, 6 do
  local id = ARGV[i]
  local jk = P .. K.job .. id
  local f = redis.call('HMGET', jk, 'state', 'attempts', 'worker', 'unique_key')
  if f[1] == 'running' and f[2] == ARGV[i + 1] and f[3] == ARGV[i + 2] then
    -- worker and lease cleared ('' reads as none)
    redis.call('HSET', jk, 'state', 'completed', 'result', ARGV[i + 3], 'finished_at', snow, 'updated_at', snow, 'worker', '', 'lease_expires_at', '')
    if f[4] and f[4] ~= '' then release_unique(P, id, f[4]) end
    local n = #done + 1
    done[n] = id
    by_id[2 * n - 1] = id
    by_id[2 * n] = id
    by_time[2 * n - 1] = snow
    by_time[2 * n] = id
    out[#out + 1] = 1
    if ARGV[i + 4] ~= '0' then
      job_log_add(P .. K.jobLog .. id, P .. K.pendingLog, id, ARGV[i + 4], '[' .. ARGV[i + 5] .. ']', maxlen_for(ARGV[4], ARGV[i + 4]), snow)
      rows[#rows + 1] = ARGV[i + 5]
      nrows = nrows + tonumber(ARGV[i + 4])
    end
  else
    out[#out + 1] = 0
  end
end
if #done > 0 then
  call_in_slices('ZREM', P .. K.leases, done)
  call_in_slices('ZADD', P .. K.state .. 'completed', by_id)
  call_in_slices('ZADD', P .. K.finished .. 'completed', by_time)
  if #rows > 0 then
    local qlog = P .. K.logs
    redis.call('XADD', qlog, 'MAXLEN', '~', maxlen_for(ARGV[3], nrows), '*', 'n', nrows, 'lines', '[' .. table.concat(rows, ',') .. ']')
    if ARGV[5] ~= '' then redis.call('XTRIM', qlog, 'MINID', '~', ARGV[5]) end
  end
  trim_finished(P, 'completed', tonumber(ARGV[1]), tonumber(ARGV[2]), now)
end
return out
