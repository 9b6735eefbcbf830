#!/usr/bin/env bash
# Times the import of N device rows (default 100,000) into a fresh sipprov
# (release build) and reports the wall time of the request and sipprov's peak
# resident memory. Usage: bench/import.sh [ROWS] [DATABASE_URL]
# With no DATABASE_URL the default SQLite file in a fresh data dir is used.
set -euo pipefail
cd "$(dirname "$0")/.."
ROWS=${1:-100000}
DB_URL=${2:-}
OUT=bench/out/import
rm -rf "$OUT" && mkdir -p "$OUT"

cargo build --release --quiet
BIN=target/release/sipprov
PORT=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
ADDR=127.0.0.1:$PORT
export SIPPROV_ADMIN_PASSWORD=bench-admin-password

args=(--data-dir "$OUT/data" serve --listen "$ADDR")
[ -n "$DB_URL" ] && args=(--database-url "$DB_URL" "${args[@]}")
"$BIN" "${args[@]}" >"$OUT/server.log" 2>&1 &
PID=$!
trap 'kill $PID 2>/dev/null || true' EXIT
for _ in $(seq 1 100); do curl -fs "http://$ADDR/healthz" >/dev/null && break; sleep 0.1; done

TOKEN=$(curl -fsS "http://$ADDR/api/sessions" -H 'Content-Type: application/json' \
  -d "{\"login\":\"admin\",\"password\":\"$SIPPROV_ADMIN_PASSWORD\"}" | python3 -c 'import json,sys; print(json.load(sys.stdin)["token"])')
# 1,000 extensions for the phones' lines.
curl -fsS "http://$ADDR/api/extensions/muti_add" -H "X-XTRA-AUTH-ID: $TOKEN" -H 'Content-Type: application/json' \
  -d '{"extns_start":"10000","extns_end":"10999","password":"bench-sip-pass"}' >/dev/null

python3 - "$ROWS" >"$OUT/rows.json" <<'PY'
import json, sys
n = int(sys.argv[1])
vendors = ["yealink", "gs", "fanvil", "snom", "polycom", "cisco", "htek", "潮流"]
rows = [{"name": f"phone {i}", "vendor": vendors[i % len(vendors)],
         "mac": "02%010x" % i, "extn": str(10000 + i % 1000)} for i in range(n)]
json.dump({"devices": rows}, sys.stdout, ensure_ascii=False)
PY

rss_kib() { awk '/VmHWM/ {print $2}' "/proc/$PID/status"; }
BEFORE=$(rss_kib)
START=$(date +%s.%N)
STATUS=$(curl -sS -o "$OUT/response.json" -w '%{http_code}' "http://$ADDR/api/device_provisions/import" \
  -H "X-XTRA-AUTH-ID: $TOKEN" -H 'Content-Type: application/json' --data-binary @"$OUT/rows.json")
END=$(date +%s.%N)
AFTER=$(rss_kib)
[ "$STATUS" = 200 ] || { echo "import failed with $STATUS: $(head -c 500 "$OUT/response.json")"; exit 1; }
COUNT=$(curl -fsS "http://$ADDR/api/device_provisions?perPage=1" -H "X-XTRA-AUTH-ID: $TOKEN" | python3 -c 'import json,sys; print(json.load(sys.stdin)["rowCount"])')

printf 'backend:          %s\n' "${DB_URL:+postgres}${DB_URL:-sqlite}" | sed 's/postgres.*/postgres/'
printf 'rows imported:    %s (request body %s bytes)\n' "$COUNT" "$(stat -c %s "$OUT/rows.json")"
printf 'import wall time: %.2f s\n' "$(python3 -c "print($END - $START)")"
printf 'peak RSS:         %d MiB before the import, %d MiB after\n' $((BEFORE / 1024)) $((AFTER / 1024))
