-- extend: extend the leases of running jobs still held by this worker with these attempts.
-- KEYS[1]  queue key prefix
-- ARGV[1]  worker id
-- ARGV[2]  lease ms
-- ARGV[3..] pairs: id, attempt
-- returns  { lost id, ... } (jobs no longer held by this claim)
local P = KEYS[1]
local now = now_ms()
local lease = num(now + tonumber(ARGV[2]))
local lost = {}
for i = 3, #ARGV, 2 do
  local id, attempt = ARGV[i], ARGV[i + 1]
  local jk = job_key(P, id)
  local f = redis.call('HMGET', jk, 'state', 'attempts', 'worker')
  if f[1] == 'running' and f[2] == attempt and f[3] == ARGV[1] then
    redis.call('HSET', jk, 'lease_expires_at', lease)
    redis.call('ZADD', P .. K.leases, lease, id)
  else
    lost[#lost + 1] = id
  end
end
return lost
