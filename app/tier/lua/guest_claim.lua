-- guest_claim: end a guest session whose data a sign-in has taken over.
--
-- KEYS[1]  the guest's record
-- ARGV[1]  the bytes of it the sign-in merged into the user's new session
-- Reply    1: deleted, the data is the user's now
--          0: gone already (another sign-in with the same guest cookie took
--             it, or it expired): the caller must not keep the data
--          a string: the guest changed since (another tab of it changed
--             its data); this is it now, to merge again and claim with
--
-- Only one sign-in can get 1 for a given record, so a guest's data joins
-- exactly one session, however many tabs sign in at once.
local cur = redis.call('GET', KEYS[1])
if not cur then return 0 end
if cur ~= ARGV[1] then return cur end
redis.call('DEL', KEYS[1])
return 1
