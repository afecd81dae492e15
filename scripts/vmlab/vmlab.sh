#!/usr/bin/env bash
# vmlab.sh: run one command as root inside a throw-away qemu guest that has
# the Debian kernel's IPVS, veth, bridge, nftables and tunnel modules, with
# the host's root file system mounted read-only as its root.
#
#   scripts/vmlab/vmlab.sh [--timeout SECONDS] [--out DIR] [--rw DIR]... [--install PKG]... -- COMMAND [ARG]...
#
# COMMAND runs in the current directory (the same path inside the guest),
# so it must live on the host's file system: build test binaries on the
# host (go test -c) and run them here. The guest has no network to the
# outside, /tmp and /run are empty tmpfs (a current directory under them is
# shared on its own), and every --rw DIR is writable
# (changes land on the host); every --install PKG is a Debian package the
# command needs, installed on the host first when missing. The script prints the command's output as it
# comes, keeps the kernel console in DIR/console.log and exits with the
# command's exit status; 124 when the time limit ran out, 125 when the lab
# itself failed (qemu, the kernel or the guest's init).
#
# Everything comes from Debian's archive: qemu-system-x86, busybox-static,
# cpio, kmod and linux-image-amd64, installed here when missing (root).
# The guest runs under TCG emulation, so no KVM is needed.
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
timeout_s=${VMLAB_TIMEOUT:-600}
out=""
rw=()
pkgs=()
while [ $# -gt 0 ]; do
	case $1 in
	--timeout) timeout_s=$2; shift 2 ;;
	--out) out=$2; shift 2 ;;
	--rw) rw+=("$(cd "$2" && pwd)"); shift 2 ;;
	--install) pkgs+=("$2"); shift 2 ;;
	--) shift; break ;;
	-*) echo "vmlab: unknown option $1" >&2; exit 125 ;;
	*) break ;;
	esac
done
if [ $# -eq 0 ]; then
	echo "usage: $0 [--timeout SECONDS] [--out DIR] [--rw DIR]... [--install PKG]... -- COMMAND [ARG]..." >&2
	exit 125
fi
die() { echo "vmlab: $*" >&2; exit 125; }
# The command runs in the current directory, which the guest sees through
# its read-only view of the host's root, except under the paths it mounts
# empty scratch file systems on: a checkout there (CI's clone in /tmp, say)
# is shared on its own, at the same path.
case $PWD/ in
/tmp/* | /run/* | /var/tmp/* | /dev/shm/*)
	inside=no
	for d in "${rw[@]}"; do
		case $PWD/ in "$d"/*) inside=yes ;; esac
	done
	[ "$inside" = yes ] || rw+=("$PWD")
	;;
esac
[ "$(id -u)" -eq 0 ] || die "needs root (the guest kernel and module tree are root's to read)"

# Tools, from Debian's archive only.
need=()
command -v qemu-system-x86_64 >/dev/null || need+=(qemu-system-x86)
dpkg-query -W -f '${Status}' busybox-static 2>/dev/null | grep -q 'ok installed' || need+=(busybox-static)
command -v cpio >/dev/null || need+=(cpio)
command -v modprobe >/dev/null || need+=(kmod)
ls /boot/vmlinuz-* >/dev/null 2>&1 || need+=(linux-image-amd64)
for p in "${pkgs[@]}"; do
	dpkg-query -W -f '${Status}' "$p" 2>/dev/null | grep -q 'ok installed' || need+=("$p")
done
if [ ${#need[@]} -gt 0 ]; then
	echo "vmlab: installing ${need[*]}" >&2
	export DEBIAN_FRONTEND=noninteractive
	apt-get update -qq >&2 || die "apt-get update failed"
	apt-get install -y -qq --no-install-recommends "${need[@]}" >&2 || die "apt-get install ${need[*]} failed"
fi

# The guest kernel: VMLAB_KERNEL, else the newest Debian kernel with modules.
kver=${VMLAB_KERNEL:-}
if [ -z "$kver" ]; then
	for k in $(ls /boot/vmlinuz-* 2>/dev/null | sed 's|^/boot/vmlinuz-||' | sort -V); do
		[ -d "/lib/modules/$k/kernel" ] && kver=$k
	done
fi
[ -n "$kver" ] || die "no /boot/vmlinuz-* with a /lib/modules tree; install linux-image-amd64"
kernel=/boot/vmlinuz-$kver
[ -r "$kernel" ] || die "cannot read $kernel"

if [ -z "$out" ]; then
	out=$(mktemp -d /tmp/vmlab.XXXXXX)
else
	mkdir -p "$out"
	out=$(cd "$out" && pwd)
	rm -f "$out/rc" "$out/rc.tmp" "$out/output" "$out/console.log" "$out/cmd.sh" "$out/rw" "$out/modtree"
fi
work=$(mktemp -d /tmp/vmlab-initrd.XXXXXX)
tailpid=""
cleanup() {
	[ -n "$tailpid" ] && kill "$tailpid" 2>/dev/null
	rm -rf "$work"
}
trap cleanup EXIT

# The module tree the guest's modprobe reads: the host's own (Debian's
# postinst ran depmod on it), or a copy indexed here when it was not.
modshare=()
# VMLAB_DEPMOD=1 takes the copy path even when the host's index is there.
if [ ! -s "/lib/modules/$kver/modules.dep.bin" ] || [ "${VMLAB_DEPMOD:-}" = 1 ]; then
	echo "vmlab: indexing a copy of /lib/modules/$kver with depmod -b" >&2
	dst=$work/modtree/lib/modules/$kver
	mkdir -p "$dst"
	# Hard links where possible: the tree is hundreds of MB, and depmod
	# only adds index files (written anew, never in place).
	for f in /lib/modules/"$kver"/*; do
		cp -al "$f" "$dst/" 2>/dev/null || cp -a "$f" "$dst/" || die "cannot copy $f"
	done
	rm -f "$dst"/modules.*.bin "$dst"/modules.dep "$dst"/modules.alias "$dst"/modules.symbols
	depmod -b "$work/modtree" "$kver" || die "depmod -b failed"
	modshare=(-virtfs "local,path=$work/modtree/lib/modules,mount_tag=modtree,security_model=none,readonly=on")
	touch "$out/modtree"
	moddir=$work/modtree
else
	moddir=/
fi

# The initramfs: static busybox, the init script and the 9p stack's
# modules (decompressed: busybox's insmod takes plain .ko files).
rd=$work/rd
mkdir -p "$rd/bin" "$rd/proc" "$rd/sys" "$rd/dev" "$rd/root" "$rd/modules"
cp /bin/busybox "$rd/bin/busybox"
cp "$here/init" "$rd/init"
chmod 755 "$rd/init"
modprobe -d "$moddir" -S "$kver" --show-depends -a virtio_pci 9pnet_virtio 9p 2>"$work/deps.err" |
	awk '$1 == "insmod" && !seen[$2]++ { print $2 }' > "$work/deps" ||
	die "modprobe --show-depends: $(cat "$work/deps.err")"
[ -s "$work/deps" ] || die "no 9p modules found for $kver: $(cat "$work/deps.err")"
: > "$rd/modules/order"
while read -r path; do
	name=$(basename "$path")
	case $name in
	*.ko) cp "$path" "$rd/modules/$name" ;;
	*.ko.xz) name=${name%.xz}; xz -dc "$path" > "$rd/modules/$name" ;;
	*.ko.zst) name=${name%.zst}; zstd -qdc "$path" > "$rd/modules/$name" ;;
	*.ko.gz) name=${name%.gz}; gzip -dc "$path" > "$rd/modules/$name" ;;
	*) die "unknown module file $path" ;;
	esac
	echo "$name" >> "$rd/modules/order"
done < "$work/deps"
(cd "$rd" && find . | cpio -o -H newc --quiet | gzip -1) > "$work/initrd" || die "cannot pack the initramfs"

# What the guest runs: the command in the current directory (a bash
# script: printf %q may quote in bash's own syntax).
{
	echo "cd $(printf %q "$PWD") || exit 125"
	printf 'exec'
	printf ' %q' "$@"
	echo
} > "$out/cmd.sh"
echo "${VMLAB_MODULES:-ip_vs ip_vs_rr ip_vs_wrr ip_vs_lc ip_vs_wlc ip_vs_fo ip_vs_ovf ip_vs_lblc ip_vs_lblcr ip_vs_dh ip_vs_sh ip_vs_mh ip_vs_sed ip_vs_nq ip_vs_pe_sip veth bridge dummy nf_tables nft_chain_nat nf_nat nf_conntrack ipip ip6_tunnel sit gre ip_gre fou fou6 sctp}" > "$out/modules"
shares=()
if [ ${#rw[@]} -gt 0 ]; then
	: > "$out/rw"
	for i in "${!rw[@]}"; do
		echo "${rw[$i]}" >> "$out/rw"
		shares+=(-virtfs "local,path=${rw[$i]},mount_tag=rw$i,security_model=none")
	done
fi

: > "$out/output"
tail -n +1 -F "$out/output" 2>/dev/null &
tailpid=$!
start=$(date +%s)
set +e
timeout --kill-after=10 "$timeout_s" qemu-system-x86_64 \
	-accel tcg -cpu max -smp "${VMLAB_CPUS:-2}" -m "${VMLAB_MEM:-2048}" \
	-nographic -no-reboot -nic none -monitor none \
	-serial "file:$out/console.log" \
	-kernel "$kernel" -initrd "$work/initrd" \
	-append "console=ttyS0 panic=-1 rdinit=/init loglevel=4 net.ifnames=0" \
	-virtfs "local,path=/,mount_tag=hostroot,security_model=none,readonly=on,multidevs=remap" \
	-virtfs "local,path=$out,mount_tag=results,security_model=none,multidevs=remap" \
	"${modshare[@]}" "${shares[@]}" > "$out/qemu.log" 2>&1
qrc=$?
set -e
sleep 0.5 # let tail print the last lines before it is stopped
kill "$tailpid" 2>/dev/null; wait "$tailpid" 2>/dev/null || true
tailpid=""
echo "vmlab: guest ran $(( $(date +%s) - start ))s; console log $out/console.log" >&2
if [ "$qrc" -eq 124 ] || [ "$qrc" -eq 137 ]; then
	echo "vmlab: TIMEOUT: the guest did not finish within ${timeout_s}s; last console lines:" >&2
	tail -n 20 "$out/console.log" >&2
	exit 124
fi
if [ "$qrc" -ne 0 ]; then
	echo "vmlab: qemu failed (exit $qrc):" >&2
	cat "$out/qemu.log" >&2
	tail -n 20 "$out/console.log" >&2
	exit 125
fi
if [ ! -s "$out/rc" ]; then
	echo "vmlab: the guest stopped without an exit status; last console lines:" >&2
	tail -n 30 "$out/console.log" >&2
	exit 125
fi
exit "$(cat "$out/rc")"
