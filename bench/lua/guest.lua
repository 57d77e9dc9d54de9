-- guest.lua - shoal's guest session: the first cart add of a visitor without
-- a session. POST /api/cart/add with only the anonymous CSRF pair (the
-- sid_csrf cookie a page with a form set, its token in X-CSRF-Token) and no
-- session cookie: wrk keeps no cookies, so every request is a new visitor and
-- creates a guest session (budget_take + SET NX, one round trip) and answers
-- 200 with the session's JSON and a Set-Cookie.
--   wrk ... -s guest.lua URL -- CSRF_COOKIE CSRF_TOKEN
-- bench/run counts the guest sessions each phase created and deletes them.
function init(args)
  wrk.method = "POST"
  wrk.path = "/api/cart/add"
  wrk.body = "item=apple&qty=1"
  wrk.headers["Cookie"] = args[1]
  wrk.headers["X-CSRF-Token"] = args[2]
  wrk.headers["Content-Type"] = "application/x-www-form-urlencoded"
end
