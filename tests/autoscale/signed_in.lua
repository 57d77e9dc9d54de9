-- signed_in.lua - the autoscale test's bulk load: signed-in page reads
-- (GET /) rotating over a pool of sessions, every answer checked: a page
-- without "Signed in as" counts as signed out (and a status other than 200
-- in bad_status; wrk counts it too). One connection per request, as the
-- Python users make: on a kept-alive one, a request sent just as a front
-- reload closes the idle connection fails in wrk, where a browser would
-- send it again.
--   wrk ... -s signed_in.lua URL -- COOKIE_NAME SID SID ...
local threads = {}
local reqs = {}
n = 0              -- globals: done() reads them from each thread
bad = 0
bad_status = 0

function setup(thread)
  table.insert(threads, thread)
end

function init(args)
  for i = 2, #args do
    -- The headers given here are all that is sent (not wrk's -H ones).
    reqs[#reqs + 1] = wrk.format("GET", "/", { ["Cookie"] = args[1] .. "=" .. args[i],
                                               ["Connection"] = "close" })
  end
end

function request()
  n = n + 1
  return reqs[n % #reqs + 1]
end

function response(status, headers, body)
  if status ~= 200 then
    bad_status = bad_status + 1
  elseif not string.find(body, "Signed in as", 1, true) then
    bad = bad + 1
  end
end

function done(summary, latency, requests)
  local b, s = 0, 0
  for _, t in ipairs(threads) do
    b = b + t:get("bad")
    s = s + t:get("bad_status")
  end
  io.write(string.format("signed_out %d\nbad_status %d\n", b, s))
end
