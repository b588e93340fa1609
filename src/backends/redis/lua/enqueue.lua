-- enqueue: store new jobs of one queue; a unique key held by an unfinished job returns that job.
-- KEYS[1]  queue key prefix `{<prefix>:<queue>}:`
-- ARGV[1]  wake channel (published once when a job became ready)
-- ARGV[2]  queue name
-- ARGV[3..] per job, 8 values: id, name, payload JSON, priority, run_at ('' = now), max_attempts,
--          timeout_ms, unique_key ('' = none)
-- returns  { now, r1, r2, ... }: ri = 1 when job i was created, else the HGETALL of the
--          unfinished job holding its unique key
local P = KEYS[1]
local now = now_ms()
local snow = num(now)
local now_prefix = pad16(snow) .. ':'
local out = { now }
local ready, queued, sched, sched_ids = {}, {}, {}, {}
for i = 3, #ARGV, 8 do
  local id, uk = ARGV[i], ARGV[i + 7]
  local existing = nil
  if uk ~= '' then
    local ukey = P .. K.unique .. uk
    local holder = redis.call('GET', ukey)
    if holder then
      local st = redis.call('HGET', job_key(P, holder), 'state')
      if st == 'scheduled' or st == 'queued' or st == 'running' then existing = holder end
    end
    if not existing then redis.call('SET', ukey, id) end
  end
  if existing then
    out[#out + 1] = redis.call('HGETALL', job_key(P, existing))
  else
    local run_at, srun = now, snow
    if ARGV[i + 4] ~= '' then
      run_at = tonumber(ARGV[i + 4])
      srun = num(run_at)
    end
    local st = 'queued'
    if run_at > now then
      st = 'scheduled'
      sched[#sched + 1] = srun
      sched[#sched + 1] = id
      sched_ids[#sched_ids + 1] = id
      sched_ids[#sched_ids + 1] = id
    else
      ready[#ready + 1] = ARGV[i + 3]
      if run_at == now then ready[#ready + 1] = now_prefix .. pad16(id) else ready[#ready + 1] = ready_member(run_at, id) end
      queued[#queued + 1] = id
      queued[#queued + 1] = id
    end
    local jk = job_key(P, id)
    redis.call('HSET', jk, 'id', id, 'queue', ARGV[2], 'name', ARGV[i + 1], 'payload', ARGV[i + 2],
      'priority', ARGV[i + 3], 'state', st, 'attempts', 0, 'max_attempts', ARGV[i + 5], 'run_at', srun,
      'timeout_ms', ARGV[i + 6], 'created_at', snow, 'updated_at', snow)
    if uk ~= '' then redis.call('HSET', jk, 'unique_key', uk) end
    out[#out + 1] = 1
  end
end
if #ready > 0 then
  redis.call('ZADD', P .. K.ready, unpack(ready))
  redis.call('ZADD', P .. K.state .. 'queued', unpack(queued))
  redis.call('PUBLISH', ARGV[1], '1')
end
if #sched > 0 then
  redis.call('ZADD', P .. K.scheduled, unpack(sched))
  redis.call('ZADD', P .. K.state .. 'scheduled', unpack(sched_ids))
end
return out
