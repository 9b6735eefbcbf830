#!/usr/bin/env bash
# Abuse resistance under load: a release sipprov with DEVICES phones (and
# a TFTP listener) takes a SECONDS-long mix of every attack sipprov bounds
# (bench/abuse.py lists them) while registered phones fetch their files at
# a steady 200 a second beside it. Prints sipprov's RSS every 5 s, then the
# legitimate fetches' p50/p99, their failures and the peak RSS, against
# the targets (RSS < 200 MiB, p99 < 50 ms, no failure), and the figures of
# the lock-table fill (IPv4 and IPv6), the throttle flood, the template bomb
# and the change flood. Needs root for the IPv6 route (without it, those
# attacks come from IPv4 only).
# Usage: bench/abuse.sh [SECONDS] [DEVICES] [DATABASE_URL]
# A benchmark, not a CI test: the attackers share the machine's cores.
set -euo pipefail
cd "$(dirname "$0")/.."
SECONDS_TOTAL=${1:-600}
DEVICES=${2:-10000}
DB_URL=${3:-}
OUT=bench/out/abuse

. bench/lib.sh
TFTP_PORT=$(python3 -c 'import socket; s=socket.socket(socket.AF_INET, socket.SOCK_DGRAM); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
# IPv6 attackers come from a /32 routed to lo, each from /64s of their own;
# sipprov listens on [::] (IPv4 too) so they reach it.
if ip -6 route replace local fd00:5b::/32 dev lo 2>/dev/null; then
  export BENCH_V6_PREFIX=fd00:5b
fi
LISTEN_ANY=1 SIPPROV_TFTP_LISTEN=127.0.0.1:$TFTP_PORT start_sipprov "$OUT" "$DB_URL"
export BENCH_DATA_DIR=$OUT/data BENCH_DB_URL=$DB_URL
make_extensions

import_phones "$DEVICES" "$OUT"

printf 'backend: %s, devices: %s, %ss, %s cores shared with the attackers\n' \
  "$(backend_name "$DB_URL")" "$DEVICES" "$SECONDS_TOTAL" "$(nproc)"
python3 bench/abuse.py "$ADDR" "127.0.0.1:$TFTP_PORT" "$TOKEN" "$PID" "$SECONDS_TOTAL" "$DEVICES" | tee "$OUT/report.txt"
