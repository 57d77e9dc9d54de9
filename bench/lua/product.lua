-- product.lua - GET /products/N for the database bench (bench/db).
-- args: FIRST COUNT THREADS. Thread i asks for FIRST + i, FIRST + i +
-- THREADS, ... wrapping after COUNT ids: with COUNT small every read after
-- the first of an id is a cache hit; with COUNT 5000 and a flushed cache
-- every read is a miss until the ids wrap.
local made = 0
local first, count, step, n = 1, 5000, 1, 0
off = 0

function setup(thread)
	thread:set("off", made)
	made = made + 1
end

function init(args)
	first = tonumber(args[1]) or 1
	count = tonumber(args[2]) or 5000
	step = tonumber(args[3]) or 1
end

function request()
	local id = first + (off + n * step) % count
	n = n + 1
	return wrk.format("GET", "/products/" .. id)
end
