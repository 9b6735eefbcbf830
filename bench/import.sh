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

. bench/lib.sh
start_sipprov "$OUT" "$DB_URL"
make_extensions

python3 - "$ROWS" >"$OUT/rows.json" <<'PY'
import json, sys
n = int(sys.argv[1])
vendors = ["yealink", "gs", "fanvil", "snom", "polycom", "cisco", "htek", "潮流"]
rows = [{"name": f"phone {i}", "vendor": vendors[i % len(vendors)],
         "mac": "02%010x" % i, "extn": str(10000 + i % 1000)} for i in range(n)]
json.dump({"devices": rows}, sys.stdout, ensure_ascii=False)
PY

BEFORE=$(peak_rss_mib)
# PROFILE=1 records a perf profile of sipprov during the import.
if [ "${PROFILE:-}" = 1 ]; then
  perf record -F 999 -g -o "$OUT/perf.data" -p "$PID" >/dev/null 2>&1 &
  PERF=$!
  sleep 0.5
fi
START=$(date +%s.%N)
STATUS=$(curl -sS -o "$OUT/response.json" -w '%{http_code}' "http://$ADDR/api/device_provisions/import" \
  -H "X-XTRA-AUTH-ID: $TOKEN" -H 'Content-Type: application/json' --data-binary @"$OUT/rows.json")
END=$(date +%s.%N)
AFTER=$(peak_rss_mib)
if [ -n "${PERF:-}" ]; then
  kill -INT "$PERF"; wait "$PERF" || true
  perf report -i "$OUT/perf.data" --no-children -g none --sort dso,symbol --stdio >"$OUT/perf.txt" 2>/dev/null || true
fi
[ "$STATUS" = 200 ] || { echo "import failed with $STATUS: $(head -c 500 "$OUT/response.json")"; exit 1; }
COUNT=$(api GET "/api/device_provisions?perPage=1" | python3 -c 'import json,sys; print(json.load(sys.stdin)["rowCount"])')

printf 'backend:          %s\n' "$(backend_name "$DB_URL")"
printf 'rows imported:    %s (request body %s bytes)\n' "$COUNT" "$(stat -c %s "$OUT/rows.json")"
printf 'import wall time: %.2f s\n' "$(python3 -c "print($END - $START)")"
printf 'peak RSS:         %d MiB before the import, %d MiB after\n' "$BEFORE" "$AFTER"
