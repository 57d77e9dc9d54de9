-- index_list: a user's sessions, after pruning the expired ones.
--
-- KEYS[1]  the index (see index_add.lua)
-- KEYS[2]  the index's meta
-- ARGV[1]  now (ms): entries scored at or below it have expired
-- Reply    hash, meta, hash, meta, ... oldest first (meta "" if missing)
--
-- An entry can outlive its record (idle expiry, a revocation elsewhere):
-- the caller checks each record's PTTL and removes the dead ones.
local gone = redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', ARGV[1])
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', ARGV[1])
for _, h in ipairs(gone) do redis.call('HDEL', KEYS[2], h) end
local out = {}
for _, h in ipairs(redis.call('ZRANGE', KEYS[1], 0, -1)) do
  out[#out + 1] = h
  out[#out + 1] = redis.call('HGET', KEYS[2], h) or ''
end
return out
