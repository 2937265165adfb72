#!/usr/bin/env bash
# Builds the dashboard's scripts (dashboard/web/js, which the Go package
# dashboard embeds with the rest of dashboard/web) with the pinned tsc from
# tools/ (make tools). dashboard/web/js is committed so that `go build`
# needs no JavaScript toolchain; scripts/check-generated.sh checks that it
# matches its sources.
#
# The dashboard imports the TypeScript client (@edgesync/client) as
# ./client.js, so the client is built first, into client/dist: that is not
# committed (npm's prepare script builds it to package the client, and the
# client's tests build their own).
#
#   scripts/build-frontend.sh          # rebuild dashboard/web/js in place
#   scripts/build-frontend.sh OUTDIR   # write the dashboard's scripts to OUTDIR instead
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
out="${1:-$root/dashboard/web/js}"
tsc="$root/tools/node_modules/.bin/tsc"
if [[ ! -x "$tsc" ]]; then
  echo "build-frontend: $tsc is missing; install the Node tools first: make tools" >&2
  exit 1
fi

# The client: ES2022 module and its declarations, which the dashboard's
# client.d.ts re-exports.
rm -rf "$root/client/dist"
"$tsc" -p "$root/client/tsconfig.json"

# The dashboard's scripts, and the client's module beside them.
rm -rf "$out"
mkdir -p "$out"
"$tsc" -p "$root/dashboard/tsconfig.json" --outDir "$out"
cp "$root/client/dist/index.js" "$out/client.js"
