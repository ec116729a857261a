-- wrk script for bench/ingest.py: POST a realistic pageview (text/plain, as the tracker's sendBeacon does) with a
-- desktop Chrome UA to the path given as the first script argument; counts non-202 answers per thread.
-- BENCH_VISITORS=N (> 1): the requests come from N visitors in turn (visitor i: X-Forwarded-For 10.x.y.z, one of
-- eight user agents and screen widths), each on one of 16 pages from one of 4 referrers; the server must trust
-- 127.0.0.1 as a proxy. So each visitor posts every N / rate seconds: its session, cache writes and LRU as for
-- real traffic of that many visitors, rather than one visitor's over and over.
local domain = os.getenv("BENCH_DOMAIN") or "bench.test"
local visitors = tonumber(os.getenv("BENCH_VISITORS") or "1")
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

local uas = {
  "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/138.0.0.0 Safari/537.36",
  "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/18.5 Safari/605.1.15",
  "Mozilla/5.0 (iPhone; CPU iPhone OS 18_5 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/18.5 Mobile/15E148 Safari/604.1",
  "Mozilla/5.0 (Linux; Android 14; Pixel 8) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/138.0.0.0 Mobile Safari/537.36",
  "Mozilla/5.0 (Windows NT 10.0; Win64; x64; rv:140.0) Gecko/20100101 Firefox/140.0",
  "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/137.0.0.0 Safari/537.36",
  "Mozilla/5.0 (iPad; CPU OS 18_5 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/18.5 Mobile/15E148 Safari/604.1",
  "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/138.0.0.0 Safari/537.36 Edg/138.0.0.0",
}
local widths = {"1920", "1440", "393", "412", "1536", "1280", "820", "1366"}
local referrers = {'"https://news.ycombinator.com/"', '"https://www.google.com/"', 'null', '"https://t.co/x1"'}
local counter = 0

function request()
  if visitors <= 1 then
    return req
  end
  local v = counter % visitors
  counter = counter + 1
  local ua = (v % 8) + 1
  local body = '{"n":"pageview","u":"https://' .. domain .. '/docs/page-' .. (counter % 16) .. '","d":"' .. domain
    .. '","r":' .. referrers[(counter % 4) + 1] .. ',"w":' .. widths[ua] .. '}'
  return wrk.format("POST", wrk.path, {
    ["Content-Type"] = "text/plain", ["User-Agent"] = uas[ua], ["Origin"] = "https://" .. domain,
    ["X-Forwarded-For"] = "10." .. (math.floor(v / 65536) % 256) .. "." .. (math.floor(v / 256) % 256) .. "."
      .. (v % 256),
  }, body)
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
