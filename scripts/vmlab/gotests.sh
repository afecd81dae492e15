#!/usr/bin/env bash
# gotests.sh BINDIR PKGDIR... runs, inside the lab, the test binary that
# `make vmtest` built for each package directory (BINDIR/<dir with / as
# _>.test), in that directory as go test would, one after the other. Any
# further arguments after -- go to every binary. Exits 1 when any failed.
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
failed=()
for p in "${pkgs[@]}"; do
	bin=$bindir/$(echo "$p" | tr / _).test
	echo "vmtest: $p"
	(cd "$root/$p" && "$bin" -test.v -test.count=1 "$@") || failed+=("$p")
done
if [ ${#failed[@]} -gt 0 ]; then
	echo "vmtest: FAILED: ${failed[*]}"
	exit 1
fi
echo "vmtest: ok: ${pkgs[*]}"
