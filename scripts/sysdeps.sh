#!/usr/bin/env bash
# Install the Debian packages the test suite needs, only those that are missing:
# postgresql, redis-server, chromium, chromium-driver. Fast (no apt call) when all are there.
# As root it runs apt-get itself; otherwise it uses `sudo -n` if allowed, else says what to run.
set -euo pipefail

missing=()
ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1 || command -v initdb >/dev/null 2>&1 \
    || missing+=(postgresql)
command -v redis-server >/dev/null 2>&1 || missing+=(redis-server)
[[ -x /usr/bin/chromium ]] || missing+=(chromium)
command -v chromedriver >/dev/null 2>&1 || missing+=(chromium-driver)

[[ ${#missing[@]} -eq 0 ]] && exit 0

echo "[sysdeps] installing missing Debian packages: ${missing[*]}" >&2
if [[ "$(id -u)" == 0 ]]; then
    sudo=()
elif command -v sudo >/dev/null 2>&1 && sudo -n true 2>/dev/null; then
    sudo=(sudo -n)
else
    echo "[sysdeps] ERROR: not root and no passwordless sudo; run:" >&2
    echo "    sudo apt-get update && sudo apt-get install -y --no-install-recommends ${missing[*]}" >&2
    exit 1
fi
export DEBIAN_FRONTEND=noninteractive
"${sudo[@]}" apt-get update -qq
"${sudo[@]}" apt-get install -y -qq --no-install-recommends "${missing[@]}" </dev/null
# The Debian postgresql package starts a cluster on port 5432; the tests never use it.
