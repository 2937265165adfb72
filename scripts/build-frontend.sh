#!/usr/bin/env bash
# Builds the TypeScript client (client/dist) and the dashboard
# (dashboard/static, which the Go package dashboard embeds) with the pinned
# tsc from tools/ (npm ci --prefix tools). Both outputs are committed so that
# `go build` needs no JavaScript toolchain; scripts/check-generated.sh checks
# that they match their sources.
#
#   scripts/build-frontend.sh          # rebuild in place
#   scripts/build-frontend.sh OUTROOT  # write OUTROOT/client/dist and OUTROOT/dashboard/static
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
out="${1:-$root}"
tsc="$root/tools/node_modules/.bin/tsc"
if [[ ! -x "$tsc" ]]; then
  echo "build-frontend: $tsc is missing; install the Node tools first: npm ci --prefix tools" >&2
  exit 1
fi

rm -rf "$out/client/dist" "$out/dashboard/static"
mkdir -p "$out/client" "$out/dashboard/static/js"

# The client: ES2022 module and its declarations.
"$tsc" -p "$root/client/tsconfig.json" --outDir "$out/client/dist"

# The dashboard: static pages as written, its scripts compiled, and the
# client's module beside them (the dashboard imports ./client.js).
cp "$root/dashboard/web/index.html" "$root/dashboard/web/style.css" "$out/dashboard/static/"
"$tsc" -p "$root/dashboard/tsconfig.json" --outDir "$out/dashboard/static/js"
cp "$out/client/dist/index.js" "$out/dashboard/static/js/client.js"
