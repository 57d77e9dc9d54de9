-- cart.lua - shoal's cart write: POST /api/cart/add, CSRF token in X-CSRF-Token.
--   wrk ... -s cart.lua URL -- QUOTA COOKIE_NAME SID|TOKEN SID|TOKEN ...
-- A cart line holds at most 999 of an item and a cart 50 lines, so one session
-- cannot take a whole run of adds. Every wrk thread therefore walks the same
-- list of sessions in step: QUOTA adds to session 1, then QUOTA to session 2 ...
-- All connections of all threads hit one hot session at a time (the peers' cart
-- test: 64 connections on one session), the three items take turns, and with
-- threads * QUOTA / 3 <= 999 no line ever reaches its limit (no 409).
-- bench/run resets the carts after each phase and counts what was stored.
local threads = {}
local reqs = {}
quota = 1          -- globals: done() reads them from each thread
n = 0              -- requests this thread has built (global: read in done())
wrapped = 0        -- 1 if this thread ran past the last session (pool too small)

local items = { "apple", "pear", "plum" }

function setup(thread)
  table.insert(threads, thread)
end

function init(args)
  quota = tonumber(args[1])
  local name = args[2]
  for i = 3, #args do
    local sid, tok = args[i]:match("^([^|]+)|(.+)$")
    local set = {}
    for j, item in ipairs(items) do
      set[j] = wrk.format("POST", "/api/cart/add", {
        ["Cookie"] = name .. "=" .. sid,
        ["X-CSRF-Token"] = tok,
        ["Content-Type"] = "application/x-www-form-urlencoded",
      }, "item=" .. item .. "&qty=1")
    end
    reqs[#reqs + 1] = set
  end
end

function request()
  local s = math.floor(n / quota)
  if s >= #reqs then
    wrapped = 1
    s = s % #reqs
  end
  local r = reqs[s + 1][n % 3 + 1]
  n = n + 1
  return r
end

function done(summary, latency, requests)
  local sent, wr, used = 0, 0, 0
  for _, t in ipairs(threads) do
    local tn, q = t:get("n"), t:get("quota")
    sent = sent + tn
    wr = math.max(wr, t:get("wrapped"))
    used = math.max(used, math.floor((tn - 1) / q) + 1)
  end
  io.write(string.format("bench: sent=%d sessions_used=%d pool_exhausted=%d\n", sent, used, wr))
end
