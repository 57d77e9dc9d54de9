-- session_load: read a session record and slide its idle TTL.
--
-- KEYS[1]  the session record
-- ARGV[1]  refresh below (ms): slide only when less than this remains
-- ARGV[2]  the idle window (ms) the TTL is set back to
-- Reply    the record (a string), or nil when there is none
--
-- Most reads write nothing: the TTL moves only once most of the window has
-- passed, so a busy session costs one PEXPIRE a minute, not one per request
-- (and nothing reaches the AOF or the replicas in between).
local v = redis.call('GET', KEYS[1])
if v and redis.call('PTTL', KEYS[1]) < tonumber(ARGV[1]) then
  redis.call('PEXPIRE', KEYS[1], ARGV[2])
end
return v
