-- allocate (registry slot): job sequence numbers for new ids, and queue numbers for queue names
-- (registering queues not seen before). id = seq * 100000 + queue number (see keys.ts).
-- KEYS[1]  {<prefix>}:queues          KEYS[2] {<prefix>}:queue-names
-- KEYS[3]  {<prefix>}:queue-counter   KEYS[4] {<prefix>}:job-counter
-- ARGV[1]  how many sequence numbers
-- ARGV[2]  highest queue number allowed
-- ARGV[3..] queue names
-- returns  { first sequence number (0 when none asked), queue number per name ... }
local count = tonumber(ARGV[1])
local first = 0
if count > 0 then first = redis.call('INCRBY', KEYS[4], count) - count + 1 end
local out = { first }
for i = 3, #ARGV do
  local qn = redis.call('HGET', KEYS[1], ARGV[i])
  if not qn then
    qn = redis.call('INCR', KEYS[3])
    if qn > tonumber(ARGV[2]) then
      redis.call('DECR', KEYS[3])
      return redis.error_reply('JOBCTL_INVALID too many queues under this prefix (the limit is ' .. ARGV[2] .. ')')
    end
    redis.call('HSET', KEYS[1], ARGV[i], qn)
    redis.call('HSET', KEYS[2], qn, ARGV[i])
  end
  out[#out + 1] = tonumber(qn)
end
return out
