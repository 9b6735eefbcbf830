-- wrk script: each request asks for a random phone's own config file.
-- Arguments: DEVICES [FIRST]: MACs 02xxxxxxxxxx numbered FIRST..FIRST+DEVICES-1.
local devices, first = 10000, 0

function init(args)
  devices = tonumber(args[1] or devices)
  first = tonumber(args[2] or first)
  math.randomseed(os.time() + math.floor(os.clock() * 1e6))
end

function request()
  local n = first + math.random(0, devices - 1)
  local path = string.format("/prov/02%010x.cfg", n)
  return wrk.format("GET", path, { ["User-Agent"] = "Yealink SIP-T46G 28.72.0.1" })
end

function done(summary, latency, requests)
  local seconds = summary.duration / 1e6
  local bad = summary.errors.status + summary.errors.connect + summary.errors.read
    + summary.errors.write + summary.errors.timeout
  io.write(string.format(
    "RESULT requests=%d rps=%.0f p50_ms=%.2f p90_ms=%.2f p99_ms=%.2f p999_ms=%.2f max_ms=%.2f errors=%d\n",
    summary.requests, summary.requests / seconds,
    latency:percentile(50) / 1000, latency:percentile(90) / 1000,
    latency:percentile(99) / 1000, latency:percentile(99.9) / 1000,
    latency.max / 1000, bad))
end
