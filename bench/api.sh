#!/usr/bin/env bash
# API server benchmark: a real `planspec server` (release build) on a temporary SQLite file,
# loopback only, driven by bench/api/load.py (Python stdlib, keep-alive HTTP/1.1), beside the
# raw SQLite floor measured in the same run (before and after the API load).
#
#   bash bench/api.sh
#
# Knobs (environment): CREATES (10000; per create case), TOTAL (100000; objects in the store
# for the list case, filled through the API), GETS (2000), LIST_REPS (20), WATCHERS (100),
# ROUNDS (20 writes watched), SKIP_BUILD=1, UPDATE_DOC=0 (do not rewrite docs/benchmarks.md),
# TMPBASE (where the temporary SQLite files go; default: $TMPDIR or /tmp).
set -euo pipefail

cd "$(dirname "$0")/.."
ROOT=$(pwd)
CREATES=${CREATES:-10000}
TOTAL=${TOTAL:-100000}
GETS=${GETS:-2000}
LIST_REPS=${LIST_REPS:-20}
WATCHERS=${WATCHERS:-100}
ROUNDS=${ROUNDS:-20}
UPDATE_DOC=${UPDATE_DOC:-1}
TMPBASE=${TMPBASE:-${TMPDIR:-/tmp}}
LIMIT=${LIMIT:-1200} # seconds for the whole API load before it is abandoned

if [[ "${SKIP_BUILD:-0}" != 1 ]]; then
  cargo build --release -p planspec
fi
BIN="$ROOT/target/release/planspec"
OUT="$ROOT/bench/out/api"
mkdir -p "$OUT"
WORK=$(mktemp -d "$TMPBASE/planspec-api-bench.XXXXXX")
SERVER_PID=
cleanup() {
  if [[ -n "$SERVER_PID" ]] && kill -0 "$SERVER_PID" 2>/dev/null; then
    kill -TERM "$SERVER_PID" 2>/dev/null || true
    wait "$SERVER_PID" 2>/dev/null || true
  fi
  rm -rf "$WORK"
}
trap cleanup EXIT

machine="$OUT/machine.txt"
{
  echo "Machine: $(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2- | sed 's/^ *//'), $(awk '/MemTotal/ {printf "%.1f GiB", $2/1048576}' /proc/meminfo) RAM, Linux $(uname -r), SQLite files on $(df -T "$WORK" | awk 'NR==2 {print $2}') ($TMPBASE); python3 $(python3 -c 'import sqlite3,sys; print(sys.version.split()[0], "with SQLite", sqlite3.sqlite_version)'); $(date -u '+%Y-%m-%d %H:%M UTC')."
  echo "Load average before: $(cut -d' ' -f1-3 /proc/loadavg)."
} >"$machine"

echo "== raw floor (before)" >&2
mkdir -p "$WORK/floor-before" "$WORK/floor-after"
python3 bench/api/load.py floor --dir "$WORK/floor-before" --out "$OUT/floor-before.json" \
  --creates "$CREATES" --total "$TOTAL" --gets "$GETS" --list-reps "$LIST_REPS"
rm -rf "$WORK/floor-before"

echo "== planspec server" >&2
"$BIN" server --dev --listen 127.0.0.1:0 --store "sqlite:$WORK/api.db" >"$WORK/server.out" 2>"$WORK/server.err" &
SERVER_PID=$!
ADDR=
for _ in $(seq 200); do
  ADDR=$(sed -n 's|.*http://\([^ ]*\).*|\1|p' "$WORK/server.out" | head -1)
  [[ -n "$ADDR" ]] && break
  kill -0 "$SERVER_PID" || { cat "$WORK/server.err" >&2; exit 1; }
  sleep 0.05
done
[[ -n "$ADDR" ]] || { echo "server did not start" >&2; exit 1; }
case "$ADDR" in 127.0.0.1:*) ;; *) echo "not loopback: $ADDR" >&2; exit 1 ;; esac
echo "server at $ADDR, pid $SERVER_PID" >&2

timeout "$LIMIT" python3 bench/api/load.py api --addr "$ADDR" --out "$OUT/api.json" \
  --creates "$CREATES" --total "$TOTAL" --gets "$GETS" --list-reps "$LIST_REPS" \
  --watchers "$WATCHERS" --rounds "$ROUNDS"
# One keep-alive connection from a C client (wrk), so the figure is the server's, not Python's.
if ! command -v wrk >/dev/null && [[ $(id -u) == 0 ]] && command -v apt-get >/dev/null; then
  apt-get install -y -qq wrk >/dev/null 2>&1 || { apt-get update -qq >/dev/null 2>&1 && apt-get install -y -qq wrk >/dev/null 2>&1; } || true
fi
if command -v wrk >/dev/null; then
  echo "== create, 1 connection, wrk (${WRK_SECONDS:-10} s)" >&2
  wrk -t1 -c1 -d"${WRK_SECONDS:-10}s" -s bench/api/create.lua "http://$ADDR" | tail -1 >"$OUT/wrk-create.json"
  cat "$OUT/wrk-create.json" >&2
else
  echo "wrk not found: the C-client create figure is skipped" >&2
  rm -f "$OUT/wrk-create.json"
fi
echo "server RSS at the end: $(awk '/VmRSS/ {print $2, $3}' /proc/$SERVER_PID/status)" >&2
kill -TERM "$SERVER_PID"
wait "$SERVER_PID" || true
SERVER_PID=
echo "API store file: $(du -sh "$WORK" | cut -f1) (with WAL)" >&2
rm -f "$WORK"/api.db*

echo "== raw floor (after)" >&2
python3 bench/api/load.py floor --dir "$WORK/floor-after" --out "$OUT/floor-after.json" \
  --creates "$CREATES" --total "$TOTAL" --gets "$GETS" --list-reps "$LIST_REPS"
echo "Load average after: $(cut -d' ' -f1-3 /proc/loadavg)." >>"$machine"

wrk_args=()
[[ -f "$OUT/wrk-create.json" ]] && wrk_args=(--wrk "$OUT/wrk-create.json")
args=(report --api "$OUT/api.json" "${wrk_args[@]}" --floor "$OUT/floor-before.json" "$OUT/floor-after.json" --machine "$machine")
if [[ "$UPDATE_DOC" == 1 ]]; then
  args+=(--update-doc docs/benchmarks.md)
fi
python3 bench/api/load.py "${args[@]}"
