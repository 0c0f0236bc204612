-- whiskey's wrk script: one random quote id per request and a JSON summary at the end.
--
--   wrk -t2 -c32 -d30s --latency -s whiskey.lua http://server:9999 -- '/quotes/byId?id={id}' 900000
--
-- Arguments (after --): the request path, in which every "{id}" becomes a random integer in
-- 1..corpus_size (default "/quotes/byId?id={id}"), and corpus_size (default 900000).
-- The summary goes to the file named by the environment variable WHISKEY_WRK_JSON (stdout if unset):
-- requests, errors (connect/read/write/timeout), non_2xx (wrk counts status >= 400), bytes, duration_s, rps and
-- latency in milliseconds (avg, stdev, max and p50/p75/p90/p99/p99.9).

-- The Accept-Encoding Locust's users send (FastHttpUser and HttpUser alike): with it nginx gzips its answers for
-- wrk exactly as it does for Locust, so both drivers ask the servers for the same work. (No Accept header, like
-- FastHttpUser: the app then answers HTML, as it does for HttpUser's "*/*".)
local headers = {["Accept-Encoding"] = "gzip, deflate, br"}

-- WHISKEY_WRK_DELAY_MS: each connection waits this long after an answer before its next request (wrk's delay()),
-- so that a few connections carry a chosen throughput well below the server's knee (the capacity profile's
-- cross-check); unset, wrk sends back to back.
local delay_ms = tonumber(os.getenv("WHISKEY_WRK_DELAY_MS") or "")
if delay_ms ~= nil and delay_ms > 0 then
  function delay()
    return delay_ms
  end
end

local path_template = "/quotes/byId?id={id}"
local corpus_size = 900000
local has_id = true
local thread_counter = 0

function setup(thread)
  thread_counter = thread_counter + 1
  thread:set("thread_number", thread_counter)
end

function init(args)
  if args[1] ~= nil and args[1] ~= "" then
    path_template = args[1]
  end
  if args[2] ~= nil then
    corpus_size = tonumber(args[2])
  end
  has_id = string.find(path_template, "{id}", 1, true) ~= nil
  math.randomseed(os.time() * 1000 + (thread_number or 0) * 7919)
  if not has_id then
    -- A fixed path (the calibration endpoint, /quotes/sayHello): format the request once.
    static_request = wrk.format(nil, path_template, headers)
  end
end

function request()
  if not has_id then
    return static_request
  end
  local id = tostring(math.random(1, corpus_size))
  return wrk.format(nil, (string.gsub(path_template, "{id}", id)), headers)
end

local function ms(us)
  return us / 1000.0
end

function done(summary, latency, requests)
  local errors = summary.errors
  local duration_s = summary.duration / 1000000.0
  local n = summary.requests
  local out = string.format(
    '{"tool": "wrk", "requests": %d, "errors": %d, "non_2xx": %d, ' ..
    '"errors_detail": {"connect": %d, "read": %d, "write": %d, "timeout": %d}, ' ..
    '"bytes": %d, "duration_s": %.6f, "rps": %.3f, ' ..
    '"latency_ms": {"avg": %.3f, "stdev": %.3f, "min": %.3f, "max": %.3f, ' ..
    '"p50": %.3f, "p75": %.3f, "p90": %.3f, "p99": %.3f, "p99_9": %.3f}}\n',
    n, errors.connect + errors.read + errors.write + errors.timeout, errors.status,
    errors.connect, errors.read, errors.write, errors.timeout,
    summary.bytes, duration_s, (duration_s > 0) and (n / duration_s) or 0,
    ms(latency.mean), ms(latency.stdev), ms(latency.min), ms(latency.max),
    ms(latency:percentile(50)), ms(latency:percentile(75)), ms(latency:percentile(90)),
    ms(latency:percentile(99)), ms(latency:percentile(99.9)))
  local target = os.getenv("WHISKEY_WRK_JSON")
  if target ~= nil and target ~= "" then
    local f = assert(io.open(target, "w"))
    f:write(out)
    f:close()
  else
    io.write(out)
  end
end
