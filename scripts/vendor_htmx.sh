#!/usr/bin/env bash
# Re-vendor htmx from the npm registry: scripts/vendor_htmx.sh [VERSION] (default 2).
set -euo pipefail
version="${1:-2}"
root="$(cd "$(dirname "$0")/.." && pwd)"
dest="$root/static/vendor/htmx"
tmp="$(mktemp -d)"
trap 'rm -rf "$tmp"' EXIT
cd "$tmp"
npm pack --silent "htmx.org@$version" >/dev/null
tar xzf htmx.org-*.tgz
mkdir -p "$dest"
cp package/dist/htmx.min.js package/LICENSE "$dest/"
got="$(sed -n 's/.*"version": *"\([^"]*\)".*/\1/p' package/package.json | head -1)"
echo "htmx.org $got -> $dest"
sha256sum "$dest/htmx.min.js"
