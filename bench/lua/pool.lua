-- pool.lua - signed-in page reads (GET /) rotating over a pool of sessions,
-- one per request in turn: the scale test (1 000 vs 1 000 000 sessions in Redis).
--   wrk ... -s pool.lua URL -- COOKIE_NAME SID SID ...
local reqs = {}
local n = 0

function init(args)
  for i = 2, #args do
    reqs[#reqs + 1] = wrk.format("GET", "/", { ["Cookie"] = args[1] .. "=" .. args[i] })
  end
end

function request()
  n = n + 1
  return reqs[n % #reqs + 1]
end
