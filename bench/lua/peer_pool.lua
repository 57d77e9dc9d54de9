-- peer_pool.lua - a peer's cart write (GET /cart/add) with one session per
-- request in turn over a pool of the peer's sessions: the per-user cart
-- workload (cart-own) of the peers, as cart_pool.lua is shoal's.
--   wrk ... -s peer_pool.lua URL -- COOKIE COOKIE ...   (each "name=value")
local reqs = {}
id = 0             -- this thread's number (set by setup() before init())
n = 0
local threads = {}

function setup(thread)
  thread:set("id", #threads)
  table.insert(threads, thread)
end

function init(args)
  for i = 1, #args do
    reqs[#reqs + 1] = wrk.format("GET", "/cart/add", { ["Cookie"] = args[i] })
  end
end

function request()
  local k = #reqs
  local s = (math.floor(k * ((id * 0.618034) % 1)) + n) % k
  n = n + 1
  return reqs[s + 1]
end
