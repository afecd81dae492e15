#!/usr/bin/env bash
# selftest.sh: checks the lab itself before tests rely on it: a command's
# exit status and output come back from the guest, files it writes to the
# results share reach the host, the guest's root is read-only, /run is
# writable, the IPVS module is loaded, and a guest that overruns its time
# limit is stopped and reported as such (exit 124).
set -uo pipefail
here=$(cd "$(dirname "$0")" && pwd)
out=$(mktemp -d /tmp/vmlab-selftest.XXXXXX)
trap 'rm -rf "$out"' EXIT
fail() { echo "vmlab selftest: FAIL: $*" >&2; exit 1; }

# The failure summary of gotests.sh, on a -test.v output of parallel
# subtests (host side, no guest needed).
printf '%s\n' '=== RUN   T' '=== CONT  T/a' '=== NAME  T/b' '    x_test.go:8: b failed here' '        more' \
	'=== NAME  T/a' '    x_test.go:7: a logs' '--- FAIL: T (0.00s)' '    --- PASS: T/a (0.00s)' '    --- FAIL: T/b (0.00s)' > "$out/v"
[ "$(awk -f "$here/failsummary.awk" "$out/v")" = 'T/b:    x_test.go:8: b failed here' ] ||
	fail "failsummary.awk: $(awk -f "$here/failsummary.awk" "$out/v")"

"$here/vmlab.sh" --out "$out/a" --timeout 300 -- sh -c '
	echo hello-from-guest
	test -e /proc/net/ip_vs || { echo "no ip_vs"; exit 1; }
	if touch /etc/vmlab-probe 2>/dev/null; then echo "root is writable"; exit 1; fi
	mkdir -p /run/netns && echo ok > /run/vmlab/probe || exit 1
	exit 7' > "$out/stdout" 2>&1
rc=$?
[ "$rc" -eq 7 ] || { cat "$out/stdout" >&2; fail "exit status $rc, want 7"; }
grep -qx hello-from-guest "$out/stdout" || { cat "$out/stdout" >&2; fail "the command's output did not come back"; }
[ "$(cat "$out/a/probe" 2>/dev/null)" = ok ] || fail "a file written to the results share did not reach the host"
[ -s "$out/a/console.log" ] || fail "no kernel console log"

"$here/vmlab.sh" --out "$out/b" --timeout 3 -- true > "$out/stdout" 2>&1
rc=$?
[ "$rc" -eq 124 ] || { cat "$out/stdout" >&2; fail "a guest over its time limit gave $rc, want 124"; }
grep -q TIMEOUT "$out/stdout" || fail "a timeout is not reported as such"
echo "vmlab selftest: ok"
