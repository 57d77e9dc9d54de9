-- login.lua - shoal's sign-in: POST /login with user name, password and the
-- anonymous CSRF pair (sid_csrf cookie + csrf field). Every request runs
-- Argon2id and creates a session.
--   wrk ... -s login.lua URL -- LOGIN_BODY CSRF_COOKIE
function init(args)
  wrk.method = "POST"
  wrk.path = "/login"
  wrk.body = args[1]
  wrk.headers["Cookie"] = args[2]
  wrk.headers["Content-Type"] = "application/x-www-form-urlencoded"
end
