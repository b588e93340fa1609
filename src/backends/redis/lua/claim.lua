-- claim: promote due scheduled jobs, then take up to `limit` ready jobs of one queue (priority,
-- run_at, id order) with a lease; attempts is incremented and is the claim's fencing token.
-- KEYS[1]  queue key prefix
-- ARGV[1]  worker id
-- ARGV[2]  limit
-- ARGV[3]  lease ms
-- returns  JSON text of [now, job 1, job 2, ...]: each job as the values of the fields `CF`
--          (codec.ts CLAIM_REPLY_FIELDS, as updated; false = not set)
-- (reading the jobs here saves the worker a round trip per claim, which is what bounds its
-- throughput; one JSON text of values without field names is the cheapest reply to encode,
-- send and parse: one string instead of 21 per job)
local P = KEYS[1]
local worker, limit, lease_ms = ARGV[1], tonumber(ARGV[2]), tonumber(ARGV[3])
local now = now_ms()
promote(P, now, 1000)
local out = { now }
local lease = num(now + lease_ms)
local snow = num(now)
local jobp = P .. K.job
while #out - 1 < limit do
  local popped = redis.call('ZPOPMIN', P .. K.ready, limit - (#out - 1))
  if #popped == 0 then break end
  local ids, leases = {}, {}
  for i = 1, #popped, 2 do
    local id = id_of_member(popped[i])
    ids[#ids + 1] = id
    local jk = jobp .. id
    local f = redis.call('HMGET', jk, unpack(CF))
    if f[1] == 'queued' then
      local attempts = tostring(tonumber(f[2] or '0') + 1)
      redis.call('HSET', jk, 'state', 'running', 'attempts', attempts, 'worker', worker, 'lease_expires_at', lease, 'started_at', snow, 'updated_at', snow)
      leases[#leases + 1] = lease
      leases[#leases + 1] = id
      -- the reply is the job as it is now: the first six fields are the ones just written
      f[1], f[2], f[3], f[4], f[5], f[6] = 'running', attempts, worker, lease, snow, snow
      out[#out + 1] = f
    end
  end
  redis.call('ZREM', P .. K.state .. 'queued', unpack(ids))
  if #leases > 0 then redis.call('ZADD', P .. K.leases, unpack(leases)) end
end
return cjson.encode(out)
