#!/usr/bin/env bash
# Runs every fuzz target of the module, one after the other, each for
# FUZZTIME (default 30s). The targets are found in the test files, so a new
# one is fuzzed without editing this script.
set -euo pipefail
cd "$(dirname "$0")/.."
: "${FUZZTIME:=30s}"
: "${GO:=go}"
grep -rl --include='*_test.go' '^func Fuzz' . | sort | while read -r f; do
	pkg="./$(dirname "${f#./}")"
	for t in $(grep -o '^func Fuzz[A-Za-z0-9_]*' "$f" | sed 's/^func //'); do
		echo "== $pkg $t ($FUZZTIME)"
		"$GO" test "$pkg" -run '^$' -fuzz "^$t\$" -fuzztime "$FUZZTIME"
	done
done
