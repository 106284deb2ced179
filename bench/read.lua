-- read.lua - wrk script: GET a random Patient by id, over keep-alive.
--
--   wrk -t2 -c32 -d10s --latency -s bench/read.lua http://HOST:PORT/fhir/Patient/ -- 10000 [TOKEN]
--
-- Requests <url path>pt-NNNNN with NNNNN uniform in 1..COUNT (the argument
-- after --, default 10000): the ids bench/gen_patients.py loads. The same
-- script drives the nginx static ceiling, whose config answers every such
-- path. Each wrk thread gets its own seed, so the threads do not request
-- the same sequence. Responses other than 2xx/3xx are counted by wrk
-- ("Non-2xx or 3xx responses"), and bench/run.sh reports them. With a
-- second argument (not empty), every request carries it as a bearer token.
-- A third argument replaces the id format "pt-%05d" (bench/backends.sh
-- reads the Patients of bench/gen_obs.py: "p%d").

local counter = 0
local headers = { ["Accept"] = "application/fhir+json" }

function setup(thread)
	counter = counter + 1
	thread:set("thread_no", counter)
end

local count = 10000
local prefix
local idfmt = "pt-%05d"

function init(args)
	count = tonumber(args[1] or "") or 10000
	if args[2] and args[2] ~= "" then
		headers["Authorization"] = "Bearer " .. args[2]
	end
	if args[3] and args[3] ~= "" then
		idfmt = args[3]
	end
	prefix = wrk.path
	if string.sub(prefix, -1) ~= "/" then
		prefix = prefix .. "/"
	end
	math.randomseed(os.time() * 1000 + (thread_no or 0) * 7919)
end

function request()
	return wrk.format("GET", prefix .. string.format(idfmt, math.random(1, count)), headers)
end
