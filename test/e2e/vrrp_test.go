package e2e

import (
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"vigil/internal/netlab"
)

// The lab network of the tests in this file: nodes a (.2), b (.3), an
// outsider x (.4) and a client c (.9), on 10.77.0.0/24 and fd00:77::/64.
const (
	vip4     = "10.77.0.100"
	vip6     = "fd00:77::100"
	namePort = 7777 // ServeName's port on every node
)

// lab builds a lab with the named hosts, each at its fixed address.
func lab(t *testing.T, names ...string) map[string]*netlab.Host {
	t.Helper()
	needVigil(t)
	last := map[string]string{"a": "2", "b": "3", "x": "4", "c": "9"}
	l := netlab.New(t)
	hs := map[string]*netlab.Host{}
	for _, n := range names {
		hs[n] = l.AddHost(n, "10.77.0."+last[n]+"/24", "fd00:77::"+last[n]+"/64")
	}
	return hs
}

// stopAll stops every vigil with SIGTERM, checks each exited cleanly, and
// that none of vips is left on any of hosts.
func stopAll(t *testing.T, hosts []*netlab.Host, vips []string, vigils ...*Vigil) {
	t.Helper()
	for _, v := range vigils {
		if err := v.Stop(); err != nil {
			t.Errorf("%s: exit after SIGTERM: %v", v.Label, err)
		}
	}
	for _, vip := range vips {
		got, err := Holders(hosts, "eth0", vip)
		if err != nil {
			t.Fatal(err)
		}
		if len(got) != 0 {
			t.Errorf("%s still on %v after every vigil stopped", vip, got)
		}
	}
}

// lastTransition returns the last state change line of v's log, or "".
func lastTransition(v *Vigil) string {
	ls := v.LogLines(transitionMsg)
	if len(ls) == 0 {
		return ""
	}
	return ls[len(ls)-1]
}

func TestElectionByPriority(t *testing.T) {
	t.Parallel()
	hs := lab(t, "a", "b")
	a, b := hs["a"], hs["b"]
	hosts := []*netlab.Host{a, b}
	in := Instance{AdvertInt: "1", VIPs: []string{vip4 + "/24"}}
	hi, lo := in, in
	hi.Priority, lo.Priority = 150, 100
	// The lower one starts first, so the higher one has to win an election
	// rather than just be alone.
	vb := StartVigil(t, b, Conf(nil, lo))
	va := StartVigil(t, a, Conf(nil, hi))
	WaitVIP(t, 10*time.Second, hosts, "eth0", vip4, a)
	// Stable: the lower node never takes it while the higher one is up.
	Never(t, 2*time.Second, "VIP on b", func() (bool, error) { return HasAddr(b, "eth0", vip4) })
	if l := lastTransition(vb); !strings.Contains(l, "to=BACKUP") {
		t.Errorf("b's last transition = %q, want to BACKUP", l)
	}
	stopAll(t, hosts, []string{vip4}, va, vb)
}

// failoverPair starts a (150) and b (100) with in as the common instance,
// a client c, name servers on a and b, and waits until c reaches a on the
// VIP.
func failoverPair(t *testing.T, in Instance, vip string) (a, b, c *netlab.Host, va, vb *Vigil) {
	t.Helper()
	hs := lab(t, "a", "b", "c")
	a, b, c = hs["a"], hs["b"], hs["c"]
	a.ServeName(t, namePort)
	b.ServeName(t, namePort)
	hi, lo := in, in
	hi.Priority, lo.Priority = 150, 100
	// a first and alone, so it is master before b even starts: nopreempt
	// tests need the initial master to be the higher one.
	va = StartVigil(t, a, Conf(nil, hi))
	WaitVIP(t, 10*time.Second, []*netlab.Host{a, b}, "eth0", vip, a)
	vb = StartVigil(t, b, Conf(nil, lo))
	Eventually(t, 5*time.Second, "b in BACKUP", func() (bool, error) {
		return strings.Contains(lastTransition(vb), "to=BACKUP"), nil
	})
	WaitServedBy(t, 10*time.Second, c, vip, namePort, a)
	return a, b, c, va, vb
}

func TestLinkFailoverAndPreemption(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		// breakLink takes a's link away (down) or gives it back.
		breakLink func(h *netlab.Host, down bool) error
	}{
		{"cable pulled", func(h *netlab.Host, down bool) error { return h.CutWire("eth0", down) }},
		{"admin down", func(h *netlab.Host, down bool) error { return h.SetLink("eth0", !down) }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			a, b, c, va, vb := failoverPair(t, Instance{AdvertInt: "1", VIPs: []string{vip4 + "/24"}}, vip4)
			hosts := []*netlab.Host{a, b}

			if err := tt.breakLink(a, true); err != nil {
				t.Fatal(err)
			}
			// a loses its link (FAULT, VIP removed); b takes over after the
			// master down interval and c reaches b on the same address.
			WaitVIP(t, 10*time.Second, hosts, "eth0", vip4, b)
			WaitServedBy(t, 10*time.Second, c, vip4, namePort, b)
			if l := lastTransition(va); !strings.Contains(l, "to=FAULT") {
				t.Errorf("a's last transition after the cut = %q, want to FAULT", l)
			}

			if err := tt.breakLink(a, false); err != nil {
				t.Fatal(err)
			}
			// Preemption (the default): the higher node takes the VIP back.
			WaitVIP(t, 15*time.Second, hosts, "eth0", vip4, a)
			WaitServedBy(t, 10*time.Second, c, vip4, namePort, a)
			stopAll(t, hosts, []string{vip4}, va, vb)
		})
	}
}

func TestNoPreemptKeepsNewMaster(t *testing.T) {
	t.Parallel()
	a, b, c, va, vb := failoverPair(t, Instance{AdvertInt: "1", NoPreempt: true, VIPs: []string{vip4 + "/24"}}, vip4)
	hosts := []*netlab.Host{a, b}

	if err := a.CutWire("eth0", true); err != nil {
		t.Fatal(err)
	}
	WaitVIP(t, 10*time.Second, hosts, "eth0", vip4, b)
	if err := a.CutWire("eth0", false); err != nil {
		t.Fatal(err)
	}
	// a is back and BACKUP; it must not take the VIP from the lower b.
	Eventually(t, 10*time.Second, "a back in BACKUP", func() (bool, error) {
		return strings.Contains(lastTransition(va), "to=BACKUP"), nil
	})
	// Longer than a's master down interval (3 s + skew) with a margin: a
	// preempting node would have moved by then.
	Never(t, 5*time.Second, "VIP back on a", func() (bool, error) { return HasAddr(a, "eth0", vip4) })
	WaitVIP(t, time.Second, hosts, "eth0", vip4, b)
	WaitServedBy(t, 10*time.Second, c, vip4, namePort, b)
	stopAll(t, hosts, []string{vip4}, va, vb)
}

func TestPreemptDelay(t *testing.T) {
	t.Parallel()
	const delay = 8 * time.Second
	hs := lab(t, "a", "b")
	a, b := hs["a"], hs["b"]
	hosts := []*netlab.Host{a, b}
	lo := Instance{AdvertInt: "1", Priority: 100, VIPs: []string{vip4 + "/24"}}
	hi := lo
	hi.Priority = 150
	hi.PreemptDelay = "8"
	vb := StartVigil(t, b, Conf(nil, lo))
	WaitVIP(t, 10*time.Second, hosts, "eth0", vip4, b)

	start := time.Now()
	va := StartVigil(t, a, Conf(nil, hi))
	// Without the delay a would preempt when its master down timer (about
	// 3.4 s) runs out; with it, not before 8 s. Check up to 6 s: 2 s of
	// margin both ways.
	Never(t, 6*time.Second, "VIP moved to a before preempt_delay", func() (bool, error) { return HasAddr(a, "eth0", vip4) })
	took := WaitVIP(t, 15*time.Second, hosts, "eth0", vip4, a)
	if d := took.Sub(start); d < delay {
		t.Errorf("a took over %v after start, before preempt_delay %v", d, delay)
	}
	// The order of events in a's log: BACKUP first, then MASTER by
	// preemption.
	ls := va.LogLines(transitionMsg)
	if len(ls) != 2 || !strings.Contains(ls[0], "to=BACKUP") || !strings.Contains(ls[1], "to=MASTER") {
		t.Errorf("a's transitions = %q, want BACKUP then MASTER", ls)
	}
	stopAll(t, hosts, []string{vip4}, va, vb)
}

func TestSIGTERMTakeoverAfterSkew(t *testing.T) {
	t.Parallel()
	hs := lab(t, "a", "b")
	a, b := hs["a"], hs["b"]
	hosts := []*netlab.Host{a, b}
	// advert_int 3: the master down interval is 9 s + skew, while a backup
	// told "priority 0" waits the skew only ((256-100)/256 s, about 0.6 s).
	lo := Instance{AdvertInt: "3", Priority: 100, VIPs: []string{vip4 + "/24"}}
	hi := lo
	hi.Priority = 150
	va := StartVigil(t, a, Conf(nil, hi))
	WaitVIP(t, 15*time.Second, hosts, "eth0", vip4, a)
	vb := StartVigil(t, b, Conf(nil, lo))
	Eventually(t, 5*time.Second, "b in BACKUP", func() (bool, error) {
		return strings.Contains(lastTransition(vb), "to=BACKUP"), nil
	})

	start := time.Now()
	if err := va.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	took := WaitVIP(t, 8*time.Second, hosts, "eth0", vip4, b)
	if d := took.Sub(start); d > 3*time.Second {
		t.Errorf("b took over %v after the master's SIGTERM; want the skew time (< 3 s), not the master down interval (> 9 s)", d)
	}
	if l := lastTransition(vb); !strings.Contains(l, "priority 0") {
		t.Errorf("b's takeover = %q, want the reason to be the master's priority 0", l)
	}
	stopAll(t, hosts, []string{vip4}, va, vb)
}

func TestUnicast(t *testing.T) {
	t.Parallel()
	hs := lab(t, "a", "b", "x")
	a, b, x := hs["a"], hs["b"], hs["x"]
	hosts := []*netlab.Host{a, b, x}
	const vipX = "10.77.0.101"
	in := Instance{AdvertInt: "1", VRID: 60, VIPs: []string{vip4 + "/24"}}
	ia, ib := in, in
	ia.Priority, ia.UnicastSrc, ia.Peers = 150, "10.77.0.2", []string{"10.77.0.3"}
	ib.Priority, ib.UnicastSrc, ib.Peers = 100, "10.77.0.3", []string{"10.77.0.2"}
	// -D: a dropped advert from a non-peer is logged at debug level.
	va := StartVigil(t, a, Conf(nil, ia), "-D")
	vb := StartVigil(t, b, Conf(nil, ib), "-D")
	WaitVIP(t, 10*time.Second, hosts, "eth0", vip4, a)

	// x claims the same VRID with a higher priority and sends to a and b,
	// but it is in neither one's peer list: they must ignore it.
	ix := Instance{AdvertInt: "1", VRID: 60, Priority: 200, UnicastSrc: "10.77.0.4",
		Peers: []string{"10.77.0.2", "10.77.0.3"}, VIPs: []string{vipX + "/24"}}
	vx := StartVigil(t, x, Conf(nil, ix))
	WaitVIP(t, 10*time.Second, hosts, "eth0", vipX, x) // x is master and advertising
	Eventually(t, 5*time.Second, "a dropping x's adverts", func() (bool, error) {
		return len(va.LogLines("10.77.0.4", "not a unicast peer")) > 0, nil
	})
	Never(t, 3*time.Second, "a or b following x", func() (bool, error) {
		got, err := Holders(hosts, "eth0", vip4)
		return !(len(got) == 1 && got[0] == "a"), err
	})
	if l := lastTransition(va); !strings.Contains(l, "to=MASTER") {
		t.Errorf("a's last transition = %q, want still MASTER", l)
	}

	// Unicast failover between the peers still works.
	if err := va.Stop(); err != nil {
		t.Errorf("a: %v", err)
	}
	WaitVIP(t, 5*time.Second, hosts, "eth0", vip4, b)
	stopAll(t, hosts, []string{vip4, vipX}, va, vb, vx)
}

func TestIPv6VRRPv3(t *testing.T) {
	t.Parallel()
	in := Instance{Version: 3, AdvertInt: "0.1", VIPs: []string{vip6 + "/64"}}
	a, b, c, va, vb := failoverPair(t, in, vip6)
	hosts := []*netlab.Host{a, b}
	// b hears a's v3 adverts on ff02::12: with a master down interval of
	// about 0.35 s, a b that heard nothing would have taken the VIP well
	// within a second.
	Never(t, time.Second, "VIP on b while a is master", func() (bool, error) { return HasAddr(b, "eth0", vip6) })
	for _, v := range []*Vigil{va, vb} {
		if l := v.LogLines("level=ERROR"); len(l) > 0 {
			t.Errorf("%s logged errors: %q", v.Label, l)
		}
	}
	if err := a.CutWire("eth0", true); err != nil {
		t.Fatal(err)
	}
	WaitVIP(t, 5*time.Second, hosts, "eth0", vip6, b)
	WaitServedBy(t, 10*time.Second, c, vip6, namePort, b)
	if err := a.CutWire("eth0", false); err != nil {
		t.Fatal(err)
	}
	WaitVIP(t, 5*time.Second, hosts, "eth0", vip6, a)
	WaitServedBy(t, 10*time.Second, c, vip6, namePort, a)
	stopAll(t, hosts, []string{vip6}, va, vb)
}

func TestStaleVIPRemovedOnRestart(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		in   Instance
		vip  string
	}{
		{"IPv4", Instance{AdvertInt: "1", VIPs: []string{vip4 + "/24"}}, vip4},
		{"IPv6", Instance{Version: 3, AdvertInt: "0.1", VIPs: []string{vip6 + "/64"}}, vip6},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			hs := lab(t, "a", "b")
			a, b := hs["a"], hs["b"]
			hosts := []*netlab.Host{a, b}
			dirA := t.TempDir()
			ia, ib := tt.in, tt.in
			ia.Priority, ib.Priority = 150, 100

			va := StartVigilIn(t, a, dirA, Conf(nil, ia))
			WaitVIP(t, 10*time.Second, hosts, "eth0", tt.vip, a)
			va.Kill()
			// A crash cleans nothing up: the VIP is still there.
			Never(t, time.Second, "VIP gone from a after SIGKILL", func() (bool, error) {
				ok, err := HasAddr(a, "eth0", tt.vip)
				return !ok, err
			})

			// b takes over meanwhile (both hold the address now), then a
			// comes back with a lower priority: it must remove its leftover
			// and stay BACKUP, leaving the VIP to b alone.
			vb := StartVigil(t, b, Conf(nil, ib))
			Eventually(t, 10*time.Second, "b master", func() (bool, error) { return HasAddr(b, "eth0", tt.vip) })
			ia.Priority = 50
			va2 := StartVigilIn(t, a, dirA, Conf(nil, ia))
			WaitVIP(t, 10*time.Second, hosts, "eth0", tt.vip, b)
			if l := va2.LogLines("left behind", tt.vip); len(l) == 0 {
				t.Errorf("restarted a did not report removing the leftover %s", tt.vip)
			}
			stopAll(t, hosts, []string{tt.vip}, va2, vb)
		})
	}
}

func TestBrokenConfigAddsNothing(t *testing.T) {
	t.Parallel()
	hs := lab(t, "a")
	a := hs["a"]
	before, err := a.Addrs("eth0")
	if err != nil {
		t.Fatal(err)
	}
	// A valid instance with an address to add, and one with a priority
	// out of range: the whole file is refused before anything is touched.
	good := Instance{Name: "GOOD", State: "MASTER", Priority: 255, AdvertInt: "1", VIPs: []string{vip4 + "/24"}}
	bad := Instance{Name: "BAD", VRID: 52, Priority: 300, VIPs: []string{"10.77.0.102/24"}}
	v := StartVigil(t, a, Conf(nil, good, bad))
	if code := v.WaitExit(10 * time.Second); code == 0 {
		t.Fatalf("vigil with a broken config exited 0")
	}
	after, err := a.Addrs("eth0")
	if err != nil {
		t.Fatal(err)
	}
	if len(after) != len(before) {
		t.Errorf("addresses changed: before %v, after %v", before, after)
	}
	if _, err := os.Stat(v.PidFile); err == nil {
		t.Errorf("pid file %s written for a refused config", v.PidFile)
	}
	if l := v.LogLines("priority"); len(l) == 0 {
		t.Errorf("no error about the bad priority in the log:\n%s", v.Log())
	}
	if _, err := os.Stat(filepath.Join(v.StateDir, "addresses.json")); err == nil {
		t.Errorf("state recorded for a refused config")
	}
}
