package e2e

// Acceptance tests for the host side of VRRP beyond the virtual addresses:
// the virtual MAC (use_vmac), the routes and rules that move with the master
// (virtual_routes, virtual_rules), the static set (static_ipaddress,
// static_routes, static_rules) and strict mode's filter. Each test builds
// its own lab on 10.78.0.0/24 and checks what keepalived's manual promises
// is visible on the hosts, and that nothing is left after a stop.

import (
	"context"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"strings"
	"sync"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"vigil/internal/netlab"
)

// The lab of this file: nodes a (.2) and b (.3), a client c (.9) that also
// serves as the gateway of the virtual routes.
const (
	hsVIP      = "10.78.0.100"
	hsGateway  = "10.78.0.9"
	hsPort     = 7878
	hsVMACName = "vrrp.51"
	hsVMAC     = "00:00:5e:00:01:33" // RFC 5798 section 7.3, VRID 51
)

// hsLab builds a lab with the named hosts (a, b, c) at their fixed
// addresses.
func hsLab(t *testing.T, names ...string) map[string]*netlab.Host {
	t.Helper()
	needVigil(t)
	last := map[string]string{"a": "2", "b": "3", "c": "9"}
	l := netlab.New(t)
	hs := map[string]*netlab.Host{}
	for _, n := range names {
		hs[n] = l.AddHost(n, "10.78.0."+last[n]+"/24")
	}
	return hs
}

// hsRun runs a command in h's namespace with a bounded time and returns its
// standard output.
func hsRun(h *netlab.Host, name string, args ...string) (string, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	out, err := h.Exec(ctx, name, args...)
	return string(out), err
}

// hsIP runs ip(8) in h's namespace.
func hsIP(h *netlab.Host, args ...string) (string, error) { return hsRun(h, "ip", args...) }

// hsHas reports whether the output of "ip ARGS" in h's namespace contains
// want; err is only for ip failing.
func hsHas(h *netlab.Host, want string, args ...string) (bool, error) {
	out, err := hsIP(h, args...)
	if err != nil && strings.Contains(err.Error(), "FIB table does not exist") {
		// A routing table with no route left is no table at all.
		return false, nil
	}
	if err != nil {
		return false, err
	}
	return strings.Contains(out, want), nil
}

// hsLink describes an interface as "ip -j -d link show" does.
type hsLink struct {
	Address  string `json:"address"`
	LinkInfo struct {
		Kind string `json:"info_kind"`
	} `json:"linkinfo"`
}

// hsLinkOf returns h's interface ifname; ok is false when it does not
// exist.
func hsLinkOf(h *netlab.Host, ifname string) (l hsLink, ok bool, err error) {
	out, err := hsIP(h, "-j", "-d", "link", "show")
	if err != nil {
		return l, false, err
	}
	var links []struct {
		hsLink
		Name string `json:"ifname"`
	}
	if err := json.Unmarshal([]byte(out), &links); err != nil {
		return l, false, fmt.Errorf("parse ip -j link: %w", err)
	}
	for _, x := range links {
		if x.Name == ifname {
			return x.hsLink, true, nil
		}
	}
	return l, false, nil
}

// hsNeighMAC returns the link-layer address of c's neighbour entry for
// addr, "" when there is none (or it is unresolved).
func hsNeighMAC(c *netlab.Host, addr string) (string, error) {
	out, err := hsIP(c, "-j", "neigh", "show", addr)
	if err != nil {
		return "", err
	}
	var ns []struct {
		LLAddr string `json:"lladdr"`
	}
	if err := json.Unmarshal([]byte(out), &ns); err != nil {
		return "", fmt.Errorf("parse ip -j neigh: %w (%q)", err, out)
	}
	for _, n := range ns {
		if n.LLAddr != "" {
			return n.LLAddr, nil
		}
	}
	return "", nil
}

// hsWaitBackup waits until v has logged its move to BACKUP.
func hsWaitBackup(t *testing.T, v *Vigil) {
	t.Helper()
	Eventually(t, 10*time.Second, v.Label+" in BACKUP", func() (bool, error) {
		return len(v.LogLines(transitionMsg, "to=BACKUP")) > 0, nil
	})
}

// hsStop stops v and fails the test unless it exited cleanly.
func hsStop(t *testing.T, vs ...*Vigil) {
	t.Helper()
	for _, v := range vs {
		if err := v.Stop(); err != nil {
			t.Errorf("%s: exit after SIGTERM: %v", v.Label, err)
		}
	}
}

// hsAdvertSrcMAC captures, in c's namespace, the first VRRP advert (IPv4
// protocol 112) sent from the address from and returns its source MAC.
func hsAdvertSrcMAC(c *netlab.Host, from string, timeout time.Duration) (net.HardwareAddr, error) {
	want := net.ParseIP(from).To4()
	var mac net.HardwareAddr
	err := c.Do(func() error {
		ifi, err := net.InterfaceByName("eth0")
		if err != nil {
			return err
		}
		proto := uint16(unix.ETH_P_IP)
		nproto := proto<<8 | proto>>8 // network byte order
		fd, err := unix.Socket(unix.AF_PACKET, unix.SOCK_RAW|unix.SOCK_CLOEXEC, int(nproto))
		if err != nil {
			return fmt.Errorf("packet socket: %w", err)
		}
		defer unix.Close(fd)
		if err := unix.Bind(fd, &unix.SockaddrLinklayer{Protocol: nproto, Ifindex: ifi.Index}); err != nil {
			return fmt.Errorf("bind packet socket: %w", err)
		}
		tv := unix.NsecToTimeval((200 * time.Millisecond).Nanoseconds())
		if err := unix.SetsockoptTimeval(fd, unix.SOL_SOCKET, unix.SO_RCVTIMEO, &tv); err != nil {
			return err
		}
		buf := make([]byte, 2048)
		deadline := time.Now().Add(timeout)
		for time.Now().Before(deadline) {
			n, _, err := unix.Recvfrom(fd, buf, 0)
			if errors.Is(err, unix.EAGAIN) || errors.Is(err, unix.EINTR) {
				continue
			}
			if err != nil {
				return err
			}
			f := buf[:n]
			// Ethernet (14) + IPv4 header (20 at least).
			if n < 34 || binary.BigEndian.Uint16(f[12:14]) != unix.ETH_P_IP || f[14+9] != 112 {
				continue
			}
			if !net.IP(f[14+12 : 14+16]).Equal(want) {
				continue
			}
			mac = append(net.HardwareAddr(nil), f[6:12]...)
			return nil
		}
		return fmt.Errorf("no VRRP advert from %s within %v", from, timeout)
	})
	return mac, err
}

// TestHostVMAC: with use_vmac, the VIPs live on the macvlan vrrp.51 with
// the virtual router MAC, which is what clients resolve the VIP to; a
// failover moves the MAC, so the client's neighbour entry stays right.
// Adverts leave from the virtual MAC, and the macvlans go with the daemons.
func TestHostVMAC(t *testing.T) {
	t.Parallel()
	hs := hsLab(t, "a", "b", "c")
	a, b, c := hs["a"], hs["b"], hs["c"]
	a.ServeName(t, hsPort)
	b.ServeName(t, hsPort)
	nodes := []*netlab.Host{a, b}
	// The base's ARP settings before any VMAC, to be put back on stop.
	arpBefore := map[*netlab.Host]string{}
	for _, h := range nodes {
		v, err := hsRun(h, "cat", "/proc/sys/net/ipv4/conf/eth0/arp_ignore")
		if err != nil {
			t.Fatal(err)
		}
		arpBefore[h] = strings.TrimSpace(v)
	}

	in := Instance{AdvertInt: "1", VIPs: []string{hsVIP + "/24"}, Extra: []string{"use_vmac"}}
	hi, lo := in, in
	hi.Priority, lo.Priority = 150, 100
	va := StartVigil(t, a, Conf(nil, hi))
	WaitVIP(t, 10*time.Second, []*netlab.Host{a}, hsVMACName, hsVIP, a)
	vb := StartVigil(t, b, Conf(nil, lo))
	hsWaitBackup(t, vb)

	for _, h := range nodes {
		l, ok, err := hsLinkOf(h, hsVMACName)
		if err != nil {
			t.Fatal(err)
		}
		if !ok || l.LinkInfo.Kind != "macvlan" || l.Address != hsVMAC {
			t.Errorf("%s: %s = %+v (exists %v), want a macvlan with MAC %s", h, hsVMACName, l, ok, hsVMAC)
		}
		if ok, err := HasAddr(h, "eth0", hsVIP); err != nil || ok {
			t.Errorf("%s: VIP on eth0 (err %v); with use_vmac it belongs on %s", h, err, hsVMACName)
		}
	}
	if ok, err := HasAddr(b, hsVMACName, hsVIP); err != nil || ok {
		t.Errorf("backup b holds the VIP on %s (err %v)", hsVMACName, err)
	}

	WaitServedBy(t, 10*time.Second, c, hsVIP, hsPort, a)
	if mac, err := hsNeighMAC(c, hsVIP); err != nil || mac != hsVMAC {
		t.Errorf("client's neighbour entry for %s = %q (err %v), want the virtual MAC %s", hsVIP, mac, err, hsVMAC)
	}
	if mac, err := hsAdvertSrcMAC(c, "10.78.0.2", 5*time.Second); err != nil {
		t.Errorf("capturing a's adverts: %v", err)
	} else if mac.String() != hsVMAC {
		t.Errorf("a's adverts come from MAC %s, want the virtual MAC %s", mac, hsVMAC)
	}

	// Failover: a loses its wire, b takes over the VIP and the MAC.
	if err := a.CutWire("eth0", true); err != nil {
		t.Fatal(err)
	}
	WaitVIP(t, 10*time.Second, []*netlab.Host{b}, hsVMACName, hsVIP, b)
	WaitServedBy(t, 10*time.Second, c, hsVIP, hsPort, b)
	if mac, err := hsNeighMAC(c, hsVIP); err != nil || mac != hsVMAC {
		t.Errorf("after failover, client's neighbour entry for %s = %q (err %v), want still %s", hsVIP, mac, err, hsVMAC)
	}

	hsStop(t, va, vb)
	for _, h := range nodes {
		if _, ok, err := hsLinkOf(h, hsVMACName); err != nil || ok {
			t.Errorf("%s: %s still there after stop (err %v)", h, hsVMACName, err)
		}
		v, err := hsRun(h, "cat", "/proc/sys/net/ipv4/conf/eth0/arp_ignore")
		if err != nil {
			t.Fatal(err)
		}
		if got := strings.TrimSpace(v); got != arpBefore[h] {
			t.Errorf("%s: eth0 arp_ignore = %s after stop, want it restored to %s", h, got, arpBefore[h])
		}
	}
}

// hsMasterRoutes are the virtual routes and rules of TestHostVirtualRoutes,
// with what "ip" shows for each: a route via the gateway, a route with the
// VIP as source, and policy routing of the VIP's traffic to table 100.
var hsMasterRoutes = []struct {
	show []string // ip arguments
	want string
}{
	{[]string{"route", "show", "10.200.0.0/16"}, "10.200.0.0/16 via " + hsGateway + " dev eth0"},
	{[]string{"route", "show", "10.201.0.0/16"}, "src " + hsVIP},
	{[]string{"route", "show", "table", "100"}, "default via " + hsGateway + " dev eth0"},
	{[]string{"rule", "show"}, "from " + hsVIP + " lookup 100"},
}

// hsRoutesOn reports whether h has every one (all) or none (!all) of
// hsMasterRoutes.
func hsRoutesOn(h *netlab.Host, all bool) (bool, error) {
	for _, r := range hsMasterRoutes {
		has, err := hsHas(h, r.want, r.show...)
		if err != nil {
			return false, err
		}
		if has != all {
			if !all {
				return false, fmt.Errorf("%s still has %q", h, r.want)
			}
			return false, fmt.Errorf("%s lacks %q", h, r.want)
		}
	}
	return true, nil
}

// TestHostVirtualRoutes: virtual_routes and virtual_rules are in place on
// the master only, move with a failover, and are gone after a stop.
func TestHostVirtualRoutes(t *testing.T) {
	t.Parallel()
	hs := hsLab(t, "a", "b")
	a, b := hs["a"], hs["b"]
	nodes := []*netlab.Host{a, b}
	in := Instance{AdvertInt: "1", VIPs: []string{hsVIP + "/24"}, Extra: []string{
		"virtual_routes {",
		"    10.200.0.0/16 via " + hsGateway + " dev eth0",
		"    10.201.0.0/16 dev eth0 src " + hsVIP,
		"    0.0.0.0/0 via " + hsGateway + " dev eth0 table 100",
		"}",
		"virtual_rules {",
		"    from " + hsVIP + " table 100",
		"}",
	}}
	hi, lo := in, in
	hi.Priority, lo.Priority = 150, 100
	va := StartVigil(t, a, Conf(nil, hi))
	WaitVIP(t, 10*time.Second, nodes, "eth0", hsVIP, a)
	vb := StartVigil(t, b, Conf(nil, lo))
	hsWaitBackup(t, vb)
	Eventually(t, 5*time.Second, "routes and rules on master a", func() (bool, error) { return hsRoutesOn(a, true) })
	if ok, err := hsRoutesOn(b, false); !ok {
		t.Errorf("backup b: %v", err)
	}

	if err := a.CutWire("eth0", true); err != nil {
		t.Fatal(err)
	}
	WaitVIP(t, 10*time.Second, nodes, "eth0", hsVIP, b)
	Eventually(t, 5*time.Second, "routes and rules on new master b", func() (bool, error) { return hsRoutesOn(b, true) })
	Eventually(t, 5*time.Second, "routes and rules gone from a (FAULT)", func() (bool, error) { return hsRoutesOn(a, false) })

	hsStop(t, va, vb)
	for _, h := range nodes {
		if ok, err := hsRoutesOn(h, false); !ok {
			t.Errorf("after stop: %v", err)
		}
	}
}

// hsStaticConf is the static set of TestHostStatic: blocks at the top level
// of keepalived.conf, outside any instance.
const hsStaticConf = `static_ipaddress {
    10.79.0.1/24 dev eth0
}
static_routes {
    10.202.0.0/16 via ` + hsGateway + ` dev eth0
    0.0.0.0/0 via ` + hsGateway + ` dev eth0 table 101
}
static_rules {
    from 10.79.0.1 table 101
}
`

// hsStatic lists what hsStaticConf installs, as ip shows it.
var hsStatic = []struct {
	show []string
	want string
}{
	{[]string{"addr", "show", "dev", "eth0"}, "inet 10.79.0.1/24"},
	{[]string{"route", "show", "10.202.0.0/16"}, "10.202.0.0/16 via " + hsGateway + " dev eth0"},
	{[]string{"route", "show", "table", "101"}, "default via " + hsGateway + " dev eth0"},
	{[]string{"rule", "show"}, "from 10.79.0.1 lookup 101"},
}

// TestHostStatic: the static set is installed at start on every node,
// master and backup alike, and removed on stop.
func TestHostStatic(t *testing.T) {
	t.Parallel()
	hs := hsLab(t, "a", "b")
	a, b := hs["a"], hs["b"]
	nodes := []*netlab.Host{a, b}
	in := Instance{AdvertInt: "1", VIPs: []string{hsVIP + "/24"}}
	hi, lo := in, in
	hi.Priority, lo.Priority = 150, 100
	va := StartVigil(t, a, Conf(nil, hi)+hsStaticConf)
	vb := StartVigil(t, b, Conf(nil, lo)+hsStaticConf)
	WaitVIP(t, 10*time.Second, nodes, "eth0", hsVIP, a)
	hsWaitBackup(t, vb)
	for _, h := range nodes {
		for _, s := range hsStatic {
			if ok, err := hsHas(h, s.want, s.show...); !ok {
				t.Errorf("%s while running: no %q in ip %s (err %v)", h, s.want, strings.Join(s.show, " "), err)
			}
		}
	}
	hsStop(t, va, vb)
	for _, h := range nodes {
		for _, s := range hsStatic {
			if ok, err := hsHas(h, s.want, s.show...); ok || err != nil {
				t.Errorf("%s: %q still there after stop (err %v)", h, s.want, err)
			}
		}
	}
}

// nftInstall installs nftables' nft tool once per test binary when it is
// missing.
var nftInstall struct {
	once sync.Once
	err  error
}

// needNft skips the test unless nft(8) is there or can be installed.
func needNft(t *testing.T) {
	t.Helper()
	nftInstall.once.Do(func() {
		if _, err := exec.LookPath("nft"); err == nil {
			return
		}
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
		defer cancel()
		cmd := exec.CommandContext(ctx, "apt-get", "install", "-y", "--no-install-recommends", "nftables")
		cmd.Env = append(os.Environ(), "DEBIAN_FRONTEND=noninteractive")
		if out, err := cmd.CombinedOutput(); err != nil {
			nftInstall.err = fmt.Errorf("apt-get install nftables: %v: %s", err, iopLastLines(string(out), 3))
			return
		}
		_, nftInstall.err = exec.LookPath("nft")
	})
	if nftInstall.err != nil {
		t.Skipf("e2e: nft(8) is needed to inspect the filter: %v; skipping", nftInstall.err)
	}
}

// hsReachable reports whether c reaches addr: a TCP connection to the name
// server (every try bounded by AskName's one second) or a ping.
func hsReachable(c *netlab.Host, addr string) bool {
	if _, err := AskName(c, addr, hsPort); err == nil {
		return true
	}
	_, err := hsRun(c, "ping", "-c", "1", "-W", "1", addr)
	return err == nil
}

// TestHostStrict: in strict mode (vrrp_strict, or strict_mode on the
// instance) a master that is not the address owner holds the VIP but
// drops traffic to it, through the table "inet vigil", which is gone after
// a stop; no_accept alone does the same. Without them the VIP answers and
// there is no table.
// keepalived 2.2.7 (built with nftables only, as Debian's) does the same
// without any nftables keyword: a run of it is the reference row.
func TestHostStrict(t *testing.T) {
	t.Parallel()
	needNft(t)
	tests := []struct {
		name      string
		global    []string
		extra     []string
		keepalive bool // run keepalived instead of Vigil
		drops     bool
		table     string // nft table expected while master, "" for none
	}{
		{name: "vrrp_strict", global: []string{"vrrp_strict"}, drops: true, table: "inet vigil"},
		{name: "strict_mode", extra: []string{"strict_mode"}, drops: true, table: "inet vigil"},
		{name: "no_accept", extra: []string{"no_accept"}, drops: true, table: "inet vigil"},
		{name: "no_strict", drops: false},
		{name: "keepalived_vrrp_strict", global: []string{"vrrp_strict"}, keepalive: true, drops: true, table: "ip keepalived"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			hs := hsLab(t, "a", "c")
			a, c := hs["a"], hs["c"]
			a.ServeName(t, hsPort)
			conf := Conf(tc.global, Instance{AdvertInt: "1", Priority: 150, VIPs: []string{hsVIP + "/24"}, Extra: tc.extra})
			var stop func() error
			if tc.keepalive {
				k := StartKeepalived(t, a, conf)
				stop = func() error { k.Terminate(t); return nil }
			} else {
				v := StartVigil(t, a, conf)
				stop = v.Stop
			}
			WaitVIP(t, 10*time.Second, []*netlab.Host{a}, "eth0", hsVIP, a)
			// a's own address answers either way: the server is up and
			// the client can reach a.
			WaitServedBy(t, 5*time.Second, c, "10.78.0.2", hsPort, a)
			if tc.drops {
				for range 2 {
					if hsReachable(c, hsVIP) {
						t.Fatalf("client reached the VIP %s; strict mode must drop traffic to it", hsVIP)
					}
				}
			} else {
				WaitServedBy(t, 5*time.Second, c, hsVIP, hsPort, a)
				if !hsReachable(c, hsVIP) {
					t.Errorf("client cannot ping the VIP without strict mode")
				}
			}
			tables, err := hsRun(a, "nft", "list", "tables")
			if err != nil {
				t.Fatal(err)
			}
			if tc.table != "" {
				if !strings.Contains(tables, "table "+tc.table) {
					t.Fatalf("nft tables on master = %q, want table %s", tables, tc.table)
				}
				out, err := hsRun(a, "nft", "list", "table", strings.Fields(tc.table)[0], strings.Fields(tc.table)[1])
				if err != nil {
					t.Fatal(err)
				}
				if !strings.Contains(out, hsVIP) {
					t.Errorf("table %s does not hold the VIP %s:\n%s", tc.table, hsVIP, out)
				}
			} else if strings.TrimSpace(tables) != "" {
				t.Errorf("nft tables without strict mode = %q, want none", tables)
			}
			if err := stop(); err != nil {
				t.Errorf("exit after SIGTERM: %v", err)
			}
			if tables, err := hsRun(a, "nft", "list", "tables"); err != nil || strings.TrimSpace(tables) != "" {
				t.Errorf("nft tables after stop = %q (err %v), want none", tables, err)
			}
		})
	}
}
