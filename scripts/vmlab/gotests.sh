#!/usr/bin/env bash
# gotests.sh BINDIR PKGDIR... runs, inside the lab, the test binary that
# `make vmtest` built for each package directory (BINDIR/<dir with / as
# _>.test), in that directory as go test would, one after the other. Any
# further arguments after -- go to every binary. Exits 1 when any failed,
# after repeating what each failed test logged (failsummary.awk).
set -uo pipefail
bindir=$(cd "$1" && pwd)
shift
pkgs=()
while [ $# -gt 0 ] && [ "$1" != -- ]; do
	pkgs+=("$1")
	shift
done
[ $# -gt 0 ] && shift
root=$PWD
here=$(cd "$(dirname "$0")" && pwd)
out=$(mktemp)
trap 'rm -f "$out"' EXIT
failed=()
for p in "${pkgs[@]}"; do
	bin=$bindir/$(echo "$p" | tr / _).test
	echo "vmtest: $p"
	(cd "$root/$p" && "$bin" -test.v -test.count=1 "$@") 2>&1 | tee "$out"
	if [ "${PIPESTATUS[0]}" -ne 0 ]; then
		failed+=("$p")
		# The failed tests' own lines again, last: a long log's
		# interleaved parallel tests bury them.
		echo "vmtest: what the failed tests of $p logged:"
		awk -f "$here/failsummary.awk" "$out"
	fi
done
if [ ${#failed[@]} -gt 0 ]; then
	echo "vmtest: FAILED: ${failed[*]}"
	exit 1
fi
echo "vmtest: ok: ${pkgs[*]}"
