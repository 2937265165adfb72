#!/usr/bin/env bash
# Fails when the committed dashboard scripts (dashboard/web/js, embedded by
# the Go package dashboard) do not match what scripts/build-frontend.sh
# makes from their TypeScript sources (dashboard/src, client/src), when
# they have uncommitted changes, or when client/dist (built, never
# committed) is tracked. Needs the Node tools (make tools).
#
#   scripts/check-generated.sh             # CI: the tree, as committed, is consistent
#   scripts/check-generated.sh --worktree  # before committing: skip the git checks
set -euo pipefail

check_git=1
case "${1:-}" in
  "") ;;
  --worktree) check_git=0 ;;
  *) echo "usage: $0 [--worktree]" >&2; exit 2 ;;
esac

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
output=dashboard/web/js
tmp="$(mktemp -d)"
trap 'rm -rf "$tmp"' EXIT

"$root/scripts/build-frontend.sh" "$tmp/js"

if ! diff -r "$tmp/js" "$root/$output"; then
  echo "check-generated: $output differs from what its sources build (diff above: fresh build, then the tree)." >&2
  echo "check-generated: run scripts/build-frontend.sh and commit the result." >&2
  exit 1
fi

if (( check_git )) && git -C "$root" rev-parse --is-inside-work-tree >/dev/null 2>&1; then
  changes="$(git -C "$root" status --porcelain --untracked-files=all -- "$output")"
  if [[ -n "$changes" ]]; then
    echo "$changes" >&2
    echo "check-generated: the build output above is not committed; commit $output." >&2
    exit 1
  fi
  tracked="$(git -C "$root" ls-files -- client/dist)"
  if [[ -n "$tracked" ]]; then
    echo "$tracked" >&2
    echo "check-generated: client/dist is a build output; git rm --cached it (npm's prepare script builds it)." >&2
    exit 1
  fi
fi
echo "check-generated: $output matches its sources"
