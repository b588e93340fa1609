-- append-logs: add one entry to each of up to 15 streams of ONE slot, trimmed with MAXLEN ~.
-- An entry holds the lines of one append call for that stream (see logs.ts). A job's stream
-- takes the job's pending entry first, when it has one (job_log_add in lib.lua).
-- KEYS[1]  the slot's pending-log hash (a queue slot; any key of the slot otherwise)
-- KEYS[2..16] streams of the slot (unused places repeat KEYS[2])
-- ARGV[1]  MINID for age trimming of every stream written ('' = no age trimming this time)
-- ARGV[2..] per stream written, 5 values: index in KEYS (1-based), MAXLEN, line count, lines
--          JSON, job id ('' = not a job's stream)
-- returns  number of entries added
local n = 0
local seen = {}
for i = 2, #ARGV, 5 do
  local key = KEYS[tonumber(ARGV[i])]
  if ARGV[i + 4] ~= '' then
    job_log_add(key, KEYS[1], ARGV[i + 4], ARGV[i + 2], ARGV[i + 3], ARGV[i + 1], nil)
  else
    redis.call('XADD', key, 'MAXLEN', '~', ARGV[i + 1], '*', 'n', ARGV[i + 2], 'lines', ARGV[i + 3])
  end
  if ARGV[1] ~= '' and not seen[key] then
    seen[key] = true
    redis.call('XTRIM', key, 'MINID', '~', ARGV[1])
  end
  n = n + 1
end
return n
