#!/usr/bin/env bash
# sipprov against nginx serving the same bytes from disk, in one run, on
# PHONES Yealink phones with one line each (release build, loopback, the
# clients on the same cores):
#   - the first pass over every phone's config right after a PHONES-row
#     import, with no restart (curl -Z, CONNECTIONS transfers at once);
#   - warm: wrk walking the PHONES paths for SECONDS, with real User-Agents;
#   - the first pass after a restart, as soon as /healthz answers;
#   - p99 of each, both servers; startup time (to /healthz, to /readyz);
#   - RSS at PHONES phones and, after importing up to FLEET and a pass
#     over all of them, at FLEET phones.
# nginx's reference for the two first passes is its own first pass, just
# after it starts. PROFILE=1 also records a perf profile of sipprov during
# a warm run (bench/out/vs-nginx/perf.txt).
# Usage: bench/vs-nginx.sh [PHONES] [FLEET] [SECONDS] [CONNECTIONS]
set -euo pipefail
cd "$(dirname "$0")/.."
PHONES=${1:-10000}
FLEET=${2:-100000}
SECONDS_EACH=${3:-20}
CONNECTIONS=${4:-64}
OUT=bench/out/vs-nginx

need() { command -v "$1" >/dev/null || { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "$2" >/dev/null; }; }
need wrk wrk
need nginx nginx-light

. bench/lib.sh
PUBLIC_URL=1 start_sipprov "$OUT"
make_extensions
mkdir -p "$OUT/www/prov"

# The rows of phones FROM..TO-1, and for them: curl configs (a pass over
# sipprov, the same keeping the bodies as nginx's files, a pass over nginx)
# and wrk's walk.
phones() {
  python3 - "$1" "$2" "$OUT" "$ADDR" "${NGINX_ADDR:-}" <<'PY'
import json, sys
start, end, out, addr, nginx = int(sys.argv[1]), int(sys.argv[2]), sys.argv[3], sys.argv[4], sys.argv[5]
rows = []
with open(f"{out}/pass-sipprov.txt", "w") as mine, open(f"{out}/pass-nginx.txt", "w") as theirs, \
        open(f"{out}/save-sipprov.txt", "w") as save, open(f"{out}/walk.txt", "w") as walk:
    for i in range(start, end):
        if i > start:  # curl's option groups: one per URL
            for f in (mine, theirs, save):
                f.write("next\n")
        mac = "02%010x" % i
        colon = ":".join(mac[j:j + 2] for j in range(0, 12, 2))
        agent = f"Yealink SIP-T46U 108.86.0.20 {colon}"
        rows.append({"name": f"phone {i}", "vendor": "yealink", "mac": mac, "extn": str(10000 + i % 1000)})
        report = 'write-out = "%{http_code} %{time_total}\\n"\n'
        # Measured passes write to /dev/null, as nginx's does.
        mine.write(f'url = "http://{addr}/prov/{mac}.cfg"\nuser-agent = "{agent}"\noutput = "/dev/null"\n{report}')
        save.write(f'url = "http://{addr}/prov/{mac}.cfg"\nuser-agent = "{agent}"\noutput = "{out}/www/prov/{mac}.cfg"\n{report}')
        theirs.write(f'url = "http://{nginx}/prov/{mac}.cfg"\nuser-agent = "{agent}"\noutput = "/dev/null"\n{report}')
        walk.write(f"/prov/{mac}.cfg\t{agent}\n")
json.dump({"devices": rows}, open(f"{out}/rows.json", "w"))
PY
}

import_rows() {
  api POST /api/device_provisions/import -H 'Content-Type: application/json' --data-binary @"$OUT/rows.json" >/dev/null
}

# One pass of curl -Z over a config's URLs; prints "req/s p99_ms".
pass() {
  local start end
  start=$(date +%s.%N)
  curl -sS -Z --parallel-max "$CONNECTIONS" -K "$1" >"$OUT/pass.out"
  end=$(date +%s.%N)
  python3 - "$OUT/pass.out" "$start" "$end" <<'PY'
import sys
lines = [l.split() for l in open(sys.argv[1]) if l.strip()]
bad = [l for l in lines if l[0] != "200"]
if bad:
    sys.exit(f"{len(bad)} of {len(lines)} fetches failed, e.g. {bad[:3]}")
times = sorted(float(l[1]) * 1000 for l in lines)
rps = len(lines) / (float(sys.argv[3]) - float(sys.argv[2]))
print(f"{rps:.0f} {times[int(len(times) * 0.99) - 1]:.1f}")
PY
}

load() { # base URL; prints wrk's RESULT line
  wrk -t2 -c"$CONNECTIONS" -d"${SECONDS_EACH}s" --timeout 10s -s bench/walk.lua "$1" -- "$OUT/walk.txt" |
    sed -n 's/^RESULT //p'
}
field() { echo "$1" | tr ' ' '\n' | sed -n "s/^$2=//p"; }
ratio() { python3 -c "print(f'{$1 / $2:.2f}')"; }

NGINX_PORT=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
NGINX_ADDR=127.0.0.1:$NGINX_PORT

# 1. The first pass right after an import.
phones 0 "$PHONES"
import_rows
read -r IMPORT_RPS IMPORT_P99 < <(pass "$OUT/pass-sipprov.txt")
pass "$OUT/save-sipprov.txt" >/dev/null
FILES=$(find "$OUT/www/prov" -type f | wc -l)
[ "$FILES" = "$PHONES" ] || { echo "only $FILES of $PHONES files were served"; exit 1; }

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
  server { listen $NGINX_ADDR; root $PWD/$OUT/www; }
}
CONF
nginx -c "$PWD/$OUT/nginx.conf"
trap 'kill $PID 2>/dev/null || true; nginx -c "$PWD/$OUT/nginx.conf" -s stop 2>/dev/null || true' EXIT
read -r NGINX_FIRST_RPS NGINX_FIRST_P99 < <(pass "$OUT/pass-nginx.txt")

# 2. Warm.
SIPPROV=$(load "http://$ADDR")
NGINX=$(load "http://$NGINX_ADDR")
RSS_PHONES=$(rss_mib)
PEAK_PHONES=$(peak_rss_mib)
if [ "${PROFILE:-}" = 1 ]; then
  perf record -F 999 -g -o "$OUT/perf.data" -p "$PID" -- sleep 10 >/dev/null 2>&1 &
  PERF=$!
  load "http://$ADDR" >/dev/null
  wait $PERF || true
  perf report -i "$OUT/perf.data" --no-children -g none --sort dso,symbol --stdio >"$OUT/perf.txt" 2>/dev/null || true
fi

# 3. A restart, and the first pass as soon as /healthz answers. The fetches
#    above told sipprov each phone's User-Agent (written within a second).
sleep 2
kill "$PID"
wait "$PID" 2>/dev/null || true
SPAWNED=$(date +%s.%N)
launch_sipprov
HEALTHY=$(date +%s.%N)
trap 'kill $PID 2>/dev/null || true; nginx -c "$PWD/$OUT/nginx.conf" -s stop 2>/dev/null || true' EXIT
(
  until curl -fs "http://$ADDR/readyz" >/dev/null; do sleep 0.01; done
  date +%s.%N >"$OUT/ready.at"
) &
READY_WATCH=$!
read -r RESTART_RPS RESTART_P99 < <(pass "$OUT/pass-sipprov.txt")
wait $READY_WATCH
READY=$(cat "$OUT/ready.at")

# 4. The fleet: import up to FLEET, wait for the pre-render, then one pass
#    over every phone.
TOKEN=$(curl -fsS "http://$ADDR/api/sessions" -H 'Content-Type: application/json' \
  -d "{\"login\":\"admin\",\"password\":\"$SIPPROV_ADMIN_PASSWORD\"}" |
  python3 -c 'import json,sys; print(json.load(sys.stdin)["token"])')
# A fleet no larger than PHONES has nothing more to import.
if [ "$FLEET" -gt "$PHONES" ]; then
  phones "$PHONES" "$FLEET"
  import_rows
fi
sleep 1
until curl -fs "http://$ADDR/readyz" >/dev/null; do sleep 0.1; done
phones 0 "$FLEET"
read -r FLEET_RPS FLEET_P99 < <(pass "$OUT/pass-sipprov.txt")
RSS_FLEET=$(rss_mib)
PEAK_FLEET=$(peak_rss_mib)

printf '\nmachine: %s cores, %s, %s\n' "$(nproc)" "$(uname -r)" "$(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs)"
printf '%s Yealink phones, one line each; %s connections; wrk %ss per run; clients on the same cores\n\n' "$PHONES" "$CONNECTIONS" "$SECONDS_EACH"
printf '| | sipprov | nginx | sipprov / nginx |\n|---|---|---|---|\n'
printf '| warm, req/s (wrk) | %s | %s | %s |\n' "$(field "$SIPPROV" rps)" "$(field "$NGINX" rps)" "$(ratio "$(field "$SIPPROV" rps)" "$(field "$NGINX" rps)")"
printf '| warm, p99 | %s ms | %s ms | %s |\n' "$(field "$SIPPROV" p99_ms)" "$(field "$NGINX" p99_ms)" "$(ratio "$(field "$SIPPROV" p99_ms)" "$(field "$NGINX" p99_ms)")"
printf '| first pass after a restart, req/s (curl -Z) | %s | %s | %s |\n' "$RESTART_RPS" "$NGINX_FIRST_RPS" "$(ratio "$RESTART_RPS" "$NGINX_FIRST_RPS")"
printf '| first pass after a restart, p99 | %s ms | %s ms | %s |\n' "$RESTART_P99" "$NGINX_FIRST_P99" "$(ratio "$RESTART_P99" "$NGINX_FIRST_P99")"
printf '| first pass after a %s-row import, req/s | %s | %s | %s |\n' "$PHONES" "$IMPORT_RPS" "$NGINX_FIRST_RPS" "$(ratio "$IMPORT_RPS" "$NGINX_FIRST_RPS")"
printf '| first pass after the import, p99 | %s ms | %s ms | %s |\n' "$IMPORT_P99" "$NGINX_FIRST_P99" "$(ratio "$IMPORT_P99" "$NGINX_FIRST_P99")"
printf '\nwarm errors: sipprov %s, nginx %s\n' "$(field "$SIPPROV" errors)" "$(field "$NGINX" errors)"
printf 'RSS at %s phones: %s MiB (peak %s MiB)\n' "$PHONES" "$RSS_PHONES" "$PEAK_PHONES"
printf 'RSS at %s phones, after a pass over all: %s MiB (peak %s MiB); that pass: %s req/s, p99 %s ms\n' "$FLEET" "$RSS_FLEET" "$PEAK_FLEET" "$FLEET_RPS" "$FLEET_P99"
printf 'startup with %s phones: /healthz after %.2f s, /readyz (pre-rendered) after %.2f s\n' "$PHONES" \
  "$(python3 -c "print($HEALTHY - $SPAWNED)")" "$(python3 -c "print($READY - $SPAWNED)")"
