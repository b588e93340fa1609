-- workers (registry slot, read-only): the worker records with the server time, one round trip.
-- KEYS[1]  {<prefix>}:workers   KEYS[2] {<prefix>}:worker-beats   KEYS[3] {<prefix>}:queues
-- returns  { now, HGETALL workers, HGETALL worker-beats, HGETALL queues }
return { now_ms(), redis.call('HGETALL', KEYS[1]), redis.call('HGETALL', KEYS[2]), redis.call('HGETALL', KEYS[3]) }
