-- cart_pool.lua - cart writes spread over many sessions: POST /api/cart/add,
-- CSRF token in X-CSRF-Token, one session per request in turn.
--   wrk ... -s cart_pool.lua URL -- COOKIE_NAME SID|TOKEN SID|TOKEN ...
-- Each thread starts at its own place in the list (thread i at the fraction
-- i * 0.618 of it, which keeps any number of threads apart), so two requests
-- on one session at once are rare: the load is many users adding to their
-- own carts, spread over every slot of a Redis Cluster. The three items take
-- turns per pass over the list and every thread gives a session one add per
-- pass, so with T threads a line reaches its limit (999) after 2997 / T
-- passes. bench/cluster counts what was stored and empties the carts after
-- each run.
local threads = {}
local reqs = {}
id = 0             -- this thread's number (set by setup() before init())
n = 0              -- requests this thread has built (global: read in done())

local items = { "apple", "pear", "plum" }

function setup(thread)
  thread:set("id", #threads)
  table.insert(threads, thread)
end

function init(args)
  local name = args[1]
  for i = 2, #args do
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
  local k = #reqs
  local start = math.floor(k * ((id * 0.618034) % 1))
  local s = (start + n) % k
  local r = reqs[s + 1][math.floor(n / k) % 3 + 1]
  n = n + 1
  return r
end

function done(summary, latency, requests)
  local sent = 0
  for _, t in ipairs(threads) do
    sent = sent + t:get("n")
  end
  io.write(string.format("bench: sent=%d\n", sent))
end
