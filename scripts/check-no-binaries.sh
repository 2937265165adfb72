#!/usr/bin/env bash
# Fails if a build output (an ELF, Mach-O or PE executable) is tracked by git.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
bad=0
while IFS= read -r -d '' f; do
  [[ -f "$f" ]] || continue
  magic=$(head -c4 -- "$f" | od -An -tx1 | tr -d ' \n')
  case "$magic" in
    7f454c46|cffaedfe|cefaedfe|4d5a*) echo "committed build output: $f (git rm --cached it; .gitignore lists build outputs)"; bad=1 ;;
  esac
done < <(git ls-files -z)
exit $bad
