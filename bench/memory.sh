#!/usr/bin/env bash
# sipprov's memory at PHONES phones (default 100,000) against the formula in
# docs/performance.md: at start, with every phone's files pre-rendered,
# through CHANGES site-setting changes made one after another through the
# API (each one touches every phone), and through a flood of all-phone
# changes that another process writes straight into the database (20 a
# second for FLOOD seconds; sqlite3 or psql). Prints RSS at each step, the
# CPU sipprov used during the flood, and whether RSS stayed within the
# formula. Release build, PUBLIC_URL set, so files are pre-rendered at start
# and after each change.
# Usage: bench/memory.sh [PHONES] [CHANGES] [FLOOD] [DATABASE_URL]
set -euo pipefail
cd "$(dirname "$0")/.."
PHONES=${1:-100000}
CHANGES=${2:-10}
FLOOD=${3:-60}
DB_URL=${4:-}
OUT=bench/out/memory
CACHE_MIB=${SIPPROV_RENDER_CACHE_MIB:-64}
export SIPPROV_RENDER_CACHE_BYTES=$((CACHE_MIB * 1024 * 1024))

. bench/lib.sh
PUBLIC_URL=1 start_sipprov "$OUT" "$DB_URL"
make_extensions
START_RSS=$(rss_mib)
import_phones "$PHONES" "$OUT"

# Waits until sipprov is idle: a pre-render pass, if one follows a
# change, has done all it will (no CPU used for a second).
settled() {
  sleep 1
  for _ in $(seq 1 600); do
    local before
    before=$(cpu_ticks)
    sleep 1
    [ "$(cpu_ticks)" = "$before" ] && return
  done
}
cpu_ticks() { awk '{print $14 + $15}' "/proc/$PID/stat"; }

formula() {
  # docs/performance.md: fixed + per phone + the render cache's budget.
  python3 -c "print(int($FIXED_MIB + $PER_PHONE_KIB * $PHONES / 1024 + $CACHE_FACTOR * $CACHE_MIB))"
}
FIXED_MIB=${FIXED_MIB:-120}
PER_PHONE_KIB=${PER_PHONE_KIB:-1}
CACHE_FACTOR=${CACHE_FACTOR:-1.25}
LIMIT=$(formula)

settled
printf 'backend: %s, phones: %s, render cache: %s MiB, formula: %s MiB\n' \
  "$(backend_name "$DB_URL")" "$PHONES" "$CACHE_MIB" "$LIMIT"
printf '%-34s %6s MiB\n' "empty, at start" "$START_RSS"
printf '%-34s %6s MiB\n' "phones imported, pre-rendered" "$(rss_mib)"
PEAK=$(rss_mib)

NTP_ID=$(api POST /api/dicts -H 'Content-Type: application/json' \
  -d '{"realm":"PROVISION","k":"ntp_server","v":"ntp0.example.com"}' |
  python3 -c 'import json,sys; print(json.load(sys.stdin)["data"])')
for n in $(seq 1 "$CHANGES"); do
  api PUT "/api/dicts/$NTP_ID" -H 'Content-Type: application/json' \
    -d "{\"realm\":\"PROVISION\",\"k\":\"ntp_server\",\"v\":\"ntp$n.example.com\"}" >/dev/null
  settled
  rss=$(rss_mib)
  [ "$rss" -gt "$PEAK" ] && PEAK=$rss
done
printf '%-34s %6s MiB (peak %s)\n' "after $CHANGES site changes" "$(rss_mib)" "$PEAK"

# Another process changes a site setting 20 times a second.
flood() {
  local end=$((SECONDS + FLOOD)) n=0
  while [ $SECONDS -lt $end ]; do
    n=$((n + 1))
    local sql="UPDATE dicts SET v = 'flood$n.example.com' WHERE id = $NTP_ID"
    if [ -n "$DB_URL" ]; then psql -q "$DB_URL" -c "$sql" >/dev/null; else sqlite3 "$OUT/data/sipprov.db" ".timeout 5000" "$sql"; fi
    sleep 0.05
  done
  echo "$n" >"$OUT/flood.count"
}
TICKS_BEFORE=$(cpu_ticks)
flood &
FLOOD_PID=$!
while kill -0 "$FLOOD_PID" 2>/dev/null; do
  sleep 5
  rss=$(rss_mib)
  [ "$rss" -gt "$PEAK" ] && PEAK=$rss
  printf '%-34s %6s MiB\n' "flooding" "$rss"
done
TICKS_AFTER=$(cpu_ticks)
HZ=$(getconf CLK_TCK)
CPU=$(python3 -c "print(round(100 * ($TICKS_AFTER - $TICKS_BEFORE) / $HZ / $FLOOD))")
settled
printf '%-34s %6s MiB (peak %s); %s changes written, sipprov used %s%% of a core\n' \
  "after the flood" "$(rss_mib)" "$PEAK" "$(cat "$OUT/flood.count")" "$CPU"
HWM=$(peak_rss_mib)
printf 'highest RSS seen: %s MiB (VmHWM %s MiB); formula %s MiB: %s\n' "$PEAK" "$HWM" "$LIMIT" \
  "$([ "$HWM" -le "$LIMIT" ] && echo within || echo OVER)"
