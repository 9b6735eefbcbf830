#!/usr/bin/env bash
# Uploads one large file (default 1 GiB) through POST /api/upload with curl
# and reports sipprov's peak resident memory before and after, and the
# wall time: the body must stream to disk, not sit in memory.
# Usage: bench/upload.sh [SIZE, e.g. 1G or 200M] [DATABASE_URL]
set -euo pipefail
cd "$(dirname "$0")/.."
SIZE=${1:-1G}
DB_URL=${2:-}
OUT=bench/out/upload
export SIPPROV_UPLOAD_MAX_SIZE=$((4 * 1024 * 1024 * 1024))

. bench/lib.sh
start_sipprov "$OUT" "$DB_URL"

# Random bytes, so neither side can shortcut a file of zeros.
head -c "$SIZE" /dev/urandom >"$OUT/big.bin"
BEFORE=$(peak_rss_mib)
START=$(date +%s.%N)
STATUS=$(curl -sS -o "$OUT/response.json" -w '%{http_code}' -H "X-XTRA-AUTH-ID: $TOKEN" \
  -F "file=@$OUT/big.bin" "http://$ADDR/api/upload")
END=$(date +%s.%N)
AFTER=$(peak_rss_mib)
[ "$STATUS" = 200 ] || { echo "upload failed with $STATUS: $(head -c 500 "$OUT/response.json")"; exit 1; }
STORED=$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))[0]["file_size"])' "$OUT/response.json")

printf 'backend:        %s\n' "$(backend_name "$DB_URL")"
printf 'uploaded:       %s bytes (stored %s)\n' "$(stat -c %s "$OUT/big.bin")" "$STORED"
printf 'wall time:      %.2f s\n' "$(python3 -c "print($END - $START)")"
printf 'peak RSS:       %d MiB before the upload, %d MiB after\n' "$BEFORE" "$AFTER"
rm -rf "$OUT/big.bin" "$OUT/data/media"
