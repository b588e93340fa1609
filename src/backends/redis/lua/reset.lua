-- reset: operator puts running jobs back to queued now (claim released, attempt stays counted).
-- A job that is not orphaned (its worker is alive and its lease valid) is skipped unless force.
-- KEYS[1]  queue key prefix
-- ARGV[1]  wake channel
-- ARGV[2]  registry snapshot time (ms)
-- ARGV[3]  dry run ('1' | '0')
-- ARGV[4]  force ('1' | '0')
-- ARGV[5]  which: 'orphaned' | 'stuck' (scan this queue's running jobs) | '' (the ids below)
-- ARGV[6]  limit (with which)
-- ARGV[7]  n live workers, then their names, then the ids (without which)
-- returns  { id, '' (changed) | skip reason, ... }
local P = KEYS[1]
local now = now_ms()
local snapshot, dry, force, which = tonumber(ARGV[2]), ARGV[3] == '1', ARGV[4] == '1', ARGV[5]
local live, rest = live_set(7)
local ids = {}
if which ~= '' then
  local limit = tonumber(ARGV[6])
  for _, id in ipairs(redis.call('ZRANGE', P .. K.leases, 0, 9999)) do
    if #ids >= limit then break end
    local f = redis.call('HMGET', job_key(P, id), unpack(CLAIM_FIELDS))
    if classify(f, now, live, snapshot) == which then ids[#ids + 1] = id end
  end
else
  for i = rest, #ARGV do ids[#ids + 1] = ARGV[i] end
end
local out = {}
local woke = false
for _, id in ipairs(ids) do
  local jk = job_key(P, id)
  local f = redis.call('HMGET', jk, unpack(CLAIM_FIELDS))
  local reason = ''
  if not f[1] then
    reason = 'not found'
  elseif f[1] ~= 'running' then
    reason = 'not running (' .. f[1] .. ')'
  elseif classify(f, now, live, snapshot) ~= 'orphaned' and not force then
    reason = 'held by live worker ' .. (f[3] or '?') .. ' with a valid lease; use --force'
  elseif not dry then
    unclaim(P, id, jk, f, now, now, false, nil)
    woke = true
  end
  out[#out + 1] = id
  out[#out + 1] = reason
end
if woke then redis.call('PUBLISH', ARGV[1], '1') end
return out
