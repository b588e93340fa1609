-- promote: move scheduled jobs whose run_at has come to queued.
-- KEYS[1]  queue key prefix
-- ARGV[1]  wake channel
-- ARGV[2]  max jobs to move
-- returns  number of jobs moved
local n = promote(KEYS[1], now_ms(), tonumber(ARGV[2]))
if n > 0 then redis.call('PUBLISH', ARGV[1], '1') end
return n
