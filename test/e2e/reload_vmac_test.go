package e2e

// An unchanged reload of instances whose host side is more than VIPs: a
// VMAC, virtual_rules with preference and fwmask, a virtual route. Such
// instances used to be restarted by every SIGHUP (their host settings were
// compared as printed structs holding pointers): the master went through
// STOP and BACKUP, its VMAC was deleted and made again, and its VIP visited
// the backup.

import (
	"encoding/json"
	"fmt"
	"strings"
	"syscall"
	"testing"
	"time"

	"vigil/internal/netlab"
)

// rvInstance is the instance of this test, at priority prio.
func rvInstance(prio int) Instance {
	return Instance{
		AdvertInt: "1",
		Priority:  prio,
		VIPs:      []string{hsVIP + "/24 brd +"},
		Extra: []string{
			"use_vmac",
			"virtual_routes {",
			"    0.0.0.0/0 via " + hsGateway + " dev eth0 table 100",
			"}",
			"virtual_rules {",
			"    from " + hsVIP + " table 100 preference 100",
			"    from all fwmark 0x10/0xf0 table 100 preference 101",
			"}",
		},
	}
}

// rvIfindex returns the ifindex of h's interface ifname.
func rvIfindex(h *netlab.Host, ifname string) (int, error) {
	out, err := hsIP(h, "-j", "link", "show", "dev", ifname)
	if err != nil {
		return 0, err
	}
	var links []struct {
		Ifindex int `json:"ifindex"`
	}
	if err := json.Unmarshal([]byte(out), &links); err != nil || len(links) != 1 {
		return 0, fmt.Errorf("ip -j link show dev %s: %q (%v)", ifname, out, err)
	}
	return links[0].Ifindex, nil
}

// rvBroadcast returns the broadcast address h's interface ifname has with
// addr, "" when it has none.
func rvBroadcast(h *netlab.Host, ifname, addr string) (string, error) {
	out, err := hsIP(h, "-j", "-4", "addr", "show", "dev", ifname)
	if err != nil {
		return "", err
	}
	var links []struct {
		AddrInfo []struct {
			Local     string `json:"local"`
			Broadcast string `json:"broadcast"`
		} `json:"addr_info"`
	}
	if err := json.Unmarshal([]byte(out), &links); err != nil {
		return "", fmt.Errorf("ip -j addr: %v", err)
	}
	for _, l := range links {
		for _, a := range l.AddrInfo {
			if a.Local == addr {
				return a.Broadcast, nil
			}
		}
	}
	return "", fmt.Errorf("%s not on %s", addr, ifname)
}

// rvView is what must not change across an unchanged reload: the state and
// transition record of the instance, and its VMAC.
type rvView struct {
	state          string
	lastTransition time.Time
	becomeMaster   uint64
	releaseMaster  uint64
	vmacIfindex    int
}

func rvSnapshot(t *testing.T, h *netlab.Host, v *Vigil) rvView {
	t.Helper()
	st, err := opsStatusJSON(h, v)
	if err != nil {
		t.Fatal(err)
	}
	in, ok := st.find("VI_1")
	if !ok {
		t.Fatalf("%s: no VI_1 in status", v.Label)
	}
	ix, err := rvIfindex(h, hsVMACName)
	if err != nil {
		t.Fatal(err)
	}
	view := rvView{state: in.State, becomeMaster: in.Counters["become_master"], releaseMaster: in.Counters["release_master"], vmacIfindex: ix}
	if in.LastTransition != nil {
		view.lastTransition = *in.LastTransition
	}
	return view
}

// rvEvents follows v's transitions (`vigil events --json`) in h.
func rvEvents(t *testing.T, h *netlab.Host, v *Vigil) *netlab.Proc {
	t.Helper()
	p, err := h.Start(vigilBin, "events", "--json", "--socket", opsSocket(v))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { p.Stop() })
	return p
}

// TestReloadUnchangedVMACRules: SIGHUP (and a reload over the control
// socket) with the file unchanged causes no transition on either node
// (status and the event stream agree), the VMAC keeps its ifindex, and the
// VIP, with the broadcast its "brd +" asks for, and the rules stay on the
// master.
func TestReloadUnchangedVMACRules(t *testing.T) {
	t.Parallel()
	hs := hsLab(t, "a", "b")
	a, b := hs["a"], hs["b"]
	va := StartVigil(t, a, Conf(nil, rvInstance(150)))
	WaitVIP(t, 10*time.Second, []*netlab.Host{a}, hsVMACName, hsVIP, a)
	evA := rvEvents(t, a, va)
	vb := StartVigil(t, b, Conf(nil, rvInstance(100)))
	evB := rvEvents(t, b, vb)
	opsWaitStates(t, 10*time.Second, a, va, map[string]string{"VI_1": "MASTER"})
	opsWaitStates(t, 10*time.Second, b, vb, map[string]string{"VI_1": "BACKUP"})

	// brd + on a /24: the address with its host bits set.
	if brd, err := rvBroadcast(a, hsVMACName, hsVIP); err != nil || brd != "10.78.0.255" {
		t.Errorf("VIP on the master's %s: broadcast %q (%v), want 10.78.0.255", hsVMACName, brd, err)
	}
	Eventually(t, 5*time.Second, "the rules on the master", func() (bool, error) {
		out, err := hsIP(a, "rule", "show")
		return strings.Contains(out, "100:\tfrom "+hsVIP) && strings.Contains(out, "101:\tfrom all fwmark 0x10/0xf0"), fmt.Errorf("ip rule: %q (%v)", out, err)
	})

	beforeA, beforeB := rvSnapshot(t, a, va), rvSnapshot(t, b, vb)
	// The event streams have been connected for seconds by now; what they
	// hold so far is the start-up's transitions.
	evBeforeA, evBeforeB := len(evA.Output()), len(evB.Output())

	for _, d := range []struct {
		h *netlab.Host
		v *Vigil
	}{{a, va}, {b, vb}} {
		if err := d.v.Signal(syscall.SIGHUP); err != nil {
			t.Fatal(err)
		}
		// A reload over the socket returns once it is applied; reloads run
		// one at a time, so by then the SIGHUP's has been applied as well
		// (or comes next, inside the window watched below).
		if out, err := opsCLI(d.h, nil, "reload", "--socket", opsSocket(d.v)); err != nil {
			t.Fatalf("%s: vigil reload: %v: %s", d.v.Label, err, out)
		}
	}
	// Longer than the master down interval (3 x 1 s + skew): a restarted
	// instance shows STOP and BACKUP at once, and a backup that took over
	// would have done so by then.
	defer func() {
		if t.Failed() {
			t.Logf("events after the reload: a %q, b %q", evA.Output()[evBeforeA:], evB.Output()[evBeforeB:])
		}
	}()
	Never(t, 4500*time.Millisecond, "a transition after an unchanged reload", func() (bool, error) {
		return len(evA.Output()) > evBeforeA || len(evB.Output()) > evBeforeB, nil
	})
	if afterA := rvSnapshot(t, a, va); afterA != beforeA {
		t.Errorf("master: %+v after an unchanged reload, was %+v", afterA, beforeA)
	}
	if afterB := rvSnapshot(t, b, vb); afterB != beforeB {
		t.Errorf("backup: %+v after an unchanged reload, was %+v", afterB, beforeB)
	}
	if got, err := Holders([]*netlab.Host{a, b}, hsVMACName, hsVIP); err != nil || len(got) != 1 || got[0] != a.String() {
		t.Errorf("VIP held by %v (%v), want a alone", got, err)
	}
}

// rvRawSockets counts the IPv4 raw sockets of protocol 112 (VRRP) open in
// h's namespace: each interface Vigil listens on has two (the socket it
// sends on and the one the event loop reads).
func rvRawSockets(h *netlab.Host) (int, error) {
	out, err := hsRun(h, "cat", "/proc/net/raw")
	if err != nil {
		return 0, err
	}
	n := 0
	for _, l := range strings.Split(out, "\n") {
		f := strings.Fields(l)
		if len(f) > 1 && strings.HasSuffix(f[1], ":0070") {
			n++
		}
	}
	return n, nil
}

// TestReloadClosesUnusedSockets: a reload that removes the last instance
// on an interface closes Vigil's sockets there, instead of keeping them
// (and the event loop reading them) until the daemon stops.
func TestReloadClosesUnusedSockets(t *testing.T) {
	t.Parallel()
	needVigil(t)
	l := netlab.New(t)
	a := l.AddHost("a", "10.78.0.2/24")
	l.AddLink(a, "eth1", "10.79.0.2/24")
	one := Instance{Name: "VI_1", State: "MASTER", VRID: 51, Priority: 150, AdvertInt: "1", VIPs: []string{"10.78.0.100/24"}}
	two := Instance{Name: "VI_2", State: "MASTER", Interface: "eth1", VRID: 52, Priority: 150, AdvertInt: "1", VIPs: []string{"10.79.0.100/24"}}
	v := StartVigil(t, a, Conf(nil, one, two))
	opsWaitStates(t, 10*time.Second, a, v, map[string]string{"VI_1": "MASTER", "VI_2": "MASTER"})
	if n, err := rvRawSockets(a); err != nil || n != 4 {
		t.Fatalf("%d VRRP sockets with instances on eth0 and eth1 (%v), want 4", n, err)
	}
	writeConf(t, v, Conf(nil, one))
	if out, err := opsCLI(a, nil, "reload", "--socket", opsSocket(v)); err != nil {
		t.Fatalf("vigil reload: %v: %s", err, out)
	}
	if n, err := rvRawSockets(a); err != nil || n != 2 {
		t.Errorf("%d VRRP sockets after the reload removed eth1's only instance (%v), want 2", n, err)
	}
	st := opsWaitStates(t, 5*time.Second, a, v, map[string]string{"VI_1": "MASTER"})
	if len(st.Instances) != 1 {
		t.Errorf("%d instances after the reload, want 1", len(st.Instances))
	}
}
