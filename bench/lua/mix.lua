-- mix.lua - shoal's mixed load: of every 100 requests, 90 signed-in page reads
-- (GET /), 9 cart writes (POST /api/cart/add) and 1 sign-in (POST /login,
-- Argon2id), in a fixed interleaving; reads and writes rotate over a pool of
-- signed-in sessions.
--   wrk ... -s mix.lua URL -- COOKIE_NAME LOGIN_BODY CSRF_COOKIE SID|TOKEN ...
local threads = {}
local reads, carts, login = {}, {}, nil
n, nr, nc, nl = 0, 0, 0, 0

local items = { "apple", "pear", "plum" }

function setup(thread)
  table.insert(threads, thread)
end

function init(args)
  local name, body, csrf_cookie = args[1], args[2], args[3]
  login = wrk.format("POST", "/login", {
    ["Cookie"] = csrf_cookie,
    ["Content-Type"] = "application/x-www-form-urlencoded",
  }, body)
  for i = 4, #args do
    local sid, tok = args[i]:match("^([^|]+)|(.+)$")
    reads[#reads + 1] = wrk.format("GET", "/", { ["Cookie"] = name .. "=" .. sid })
    local set = {}
    for j, item in ipairs(items) do
      set[j] = wrk.format("POST", "/api/cart/add", {
        ["Cookie"] = name .. "=" .. sid,
        ["X-CSRF-Token"] = tok,
        ["Content-Type"] = "application/x-www-form-urlencoded",
      }, "item=" .. item .. "&qty=1")
    end
    carts[#carts + 1] = set
  end
end

function request()
  local r = n % 100
  local k = n % #reads + 1
  n = n + 1
  if r == 0 then
    nl = nl + 1
    return login
  elseif r % 11 == 1 then          -- r = 1, 12, 23, ... 89: 9 of 100
    nc = nc + 1
    return carts[k][nc % 3 + 1]
  end
  nr = nr + 1
  return reads[k]
end

function done(summary, latency, requests)
  local a, b, c = 0, 0, 0
  for _, t in ipairs(threads) do
    a = a + t:get("nr"); b = b + t:get("nc"); c = c + t:get("nl")
  end
  io.write(string.format("bench: sent_reads=%d sent_cart=%d sent_login=%d\n", a, b, c))
end
