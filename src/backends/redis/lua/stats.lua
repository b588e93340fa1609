-- stats (read-only): counts of one queue, with the derived stuck/orphaned subsets of running.
-- KEYS[1]  queue key prefix
-- ARGV[1]  registry snapshot time (ms)
-- ARGV[2]  n live workers, then their names
-- returns  { now, ready, scheduled due (reported queued), scheduled future, running, completed,
--            failed, cancelled, oldest queued run_at ('' when none), stuck, orphaned }
local P = KEYS[1]
local now = now_ms()
local live = live_set(2)
local snapshot = tonumber(ARGV[1])
local due = redis.call('ZCOUNT', P .. K.scheduled, '-inf', num(now))
local future = redis.call('ZCOUNT', P .. K.scheduled, '(' .. num(now), '+inf')
local oldest = nil
local first = redis.call('ZRANGE', P .. K.state .. 'queued', 0, 0)
if first[1] then oldest = tonumber(redis.call('HGET', job_key(P, first[1]), 'run_at')) end
local firstdue = redis.call('ZRANGEBYSCORE', P .. K.scheduled, '-inf', num(now), 'WITHSCORES', 'LIMIT', 0, 1)
if firstdue[2] and (not oldest or tonumber(firstdue[2]) < oldest) then oldest = tonumber(firstdue[2]) end
local stuck, orphaned = 0, 0
for _, id in ipairs(redis.call('ZRANGE', P .. K.leases, 0, 9999)) do
  local c = classify(redis.call('HMGET', job_key(P, id), unpack(CLAIM_FIELDS)), now, live, snapshot)
  if c == 'stuck' then stuck = stuck + 1 elseif c == 'orphaned' then orphaned = orphaned + 1 end
end
return { now, redis.call('ZCARD', P .. K.ready), due, future, redis.call('ZCARD', P .. K.leases),
  redis.call('ZCARD', P .. K.state .. 'completed'), redis.call('ZCARD', P .. K.state .. 'failed'),
  redis.call('ZCARD', P .. K.state .. 'cancelled'), oldest and num(oldest) or '', stuck, orphaned }
