#!/bin/sh
# Commits only the given paths (others' work in the shared tree stays uncommitted),
# retrying while another commit holds the index lock.
# usage: tools/commit.sh "message" path...
msg=$1; shift
cd "$(git rev-parse --show-toplevel)" || exit 1
for i in 1 2 3 4 5 6 7 8 9 10; do
  if git add -A -- "$@" 2>/dev/null && git commit -q -m "$msg" -- "$@"; then exit 0; fi
  [ -e .git/index.lock ] || { git status --short -- "$@" | head; exit 1; }
  sleep 2
done
exit 1
