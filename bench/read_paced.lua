-- read_paced.lua - read.lua at a bounded rate: each connection waits
-- PAUSE_MS before each request, so the server is below saturation and the
-- latencies compare the work of a request, not the length of a queue.
--
--   wrk -t2 -c32 -d10s --latency -s bench/read_paced.lua http://HOST:PORT/fhir/Patient/ -- 10000 TOKEN PAUSE_MS
--
-- 32 connections with a 10 ms pause make at most ~3,200 requests/s.

local counter = 0
local headers = { ["Accept"] = "application/fhir+json" }

function setup(thread)
	counter = counter + 1
	thread:set("thread_no", counter)
end

local count = 10000
local pause = 10
local prefix

function init(args)
	count = tonumber(args[1] or "") or 10000
	if args[2] and args[2] ~= "" then
		headers["Authorization"] = "Bearer " .. args[2]
	end
	pause = tonumber(args[3] or "") or 10
	prefix = wrk.path
	if string.sub(prefix, -1) ~= "/" then
		prefix = prefix .. "/"
	end
	math.randomseed(os.time() * 1000 + (thread_no or 0) * 7919)
end

function delay()
	return pause
end

function request()
	return wrk.format("GET", string.format("%spt-%05d", prefix, math.random(1, count)), headers)
end
