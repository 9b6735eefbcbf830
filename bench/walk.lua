-- wrk script: walks a list of "path<TAB>User-Agent" lines, each thread from
-- its own starting point, so every file is asked for in turn.
-- Argument: the list's file name.
local entries = {}
local counter = 0
local threads = {}

function setup(thread)
  counter = counter + 1
  thread:set("offset", counter)
  table.insert(threads, thread)
end

function init(args)
  for line in io.lines(args[1]) do
    local path, ua = line:match("([^\t]+)\t(.*)")
    if path then
      table.insert(entries, { path = path, ua = ua })
    end
  end
  position = (offset or 1) * 997 % #entries
end

function request()
  position = position % #entries + 1
  local e = entries[position]
  return wrk.format("GET", e.path, { ["User-Agent"] = e.ua })
end

function done(summary, latency, requests)
  local bad = summary.errors.status + summary.errors.connect + summary.errors.read
    + summary.errors.write + summary.errors.timeout
  io.write(string.format("RESULT rps=%.0f p50_ms=%.2f p99_ms=%.2f errors=%d\n",
    summary.requests / (summary.duration / 1e6), latency:percentile(50) / 1000,
    latency:percentile(99) / 1000, bad))
end
