-- index_add: put a new session in its user's index.
--
-- KEYS[1]  the index: a sorted set of session hashes scored by their
--          absolute expiry (ms)
-- KEYS[2]  the index's meta: a hash of session hash -> "created\tuser agent"
-- KEYS[3]  the user's credential generation (absent: 0)
-- ARGV[1]  now (ms): entries scored at or below it have expired
-- ARGV[2]  the new session's hash
-- ARGV[3]  its absolute expiry (ms)
-- ARGV[4]  its meta ("created\tuser agent")
-- ARGV[5]  how long both keys live (ms): as long as the longest session could
-- ARGV[6]  the most sessions a user keeps
-- ARGV[7]  the credential generation the password was checked against
-- Reply    nil when the password changed since (nothing is added); else
--          the hashes evicted to stay within ARGV[6], oldest first; the
--          caller deletes those sessions too (an evicted session must not
--          outlive its place in the index, or "sign out everywhere" could
--          not reach it)
--
-- All keys carry the user's hash tag.
if (redis.call('GET', KEYS[3]) or '0') ~= ARGV[7] then return false end
local gone = redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', ARGV[1])
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', ARGV[1])
redis.call('ZADD', KEYS[1], ARGV[3], ARGV[2])
redis.call('HSET', KEYS[2], ARGV[2], ARGV[4])
local n = redis.call('ZCARD', KEYS[1]) - tonumber(ARGV[6])
local evicted = {}
if n > 0 then
  evicted = redis.call('ZRANGE', KEYS[1], 0, n - 1)
  redis.call('ZREMRANGEBYRANK', KEYS[1], 0, n - 1)
end
for _, h in ipairs(gone) do redis.call('HDEL', KEYS[2], h) end
for _, h in ipairs(evicted) do redis.call('HDEL', KEYS[2], h) end
redis.call('PEXPIRE', KEYS[1], ARGV[5])
redis.call('PEXPIRE', KEYS[2], ARGV[5])
return evicted
