#!/usr/bin/env bash
# Times the fleet view on a fleet of N phones (default 10,000; release
# build): the device list filtered by each config state, and a device's
# timeline of 100 events. Half the phones fetch their files, a tenth of
# those then change (their extensions are renamed), the rest never fetch.
# Reports the median, p95 and worst of 200 requests each, over keep-alive.
# Usage: bench/fleet.sh [PHONES] [DATABASE_URL]
set -euo pipefail
cd "$(dirname "$0")/.."
PHONES=${1:-10000}
DB_URL=${2:-}
OUT=bench/out/fleet

. bench/lib.sh
start_sipprov "$OUT" "$DB_URL"
make_extensions
import_phones "$PHONES" "$OUT"

python3 - "$ADDR" "$TOKEN" "$PHONES" <<'PY'
import http.client, json, statistics, sys, time

addr, token, phones = sys.argv[1], sys.argv[2], int(sys.argv[3])
host, port = addr.rsplit(":", 1)
conn = http.client.HTTPConnection(host, int(port))

def call(method, path, body=None):
    headers = {"X-XTRA-AUTH-ID": token}
    if body is not None:
        headers["Content-Type"] = "application/json"
        body = json.dumps(body)
    conn.request(method, path, body=body, headers=headers)
    response = conn.getresponse()
    data = response.read()
    if response.status != 200:
        sys.exit(f"{method} {path}: {response.status} {data[:300]!r}")
    return json.loads(data) if data else None

# Half the phones fetch their configuration.
for i in range(0, phones, 2):
    conn.request("GET", "/prov/02%010x.cfg" % i)
    r = conn.getresponse()
    r.read()
    assert r.status == 200, r.status
time.sleep(2.5)  # fetches are recorded in batches, about once a second
# A tenth of the extensions are renamed: their phones that fetched are older.
extensions = call("GET", "/api/extensions?perPage=1000")["data"]
for e in extensions[:100]:
    call("PUT", f"/api/extensions/{e['id']}", {"name": "renamed " + e["extn"]})
# One device with 100 changes: a timeline of 100 events.
device = call("GET", "/api/device_provisions?mac=020000000007")["data"][0]["id"]
for n in range(100):
    call("PUT", f"/api/device_provisions/{device}", {"name": f"desk {n}"})

def timed(path, runs=200):
    took = []
    answer = None
    for _ in range(runs):
        start = time.perf_counter()
        answer = call("GET", path)
        took.append((time.perf_counter() - start) * 1000)
    took.sort()
    return answer, statistics.median(took), took[int(len(took) * 0.95) - 1], took[-1]

print(f"phones: {phones}")
for state in ["current", "older", "never"]:
    page, median, p95, worst = timed(f"/api/device_provisions?status={state}")
    print(f"list status={state:<8} {page['rowCount']:>6} phones  median {median:6.1f} ms  p95 {p95:6.1f} ms  worst {worst:6.1f} ms")
timeline, median, p95, worst = timed(f"/api/device_provisions/{device}/timeline")
print(f"timeline        {len(timeline['events']):>6} events  median {median:6.1f} ms  p95 {p95:6.1f} ms  worst {worst:6.1f} ms")
PY
printf 'backend: %s, RSS %d MiB\n' "$(backend_name "$DB_URL")" "$(rss_mib)"
