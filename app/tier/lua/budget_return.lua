-- budget_return: give back the attempt budget_take counted, for an attempt
-- that succeeded (a right password is not a failure).
--
-- KEYS     the counters, all of one hash tag
-- Reply    how many counters were still there to give back to
--
-- A counter whose window has ended is not brought back.
local n = 0
for _, k in ipairs(KEYS) do
  if tonumber(redis.call('GET', k) or '0') > 0 then
    redis.call('DECR', k)
    n = n + 1
  end
end
return n
