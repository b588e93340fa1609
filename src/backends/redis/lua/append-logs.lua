-- append-logs: add one entry to each of up to 16 streams of ONE slot, trimmed with MAXLEN ~.
-- An entry holds the lines of one append call for that stream (see logs.ts).
-- KEYS     16 streams of one slot (unused places repeat KEYS[1])
-- ARGV[1]  MINID for age trimming of every stream written ('' = no age trimming this time)
-- ARGV[2..] per stream written, 4 values: index in KEYS (1-based), MAXLEN, line count, lines JSON
-- returns  number of entries added
local n = 0
local seen = {}
for i = 2, #ARGV, 4 do
  local key = KEYS[tonumber(ARGV[i])]
  redis.call('XADD', key, 'MAXLEN', '~', ARGV[i + 1], '*', 'n', ARGV[i + 2], 'lines', ARGV[i + 3])
  if ARGV[1] ~= '' and not seen[key] then
    seen[key] = true
    redis.call('XTRIM', key, 'MINID', '~', ARGV[1])
  end
  n = n + 1
end
return n
