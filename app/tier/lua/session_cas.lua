-- session_cas: compare-and-set a session record.
--
-- KEYS[1]  the session record
-- ARGV[1]  the bytes the caller read
-- ARGV[2]  the bytes to write instead
-- ARGV[3]  the TTL of the new record (ms)
-- Reply    1: written
--          0: the record is gone and stays gone (a slow request must not
--             bring back a session that was logged out)
--          a string: someone else wrote first; this is what they wrote, so
--             the caller can apply its change again without another read
--
-- The record's version counter makes equal bytes mean "nobody wrote since".
local cur = redis.call('GET', KEYS[1])
if not cur then return 0 end
if cur ~= ARGV[1] then return cur end
redis.call('SET', KEYS[1], ARGV[2], 'PX', ARGV[3])
return 1
