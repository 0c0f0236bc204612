-- whiskey's wrk script: each request drawn by weight from the request mix, "{id}" a random quote id, and a JSON
-- summary at the end.
--
--   wrk -t2 -c32 -d30s --latency -s whiskey.lua http://server:9999 -- 900000 3 '/work?n=20000' 1 '/quotes/byId?id={id}'
--
-- Arguments (after --): corpus_size (default 900000), then one or more "weight path" pairs, two arguments each
-- (default: 1 "/quotes/byId?id={id}"): each request picks a path with probability weight / (sum of the weights),
-- each weight an integer >= 1; every "{id}" in a path becomes a random integer in 1..corpus_size. A path without
-- "{id}" is formatted once. whiskey_load.py (wrk_script_args) writes these arguments from its --requests.
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

local corpus_size = 900000
-- The mix: paths[i], the weights' running sums in cumulative[i] (total = the last), static[i] the request already
-- formatted when paths[i] has no "{id}".
local paths = {"/quotes/byId?id={id}"}
local cumulative = {1}
local static = {}
local total = 1
local thread_counter = 0

function setup(thread)
  thread_counter = thread_counter + 1
  thread:set("thread_number", thread_counter)
end

function init(args)
  if args[1] ~= nil then
    corpus_size = tonumber(args[1])
    if corpus_size == nil or corpus_size < 1 then
      error("whiskey.lua: corpus_size must be an integer >= 1, got " .. tostring(args[1]))
    end
  end
  if args[2] ~= nil then
    paths, cumulative, total = {}, {}, 0
    local i = 2
    while args[i] ~= nil do
      local weight = tonumber(args[i])
      local path = args[i + 1]
      if weight == nil or weight < 1 or weight ~= math.floor(weight) or path == nil or path:sub(1, 1) ~= "/" then
        error("whiskey.lua: expected \"weight path\" pairs after corpus_size, got " ..
          tostring(args[i]) .. " " .. tostring(path))
      end
      total = total + weight
      paths[#paths + 1] = path
      cumulative[#cumulative + 1] = total
      i = i + 2
    end
  end
  for j, path in ipairs(paths) do
    if string.find(path, "{id}", 1, true) == nil then
      -- A fixed path (the calibration endpoint, /quotes/sayHello): format the request once.
      static[j] = wrk.format(nil, path, headers)
    end
  end
  math.randomseed(os.time() * 1000 + (thread_number or 0) * 7919)
end

function request()
  local j = 1
  if #paths > 1 then
    local r = math.random(1, total)
    while cumulative[j] < r do
      j = j + 1
    end
  end
  if static[j] ~= nil then
    return static[j]
  end
  local id = tostring(math.random(1, corpus_size))
  return wrk.format(nil, (string.gsub(paths[j], "{id}", id)), headers)
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
