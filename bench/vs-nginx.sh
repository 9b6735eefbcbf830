#!/usr/bin/env bash
# sipprov against nginx serving the same files pre-rendered on disk.
# Seeds DEVICES phones (mixed vendors, 1 to 3 lines each) in a release
# sipprov, fetches every phone's own config once with curl --parallel (the
# cold-cache pass, which also writes the files nginx serves), then drives
# both servers with the same wrk script walking the same paths with real
# vendor User-Agents. Also reports startup time, peak RSS and, unless
# SKIP_IMPORT=1, the 100,000-row import (bench/import.sh).
# Usage: bench/vs-nginx.sh [DEVICES] [SECONDS] [CONNECTIONS]
set -euo pipefail
cd "$(dirname "$0")/.."
DEVICES=${1:-10000}
SECONDS_EACH=${2:-20}
CONNECTIONS=${3:-64}
OUT=bench/out/vs-nginx

need() { command -v "$1" >/dev/null || { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "$2" >/dev/null; }; }
need wrk wrk
need nginx nginx-light

. bench/lib.sh
SPAWNED=$(date +%s.%N)
start_sipprov "$OUT"
READY=$(date +%s.%N)
# Lines for up to 3 phones per 1,000 extensions: 3,000 extensions.
api POST /api/extensions/muti_add -H 'Content-Type: application/json' \
  -d '{"extns_start":"10000","extns_end":"12999","password":"bench-sip-pass"}' >/dev/null

python3 - "$DEVICES" "$OUT" <<'PY'
import json, sys
n, out = int(sys.argv[1]), sys.argv[2]
# vendor, file name pattern, User-Agent (from the vendors' documented shapes)
vendors = [
    ("yealink", "{mac}.cfg", "Yealink SIP-T46G 28.72.0.1 {colon}"),
    ("grandstream", "cfg{mac}.xml", "Grandstream Model HW GXP2170 SW 1.0.11.6 DevId {mac}"),
    ("snom", "{MAC}.xml", "Mozilla/4.0 (compatible; snomD785-SIP 10.1.33.33 2010.12-00004-g9ba52f5 {MAC} SXM:0 UXM:0)"),
    ("polycom", "{mac}-sipprov.cfg", "FileTransport PolycomVVX-VVX_400-UA/4.1.4.7430 Type/Application"),
    ("cisco", "{mac}.xml", "Cisco/SPA504G-7.5.5 ({MAC})"),
    ("fanvil", "{mac}.cfg", "Fanvil X4U 2.12.1 {mac}"),
    ("htek", "cfg{mac}.xml", "Htek UC926 V2.0.4.4.50 {colon}"),
]
rows, walk = [], []
for i in range(n):
    vendor, pattern, ua = vendors[i % len(vendors)]
    mac = "02%010x" % i
    colon = ":".join(mac[j:j + 2] for j in range(0, 12, 2))
    lines = [str(10000 + (3 * i + k) % 3000) for k in range(1 + i % 3)]
    rows.append({"name": f"phone {i}", "vendor": vendor, "mac": mac,
                 "extn": json.dumps([{"extn": e} for e in lines])})
    name = pattern.format(mac=mac, MAC=mac.upper())
    agent = ua.format(mac=mac, MAC=mac.upper(), colon=colon)
    walk.append(f"/prov/{name}\t{agent}")
json.dump({"devices": rows}, open(f"{out}/rows.json", "w"))
open(f"{out}/walk.txt", "w").write("\n".join(walk) + "\n")
PY
api POST /api/device_provisions/import -H 'Content-Type: application/json' --data-binary @"$OUT/rows.json" >/dev/null
mkdir -p "$OUT/www/prov"

# Cold cache: the first fetch of every file, by CONNECTIONS keep-alive
# clients at once; the bodies become nginx's files.
read -r COLD_START COLD_END < <(python3 - "$ADDR" "$OUT" "$CONNECTIONS" <<'PY'
import http.client, sys, threading, time
addr, out, width = sys.argv[1], sys.argv[2], int(sys.argv[3])
host, port = addr.rsplit(":", 1)
entries = [l.rstrip("\n").split("\t") for l in open(f"{out}/walk.txt") if l.strip()]
failed = []
def worker(part):
    conn = http.client.HTTPConnection(host, int(port))
    for path, ua in part:
        conn.request("GET", path, headers={"User-Agent": ua})
        reply = conn.getresponse()
        body = reply.read()
        if reply.status != 200:
            failed.append((path, reply.status))
            continue
        open(f"{out}/www{path}", "wb").write(body)
threads = [threading.Thread(target=worker, args=(entries[i::width],)) for i in range(width)]
start = time.time()
for t in threads: t.start()
for t in threads: t.join()
end = time.time()
if failed:
    sys.exit(f"{len(failed)} fetches failed, e.g. {failed[:3]}")
print(start, end)
PY
)
FILES=$(find "$OUT/www/prov" -type f | wc -l)
[ "$FILES" = "$DEVICES" ] || { echo "only $FILES of $DEVICES files were served"; exit 1; }

NGINX_PORT=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
cat >"$OUT/nginx.conf" <<CONF
worker_processes auto;
pid $PWD/$OUT/nginx.pid;
error_log $PWD/$OUT/nginx-error.log;
events { worker_connections 1024; }
http {
  access_log off;
  default_type text/plain;
  sendfile on;
  keepalive_requests 100000;
  server { listen 127.0.0.1:$NGINX_PORT; root $PWD/$OUT/www; }
}
CONF
nginx -c "$PWD/$OUT/nginx.conf"
trap 'kill $PID 2>/dev/null || true; nginx -c "$PWD/$OUT/nginx.conf" -s stop 2>/dev/null || true' EXIT

load() { # base URL
  wrk -t2 -c"$CONNECTIONS" -d"${SECONDS_EACH}s" --timeout 10s -s bench/walk.lua "$1" -- "$OUT/walk.txt" |
    sed -n 's/^RESULT //p'
}
field() { echo "$1" | tr ' ' '\n' | sed -n "s/^$2=//p"; }
SIPPROV=$(load "http://$ADDR")
NGINX=$(load "http://127.0.0.1:$NGINX_PORT")
RATIO=$(python3 -c "print(f'{$(field "$SIPPROV" rps) / $(field "$NGINX" rps):.2f}')")
COLD_RPS=$(python3 -c "print(f'{$DEVICES / ($COLD_END - $COLD_START):.0f}')")

printf '\nmachine: %s cores, %s, %s\n' "$(nproc)" "$(uname -r)" "$(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs)"
printf 'devices: %s (7 vendors, 1-3 lines), %s connections, %ss per run, wrk on the same cores\n\n' "$DEVICES" "$CONNECTIONS" "$SECONDS_EACH"
printf '| | req/s | p50 | p99 | errors |\n|---|---|---|---|---|\n'
printf '| nginx (static files) | %s | %s ms | %s ms | %s |\n' "$(field "$NGINX" rps)" "$(field "$NGINX" p50_ms)" "$(field "$NGINX" p99_ms)" "$(field "$NGINX" errors)"
printf '| sipprov (warm cache) | %s | %s ms | %s ms | %s |\n' "$(field "$SIPPROV" rps)" "$(field "$SIPPROV" p50_ms)" "$(field "$SIPPROV" p99_ms)" "$(field "$SIPPROV" errors)"
printf '\nsipprov / nginx: %s\n' "$RATIO"
printf 'cold pass (first fetch of each file, %s Python keep-alive clients): %s req/s\n' "$CONNECTIONS" "$COLD_RPS"
printf 'sipprov peak RSS: %s MiB\n' "$(peak_rss_mib)"
printf 'startup (spawn to healthy, fresh data dir): %.2f s\n' "$(python3 -c "print($READY - $SPAWNED)")"
if [ "${SKIP_IMPORT:-}" != 1 ]; then
  kill $PID 2>/dev/null || true
  printf '\n'
  bash bench/import.sh 100000
fi
