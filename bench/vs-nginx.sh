#!/usr/bin/env bash
# sipprov against nginx serving the same bytes from disk, in one run, on
# PHONES Yealink phones with one line each (release build, loopback, the
# clients on the same two cores as the servers). Every comparison runs
# ROUNDS times, sipprov and nginx alternating (which goes first alternates
# too), and the table gives the median with the spread (lowest-highest):
#   - warm over HTTP: wrk walking the PHONES paths for SECONDS, with real
#     User-Agents, CONNECTIONS keep-alive connections;
#   - warm over HTTPS, the same with TLS (ECDSA P-256, one certificate for
#     both servers);
#   - HTTPS cold: a storm of new connections, each a full handshake and one
#     fetch (curl -Z, CONNECTIONS at once, `Connection: close`, no session
#     reuse);
#   - HTTPS resumed: the same storm, each connection resuming a session, as
#     phones reconnect (TLS 1.3 tickets);
#   - the first pass after a restart, as soon as /healthz answers (nginx:
#     its first pass after a start);
#   - the first pass right after an import of PHONES new rows, with no
#     restart (nginx: its first pass after a start);
#   - RSS at PHONES phones after the storms and, after importing up to
#     FLEET and a pass over all of them, at FLEET phones.
# PROFILE=1 also records a perf profile of sipprov during one more warm run
# (bench/out/vs-nginx/perf.txt).
# Usage: [ROUNDS=5] bench/vs-nginx.sh [PHONES] [FLEET] [SECONDS] [CONNECTIONS]
set -euo pipefail
cd "$(dirname "$0")/.."
PHONES=${1:-10000}
FLEET=${2:-100000}
SECONDS_EACH=${3:-10}
CONNECTIONS=${4:-64}
ROUNDS=${ROUNDS:-5}
OUT=bench/out/vs-nginx
TLS_DIR=bench/out/vs-nginx-tls

need() { command -v "$1" >/dev/null || { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "$2" >/dev/null; }; }
need wrk wrk
need nginx nginx-light

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }

# One certificate for both servers.
rm -rf "$TLS_DIR" && mkdir -p "$TLS_DIR"
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 2 -subj /CN=localhost \
  -addext subjectAltName=IP:127.0.0.1 -keyout "$TLS_DIR/key.pem" -out "$TLS_DIR/cert.pem" 2>/dev/null
TLS_ADDR=127.0.0.1:$(free_port)
EXTRA_ARGS=(--prov-listen "$TLS_ADDR" --prov-tls-cert "$TLS_DIR/cert.pem" --prov-tls-key "$TLS_DIR/key.pem")
export SIPPROV_PROV_PUBLIC_URL="https://$TLS_ADDR"

. bench/lib.sh
PUBLIC_URL=1 start_sipprov "$OUT"
make_extensions
mkdir -p "$OUT/www/prov" "$OUT/www-tls/prov"
NGINX_ADDR=127.0.0.1:$(free_port)
NGINX_TLS_ADDR=127.0.0.1:$(free_port)

# The rows of phones FROM..TO-1, and for them curl configs (a pass over
# each server, and one keeping sipprov's bodies as nginx's files) and the
# walk wrk takes.
phones() {
  python3 - "$1" "$2" "$OUT" <<'PY'
import json, sys
start, end, out = int(sys.argv[1]), int(sys.argv[2]), sys.argv[3]
rows = []
with open(f"{out}/walk.txt", "w") as walk, open(f"{out}/targets.txt", "w") as targets:
    for i in range(start, end):
        mac = "02%010x" % i
        colon = ":".join(mac[j:j + 2] for j in range(0, 12, 2))
        agent = f"Yealink SIP-T46U 108.86.0.20 {colon}"
        rows.append({"name": f"phone {i}", "vendor": "yealink", "mac": mac, "extn": str(10000 + i % 1000)})
        walk.write(f"/prov/{mac}.cfg\t{agent}\n")
        targets.write(f"{mac}\t{agent}\n")
json.dump({"devices": rows}, open(f"{out}/rows.json", "w"))
PY
}

# A curl config over the phones in targets.txt: base URL, then where the
# bodies go ("" for /dev/null) and extra lines for each transfer.
curl_config() {
  python3 - "$OUT/targets.txt" "$1" "$2" "${3:-}" "$TLS_DIR/cert.pem" <<'PY'
import sys
targets, base, keep, extra, cacert = sys.argv[1:6]
first = True
for line in open(targets):
    mac, agent = line.rstrip("\n").split("\t")
    if not first:  # curl's option groups: one per URL
        print("next")
    first = False
    print(f'url = "{base}/prov/{mac}.cfg"')
    print(f'user-agent = "{agent}"')
    print(f'output = "{keep + "/prov/" + mac + ".cfg" if keep else "/dev/null"}"')
    print('write-out = "%{http_code} %{time_total}\\n"')
    print(f'cacert = "{cacert}"')  # each URL's group needs its own options
    if extra:
        print(extra.replace("\\n", "\n"))
PY
}

import_rows() {
  api POST /api/device_provisions/import -H 'Content-Type: application/json' --data-binary @"$OUT/rows.json" >/dev/null
}

# One pass of curl -Z over a config; prints "req/s p99_ms".
pass() {
  local config=$1 start end
  start=$(date +%s.%N)
  curl -sS --no-progress-meter -Z --parallel-max "$CONNECTIONS" -K "$config" >"$OUT/pass.out"
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

# wrk over a base URL; prints "req/s p99_ms".
load() {
  local result
  result=$(wrk -t2 -c"$CONNECTIONS" -d"${SECONDS_EACH}s" --timeout 10s -s bench/walk.lua "$1" -- "$OUT/walk.txt" |
    sed -n 's/^RESULT //p')
  local errors
  errors=$(echo "$result" | tr ' ' '\n' | sed -n 's/^errors=//p')
  [ "$errors" = 0 ] || { echo "wrk on $1: $result" >&2; exit 1; }
  echo "$result" | tr ' ' '\n' | awk -F= '$1 == "rps" {r = $2} $1 == "p99_ms" {p = $2} END {print r, p}'
}

# Every figure goes to results.txt as "comparison server req/s p99_ms".
RESULTS=$OUT/results.txt
: >"$RESULTS"
record() { echo "$1 $2 $3" >>"$RESULTS"; }

# Waits until sipprov has used no CPU for half a second (at most 60 s).
settled() {
  local before
  for _ in $(seq 1 120); do
    before=$(awk '{print $14 + $15}' "/proc/$PID/stat")
    sleep 0.5
    [ "$(awk '{print $14 + $15}' "/proc/$PID/stat")" = "$before" ] && return
  done
}

# Runs `measure_sipprov` and `measure_nginx` ROUNDS times each,
# alternating, and records them under the comparison's name.
alternate() {
  local name=$1 round figures
  for round in $(seq 1 "$ROUNDS"); do
    for server in $( ((round % 2)) && echo "sipprov nginx" || echo "nginx sipprov"); do
      # What one run left behind (sipprov writing its fetches, say) must not
      # run into the next one's.
      settled
      # Not in a subshell: a measure may restart a server or count rows.
      "measure_$server" >"$OUT/figures.txt"
      record "$name" "$server" "$(cat "$OUT/figures.txt")"
    done
  done
}

nginx_conf() {
  cat >"$OUT/nginx.conf" <<CONF
worker_processes auto;
pid $PWD/$OUT/nginx.pid;
error_log $PWD/$OUT/nginx-error.log;
events { worker_connections 4096; }
http {
  access_log off;
  default_type text/plain;
  sendfile on;
  keepalive_requests 100000;
  ssl_certificate $PWD/$TLS_DIR/cert.pem;
  ssl_certificate_key $PWD/$TLS_DIR/key.pem;
  ssl_protocols TLSv1.2 TLSv1.3;
  ssl_session_cache shared:SSL:10m;
  server { listen $NGINX_ADDR; root $PWD/$OUT/www; }
  server { listen $NGINX_TLS_ADDR ssl; root $PWD/$OUT/www-tls; }
}
CONF
}
start_nginx() { nginx -c "$PWD/$OUT/nginx.conf"; until curl -s -o /dev/null "http://$NGINX_ADDR/"; do sleep 0.01; done; }
stop_nginx() {
  nginx -c "$PWD/$OUT/nginx.conf" -s stop 2>/dev/null || true
  while [ -e "$OUT/nginx.pid" ]; do sleep 0.01; done
}
trap 'kill $PID 2>/dev/null || true; stop_nginx' EXIT

# Setup: PHONES phones; one pass over each listener keeps sipprov's bodies
# as nginx's files.
phones 0 "$PHONES"
import_rows
curl_config "http://$ADDR" "$OUT/www" >"$OUT/save.txt"
pass "$OUT/save.txt" >/dev/null
curl_config "https://$TLS_ADDR" "$OUT/www-tls" >"$OUT/save.txt"
pass "$OUT/save.txt" >/dev/null
for root in www www-tls; do
  FILES=$(find "$OUT/$root/prov" -type f | wc -l)
  [ "$FILES" = "$PHONES" ] || { echo "only $FILES of $PHONES files were served into $root"; exit 1; }
done
nginx_conf
start_nginx

# The same measure of each server, alternated: MEASURE SIPPROV_ARG NGINX_ARG.
compare() {
  MEASURE=$2 SIPPROV_ARG=$3 NGINX_ARG=$4
  measure_sipprov() { "$MEASURE" "$SIPPROV_ARG"; }
  measure_nginx() { "$MEASURE" "$NGINX_ARG"; }
  alternate "$1"
}

# 1. Warm, over HTTP and HTTPS.
compare warm-http load "http://$ADDR" "http://$NGINX_ADDR"
compare warm-https load "https://$TLS_ADDR" "https://$NGINX_TLS_ADDR"

# 2. HTTPS storms of new connections: full handshakes, then resumed ones.
for server in sipprov nginx; do
  base=https://$TLS_ADDR
  [ $server = nginx ] && base=https://$NGINX_TLS_ADDR
  curl_config "$base" "" 'http1.1\nheader = "Connection: close"\nno-sessionid' >"$OUT/cold-$server.txt"
  curl_config "$base" "" 'http1.1\nheader = "Connection: close"' >"$OUT/resumed-$server.txt"
done
compare https-cold pass "$OUT/cold-sipprov.txt" "$OUT/cold-nginx.txt"
compare https-resumed pass "$OUT/resumed-sipprov.txt" "$OUT/resumed-nginx.txt"
RSS_PHONES=$(rss_mib)
PEAK_PHONES=$(peak_rss_mib)

if [ "${PROFILE:-}" = 1 ]; then
  perf record -F 999 -g -o "$OUT/perf.data" -p "$PID" -- sleep "$SECONDS_EACH" >/dev/null 2>&1 &
  PERF=$!
  load "http://$ADDR" >/dev/null
  wait $PERF || true
  perf report -i "$OUT/perf.data" --no-children -g none --sort dso,symbol --stdio >"$OUT/perf.txt" 2>/dev/null || true
fi

# 3. The first pass after a restart. The fetches above told sipprov each
#    phone's User-Agent (written within a second).
curl_config "http://$ADDR" "" >"$OUT/pass-sipprov.txt"
curl_config "http://$NGINX_ADDR" "" >"$OUT/pass-nginx.txt"
sleep 2
measure_sipprov() {
  kill "$PID"
  wait "$PID" 2>/dev/null || true
  local spawned healthy
  spawned=$(date +%s.%N)
  launch_sipprov >/dev/null
  healthy=$(date +%s.%N)
  echo "$healthy - $spawned" >>"$OUT/startup.txt"
  pass "$OUT/pass-sipprov.txt"
}
measure_nginx() {
  stop_nginx
  start_nginx
  pass "$OUT/pass-nginx.txt"
}
: >"$OUT/startup.txt"
alternate restart
trap 'kill $PID 2>/dev/null || true; stop_nginx' EXIT
TOKEN=$(curl -fsS "http://$ADDR/api/sessions" -H 'Content-Type: application/json' \
  -d "{\"login\":\"admin\",\"password\":\"$SIPPROV_ADMIN_PASSWORD\"}" |
  python3 -c 'import json,sys; print(json.load(sys.stdin)["token"])')

# 4. The first pass right after an import: each round imports PHONES new
#    phones and fetches each one's file at once (nginx: its first pass
#    after a start, as above).
IMPORTED=$PHONES
measure_sipprov() {
  phones "$IMPORTED" $((IMPORTED + PHONES))
  IMPORTED=$((IMPORTED + PHONES))
  import_rows
  curl_config "http://$ADDR" "" >"$OUT/pass-import.txt"
  pass "$OUT/pass-import.txt"
}
alternate import

# 5. The fleet: import up to FLEET, wait for the pre-render, then one pass
#    over every phone.
if [ "$FLEET" -gt "$IMPORTED" ]; then
  phones "$IMPORTED" "$FLEET"
  import_rows
  IMPORTED=$FLEET
fi
sleep 1
until curl -fs "http://$ADDR/readyz" >/dev/null; do sleep 0.1; done
phones 0 "$IMPORTED"
curl_config "http://$ADDR" "" >"$OUT/pass-fleet.txt"
read -r FLEET_RPS FLEET_P99 < <(pass "$OUT/pass-fleet.txt")
RSS_FLEET=$(rss_mib)
PEAK_FLEET=$(peak_rss_mib)

printf '\nmachine: %s cores, %s, %s\n' "$(nproc)" "$(uname -r)" "$(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs)"
printf '%s Yealink phones, one line each; %s connections; wrk %ss per run; %s alternated rounds; clients on the same cores\n' \
  "$PHONES" "$CONNECTIONS" "$SECONDS_EACH" "$ROUNDS"
printf 'median (lowest-highest) of the rounds; the ratio column is of the medians, with the spread of the per-round ratios\n\n'
python3 - "$RESULTS" "$PHONES" <<'PY'
import statistics, sys
rows = [l.split() for l in open(sys.argv[1]) if l.strip()]
names = {
    "warm-http": "warm, HTTP keep-alive (wrk)",
    "warm-https": "warm, HTTPS keep-alive (wrk)",
    "https-cold": "HTTPS, a new connection per fetch, full handshakes (curl -Z)",
    "https-resumed": "HTTPS, a new connection per fetch, sessions resumed (curl -Z)",
    "restart": "first pass after a restart (curl -Z)",
    "import": f"first pass after a {sys.argv[2]}-row import (curl -Z)",
}
def fig(values, unit=""):
    return f"{statistics.median(values):.1f}{unit} ({min(values):.1f}-{max(values):.1f})" if unit else \
        f"{statistics.median(values):.0f} ({min(values):.0f}-{max(values):.0f})"
print("| | sipprov | nginx | sipprov / nginx |\n|---|---|---|---|")
for key, label in names.items():
    mine = [r for r in rows if r[0] == key and r[1] == "sipprov"]
    theirs = [r for r in rows if r[0] == key and r[1] == "nginx"]
    if not mine or not theirs:
        continue
    for col, what, unit in ((2, "req/s", ""), (3, "p99", " ms")):
        a = [float(r[col]) for r in mine]
        b = [float(r[col]) for r in theirs]
        per_round = sorted(x / y for x, y in zip(a, b))
        ratio = statistics.median(a) / statistics.median(b)
        print(f"| {label}, {what} | {fig(a, unit)} | {fig(b, unit)} | {ratio:.2f} ({per_round[0]:.2f}-{per_round[-1]:.2f}) |")
PY
STARTUP=$(python3 -c "import statistics; print(f'{statistics.median(eval(l) for l in open(\"$OUT/startup.txt\")):.2f}')")
printf '\nRSS at %s phones, after the storms: %s MiB (peak %s MiB)\n' "$PHONES" "$RSS_PHONES" "$PEAK_PHONES"
printf 'RSS at %s phones, after a pass over all: %s MiB (peak %s MiB); that pass: %s req/s, p99 %s ms\n' "$IMPORTED" "$RSS_FLEET" "$PEAK_FLEET" "$FLEET_RPS" "$FLEET_P99"
printf 'restart with %s phones: /healthz after %s s (median)\n' "$PHONES" "$STARTUP"
