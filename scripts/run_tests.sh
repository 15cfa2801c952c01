#!/usr/bin/env bash
# Run the test tiers and static checks, every step even when an earlier one fails, then print
# a summary; exit 1 when any step failed. Meant to run inside scripts/testenv.sh (`make test`).
#
#   TEST_STEPS   which steps, in order (default: "fast slow lint format migrations deploy")
#                fast        pytest -m "not slow"        (pytest exit 5, no tests, is a failure)
#                slow        pytest -m slow              (exit 5 is fine: the tier may be empty)
#                lint        ruff check .
#                format      ruff format --check .
#                migrations  manage.py makemigrations --check --dry-run
#                deploy      manage.py check --deploy --fail-level WARNING (production settings)
#   PYTEST_ARGS  extra pytest arguments for both tiers (e.g. "-k judgment -x")
#   FAST_TIER_TIMEOUT / SLOW_TIER_TIMEOUT   seconds before a tier is interrupted (1800 / 3600)
#   REPORT_DIR   where JUnit XML files go (default build/test-reports)
set -uo pipefail

cd "$(dirname "$0")/.."
PY="${PY:-.venv/bin/python}"
[[ -x "$PY" ]] || PY=python3
STEPS="${TEST_STEPS:-fast slow lint format migrations deploy}"
REPORT_DIR="${REPORT_DIR:-build/test-reports}"
mkdir -p "$REPORT_DIR"
read -r -a extra <<<"${PYTEST_ARGS:-}"

results=()
failed=0

step() {  # step NAME OK_CODES COMMAND...
    local name=$1 ok=$2 start rc verdict
    shift 2
    printf '\n\033[1m==> %s: %s\033[0m\n' "$name" "$*"
    start=$(date +%s)
    "$@"
    rc=$?
    local secs=$(( $(date +%s) - start ))
    if [[ $rc -eq 0 ]]; then
        verdict=ok
    elif [[ " $ok " == *" $rc "* ]]; then
        verdict="ok (exit $rc: no tests selected)"
    else
        verdict="FAILED (exit $rc)"
        [[ $rc -eq 124 ]] && verdict="FAILED (timed out)"
        failed=1
    fi
    results+=("$(printf '%-11s %6ss  %s' "$name" "$secs" "$verdict")")
}

pytest_tier() {  # pytest_tier NAME TIMEOUT MARKEXPR
    local name=$1 limit=$2 mark=$3
    timeout --signal=INT --kill-after=60 "$limit" \
        "$PY" -m pytest -m "$mark" --durations=15 --junitxml="$REPORT_DIR/pytest-$name.xml" \
        "${extra[@]}"
}

deploy_check() {
    local secret
    secret="$("$PY" -c 'import secrets; print(secrets.token_urlsafe(64))')"
    DJANGO_SETTINGS_MODULE=config.settings.production DJANGO_SECRET_KEY="$secret" \
        "$PY" manage.py check --deploy --fail-level WARNING
}

for s in $STEPS; do
    case "$s" in
        fast) step fast "" pytest_tier fast "${FAST_TIER_TIMEOUT:-1800}" "not slow" ;;
        slow) step slow "5" pytest_tier slow "${SLOW_TIER_TIMEOUT:-3600}" "slow" ;;
        lint) step lint "" "$PY" -m ruff check . ;;
        format) step format "" "$PY" -m ruff format --check . ;;
        migrations) step migrations "" "$PY" manage.py makemigrations --check --dry-run ;;
        deploy) step deploy "" deploy_check ;;
        *) echo "unknown step '$s'" >&2; exit 2 ;;
    esac
done

printf '\n\033[1m==> summary\033[0m\n'
printf '  %s\n' "${results[@]}"
exit "$failed"
