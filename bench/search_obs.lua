-- search_obs.lua - wrk script for bench/search.sh: Observation searches.
--
--   wrk -t2 -c32 -d15s --latency -s bench/search_obs.lua \
--       http://HOST:PORT/fhir/Observation -- random 10000
--   wrk -t2 -c32 -d10s --latency -s bench/search_obs.lua \
--       'http://HOST:PORT/fhir/Observation?patient=pbig&...' -- fixed
--
-- random N: every request is
--   GET <url path>?patient=pK&category=vital-signs&_count=20
-- with K uniform in 1..N (the Patients bench/gen_obs.py writes); each wrk
-- thread has its own seed.
-- SEARCH_OBS_PAUSE_MS=P in wrk's environment (either mode): each
-- connection waits ~P ms before each request (wrk's delay(); read at load,
-- because wrk asks whether delay() exists before init() runs), so C
-- connections offer at most C * 1000 / (P + latency) requests/s: a paced
-- load below saturation, whose latencies are those of the work rather
-- than of a queue. Without it every connection sends as fast as it can.
-- fixed: every request is GET of the URL as given (path and query), e.g. a
-- page URL taken from a searchset's next link.
--
-- done() prints one machine-readable line that bench/search.sh parses:
--   SEARCHBENCH rps=R p50_us=A p99_us=B requests=N non200=E sockerr=S statuses=200:N,501:M
-- sockerr is connect+read+write+timeout errors. With SEARCH_OBS_STATUSES=1
-- in wrk's environment, a response hook counts every status (statuses=...,
-- and non200 counts every status but 200). Without it there is no Lua work
-- per response (the hook cost wrk ~7 us of CPU a response here, on the CPUs
-- the server needs): non200 is then wrk's own count of statuses >= 400 and
-- statuses=-. bench/search.sh counts statuses in the warm-up runs only.

local threads = {}
local counter = 0

function setup(thread)
	counter = counter + 1
	thread:set("thread_no", counter)
	table.insert(threads, thread)
end

local count = 10000
local mode = "random"
local base
local fixed_req
local headers = { ["Accept"] = "application/fhir+json" }
statuses = {}

function init(args)
	mode = args[1] or "random"
	if mode == "random" then
		count = tonumber(args[2] or "") or 10000
		base = wrk.path .. "?patient=p"
	elseif mode == "fixed" then
		fixed_req = wrk.format("GET", wrk.path, headers)
	else
		error("search_obs.lua: mode must be random or fixed, not " .. tostring(mode))
	end
	math.randomseed(os.time() * 1000 + (thread_no or 0) * 7919)
end

local pause = tonumber(os.getenv("SEARCH_OBS_PAUSE_MS") or "")
if pause and pause > 0 then
	-- uniform in 0..2P (mean P): equal pauses keep the connections in
	-- step, and their requests then arrive in waves of C at once
	function delay()
		return math.random(0, 2 * pause)
	end
end

function request()
	if fixed_req then
		return fixed_req
	end
	return wrk.format("GET", base .. math.random(1, count) .. "&category=vital-signs&_count=20", headers)
end

local counting = os.getenv("SEARCH_OBS_STATUSES") == "1"
if counting then
	function response(status, hdrs, body)
		statuses[status] = (statuses[status] or 0) + 1
	end
end

function done(summary, latency, requests)
	local all = {}
	for _, t in ipairs(threads) do
		local s = t:get("statuses")
		if s then
			for code, n in pairs(s) do
				all[code] = (all[code] or 0) + n
			end
		end
	end
	local codes = {}
	local non200 = 0
	for code, n in pairs(all) do
		table.insert(codes, code)
		if code ~= 200 then
			non200 = non200 + n
		end
	end
	table.sort(codes)
	local parts = {}
	for _, code in ipairs(codes) do
		table.insert(parts, code .. ":" .. all[code])
	end
	local e = summary.errors
	if not counting then
		non200 = e.status
		parts = {}
	end
	local secs = summary.duration / 1e6
	io.write(string.format("SEARCHBENCH rps=%.1f p50_us=%d p99_us=%d requests=%d non200=%d sockerr=%d statuses=%s\n",
		secs > 0 and summary.requests / secs or 0, latency:percentile(50), latency:percentile(99),
		summary.requests, non200, e.connect + e.read + e.write + e.timeout,
		#parts > 0 and table.concat(parts, ",") or "-"))
end
