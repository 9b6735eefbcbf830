# Shared by the bench scripts: builds a release sipprov and starts it on a
# fresh data dir (or the database given), logged in as admin.
# Usage: . bench/lib.sh; start_sipprov OUT_DIR [DATABASE_URL]
# Sets: BIN ADDR PID TOKEN; api METHOD PATH [curl args...] calls the API.

start_sipprov() {
  local out=$1 db_url=${2:-}
  rm -rf "$out" && mkdir -p "$out"
  cargo build --release --quiet
  BIN=target/release/sipprov
  local port
  port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
  ADDR=127.0.0.1:$port
  export SIPPROV_ADMIN_PASSWORD=bench-admin-password
  # PUBLIC_URL=1: files name this address whatever the Host, and the
  # phones' files are pre-rendered for it at start.
  [ "${PUBLIC_URL:-}" = 1 ] && export SIPPROV_PUBLIC_URL="http://$ADDR"
  # LISTEN_ANY=1: listen on [::] (IPv4 too), for clients from IPv6.
  local listen=$ADDR
  [ "${LISTEN_ANY:-}" = 1 ] && listen="[::]:$port"
  LAUNCH_ARGS=(--data-dir "$out/data" serve --listen "$listen")
  [ -n "$db_url" ] && LAUNCH_ARGS=(--database-url "$db_url" "${LAUNCH_ARGS[@]}")
  # EXTRA_ARGS: more serve options (a phone listener over HTTPS, say).
  LAUNCH_ARGS+=(${EXTRA_ARGS[@]+"${EXTRA_ARGS[@]}"})
  SERVER_LOG=$out/server.log
  launch_sipprov
  TOKEN=$(curl -fsS "http://$ADDR/api/sessions" -H 'Content-Type: application/json' \
    -d "{\"login\":\"admin\",\"password\":\"$SIPPROV_ADMIN_PASSWORD\"}" |
    python3 -c 'import json,sys; print(json.load(sys.stdin)["token"])')
}

# Starts sipprov with the arguments start_sipprov chose (again, after a
# kill: the same data and address) and waits until /healthz answers.
launch_sipprov() {
  "$BIN" "${LAUNCH_ARGS[@]}" >>"$SERVER_LOG" 2>&1 &
  PID=$!
  trap 'kill $PID 2>/dev/null || true' EXIT
  for _ in $(seq 1 300); do curl -fs "http://$ADDR/healthz" >/dev/null && return; sleep 0.05; done
  echo "sipprov did not start; see $SERVER_LOG"
  exit 1
}

api() {
  local method=$1 path=$2
  shift 2
  curl -fsS -X "$method" "http://$ADDR$path" -H "X-XTRA-AUTH-ID: $TOKEN" "$@"
}

# 1,000 extensions (10000-10999) for the phones' lines.
make_extensions() {
  api POST /api/extensions/muti_add -H 'Content-Type: application/json' \
    -d '{"extns_start":"10000","extns_end":"10999","password":"bench-sip-pass"}' >/dev/null
}

# Peak resident memory of sipprov so far, in MiB.
peak_rss_mib() { awk '/VmHWM/ {print int($2 / 1024)}' "/proc/$PID/status"; }
# Resident memory of sipprov now, in MiB.
rss_mib() { awk '/VmRSS/ {print int($2 / 1024)}' "/proc/$PID/status"; }

# The backend's name for reports.
backend_name() { case "${1:-}" in postgres*) echo postgres ;; *) echo sqlite ;; esac; }

# N Yealink phones (MACs 02000000000..), each with one of the 1,000 lines,
# imported in one request; then checks one phone's file carries its line.
import_phones() {
  local n=$1 out=$2
  python3 - "$n" >"$out/rows.json" <<'PY'
import json, sys
n = int(sys.argv[1])
rows = [{"name": f"phone {i}", "vendor": "yealink", "mac": "02%010x" % i,
         "extn": str(10000 + i % 1000)} for i in range(n)]
json.dump({"devices": rows}, sys.stdout)
PY
  api POST /api/device_provisions/import -H 'Content-Type: application/json' --data-binary @"$out/rows.json" >/dev/null
  curl -fsS "http://$ADDR/prov/020000000007.cfg" | grep -q 'account.1.password = bench-sip-pass' ||
    { echo "a phone's file lacks its line"; exit 1; }
}
