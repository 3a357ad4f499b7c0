-- wrk script for comparing `flashsale bench` with wrk (see compare.sh).
--
--   wrk -t2 -c64 -d10s -s wrk.lua URL/healthz             GET the URL
--   wrk -t2 -c64 -d10s -s wrk.lua URL/api/holds -- ID     POST a hold of 1 unit of product ID
--
-- wrk formats the request once per thread, after init, not per request:
-- its cost stays what it is for a GET. done prints one line that
-- compare.sh reads: requests, seconds, p50 and p99 in microseconds, and
-- the answers that were not 2xx/3xx and the socket errors.

function init(args)
   if args[1] then
      wrk.method = "POST"
      wrk.body = string.format('{"product_id":%d,"qty":1}', tonumber(args[1]))
      wrk.headers["Content-Type"] = "application/json"
   end
end

function done(summary, latency, requests)
   local e = summary.errors
   io.write(string.format("wrk-summary requests=%d seconds=%.3f p50_us=%d p99_us=%d non2xx=%d socket_errors=%d\n",
      summary.requests, summary.duration / 1e6, latency:percentile(50), latency:percentile(99),
      e.status, e.connect + e.read + e.write + e.timeout))
end
