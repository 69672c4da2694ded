#!/usr/bin/env bash
# Whole-process validation benchmark: `planspec validate` side by side with
# check-jsonschema (Python) and ajv-cli (Node), plus the raw floor (`cat`).
#
#   bash bench/run.sh                 # everything: build, install peers, generate, verify, measure, report
#
# Environment knobs (all optional):
#   RUNS=10 WARMUP=2      hyperfine runs / warm-up runs per command
#   NODES=10000           nodes in the big plan (the case is named plan-<NODES>)
#   RESOURCES=1000        documents in the mixed file
#   SKIP_BUILD=1          use the existing target/release/planspec
#   PEERS_ONLY=1          do not build or measure planspec (peer half only)
#   UPDATE_DOC=0          do not rewrite the results section of docs/benchmarks.md
#                         (default 1; 0 with PEERS_ONLY=1)
#   SCHEMA_DIR=DIR        JSON Schemas to give the peers (default schemas/v1alpha1)
#
# Everything it installs or writes stays inside bench/ (.venv, node_modules,
# out — all gitignored). Needs: cargo, python3 (venv), node + npm, hyperfine
# (installed with apt-get when missing and running as root).
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
BENCH="$ROOT/bench"
OUT="$BENCH/out"
IN="$OUT/inputs"
RUNS="${RUNS:-10}"
WARMUP="${WARMUP:-2}"
NODES="${NODES:-10000}"
RESOURCES="${RESOURCES:-1000}"
SKIP_BUILD="${SKIP_BUILD:-0}"
PEERS_ONLY="${PEERS_ONLY:-0}"
UPDATE_DOC="${UPDATE_DOC:-$([[ "$PEERS_ONLY" == 1 ]] && echo 0 || echo 1)}"
SCHEMA_DIR="${SCHEMA_DIR:-$ROOT/schemas/v1alpha1}"
PLANSPEC="$ROOT/target/release/planspec"
CJS="$BENCH/.venv/bin/check-jsonschema"
AJV="$BENCH/node_modules/.bin/ajv"

say() { printf '\n\033[1m== %s\033[0m\n' "$*" >&2; }
size_label() { if (( $1 >= 1000 && $1 % 1000 == 0 )); then echo "$(( $1 / 1000 ))k"; else echo "$1"; fi; }

mkdir -p "$OUT" "$IN"
rm -f "$OUT"/case-*.json "$OUT"/verify.tsv "$OUT"/machine.md "$OUT"/notes.md

# ---------------------------------------------------------------- tools
if ! command -v hyperfine >/dev/null 2>&1; then
  say "installing hyperfine (Debian package)"
  if [[ $(id -u) -eq 0 ]]; then
    apt-get install -y hyperfine >/dev/null 2>&1 || { apt-get update >/dev/null && apt-get install -y hyperfine >/dev/null; }
  else
    echo "hyperfine is missing: sudo apt-get install hyperfine (or cargo install hyperfine)" >&2; exit 1
  fi
fi

if [[ "$PEERS_ONLY" != 1 && "$SKIP_BUILD" != 1 ]]; then
  say "building planspec (release)"
  cargo build --release -p planspec
fi

# Peers are pinned: bench/requirements.txt (pip freeze) and bench/package-lock.json.
if [[ ! -x "$CJS" ]] || ! cmp -s "$BENCH/requirements.txt" "$BENCH/.venv/.installed-requirements"; then
  say "installing check-jsonschema into bench/.venv (bench/requirements.txt)"
  [[ -x "$BENCH/.venv/bin/pip" ]] || python3 -m venv "$BENCH/.venv"
  "$BENCH/.venv/bin/pip" install -q --disable-pip-version-check -r "$BENCH/requirements.txt"
  cp "$BENCH/requirements.txt" "$BENCH/.venv/.installed-requirements"
fi
if [[ ! -x "$AJV" ]] || ! cmp -s "$BENCH/package-lock.json" "$BENCH/node_modules/.installed-lock"; then
  say "installing ajv-cli and ajv-formats into bench/node_modules (bench/package-lock.json)"
  npm ci --prefix "$BENCH" --no-audit --no-fund >/dev/null
  cp "$BENCH/package-lock.json" "$BENCH/node_modules/.installed-lock"
fi

# ---------------------------------------------------------------- schemas
pick_schema() { # first existing of schemas/v1alpha1/<name>.json, <name>.schema.json
  local n
  for n in "$@"; do
    for f in "$SCHEMA_DIR/$n.json" "$SCHEMA_DIR/$n.schema.json"; do
      [[ -f "$f" ]] && { echo "$f"; return 0; }
    done
  done
  return 1
}
PLAN_SCHEMA="$(pick_schema plan || true)"
DOC_SCHEMA="$(pick_schema document documents resource || true)"
if [[ -z "$PLAN_SCHEMA" || -z "$DOC_SCHEMA" ]]; then
  echo "missing JSON Schemas in $SCHEMA_DIR (need plan.json and document.json); found:" >&2
  ls "$SCHEMA_DIR" >&2 || true
  exit 1
fi
# ajv needs every other schema file that the main one may $ref (-r) — only when
# it has non-local $refs; the main one must not be added twice.
ajv_refs() {
  local main="$1" f
  grep -Eq '"\$ref": *"[^#]' "$main" || return 0  # self-contained: nothing to add
  for f in "$SCHEMA_DIR"/*.json; do
    [[ "$f" == "$main" ]] || printf -- '-r\n%s\n' "$f"
  done
}
AJV_BASE=(--spec=draft2020 -c ajv-formats)
# ajv's default strict mode rejects schema keywords it does not know (such as
# an `x-…` annotation); then ajv needs --strict=false. Decide per schema and
# say so in the report.
ajv_flags_for() { # ajv_flags_for <schema> -> flags on stdout
  local err
  if err="$("$AJV" compile "${AJV_BASE[@]}" -s "$1" 2>&1 >/dev/null)" && ! grep -q '^error' <<<"$err"; then
    echo "validate ${AJV_BASE[*]} --errors=text"
  else
    printf -- '- ajv-cli compiles `%s` only with `--strict=false`: %s\n' \
      "${1#"$ROOT"/}" "$(grep -m1 '^error' <<<"$err" | sed 's/^error: //')" >> "$OUT/notes.md"
    echo "validate ${AJV_BASE[*]} --strict=false --errors=text"
  fi
}
: > "$OUT/notes.md"
AJV_PLAN_FLAGS="$(ajv_flags_for "$PLAN_SCHEMA")"
AJV_DOC_FLAGS="$(ajv_flags_for "$DOC_SCHEMA")"

# ---------------------------------------------------------------- inputs
say "generating inputs (bench/gen.py --nodes $NODES --resources $RESOURCES)"
python3 "$BENCH/gen.py" --nodes "$NODES" --resources "$RESOURCES" --out "$IN"
PLAN_CASE="plan-$(size_label "$NODES")"
RES_CASE="resources-$(size_label "$RESOURCES")"

# ---------------------------------------------------------------- machine
{
  echo "| | |"
  echo "|---|---|"
  echo "| Date (UTC) | $(date -u +%Y-%m-%dT%H:%MZ) |"
  echo "| CPU | $(lscpu | sed -n 's/^Model name:[[:space:]]*//p' | head -1) |"
  echo "| Cores (nproc) | $(nproc) |"
  echo "| Memory | $(free -g | awk '/^Mem:/{print $2 " GiB"}') |"
  echo "| Load average at start | $(cut -d' ' -f1-3 /proc/loadavg) (other processes share the machine when this is above 0) |"
  echo "| OS | $( . /etc/os-release 2>/dev/null && echo "$PRETTY_NAME") ($(uname -sr)) |"
  if [[ "$PEERS_ONLY" != 1 ]]; then
    echo "| planspec | $("$PLANSPEC" --version 2>/dev/null | head -1) ($(git -C "$ROOT" rev-parse --short HEAD 2>/dev/null || echo '?'); $(rustc --version 2>/dev/null | cut -d' ' -f1-2)) |"
  fi
  echo "| check-jsonschema | $("$CJS" --version 2>/dev/null | awk '{print $NF}') (Python $("$BENCH/.venv/bin/python" -c 'import platform; print(platform.python_version())')) |"
  echo "| ajv-cli / ajv / ajv-formats | $(node -p "require('$BENCH/node_modules/ajv-cli/package.json').version") / $(node -p "require('$BENCH/node_modules/ajv/package.json').version") / $(node -p "require('$BENCH/node_modules/ajv-formats/package.json').version") (Node $(node --version)) |"
  echo "| hyperfine | $(hyperfine --version | awk '{print $2}'), --warmup $WARMUP --runs $RUNS |"
} > "$OUT/machine.md"
cat "$OUT/machine.md" >&2

# ---------------------------------------------------------------- cases
# Each command: "label<TAB>input-note<TAB>command". The command is run without
# a shell (hyperfine -N), so it must not use redirections.
declare -a CMDS
add() { CMDS+=("$1"$'\t'"$2"$'\t'"$3"); }

# verify <case> <label> <command...>: run once, record exit code and the first
# line of output; a command that does not accept the valid input is excluded
# from timing (its timing would not be comparable).
# summarize <file>: one line about a tool's output — planspec's JSON report
# becomes its summary; otherwise the first non-empty line, paths made relative.
summarize() {
  python3 - "$1" "$ROOT/" <<'PY'
import json, sys
text = open(sys.argv[1], encoding="utf-8", errors="replace").read()
try:
    d = json.loads(text)
    s = d["summary"]
    line = "valid: %s; %s resources, %s errors, %s warnings" % (
        str(d.get("valid")).lower(), s.get("resources"), s.get("errors"), s.get("warnings"))
except Exception:
    line = next((l for l in text.splitlines() if l.strip()), "")
print(line.replace(sys.argv[2], "").replace("\t", " ").replace("|", "/")[:160])
PY
}

verify() {
  local case="$1" label="$2" cmd="$3" rc=0 first
  # shellcheck disable=SC2086
  $cmd >"$OUT/verify.out" 2>&1 || rc=$?
  first="$(summarize "$OUT/verify.out")"
  printf '%s\t%s\t%s\t%s\n' "$case" "$label" "$rc" "$first" >> "$OUT/verify.tsv"
  printf '  %-40s exit %-3s %s\n' "$label" "$rc" "$first" >&2
  if [[ $rc -ne 0 ]]; then
    sed -n '1,15p' "$OUT/verify.out" | sed 's/^/      | /' >&2
  fi
  return "$rc"
}

run_case() { # run_case <case-name>; uses CMDS
  local case="$1" line label note cmd
  local -a hf=(hyperfine -N --warmup "$WARMUP" --runs "$RUNS" --export-json "$OUT/case-$case.json" --style basic)
  say "verifying $case (each tool must accept the valid input)"
  local n=0
  for line in "${CMDS[@]}"; do
    IFS=$'\t' read -r label note cmd <<<"$line"
    if verify "$case" "$label [$note]" "$cmd"; then
      hf+=(-n "$label [$note]" "$cmd"); n=$((n + 1))
    fi
  done
  if (( n == 0 )); then echo "no command accepted $case; skipping" >&2; return 0; fi
  say "measuring $case"
  "${hf[@]}"
}

P="$IN/$PLAN_CASE"
CMDS=()
[[ "$PEERS_ONLY" == 1 ]] || add "planspec" "yaml" "$PLANSPEC validate -f $P.yaml -o json"
[[ "$PEERS_ONLY" == 1 ]] || add "planspec" "json" "$PLANSPEC validate -f $P.json -o json"
add "check-jsonschema" "yaml" "$CJS --schemafile $PLAN_SCHEMA $P.yaml"
add "check-jsonschema" "json" "$CJS --schemafile $PLAN_SCHEMA $P.json"
add "ajv-cli" "json" "$AJV $AJV_PLAN_FLAGS -s $PLAN_SCHEMA $(ajv_refs "$PLAN_SCHEMA" | tr '\n' ' ') -d $P.json"
add "floor: cat" "yaml" "cat $P.yaml"
run_case "$PLAN_CASE"

# Neither peer reads multi-document YAML (check-jsonschema: ruamel "expected a
# single document"; ajv-cli: js-yaml load), so they get the same resources as
# one JSON `kind: List` document, validated against the document schema.
R="$IN/$RES_CASE"
CMDS=()
[[ "$PEERS_ONLY" == 1 ]] || add "planspec" "multi-doc yaml" "$PLANSPEC validate -f $R.yaml -o json"
[[ "$PEERS_ONLY" == 1 ]] || add "planspec" "json List" "$PLANSPEC validate -f $R.json -o json"
add "check-jsonschema" "json List" "$CJS --schemafile $DOC_SCHEMA $R.json"
add "ajv-cli" "json List" "$AJV $AJV_DOC_FLAGS -s $DOC_SCHEMA $(ajv_refs "$DOC_SCHEMA" | tr '\n' ' ') -d $R.json"
add "floor: cat" "multi-doc yaml" "cat $R.yaml"
run_case "$RES_CASE"

# ---------------------------------------------------------------- report
say "report"
REPORT_ARGS=(--out "$OUT" --command "bash bench/run.sh" --cases "$PLAN_CASE" "$RES_CASE")
if [[ "$UPDATE_DOC" == 1 ]]; then
  REPORT_ARGS+=(--update-doc "$ROOT/docs/benchmarks.md")
fi
python3 "$BENCH/report.py" "${REPORT_ARGS[@]}"
