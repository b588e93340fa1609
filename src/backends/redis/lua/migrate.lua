-- migrate (registry slot): record the key-layout format version; refuse a newer one.
-- Format 2 (from 1): log lines of queues are no longer copied to a global stream; the old one
-- (KEYS[2]) is deleted (per-worker streams of format 1, `{<prefix>}:worker-log:<name>`, are left
-- to expire by MAXLEN: finding them takes a SCAN).
-- KEYS[1]  {<prefix>}:meta
-- KEYS[2]  {<prefix>}:logs (format 1's global log stream)
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
  if have == 1 then redis.call('DEL', KEYS[2]) end
end
return { have, want }
