#!/usr/bin/env bash
# Run every bench/*.py script in turn (BENCH="a b" picks some by name, without .py); each one
# gets BENCH_OUT=bench/out (created) in its environment. Exit 1 if any script failed.
set -uo pipefail
cd "$(dirname "$0")/.."
PY="${PY:-.venv/bin/python}"
export BENCH_OUT="${BENCH_OUT:-bench/out}"
mkdir -p "$BENCH_OUT"
shopt -s nullglob
if [[ -n "${BENCH:-}" ]]; then
    scripts=(); for b in $BENCH; do scripts+=("bench/${b%.py}.py"); done
else
    scripts=(bench/*.py)
fi
[[ ${#scripts[@]} -gt 0 ]] || { echo "no bench/*.py scripts"; exit 0; }
failed=0; summary=()
for f in "${scripts[@]}"; do
    [[ "$(basename "$f")" == _* ]] && continue
    echo "==> $f"
    start=$(date +%s)
    if "$PY" "$f"; then v=ok; else v="FAILED ($?)"; failed=1; fi
    summary+=("$(printf '%-40s %6ss  %s' "$f" "$(( $(date +%s) - start ))" "$v")")
done
printf '\n==> bench summary\n'; printf '  %s\n' "${summary[@]}"
exit $failed
