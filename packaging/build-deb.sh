#!/bin/sh
# Build a Debian package of Vigil with dpkg-deb, from the repository root or
# anywhere inside it:
#
#   packaging/build-deb.sh                 # -> dist/vigil_<version>_<arch>.deb
#   packaging/build-deb.sh --install-check # build, then dpkg -i, vigil -v,
#                                          # verify the unit, dpkg --purge (root)
#
# Environment: VERSION (default: from git describe), GOARCH (default: the
# host's), OUT (default: dist), GO (default: go).
#
# The package installs /usr/sbin/vigil, the unit in /lib/systemd/system, an
# example /etc/vigil/keepalived.conf (a conffile: local edits survive
# upgrades) and the documentation. It does not start or enable the service:
# starting it would stop a running keepalived (Conflicts=), and the switch
# from keepalived is the operator's step (docs/OPERATIONS.md).
set -eu

install_check=no
case "${1:-}" in
--install-check) install_check=yes ;;
"") ;;
*) echo "usage: $0 [--install-check]" >&2; exit 2 ;;
esac

root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
GO=${GO:-go}
OUT=${OUT:-dist}

# Debian versions must start with a digit: v1.2.3-4-gabc -> 1.2.3+4.gabc;
# without a tag, 0.0.0+git<describe>.
if [ -z "${VERSION:-}" ]; then
	desc=$(git describe --tags --always --dirty 2>/dev/null || echo unknown)
	case "$desc" in
	# Only a tag-shaped describe (v1.2.3, 1.2.3-4-gabc) is a version; a
	# bare commit hash that happens to start with a digit is not.
	v[0-9]*.* | [0-9]*.[0-9]*) VERSION=$(echo "${desc#v}" | sed 's/-/+/; s/-/./g') ;;
	*) VERSION="0.0.0+git$(echo "$desc" | tr -- '-' '.')" ;;
	esac
fi

goarch=${GOARCH:-$($GO env GOARCH)}
case "$goarch" in
amd64 | arm64 | riscv64 | ppc64le | s390x) arch=$goarch ;;
386) arch=i386 ;;
arm) arch=armhf ;;
*) echo "build-deb: no Debian architecture known for GOARCH=$goarch" >&2; exit 1 ;;
esac

stage=$(mktemp -d)
trap 'rm -rf "$stage"' EXIT
pkg="$stage/vigil"

install -d "$pkg/DEBIAN" "$pkg/usr/sbin" "$pkg/lib/systemd/system" \
	"$pkg/etc/vigil" "$pkg/usr/share/doc/vigil"

# The same build as `make build`.
GOARCH=$goarch GO=$GO scripts/build.sh "$pkg/usr/sbin/vigil" "$VERSION"
install -m 0644 packaging/vigil.service "$pkg/lib/systemd/system/vigil.service"
install -m 0600 packaging/keepalived.conf "$pkg/etc/vigil/keepalived.conf"
for doc in README.md docs/OPERATIONS.md docs/ARCHITECTURE.md docs/COMPATIBILITY.md; do
	if [ -f "$doc" ]; then install -m 0644 "$doc" "$pkg/usr/share/doc/vigil/"; fi
done

echo /etc/vigil/keepalived.conf >"$pkg/DEBIAN/conffiles"

size=$(du -sk --exclude=DEBIAN "$pkg" | cut -f1)
cat >"$pkg/DEBIAN/control" <<EOF
Package: vigil
Version: $VERSION
Architecture: $arch
Maintainer: ${MAINTAINER:-Vigil maintainers <vigil@localhost>}
Installed-Size: $size
Section: net
Priority: optional
Suggests: ipvsadm
Description: keepalived-compatible VRRP and load-balancing daemon
 Vigil reads an unmodified keepalived.conf, speaks VRRP v2/v3 with
 keepalived peers, moves virtual addresses, and reports its state on a
 control socket (vigil status, vigil events) and as Prometheus metrics.
EOF

# Maintainer scripts: tell systemd about the unit; stop the service before
# its binary goes away. Nothing is enabled or started on install.
cat >"$pkg/DEBIAN/postinst" <<'EOF'
#!/bin/sh
set -e
if [ "$1" = configure ] && [ -d /run/systemd/system ]; then
	systemctl daemon-reload || true
	# An upgrade restarts a running daemon onto the new binary.
	if [ -n "${2:-}" ] && systemctl is-active --quiet vigil.service; then
		systemctl try-restart vigil.service || true
	fi
fi
exit 0
EOF
cat >"$pkg/DEBIAN/prerm" <<'EOF'
#!/bin/sh
set -e
if [ "$1" = remove ] && [ -d /run/systemd/system ]; then
	systemctl stop vigil.service || true
	systemctl disable vigil.service >/dev/null 2>&1 || true
fi
exit 0
EOF
# postrm is a file of its own so that packaging_test.go can run it.
install -m 0755 packaging/postrm "$pkg/DEBIAN/postrm"
chmod 0755 "$pkg/DEBIAN/postinst" "$pkg/DEBIAN/prerm" "$pkg/DEBIAN/postrm"

mkdir -p "$OUT"
deb="$OUT/vigil_${VERSION}_${arch}.deb"
dpkg-deb --root-owner-group -Zxz --build "$pkg" "$deb" >/dev/null
echo "$deb"

[ "$install_check" = yes ] || exit 0

# The check CI runs: install, run, verify the unit as installed, remove.
if [ "$(id -u)" -ne 0 ]; then
	echo "build-deb: --install-check needs root" >&2
	exit 1
fi
if dpkg-query -W -f='${Status}' vigil 2>/dev/null | grep -q 'ok installed'; then
	echo "build-deb: a vigil package is already installed; not touching it" >&2
	exit 1
fi
# The check must touch only paths it made: refuse to overwrite files of a
# Vigil installed another way, and note whether /run/vigil (another
# daemon's runtime directory) exists, to prove the purge left it alone.
for f in /usr/sbin/vigil /lib/systemd/system/vigil.service /etc/vigil/keepalived.conf; do
	if [ -e "$f" ]; then
		echo "build-deb: $f exists (a Vigil installed another way?); not touching it" >&2
		exit 1
	fi
done
run_before=$(ls -la /run/vigil 2>/dev/null || echo absent)
# The purge's runtime-directory cleanup goes to a directory of the check's
# own (dpkg passes the environment to the maintainer scripts).
export VIGIL_POSTRM_RUNDIR="$stage/run-vigil"
etc_made=no
[ -d /etc/vigil ] || etc_made=yes
cleanup() {
	dpkg --purge vigil >/dev/null 2>&1 || true
	if [ "$etc_made" = yes ]; then rmdir /etc/vigil 2>/dev/null || true; fi
	rm -rf "$stage"
}
trap cleanup EXIT
dpkg -i "$deb"
/usr/sbin/vigil -v
/usr/sbin/vigil -t -f /etc/vigil/keepalived.conf
if command -v systemd-analyze >/dev/null; then
	systemd-analyze verify /lib/systemd/system/vigil.service
fi
dpkg --purge vigil
for f in /usr/sbin/vigil /lib/systemd/system/vigil.service /etc/vigil/keepalived.conf; do
	if [ -e "$f" ]; then
		echo "build-deb: $f left behind after purge" >&2
		exit 1
	fi
done
if [ "$(ls -la /run/vigil 2>/dev/null || echo absent)" != "$run_before" ]; then
	echo "build-deb: the purge changed /run/vigil, which the check did not make" >&2
	exit 1
fi
echo "install check passed: $deb"
