-- password_set: replace a user record and move on its credential
-- generation, in one step.
--
-- KEYS[1]  the user record
-- KEYS[2]  the user's credential generation
-- ARGV[1]  the new user record
-- Reply    the new generation (1 or more), or 0 when there is no such user
--
-- A session is created only for the generation its password was checked
-- against (index_add.lua), so once this has run, no sign-in that checked
-- the old password can add a session, however late it arrives.
if redis.call('EXISTS', KEYS[1]) == 0 then return 0 end
redis.call('SET', KEYS[1], ARGV[1])
return redis.call('INCR', KEYS[2])
