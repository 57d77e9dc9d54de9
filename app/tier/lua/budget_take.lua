-- budget_take: count one attempt against each of a few budgets, before the
-- attempt is made (so concurrent attempts cannot all pass a check that
-- comes before the count).
--
-- KEYS     the counters, all of one hash tag
-- ARGV[1]  the window (s): a counter lives that long from its first count,
--          and the window does not slide
-- ARGV[2]  the budget of KEYS[1], ARGV[3] that of KEYS[2], ...
-- Reply    0 when every counter is within its budget; else the ms until
--          the latest of the exhausted counters ends
--
-- An attempt refused still counts: an attacker gains nothing by hammering.
local wait = 0
for i, k in ipairs(KEYS) do
  local n = redis.call('INCR', k)
  redis.call('EXPIRE', k, ARGV[1], 'NX')
  if n > tonumber(ARGV[i + 1]) then
    local ttl = redis.call('PTTL', k)
    if ttl < 1 then ttl = 1 end
    if ttl > wait then wait = ttl end
  end
end
return wait
