-- migrate (registry slot): record the key-layout format version; refuse a newer one.
-- KEYS[1]  {<prefix>}:meta
-- ARGV[1]  format version of this build
-- returns  { version before, version after }; error JOBCTL_SCHEMA when the stored one is newer
local have = tonumber(redis.call('HGET', KEYS[1], 'format') or '0')
local want = tonumber(ARGV[1])
if have > want then
  return redis.error_reply('JOBCTL_SCHEMA key format version ' .. have .. ' is newer than this jobctl (' .. want .. ')')
end
if have < want then
  redis.call('HSET', KEYS[1], 'format', want)
  if have == 0 then redis.call('HSET', KEYS[1], 'created_at', num(now_ms())) end
end
return { have, want }
