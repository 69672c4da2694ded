#!/usr/bin/env bash
# The 100,000-node execution benchmark: a real `planspec server` (release build) on a temporary
# SQLite file (the embedded default store, WAL + synchronous=FULL), loopback only, runs one
# Execution of 100,000 `noop://` nodes end to end, beside the raw SQLite floor measured in the
# same run. Prints wall time, nodes/s, peak RSS, the Execution object's size (asserted under
# 64 KiB), the journal's size and the ratio to the floor; rewrites the `scale-bench` block of
# docs/benchmarks.md.
#
#   bash bench/100k.sh
#
# Knobs (environment): NODES (100000), MODE (matrix: 100 Tasks × a matrix of 1,000; flat:
# 100 chains of plain Tasks), SKIP_BUILD=1, UPDATE_DOC=0, LIMIT (3600 s for the run),
# TMPBASE (where the SQLite files go; default: $TMPDIR or /tmp).
set -euo pipefail

cd "$(dirname "$0")/.."
ROOT=$(pwd)
NODES=${NODES:-100000}
MODE=${MODE:-matrix}
UPDATE_DOC=${UPDATE_DOC:-1}
LIMIT=${LIMIT:-3600}
TMPBASE=${TMPBASE:-${TMPDIR:-/tmp}}

if [[ "${SKIP_BUILD:-0}" != 1 ]]; then
  cargo build --release -p planspec
fi
BIN="$ROOT/target/release/planspec"
OUT="$ROOT/bench/out/scale"
mkdir -p "$OUT"
WORK=$(mktemp -d "$TMPBASE/planspec-scale-bench.XXXXXX")
trap 'rm -rf "$WORK"' EXIT

machine="$OUT/machine.txt"
{
  echo "Machine: $(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2- | sed 's/^ *//'), $(awk '/MemTotal/ {printf "%.1f GiB", $2/1048576}' /proc/meminfo) RAM, Linux $(uname -r), SQLite file on $(df -T "$WORK" | awk 'NR==2 {print $2}') ($TMPBASE); $(date -u '+%Y-%m-%d %H:%M UTC')."
  echo "Load average before: $(cut -d' ' -f1-3 /proc/loadavg)."
} >"$machine"

echo "== planspec: $NODES nodes ($MODE)" >&2
python3 bench/scale/run.py run --bin "$BIN" --nodes "$NODES" --mode "$MODE" \
  --work "$WORK/run" --out "$OUT/run.json" --limit "$LIMIT"
rm -f "$WORK"/run/scale.db*

echo "== raw floor: bare SQLite, the same durable writes" >&2
python3 bench/scale/run.py floor --work "$WORK" --run "$OUT/run.json" --out "$OUT/floor.json"
echo "Load average after: $(cut -d' ' -f1-3 /proc/loadavg)." >>"$machine"

args=(report --run "$OUT/run.json" --floor "$OUT/floor.json" --machine "$machine")
if [[ "$UPDATE_DOC" == 1 ]]; then
  args+=(--update-doc docs/benchmarks.md)
fi
python3 bench/scale/run.py "${args[@]}"
