-- index_add: put a new session in its user's index.
--
-- KEYS[1]  the index: a sorted set of session hashes scored by their
--          absolute expiry (ms)
-- KEYS[2]  the index's meta: a hash of session hash -> "created\tuser agent"
-- KEYS[3]  the copy of the user's credential generation (absent: 0); the
--          truth is accounts.generation in PostgreSQL
-- ARGV[1]  now (ms): entries scored at or below it have expired
-- ARGV[2]  the new session's hash
-- ARGV[3]  its absolute expiry (ms)
-- ARGV[4]  its meta ("created\tuser agent")
-- ARGV[5]  how long the keys live (ms): as long as the longest session could
-- ARGV[6]  the most sessions a user keeps
-- ARGV[7]  the credential generation the password was checked against
-- Reply    nil when the password changed since (ARGV[7] is below the copy:
--          nothing is added); else the hashes of the sessions to end, which
--          the caller deletes: those evicted to stay within ARGV[6], oldest
--          first, and, when ARGV[7] is above the copy, every session the
--          index held (all were issued under an older generation, so a
--          password change ended them). An ended session must not outlive
--          its place in the index, or "sign out everywhere" could not
--          reach it.
--
-- The copy is only ever raised, here: a password change commits in
-- PostgreSQL first, then creates the changer's new session with the new
-- generation, which raises the copy and ends the others in this one step;
-- from then on no sign-in that checked the old password can add a session.
-- If that second step never runs (the worker died), the next session of the
-- new generation (a sign-in with the new password) does it
-- (docs/security.md).
--
-- All keys carry the user's hash tag.
local copy = tonumber(redis.call('GET', KEYS[3]) or '0')
local gen = tonumber(ARGV[7])
if gen < copy then return false end
local ended = {}
if gen > copy then
  ended = redis.call('ZRANGE', KEYS[1], 0, -1)
  redis.call('DEL', KEYS[1], KEYS[2])
  redis.call('SET', KEYS[3], ARGV[7])
end
local gone = redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', ARGV[1])
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', ARGV[1])
redis.call('ZADD', KEYS[1], ARGV[3], ARGV[2])
redis.call('HSET', KEYS[2], ARGV[2], ARGV[4])
local n = redis.call('ZCARD', KEYS[1]) - tonumber(ARGV[6])
if n > 0 then
  for _, h in ipairs(redis.call('ZRANGE', KEYS[1], 0, n - 1)) do
    ended[#ended + 1] = h
    redis.call('HDEL', KEYS[2], h)
  end
  redis.call('ZREMRANGEBYRANK', KEYS[1], 0, n - 1)
end
for _, h in ipairs(gone) do redis.call('HDEL', KEYS[2], h) end
redis.call('PEXPIRE', KEYS[1], ARGV[5])
redis.call('PEXPIRE', KEYS[2], ARGV[5])
redis.call('PEXPIRE', KEYS[3], ARGV[5])
return ended
