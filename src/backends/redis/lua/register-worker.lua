-- register-worker (registry slot): add a worker record; a name held by a live worker is refused.
-- Records dead for longer than the prune age are removed on the way.
-- KEYS[1]  {<prefix>}:workers (name -> info JSON)
-- KEYS[2]  {<prefix>}:worker-beats (name -> "<last heartbeat ms>:<running jobs>:<ttl ms>:<started ms>")
-- ARGV[1]  name   ARGV[2] info JSON   ARGV[3] ttl ms   ARGV[4] prune age ms
-- returns  server time (ms); error JOBCTL_CONFLICT when a live worker has the name
local now = now_ms()
local beats = redis.call('HGETALL', KEYS[2])
for i = 1, #beats, 2 do
  local last, ttl = string.match(beats[i + 1], '^(%d+):%d+:(%d+):')
  if last and tonumber(last) + tonumber(ttl) + tonumber(ARGV[4]) < now and beats[i] ~= ARGV[1] then
    redis.call('HDEL', KEYS[1], beats[i])
    redis.call('HDEL', KEYS[2], beats[i])
  end
end
local cur = redis.call('HGET', KEYS[2], ARGV[1])
if cur then
  local last, ttl = string.match(cur, '^(%d+):%d+:(%d+):')
  if last and tonumber(last) + tonumber(ttl) > now then
    return redis.error_reply('JOBCTL_CONFLICT worker name ' .. ARGV[1] .. ' is held by a live worker')
  end
end
redis.call('HSET', KEYS[1], ARGV[1], ARGV[2])
redis.call('HSET', KEYS[2], ARGV[1], num(now) .. ':0:' .. ARGV[3] .. ':' .. num(now))
return now
