-- wrk script for `deno task bench`: prints wrk's results as one JSON line, prefixed with
-- SWFT_BENCH_JSON, so the task needs no parsing of wrk's human output. With SWFT_BENCH_PATHS
-- set (space separated), each request takes the next of those paths, for a mixed soak load.

local paths = {}
for path in string.gmatch(os.getenv("SWFT_BENCH_PATHS") or "", "%S+") do
  paths[#paths + 1] = path
end

-- Defined only for a mixed load: a script without `request` keeps wrk's static fast path.
if #paths > 0 then
  local index = 0
  function request()
    index = index % #paths + 1
    return wrk.format("GET", paths[index])
  end
end

function done(summary, latency, requests)
  local errors = summary.errors
  io.write(string.format(
    'SWFT_BENCH_JSON {"requests":%d,"durationUs":%d,"bytes":%d,' ..
    '"errors":{"connect":%d,"read":%d,"write":%d,"status":%d,"timeout":%d},' ..
    '"latencyUs":{"min":%d,"mean":%.2f,"max":%d,"p50":%d,"p90":%d,"p99":%d}}\n',
    summary.requests, summary.duration, summary.bytes,
    errors.connect, errors.read, errors.write, errors.status, errors.timeout,
    latency.min, latency.mean, latency.max,
    latency:percentile(50), latency:percentile(90), latency:percentile(99)))
end
