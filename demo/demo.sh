#!/usr/bin/env bash
# Vigil's live failover demo (`make demo`, as root).
#
# Builds a small network out of network namespaces: a bridge, two Vigil
# nodes sharing the VIP 10.99.0.100 with VRRP, a web server on each node
# that answers with its name, and a client that asks the VIP every 20 ms.
# Then it cuts the master's cable, shows the client moving to the backup
# and how long it got no answer, plugs the cable back and shows the master
# taking the VIP back (preemption).
#
# Everything lives in namespaces named vdemo-<random>-*, addresses are in
# 10.99.0.0/24 inside them only, and everything is removed on exit, on
# error and on Ctrl-C.
#
# Environment:
#   VIGIL  the daemon to run (default: bin/vigil of this repository)
#   GO     the go command used to build the web server and the client (default: go)

set -Eeuo pipefail
export LC_ALL=C # "." as the decimal point of $EPOCHREALTIME and printf

script_dir=${BASH_SOURCE[0]%/*}
[[ $script_dir == "${BASH_SOURCE[0]}" ]] && script_dir=.
REPO=$(cd "$script_dir/.." && pwd)
VIGIL=${VIGIL:-$REPO/bin/vigil}
GO=${GO:-go}

SUBNET=10.99.0
VIP=$SUBNET.100
MASK=24
declare -A ADDR=([node1]=$SUBNET.1 [node2]=$SUBNET.2 [client]=$SUBNET.10)
declare -A PRIO=([node1]=150 [node2]=100)
declare -A STATE=([node1]=MASTER [node2]=BACKUP)
NODES=(node1 node2)

# ---------------------------------------------------------------- output

bold=$'\e[1m' dim=$'\e[2m' reset=$'\e[0m'
if [[ ! -t 1 ]]; then bold='' dim='' reset=''; fi

SECTION=0
section() { # section TITLE [explanation lines...]
	SECTION=$((SECTION + 1))
	printf '\n%s== %d. %s%s\n' "$bold" "$SECTION" "$1" "$reset"
	shift
	local l
	for l in "$@"; do printf '   %s\n' "$l"; done
}
die() {
	printf '%sdemo: %s%s\n' "$bold" "$*" "$reset" >&2
	exit 1
}

# T0_US is the zero of every timestamp: the demo's and the client's lines
# share it, so they can be read side by side.
T0_US=
now_us() { local t=$EPOCHREALTIME; echo "${t/./}"; }
fmt_us() { # microseconds since T0 -> "+  5.02s"
	local us=$1 sign=+
	if ((us < 0)); then sign=- us=$((-us)); fi
	printf '%s%3d.%02ds' "$sign" $((us / 1000000)) $(((us % 1000000) / 10000))
}
say() { printf '[demo]   %s  %s\n' "$(fmt_us $(($(now_us) - T0_US)))" "$*"; }

# ---------------------------------------------------------------- checks

[[ $EUID -eq 0 ]] || die "must run as root (it creates network namespaces): sudo make demo"
command -v ip >/dev/null || die "the 'ip' command (iproute2) is missing: apt-get install iproute2"
command -v "$GO" >/dev/null || die "'$GO' not found: the demo builds its web server and client with Go (under sudo, try: sudo env PATH=\"\$PATH\" make demo)"
[[ -n ${EPOCHREALTIME:-} ]] || die "needs bash 5 or later"
[[ -x $VIGIL ]] || die "$VIGIL not found or not executable: run 'make build' first (or 'make demo', which does)"
ip netns list >/dev/null 2>&1 || die "'ip netns' does not work here (network namespaces unavailable?)"

# ---------------------------------------------------------------- state and cleanup

SUFFIX=$(od -An -N3 -tx1 /dev/urandom | tr -d ' \n')
PREFIX=vdemo-$SUFFIX
BRNS=$PREFIX-br
declare -A NS=([node1]=$PREFIX-node1 [node2]=$PREFIX-node2 [client]=$PREFIX-client)
CREATED_NS=() # namespaces to delete, in creation order
declare -A PID=() # processes we started, by role
TMP=
SLEEP_PID=
CLEANED=
FAILED= # what did not happen as it should

# stop_pid ROLE: SIGTERM (Vigil then sends priority 0 and removes its VIP),
# then SIGKILL if it has not gone after 5 s.
stop_pid() {
	local role=$1 pid=${PID[$1]:-} i
	[[ -n $pid ]] || return 0
	if kill -0 "$pid" 2>/dev/null; then
		kill -TERM "$pid" 2>/dev/null || true
		for ((i = 0; i < 50; i++)); do
			kill -0 "$pid" 2>/dev/null || break
			sleep 0.1
		done
		if kill -0 "$pid" 2>/dev/null; then
			echo "   $role (pid $pid) did not stop on SIGTERM; killing it"
			kill -KILL "$pid" 2>/dev/null || true
		fi
	fi
	wait "$pid" 2>/dev/null || true
	unset "PID[$role]"
}

cleanup() {
	local rc=$?
	[[ -n $CLEANED ]] && return
	CLEANED=1
	trap - EXIT INT TERM ERR
	set +e
	section "Cleaning up" "stopping every process, deleting the namespaces $PREFIX-* and the temp dir"
	[[ -n $SLEEP_PID ]] && kill "$SLEEP_PID" 2>/dev/null
	local role ns pids
	for role in prober web-node1 web-node2 vigil-node1 vigil-node2; do stop_pid "$role"; done
	for ns in "${CREATED_NS[@]}"; do
		# Anything still running in a namespace of ours is ours: nothing
		# else runs there.
		pids=$(ip netns pids "$ns" 2>/dev/null)
		if [[ -n $pids ]]; then
			echo "   killing leftover processes in $ns: $pids"
			kill -KILL $pids 2>/dev/null
		fi
		ip netns del "$ns" 2>/dev/null || echo "   could not delete namespace $ns"
	done
	[[ -n $TMP && -d $TMP ]] && rm -rf -- "$TMP"
	local left
	left=$(ip netns list 2>/dev/null | awk -v p="$PREFIX-" 'index($1, p) == 1 {print $1}')
	if [[ -n $left ]]; then
		echo "   ${bold}left behind:${reset} $left"
		rc=1
	else
		echo "   done: no namespace named $PREFIX-* left (ip netns list), temp dir removed"
	fi
	local others
	others=$(ip netns list 2>/dev/null | awk '$1 ~ /^vdemo-/ {print $1}' | tr '\n' ' ')
	[[ -n $others ]] && echo "   note: other vdemo-* namespaces exist (another demo running, or one killed with SIGKILL): $others"
	exit "$rc"
}
on_signal() {
	printf '\n%sdemo: interrupted by SIG%s%s\n' "$bold" "$1" "$reset"
	[[ $1 == INT ]] && exit 130
	exit 143
}
trap cleanup EXIT
trap 'on_signal INT' INT
trap 'on_signal TERM' TERM
trap 'echo "demo: command failed (line $LINENO): $BASH_COMMAND" >&2' ERR

# pause SECONDS, interruptible: a trapped signal ends `wait` at once, where
# a foreground sleep would delay the trap until it finished.
pause() {
	sleep "$1" &
	SLEEP_PID=$!
	wait "$SLEEP_PID" || true
	SLEEP_PID=
}

# holder: which node has the VIP on eth0 right now ("node1", "node2",
# "node1 node2" during a split, or "" ).
holder() {
	local n out=
	for n in "${NODES[@]}"; do
		if ip -n "${NS[$n]}" -4 -o addr show dev eth0 2>/dev/null | grep -q " $VIP/"; then
			out+="${out:+ }$n"
		fi
	done
	echo "$out"
}

# check_alive: Vigil and the web servers must keep running; if one has
# exited there is no point waiting for anything.
check_alive() {
	local role
	for role in vigil-node1 vigil-node2 web-node1 web-node2; do
		[[ -n ${PID[$role]:-} ]] || continue
		if ! kill -0 "${PID[$role]}" 2>/dev/null; then
			local log=$TMP/${role#*-}/vigil.log
			[[ $role == web-* ]] && log=$TMP/${role#*-}/web.log
			echo "   --- $log ---"
			tail -n 15 "$log" 2>/dev/null | sed 's/^/   /'
			die "$role exited unexpectedly"
		fi
	done
}

# wait_holder WANT TIMEOUT_S: wait until exactly WANT holds the VIP.
wait_holder() {
	local want=$1 limit_us=$(($2 * 1000000)) start
	start=$(now_us)
	while (($(now_us) - start < limit_us)); do
		check_alive
		[[ $(holder) == "$want" ]] && return 0
		sleep 0.05
	done
	return 1
}

show_addresses() {
	local n
	for n in "${NODES[@]}"; do
		printf '   %s$ ip -n %s -br -4 addr show dev eth0%s\n' "$dim" "${NS[$n]}" "$reset"
		printf '   %s\n' "$(ip -n "${NS[$n]}" -br -4 addr show dev eth0)"
	done
	local h
	h=$(holder)
	case $h in
	"") echo "   => nobody holds the VIP $VIP" ;;
	*" "*) echo "   => both nodes hold the VIP $VIP" ;;
	*) echo "   => ${bold}$h holds the VIP $VIP: it is the VRRP master${reset}" ;;
	esac
}

# show_log_tail: on a failure, what Vigil said helps most.
show_log_tail() {
	local n
	for n in "${NODES[@]}"; do
		echo "   --- last lines of Vigil's log on $n ---"
		tail -n 15 "$TMP/$n/vigil.log" 2>/dev/null | sed 's/^/   /'
	done
}

# state_changes prints the state changes both Vigils logged, in time order,
# on the demo's clock.
state_changes() {
	local n line ts us what
	for n in "${NODES[@]}"; do
		{ grep -F ') Entering ' "$TMP/$n/vigil.log" 2>/dev/null || true; } | while IFS= read -r line; do
			ts=${line#time=}
			ts=${ts%% *}
			us=$(date -d "$ts" +%s%6N 2>/dev/null) || us=$T0_US
			if [[ $line =~ from=([A-Z]+)\ to=([A-Z]+)\ reason=\"?([^\"]*) ]]; then
				what=$(printf '%-6s -> %-6s  (%s)' "${BASH_REMATCH[1]}" "${BASH_REMATCH[2]}" "${BASH_REMATCH[3]}")
			else
				what=${line#*msg=}
			fi
			printf '%d\t[%s]  %s  %s\n' "$us" "$n" "$(fmt_us $((us - T0_US)))" "$what"
		done
	done | sort -n -k1,1 | cut -f2-
}

# ---------------------------------------------------------------- build

TMP=$(mktemp -d "${TMPDIR:-/tmp}/vdemo.XXXXXX")
section "Building the demo's web server and client" "(Vigil itself is bin/vigil, built by 'make build')"
(cd "$REPO" && "$GO" build -o "$TMP/webserver" ./demo/webserver && "$GO" build -o "$TMP/prober" ./demo/prober) ||
	die "building demo/webserver or demo/prober failed"
echo "   ok: $TMP/webserver, $TMP/prober"

# ---------------------------------------------------------------- network

section "Building the network: four namespaces on one bridge" \
	"$BRNS     the switch: bridge br0" \
	"${NS[node1]}  node1, eth0 ${ADDR[node1]}/$MASK, runs Vigil (priority ${PRIO[node1]}) and a web server" \
	"${NS[node2]}  node2, eth0 ${ADDR[node2]}/$MASK, runs Vigil (priority ${PRIO[node2]}) and a web server" \
	"${NS[client]} client, eth0 ${ADDR[client]}/$MASK, asks http://$VIP/ every 20 ms" \
	"The VIP $VIP/$MASK is what the client talks to; VRRP decides which node holds it."
for ns in "$BRNS" "${NS[node1]}" "${NS[node2]}" "${NS[client]}"; do
	if ip netns list | awk '{print $1}' | grep -qx -- "$ns"; then die "namespace $ns exists already"; fi
done
add_ns() {
	ip netns add "$1"
	CREATED_NS+=("$1")
	ip -n "$1" link set lo up
}
add_ns "$BRNS"
ip -n "$BRNS" link add br0 type bridge forward_delay 0 mcast_snooping 0
ip -n "$BRNS" link set br0 up
for n in node1 node2 client; do
	add_ns "${NS[$n]}"
	# The veth pair is created inside the bridge namespace, one end moved
	# straight into the host's: no interface ever appears on this machine.
	ip -n "$BRNS" link add "p-$n" type veth peer name eth0 netns "${NS[$n]}"
	ip -n "$BRNS" link set "p-$n" master br0 up
	ip -n "${NS[$n]}" addr add "${ADDR[$n]}/$MASK" dev eth0
	ip -n "${NS[$n]}" link set eth0 up
done
echo "   ok"

# ---------------------------------------------------------------- services

section "Starting a web server and Vigil on each node" \
	"Each Vigil reads an ordinary keepalived.conf: vrrp_instance VI_1, virtual_router_id 51," \
	"advert_int 1, PASS authentication, the VIP on eth0. node1: priority ${PRIO[node1]}, state MASTER;" \
	"node2: priority ${PRIO[node2]}, state BACKUP. The highest priority wins, and preempts by default."
for n in "${NODES[@]}"; do
	mkdir -p "$TMP/$n/state"
	cat >"$TMP/$n/keepalived.conf" <<EOF
! Vigil demo: $n
global_defs {
    router_id $n
}

vrrp_instance VI_1 {
    state ${STATE[$n]}
    interface eth0
    virtual_router_id 51
    priority ${PRIO[$n]}
    advert_int 1
    authentication {
        auth_type PASS
        auth_pass vdemo
    }
    virtual_ipaddress {
        $VIP/$MASK dev eth0
    }
}
EOF
	ip netns exec "${NS[$n]}" "$TMP/webserver" -name "$n" -addr :80 -max-duration 5m \
		>"$TMP/$n/web.log" 2>&1 &
	PID[web-$n]=$!
done
T0_US=$(now_us)
for n in "${NODES[@]}"; do
	# Vigil's state file (addresses to remove after a crash) goes in the
	# temp dir: the two nodes share this machine's /run.
	VIGIL_STATE_DIR=$TMP/$n/state ip netns exec "${NS[$n]}" \
		"$VIGIL" -f "$TMP/$n/keepalived.conf" -l -p "$TMP/$n/vigil.pid" >"$TMP/$n/vigil.log" 2>&1 &
	PID[vigil-$n]=$!
	echo "   $n: $(basename "$VIGIL") -f $TMP/$n/keepalived.conf -l -p $TMP/$n/vigil.pid   (pid ${PID[vigil-$n]})"
done

say "waiting for node1 to become master and add the VIP (at most 15 s)"
if ! wait_holder node1 15; then
	show_log_tail
	die "node1 did not take the VIP within 15 s (holder now: '$(holder)')"
fi
say "node1 holds the VIP"

section "Who is master? The master is the node whose eth0 holds the VIP"
show_addresses

section "The client starts asking http://$VIP/ every 20 ms" \
	"It prints a line only when something changes: which node answers, or requests failing." \
	"Each request has a 250 ms timeout; times are since Vigil started, like the [demo] lines."
ip netns exec "${NS[client]}" "$TMP/prober" -url "http://$VIP/" -interval 20ms -timeout 250ms \
	-count 4000 -max-duration 75s -t0 "${T0_US:0:-6}.${T0_US: -6}" -prefix '[client]' &
PID[prober]=$!
pause 3

section "Cutting node1's cable (the bridge side of its veth goes down)" \
	"node2 stops hearing node1's advertisements. After 3 advert intervals plus a skew" \
	"(about 3.6 s) it declares node1 dead, takes the VIP and announces it with gratuitous ARP."
CUT_US=$(now_us)
ip -n "$BRNS" link set p-node1 down
say "node1's cable is cut"
if wait_holder node2 15; then
	say "node2 holds the VIP, $(fmt_us $(($(now_us) - CUT_US)) | tr -d ' +') after the cut"
else
	say "node2 did not take the VIP within 15 s (holder now: '$(holder)')"
	FAILED+=" failover"
	show_log_tail
fi
pause 3
show_addresses

section "Plugging node1's cable back in" \
	"node1 has the higher priority (150 > 100), so it preempts: it takes the VIP back" \
	"and node2 steps down to backup."
HEAL_US=$(now_us)
ip -n "$BRNS" link set p-node1 up
say "node1's cable is back"
if wait_holder node1 15; then
	say "node1 holds the VIP again, $(fmt_us $(($(now_us) - HEAL_US)) | tr -d ' +') after the repair"
else
	say "node1 did not take the VIP back within 15 s (holder now: '$(holder)')"
	FAILED+=" preemption"
	show_log_tail
fi
pause 3
show_addresses

section "The client's summary"
kill -INT "${PID[prober]}" 2>/dev/null || true
# The prober ends within one request timeout; stop_pid bounds the wait anyway.
for ((i = 0; i < 50; i++)); do
	kill -0 "${PID[prober]}" 2>/dev/null || break
	sleep 0.1
done
stop_pid prober

section "What Vigil logged: every VRRP state change, both nodes in time order"
timeline=$(state_changes)
if [[ -n $timeline ]]; then
	echo "$timeline"
else
	echo "   (no state change found in the Vigil logs: has their format changed?)"
fi

echo
if [[ -n $FAILED ]]; then
	die "the demo did not go as expected (did not happen:$FAILED); see the Vigil log lines above"
fi
echo "${bold}The demo is over.${reset} node1 lost its cable, node2 took over, node1 came back and took the VIP back."
