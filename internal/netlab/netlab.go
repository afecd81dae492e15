// Package netlab builds small networks of Linux network namespaces for tests:
// "hosts" with an eth0 on a shared bridge (and optionally a second interface
// on a second bridge), helpers to run commands and Go code inside them, and
// ways to break links the way failover tests need. Everything a Lab creates
// is removed by t.Cleanup, also when the test fails.
//
// Tests using netlab need root and the ip(8) tool; without them they are
// skipped with a message saying so.
package netlab

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"os"
	"os/exec"
	"regexp"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/vishvananda/netns"
)

// cmdTimeout bounds every ip(8) command the lab runs itself.
const cmdTimeout = 10 * time.Second

// Lab is a set of network namespaces ("hosts") on one bridge, made for one
// test and removed by t.Cleanup. The bridges live in a namespace of their
// own, so hosts see nothing but their own interfaces. Names are unique
// (a fixed prefix and a random suffix) so that parallel runs do not clash.
type Lab struct {
	t      testing.TB
	prefix string // namespace name prefix, e.g. "vl3f9a1c"
	brNS   string // namespace holding the bridges

	mu     sync.Mutex
	hosts  []*Host
	second bool // second bridge created
	ports  int  // veth ports made so far, for unique names in brNS
}

// Host is one namespace of a Lab.
type Host struct {
	lab   *Lab
	name  string // short name given to AddHost
	ns    string // namespace name
	mu    sync.Mutex
	ports map[string]string // host interface -> bridge-side port
	procs []*Proc
}

var hostName = regexp.MustCompile(`^[a-z0-9][a-z0-9_-]{0,15}$`)

// New makes an empty lab with its bridge. It skips the test when not run as
// root or when ip(8) is missing, and fails it when the lab cannot be built.
func New(t testing.TB) *Lab {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("netlab: network namespace tests need root; skipping")
	}
	if _, err := exec.LookPath("ip"); err != nil {
		t.Skip("netlab: the ip(8) tool is not installed; skipping")
	}
	var r [3]byte
	if _, err := rand.Read(r[:]); err != nil {
		t.Fatalf("netlab: random suffix: %v", err)
	}
	l := &Lab{t: t, prefix: "vl" + hex.EncodeToString(r[:])}
	l.brNS = l.prefix + "-br"
	if err := l.addNS(l.brNS); err != nil {
		if strings.Contains(err.Error(), "Operation not permitted") {
			t.Skipf("netlab: cannot create network namespaces here (%v); skipping", err)
		}
		t.Fatalf("netlab: %v", err)
	}
	// No IPv6 on bridge ports: they would only add router solicitations
	// and DAD probes to every capture.
	l.must(l.ip("-n", l.brNS, "link", "set", "lo", "up"))
	l.must(l.sysctl(l.brNS, "net.ipv6.conf.all.disable_ipv6", "1"))
	l.must(l.sysctl(l.brNS, "net.ipv6.conf.default.disable_ipv6", "1"))
	l.must(l.addBridge("br0"))
	return l
}

// Prefix is the prefix of every namespace name of this lab.
func (l *Lab) Prefix() string { return l.prefix }

// BridgeNS is the name of the namespace holding the lab's bridges.
func (l *Lab) BridgeNS() string { return l.brNS }

// Hosts returns the hosts added so far.
func (l *Lab) Hosts() []*Host {
	l.mu.Lock()
	defer l.mu.Unlock()
	return append([]*Host(nil), l.hosts...)
}

func (l *Lab) must(err error) {
	l.t.Helper()
	if err != nil {
		l.t.Fatalf("netlab: %v", err)
	}
}

// addNS creates a namespace and registers its removal at once, so a failure
// later in the setup still cleans it up.
func (l *Lab) addNS(name string) error {
	if err := l.ip("netns", "add", name); err != nil {
		return err
	}
	l.t.Cleanup(func() {
		if err := l.ip("netns", "del", name); err != nil {
			l.t.Errorf("netlab: cleanup: %v", err)
		}
	})
	return nil
}

func (l *Lab) addBridge(name string) error {
	// No multicast snooping: VRRP and ND multicast must reach every port
	// without an IGMP/MLD querier in the lab. No STP: ports forward at once.
	if err := l.ip("-n", l.brNS, "link", "add", name, "type", "bridge", "mcast_snooping", "0", "stp_state", "0"); err != nil {
		return err
	}
	return l.ip("-n", l.brNS, "link", "set", name, "up")
}

// AddHost adds a namespace with loopback up and an eth0 attached to the
// lab's bridge, carrying addrs ("10.77.0.2/24", "fd00:77::2/64"). Duplicate
// address detection is off in the namespace so addresses work at once.
func (l *Lab) AddHost(name string, addrs ...string) *Host {
	l.t.Helper()
	if !hostName.MatchString(name) {
		l.t.Fatalf("netlab: invalid host name %q (lower-case letters, digits, - and _, at most 16)", name)
	}
	l.mu.Lock()
	for _, h := range l.hosts {
		if h.name == name {
			l.mu.Unlock()
			l.t.Fatalf("netlab: host %q added twice", name)
		}
	}
	h := &Host{lab: l, name: name, ns: l.prefix + "-" + name, ports: make(map[string]string)}
	l.hosts = append(l.hosts, h)
	l.mu.Unlock()

	l.must(l.addNS(h.ns))
	// Processes must be gone before the namespace is deleted; cleanups run
	// last-registered first, so this runs before the deletion above.
	l.t.Cleanup(h.stopAll)
	// Loopback up and DAD off go with eth0's set-up (attach's first
	// script): every process counts in an emulated guest.
	l.must(l.attach(h, "eth0", "br0", addrs, "ip link set lo up",
		"echo 0 > /proc/sys/net/ipv6/conf/all/accept_dad",
		"echo 0 > /proc/sys/net/ipv6/conf/default/accept_dad"))
	return h
}

// AddLink gives h a second interface, ifname, on the lab's second bridge
// (created on first use and shared by every AddLink), with addrs. It is for
// tests of track_interface and of instances on several interfaces.
func (l *Lab) AddLink(h *Host, ifname string, addrs ...string) {
	l.t.Helper()
	l.mu.Lock()
	first := !l.second
	l.second = true
	l.mu.Unlock()
	if first {
		l.must(l.addBridge("br1"))
	}
	l.must(l.attach(h, ifname, "br1", addrs))
}

// attach makes a veth pair between h (named ifname) and bridge br; first
// are shell commands to run in h before the interface is set up. It runs
// three processes and a carrier check, whatever the number of addresses.
func (l *Lab) attach(h *Host, ifname, br string, addrs []string, first ...string) error {
	if len(ifname) > 15 || ifname == "" {
		return fmt.Errorf("invalid interface name %q", ifname)
	}
	for _, a := range addrs {
		if _, err := netip.ParsePrefix(a); err != nil {
			return fmt.Errorf("host %s: address %q: %w", h.name, a, err)
		}
	}
	l.mu.Lock()
	port := fmt.Sprintf("p%d", l.ports)
	l.ports++
	l.mu.Unlock()
	if err := l.ipBatch(l.brNS,
		fmt.Sprintf("link add %s type veth peer name %s netns %s", port, ifname, h.ns),
		fmt.Sprintf("link set %s master %s", port, br),
		fmt.Sprintf("link set %s up", port)); err != nil {
		return err
	}
	h.mu.Lock()
	h.ports[ifname] = port
	h.mu.Unlock()
	// In the host: the commands asked for, then the interface's own DAD
	// knob (it took the namespace defaults when it moved in, but the lab
	// does not depend on that detail), its addresses and up.
	script := append([]string{"set -e"}, first...)
	script = append(script, fmt.Sprintf("echo 0 > /proc/sys/net/ipv6/conf/%s/accept_dad", ifname))
	batch := make([]string, 0, len(addrs)+1)
	for _, a := range addrs {
		batch = append(batch, fmt.Sprintf("addr add %s dev %s", a, ifname))
	}
	batch = append(batch, fmt.Sprintf("link set %s up", ifname))
	script = append(script, "ip -batch - <<'EOF'\n"+strings.Join(batch, "\n")+"\nEOF")
	ctx, cancel := context.WithTimeout(context.Background(), cmdTimeout)
	defer cancel()
	// ifname and the addresses are checked above; the script is this
	// package's own.
	out, err := exec.CommandContext(ctx, "ip", "netns", "exec", h.ns, "sh", "-c", strings.Join(script, "\n")).CombinedOutput()
	if err != nil {
		return fmt.Errorf("set up %s on %s: %v: %s", ifname, h.name, err, bytes.TrimSpace(out))
	}
	return h.waitCarrier(ifname)
}

// ipBatch runs ip(8) commands in namespace ns as one process.
func (l *Lab) ipBatch(ns string, cmds ...string) error {
	ctx, cancel := context.WithTimeout(context.Background(), cmdTimeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, "ip", "-n", ns, "-batch", "-")
	cmd.Stdin = strings.NewReader(strings.Join(cmds, "\n") + "\n")
	if out, err := cmd.CombinedOutput(); err != nil {
		return fmt.Errorf("ip -n %s -batch (%s): %v: %s", ns, strings.Join(cmds, "; "), err, bytes.TrimSpace(out))
	}
	return nil
}

// waitCarrier waits until ifname has carrier: the kernel reports it a
// moment after both ends are up, and tests should start from a usable link.
func (h *Host) waitCarrier(ifname string) error {
	deadline := time.Now().Add(5 * time.Second)
	for {
		ctx, cancel := context.WithTimeout(context.Background(), cmdTimeout)
		out, err := exec.CommandContext(ctx, "ip", "-n", h.ns, "-j", "link", "show", "dev", ifname).Output()
		cancel()
		if err != nil {
			return fmt.Errorf("netlab: link %s on %s: %w", ifname, h.name, err)
		}
		var links []struct {
			OperState string `json:"operstate"`
		}
		if err := json.Unmarshal(out, &links); err != nil {
			return fmt.Errorf("netlab: parse ip -j link output: %w", err)
		}
		// Operational state, not just LOWER_UP: IFF_RUNNING follows it,
		// and that is what daemons test.
		if len(links) == 1 && links[0].OperState == "UP" {
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("netlab: %s on %s has no carrier after 5s", ifname, h.name)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// ip runs ip(8) with args, bounded in time.
func (l *Lab) ip(args ...string) error {
	ctx, cancel := context.WithTimeout(context.Background(), cmdTimeout)
	defer cancel()
	out, err := exec.CommandContext(ctx, "ip", args...).CombinedOutput()
	if err != nil {
		return fmt.Errorf("ip %s: %v: %s", strings.Join(args, " "), err, bytes.TrimSpace(out))
	}
	return nil
}

// sysctl sets key in namespace ns by writing /proc/sys from inside it.
func (l *Lab) sysctl(ns, key, value string) error {
	ctx, cancel := context.WithTimeout(context.Background(), cmdTimeout)
	defer cancel()
	path := "/proc/sys/" + strings.ReplaceAll(key, ".", "/")
	// sh is only the writer; the path and value come from this package.
	cmd := exec.CommandContext(ctx, "ip", "netns", "exec", ns, "sh", "-c", `printf '%s\n' "$1" > "$2"`, "sh", value, path)
	if out, err := cmd.CombinedOutput(); err != nil {
		return fmt.Errorf("sysctl %s=%s in %s: %v: %s", key, value, ns, err, bytes.TrimSpace(out))
	}
	return nil
}

// Name is the namespace name of the host.
func (h *Host) Name() string { return h.ns }

// String is the short name given to AddHost.
func (h *Host) String() string { return h.name }

// Exec runs a command inside the host's namespace and returns its standard
// output; on failure the error includes standard error.
func (h *Host) Exec(ctx context.Context, name string, args ...string) ([]byte, error) {
	cmd := exec.CommandContext(ctx, "ip", append([]string{"netns", "exec", h.ns, name}, args...)...)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		return out, fmt.Errorf("%s %s in %s: %w: %s", name, strings.Join(args, " "), h.name, err, bytes.TrimSpace(stderr.Bytes()))
	}
	return out, nil
}

// Do runs fn on a goroutine locked to an OS thread that has been switched
// into the host's namespace, and switches the thread back afterwards.
// Sockets and netlink handles opened by fn belong to the namespace and may
// be used after Do returns. Goroutines started by fn do not run in the
// namespace.
func (h *Host) Do(fn func() error) error {
	errc := make(chan error, 1)
	go func() {
		runtime.LockOSThread()
		// Unlocked only once the thread is back in its own namespace;
		// otherwise the runtime discards the thread when this goroutine
		// ends, so no other goroutine ever runs in the wrong namespace.
		orig, err := netns.Get()
		if err != nil {
			errc <- fmt.Errorf("netlab: current namespace: %w", err)
			return
		}
		defer orig.Close()
		target, err := netns.GetFromName(h.ns)
		if err != nil {
			errc <- fmt.Errorf("netlab: namespace %s: %w", h.ns, err)
			return
		}
		defer target.Close()
		if err := netns.Set(target); err != nil {
			errc <- fmt.Errorf("netlab: enter %s: %w", h.ns, err)
			return
		}
		ferr := fn()
		if err := netns.Set(orig); err != nil {
			errc <- errors.Join(ferr, fmt.Errorf("netlab: leave %s: %w", h.ns, err))
			return
		}
		runtime.UnlockOSThread()
		errc <- ferr
	}()
	return <-errc
}

// SetLink sets the host's own interface administratively up or down, as
// "ip link set dev X down" on the host would: the host sees the change.
func (h *Host) SetLink(ifname string, up bool) error {
	return h.lab.ip("-n", h.ns, "link", "set", ifname, updown(up))
}

// CutWire pulls (cut) or plugs back (!cut) the cable of the host's
// interface: the bridge-side end goes down, so the host loses connectivity
// and sees its carrier go (the interface stays administratively up but is no
// longer running). It returns once the host sees the carrier change, which
// the kernel applies from deferred work (linkwatch), up to a second after
// the bridge-side end changed: a caller that looks at once must not see
// the wire still plugged.
func (h *Host) CutWire(ifname string, cut bool) error {
	port, err := h.port(ifname)
	if err != nil {
		return err
	}
	if err := h.lab.ip("-n", h.lab.brNS, "link", "set", port, updown(!cut)); err != nil {
		return err
	}
	deadline := time.Now().Add(carrierWait)
	for {
		running, err := h.running(ifname)
		if err != nil {
			return err
		}
		if running != cut {
			return nil
		}
		if time.Now().After(deadline) {
			what := "plugged back"
			if cut {
				what = "cut"
			}
			return fmt.Errorf("netlab: %s in %s still has carrier=%v %v after its wire was %s", ifname, h.ns, running, carrierWait, what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// carrierWait bounds CutWire's wait for the host to see its carrier
// change (the kernel's linkwatch delays it by up to a second).
const carrierWait = 5 * time.Second

// running says whether the host's interface has carrier (IFF_RUNNING), as
// the host sees it.
func (h *Host) running(ifname string) (bool, error) {
	var running bool
	err := h.Do(func() error {
		ifi, err := net.InterfaceByName(ifname)
		if err != nil {
			return err
		}
		running = ifi.Flags&net.FlagRunning != 0
		return nil
	})
	return running, err
}

// Isolate stops (isolated) or restores the bridge forwarding frames to and
// from the host's interface while every link stays up: the host loses
// connectivity without noticing, the way a broken switch splits a network.
func (h *Host) Isolate(ifname string, isolated bool) error {
	port, err := h.port(ifname)
	if err != nil {
		return err
	}
	state := "3" // forwarding
	if isolated {
		state = "0" // disabled
	}
	// bridge(8), not "ip link set type bridge_slave state", which
	// iproute2 accepts but does not apply to an enslaved veth.
	ctx, cancel := context.WithTimeout(context.Background(), cmdTimeout)
	defer cancel()
	out, err := exec.CommandContext(ctx, "bridge", "-n", h.lab.brNS, "link", "set", "dev", port, "state", state).CombinedOutput()
	if err != nil {
		return fmt.Errorf("netlab: bridge link set dev %s state %s: %v: %s", port, state, err, bytes.TrimSpace(out))
	}
	return nil
}

// Port is the name of the bridge-side end (in BridgeNS) of the host's
// interface ifname, for tests that filter frames in the bridge.
func (h *Host) Port(ifname string) (string, error) { return h.port(ifname) }

func (h *Host) port(ifname string) (string, error) {
	h.mu.Lock()
	defer h.mu.Unlock()
	p, ok := h.ports[ifname]
	if !ok {
		return "", fmt.Errorf("netlab: host %s has no lab interface %q", h.name, ifname)
	}
	return p, nil
}

func updown(up bool) string {
	if up {
		return "up"
	}
	return "down"
}

// Addrs returns the addresses on the host's interface, in kernel order,
// including IPv6 link-local ones.
func (h *Host) Addrs(ifname string) ([]netip.Prefix, error) {
	ctx, cancel := context.WithTimeout(context.Background(), cmdTimeout)
	defer cancel()
	out, err := exec.CommandContext(ctx, "ip", "-n", h.ns, "-j", "addr", "show", "dev", ifname).Output()
	if err != nil {
		return nil, fmt.Errorf("netlab: addresses of %s on %s: %w", ifname, h.name, err)
	}
	var links []struct {
		AddrInfo []struct {
			Local     string `json:"local"`
			PrefixLen int    `json:"prefixlen"`
		} `json:"addr_info"`
	}
	if err := json.Unmarshal(out, &links); err != nil {
		return nil, fmt.Errorf("netlab: parse ip -j addr output: %w", err)
	}
	var res []netip.Prefix
	for _, l := range links {
		for _, a := range l.AddrInfo {
			ip, err := netip.ParseAddr(a.Local)
			if err != nil {
				return nil, fmt.Errorf("netlab: address %q: %w", a.Local, err)
			}
			res = append(res, netip.PrefixFrom(ip, a.PrefixLen))
		}
	}
	return res, nil
}
