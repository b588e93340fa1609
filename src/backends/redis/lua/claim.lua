-- claim: promote due scheduled jobs, then take up to `limit` ready jobs of one queue (priority,
-- run_at, id order) with a lease; attempts is incremented and is the claim's fencing token.
-- KEYS[1]  queue key prefix
-- ARGV[1]  worker id
-- ARGV[2]  limit
-- ARGV[3]  lease ms
-- returns  JSON text of [now, lease expiry, job 1, job 2, ...]: each job as the values of the
--          fields `CF` (codec.ts CLAIM_READ_FIELDS; false = not set) with the id in place of
--          the state and the new attempt count; the fields this script writes are left out
-- (reading the jobs here saves the worker a round trip per claim, which is what bounds its
-- throughput; one JSON text of values without field names is the cheapest reply to encode,
-- send and parse: one string instead of two per field)
local P = KEYS[1]
local worker, limit, lease_ms = ARGV[1], tonumber(ARGV[2]), tonumber(ARGV[3])
local now = now_ms()
promote(P, now, 1000)
local lease = num(now + lease_ms)
local out = { now, lease }
local snow = num(now)
local jobp = P .. K.job
while #out - 2 < limit do
  local popped = redis.call('ZPOPMIN', P .. K.ready, limit - (#out - 2))
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
      f[1], f[2] = id, attempts
      out[#out + 1] = f
    end
  end
  redis.call('ZREM', P .. K.state .. 'queued', unpack(ids))
  if #leases > 0 then redis.call('ZADD', P .. K.leases, unpack(leases)) end
end
return cjson.encode(out)
