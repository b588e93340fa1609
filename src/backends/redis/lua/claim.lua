-- claim: promote due scheduled jobs, then take up to `limit` ready jobs of one queue (priority,
-- run_at, id order) with a lease; attempts is incremented and is the claim's fencing token.
-- KEYS[1]  queue key prefix
-- ARGV[1]  worker id
-- ARGV[2]  limit
-- ARGV[3]  lease ms
-- returns  { now, HGETALL job 1 (as updated), HGETALL job 2, ... }
-- (reading the hashes here costs Redis more than a native HGETALL would, but saves the worker a
-- round trip per claim, which is what bounds its throughput)
local P = KEYS[1]
local worker, limit, lease_ms = ARGV[1], tonumber(ARGV[2]), tonumber(ARGV[3])
local now = now_ms()
promote(P, now, 1000)
local out = { now }
local lease = num(now + lease_ms)
local snow = num(now)
while #out - 1 < limit do
  local popped = redis.call('ZPOPMIN', P .. K.ready, limit - (#out - 1))
  if #popped == 0 then break end
  local ids, leases = {}, {}
  for i = 1, #popped, 2 do
    local id = id_of_member(popped[i])
    ids[#ids + 1] = id
    local jk = job_key(P, id)
    local h = redis.call('HGETALL', jk)
    local at = {}
    for j = 1, #h, 2 do at[h[j]] = j + 1 end
    if at.state and h[at.state] == 'queued' then
      local attempts = tostring(tonumber(h[at.attempts] or '0') + 1)
      redis.call('HSET', jk, 'state', 'running', 'attempts', attempts, 'worker', worker, 'lease_expires_at', lease, 'started_at', snow, 'updated_at', snow)
      leases[#leases + 1] = lease
      leases[#leases + 1] = id
      -- the reply is the hash as it is now: patch the fields just written
      local set = { state = 'running', attempts = attempts, worker = worker, lease_expires_at = lease, started_at = snow, updated_at = snow }
      for f, v in pairs(set) do
        if at[f] then h[at[f]] = v else h[#h + 1] = f; h[#h + 1] = v end
      end
      out[#out + 1] = h
    end
  end
  redis.call('ZREM', P .. K.state .. 'queued', unpack(ids))
  if #leases > 0 then redis.call('ZADD', P .. K.leases, unpack(leases)) end
end
return out
