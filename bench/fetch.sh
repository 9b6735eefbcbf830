#!/usr/bin/env bash
# Load test of the phone side: wrk fetches random phones' own config files
# (each with its SIP line) from a release sipprov holding DEVICES phone
# records, and reports requests per second and latency percentiles.
# Then, with Digest authentication on and no credentials sent, it compares
# the latency of a known and an unknown MAC (they must look the same).
# Usage: bench/fetch.sh [DEVICES] [SECONDS] [CONNECTIONS] [DATABASE_URL]
# wrk shares the machine's cores with sipprov: the figures are a floor.
set -euo pipefail
cd "$(dirname "$0")/.."
DEVICES=${1:-10000}
SECONDS_EACH=${2:-30}
CONNECTIONS=${3:-64}
DB_URL=${4:-}
OUT=bench/out/fetch
command -v wrk >/dev/null || { echo "wrk is needed (apt-get install wrk)"; exit 1; }

. bench/lib.sh
start_sipprov "$OUT" "$DB_URL"
make_extensions

import_phones "$DEVICES" "$OUT"

load() { # label, then wrk script arguments
  local label=$1
  shift
  wrk -t2 -c"$CONNECTIONS" -d"${SECONDS_EACH}s" --timeout 10s -s bench/fetch.lua "http://$ADDR" -- "$@" |
    tee "$OUT/$label.txt" | sed -n 's/^RESULT //p'
}

printf 'backend: %s, devices: %s, connections: %s, %ss per run, %s cores shared with wrk\n' \
  "$(backend_name "$DB_URL")" "$DEVICES" "$CONNECTIONS" "$SECONDS_EACH" "$(nproc)"
printf 'per-device configs, 200:     %s\n' "$(load configs "$DEVICES" 0)"
printf 'peak RSS:                    %d MiB\n' "$(peak_rss_mib)"

for kv in auth_mode=digest auth_username=phones auth_password=bench-fetch-pass; do
  api POST /api/dicts -H 'Content-Type: application/json' \
    -d "{\"realm\":\"PROVISION\",\"k\":\"${kv%%=*}\",\"v\":\"${kv#*=}\"}" >/dev/null
done
# No credentials: known and unknown MACs both get 401 (counted as errors by
# wrk). The runs alternate and the second round swaps the order, so neither
# drift on the machine nor going first favours either.
known() { printf 'round %s, known MACs, no credentials:   %s\n' "$1" "$(load "known-401-$1" "$DEVICES" 0)"; }
unknown() { printf 'round %s, unknown MACs, no credentials: %s\n' "$1" "$(load "unknown-401-$1" "$DEVICES" "$DEVICES")"; }
known 1
unknown 1
unknown 2
known 2
