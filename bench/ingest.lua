-- wrk script for bench/ingest.py: POST a realistic pageview (text/plain, as the tracker's sendBeacon does) with a
-- desktop Chrome UA to the path given as the first script argument; counts non-202 answers per thread.
local domain = os.getenv("BENCH_DOMAIN") or "bench.test"
wrk.method = "POST"
wrk.body = '{"n":"pageview","u":"https://' .. domain .. '/blog/why-no-cookies?utm_source=newsletter",'
  .. '"d":"' .. domain .. '","r":"https://news.ycombinator.com/","w":1920}'
wrk.headers["Content-Type"] = "text/plain"
wrk.headers["User-Agent"] = "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) "
  .. "Chrome/138.0.0.0 Safari/537.36"
wrk.headers["Origin"] = "https://" .. domain

local threads = {}

function setup(thread)
  table.insert(threads, thread)
end

function init(args)
  wrk.path = args[1] or "/api/event"
  non202 = 0
  statuses = {}
  req = wrk.format(nil, wrk.path)
end

function request()
  return req
end

function response(status, headers, body)
  if status ~= 202 then
    non202 = non202 + 1
    statuses[status] = (statuses[status] or 0) + 1
  end
end

function done(summary, latency, requests)
  local bad = 0
  local detail = {}
  for _, thread in ipairs(threads) do
    bad = bad + thread:get("non202")
    local s = thread:get("statuses")
    for code, n in pairs(s) do
      detail[#detail + 1] = code .. "=" .. n
    end
  end
  io.write(string.format("BENCH requests=%d non202=%d errors=%d p50_ms=%.2f p99_ms=%.2f detail=%s\n",
    summary.requests, bad, summary.errors.connect + summary.errors.read + summary.errors.write
    + summary.errors.timeout, latency:percentile(50) / 1000, latency:percentile(99) / 1000,
    table.concat(detail, ",")))
end
