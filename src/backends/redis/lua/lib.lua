-- lib.lua: helpers shared by every per-queue script. Not a script by itself: the backend
-- prepends the key-suffix table `K` (keys.ts) and this file to each per-queue script.
--
-- Conventions:
--   P            the queue's key prefix `{<prefix>:<queue>}:` (always KEYS[1])
--   ids          decimal strings, never converted with tostring() (exact only via num())
--   times        epoch milliseconds from the server clock (TIME)
--   job fields   see src/backends/redis/codec.ts

local KEPT_ERRORS = 20

local function now_ms()
  local t = redis.call('TIME')
  return tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
end

-- integer -> decimal text without exponent
local function num(n)
  return string.format('%.0f', n)
end

local function pad16(s)
  return string.rep('0', 16 - #s) .. s
end

-- member of the ready ZSET: equal priorities (scores) order by run_at, then id
local function ready_member(run_at, id)
  return pad16(num(run_at)) .. ':' .. pad16(id)
end

local function id_of_member(m)
  return string.match(m, ':0*(%d+)$')
end

local function job_key(P, id)
  return P .. K.job .. id
end

-- put a job into queued (run_at <= now) or scheduled; returns the state
local function enter_waiting(P, id, priority, run_at, now)
  if run_at > now then
    redis.call('ZADD', P .. K.scheduled, num(run_at), id)
    redis.call('ZADD', P .. K.state .. 'scheduled', id, id)
    return 'scheduled'
  end
  redis.call('ZADD', P .. K.ready, priority, ready_member(run_at, id))
  redis.call('ZADD', P .. K.state .. 'queued', id, id)
  return 'queued'
end

-- remove a job from the structures of its current state
local function leave_state(P, id, state, run_at)
  if state == 'queued' then
    redis.call('ZREM', P .. K.ready, ready_member(tonumber(run_at) or 0, id))
  elseif state == 'scheduled' then
    redis.call('ZREM', P .. K.scheduled, id)
  elseif state == 'running' then
    redis.call('ZREM', P .. K.leases, id) -- running jobs are listed from the leases ZSET
    return
  else
    redis.call('ZREM', P .. K.finished .. state, id)
  end
  redis.call('ZREM', P .. K.state .. state, id)
end

local function release_unique(P, id, uk)
  if uk and uk ~= '' then
    local key = P .. K.unique .. uk
    if redis.call('GET', key) == id then redis.call('DEL', key) end
  end
end

-- a job reached completed | failed | cancelled (fields are set by the caller)
local function enter_finished(P, id, state, now, uk)
  redis.call('ZADD', P .. K.state .. state, id, id)
  redis.call('ZADD', P .. K.finished .. state, num(now), id)
  release_unique(P, id, uk)
end

-- redis.call(cmd, key?, list...) in slices of at most 1000 arguments: Lua's unpack() fails on
-- a few thousand values ("too many results to unpack")
local function call_in_slices(cmd, key, list)
  for from = 1, #list, 1000 do
    local to = math.min(#list, from + 999)
    if key then
      redis.call(cmd, key, unpack(list, from, to))
    else
      redis.call(cmd, unpack(list, from, to))
    end
  end
end

-- delete finished jobs of one state (their unique keys were freed when they finished), in bulk
local function delete_finished(P, state, ids)
  if #ids == 0 then return 0 end
  local dead = {}
  for i, id in ipairs(ids) do
    dead[2 * i - 1] = P .. K.job .. id
    dead[2 * i] = P .. K.jobLog .. id
  end
  call_in_slices('ZREM', P .. K.finished .. state, ids)
  call_in_slices('ZREM', P .. K.state .. state, ids)
  call_in_slices('HDEL', P .. K.pendingLog, ids)
  call_in_slices('DEL', nil, dead)
  return #ids
end

-- retention: keep at most `keep` jobs (negative: no count limit) and none older than `age` ms
-- (0: no age limit). Trimming waits for a little slack, then deletes in bulk (at most 1000).
local function trim_finished(P, state, keep, age, now)
  local fk = P .. K.finished .. state
  local deleted = 0
  if keep >= 0 then
    local extra = redis.call('ZCARD', fk) - keep
    if extra > math.min(100, math.floor(keep / 100)) then
      deleted = delete_finished(P, state, redis.call('ZRANGE', fk, 0, math.min(extra, 1000) - 1))
    end
  end
  if age > 0 then
    local first = redis.call('ZRANGE', fk, 0, 0, 'WITHSCORES')
    if first[2] and tonumber(first[2]) <= now - age then
      deleted = deleted + delete_finished(P, state, redis.call('ZRANGEBYSCORE', fk, '-inf', num(now - age), 'LIMIT', 0, 1000))
    end
  end
  return deleted
end

-- MAXLEN ~ for an entry of n lines in a stream keeping about `budget` lines (logs.ts maxlenFor)
local function maxlen_for(budget, n)
  return math.max(1, math.floor(tonumber(budget) / math.max(1, tonumber(n))))
end

-- Add one entry (n lines, JSON text) to a job's log. The queue's pending-log hash `pk` holds,
-- per job: nothing yet; 'S' once the job has a stream `sk`; or the job's only entry so far
-- ("<pending>-0\n<n>\n<lines>", `pending` a ms time, given by complete only): a job whose only
-- lines are its outcome events costs one hash field instead of a stream. A later entry first
-- moves the pending one into a new stream under the same id (later ids are greater).
local function job_log_add(sk, pk, id, n, text, maxlen, pending)
  if pending and redis.call('HSETNX', pk, id, pending .. '-0\n' .. n .. '\n' .. text) == 1 then return end
  local held = redis.call('HGET', pk, id)
  if held ~= 'S' then
    if held then
      local hid, hn, htext = string.match(held, '^([^\n]*)\n([^\n]*)\n(.*)$')
      redis.call('XADD', sk, hid, 'n', hn, 'lines', htext)
    end
    redis.call('HSET', pk, id, 'S')
  end
  redis.call('XADD', sk, 'MAXLEN', '~', maxlen, '*', 'n', n, 'lines', text)
end

-- errors are JSON lines {"attempt","at","message"}; the last KEPT_ERRORS are kept
local function append_error(old, attempt, now, message)
  local line = '{"attempt":' .. attempt .. ',"at":' .. num(now) .. ',"message":' .. cjson.encode(message) .. '}'
  local text = line
  if old and old ~= '' then text = old .. '\n' .. line end
  local count = 1
  for _ in string.gmatch(text, '\n') do count = count + 1 end
  while count > KEPT_ERRORS do
    text = string.sub(text, string.find(text, '\n', 1, true) + 1)
    count = count - 1
  end
  return text
end

-- move due scheduled jobs to ready; returns how many
local function promote(P, now, max)
  local due = redis.call('ZRANGEBYSCORE', P .. K.scheduled, '-inf', num(now), 'LIMIT', 0, max)
  for _, id in ipairs(due) do
    local jk = job_key(P, id)
    local f = redis.call('HMGET', jk, 'priority', 'run_at', 'state')
    redis.call('ZREM', P .. K.scheduled, id)
    redis.call('ZREM', P .. K.state .. 'scheduled', id)
    if f[3] == 'scheduled' then
      redis.call('ZADD', P .. K.ready, f[1], ready_member(tonumber(f[2]), id))
      redis.call('ZADD', P .. K.state .. 'queued', id, id)
      redis.call('HSET', jk, 'state', 'queued')
    end
  end
  return #due
end

-- a running job leaves its claim: back to queued now (or scheduled), or failed when `fail`
-- f = HMGET state, attempts, worker, unique_key, priority, errors, max_attempts (already read)
local function unclaim(P, id, jk, f, now, run_at, fail, err)
  redis.call('ZREM', P .. K.leases, id)
  redis.call('HDEL', jk, 'lease_expires_at', 'worker')
  if err then
    redis.call('HSET', jk, 'last_error', err, 'errors', append_error(f[6], f[2], now, err))
  end
  if fail then
    redis.call('HSET', jk, 'state', 'failed', 'finished_at', num(now), 'updated_at', num(now))
    enter_finished(P, id, 'failed', now, f[4])
    return 'failed'
  end
  local st = enter_waiting(P, id, tonumber(f[5]) or 0, run_at, now)
  redis.call('HSET', jk, 'state', st, 'run_at', num(run_at), 'updated_at', num(now))
  return st
end

local CLAIM_FIELDS = { 'state', 'attempts', 'worker', 'unique_key', 'priority', 'errors', 'max_attempts', 'lease_expires_at', 'started_at', 'timeout_ms' }

-- live workers from ARGV[from .. from+n-1] as a set
local function live_set(from)
  local n = tonumber(ARGV[from])
  local set = {}
  for i = from + 1, from + n do set[ARGV[i]] = true end
  return set, from + n + 1
end

-- orphaned | stuck | ok for a running job (f = HMGET CLAIM_FIELDS); nil when not running.
-- orphaned: lease expired, or its worker was not alive at `snapshot` (and claimed before it);
-- stuck: not orphaned and started_at + timeout < now.
local function classify(f, now, live, snapshot)
  if f[1] ~= 'running' then return nil end
  if (tonumber(f[8]) or 0) <= now then return 'orphaned' end
  local started = tonumber(f[9]) or 0
  if not live[f[3] or ''] and started <= snapshot then return 'orphaned' end
  if started + (tonumber(f[10]) or 0) < now then return 'stuck' end
  return 'ok'
end
