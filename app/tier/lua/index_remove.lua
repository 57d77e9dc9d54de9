-- index_remove: take sessions out of their user's index.
--
-- KEYS[1]  the index (see index_add.lua)
-- KEYS[2]  the index's meta
-- ARGV     the session hashes to remove (any number)
-- Reply    how many hashes were given
--
-- The records themselves are deleted by the caller, in the same pipeline.
for _, h in ipairs(ARGV) do
  redis.call('ZREM', KEYS[1], h)
  redis.call('HDEL', KEYS[2], h)
end
return #ARGV
