#!/usr/bin/env bash
# Fails when the committed build output (client/dist, dashboard/static)
# does not match what scripts/build-frontend.sh makes from the sources, or
# when that output has uncommitted changes. Needs tools/node_modules
# (npm ci --prefix tools).
#
#   scripts/check-generated.sh             # CI: the tree, as committed, is consistent
#   scripts/check-generated.sh --worktree  # before committing: skip the git check
set -euo pipefail

check_git=1
case "${1:-}" in
  "") ;;
  --worktree) check_git=0 ;;
  *) echo "usage: $0 [--worktree]" >&2; exit 2 ;;
esac

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
outputs=(client/dist dashboard/static)
tmp="$(mktemp -d)"
trap 'rm -rf "$tmp"' EXIT

"$root/scripts/build-frontend.sh" "$tmp"

stale=0
for o in "${outputs[@]}"; do
  if ! diff -r "$tmp/$o" "$root/$o"; then
    stale=1
  fi
done
if (( stale )); then
  echo "check-generated: ${outputs[*]} differ from what their sources build (diff above: fresh build, then the tree)." >&2
  echo "check-generated: run scripts/build-frontend.sh and commit the result." >&2
  exit 1
fi

if (( check_git )) && git -C "$root" rev-parse --is-inside-work-tree >/dev/null 2>&1; then
  changes="$(git -C "$root" status --porcelain --untracked-files=all -- "${outputs[@]}")"
  if [[ -n "$changes" ]]; then
    echo "$changes" >&2
    echo "check-generated: the build output above is not committed; commit ${outputs[*]}." >&2
    exit 1
  fi
fi
echo "check-generated: ${outputs[*]} match their sources"
