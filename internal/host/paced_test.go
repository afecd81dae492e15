package host

import (
	"context"
	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"slices"
	"strings"
	"sync"
	"testing"
	"testing/synctest"
	"time"
)

// The Announcer's pacing with its goroutines, in a synctest bubble: time
// only moves when every goroutine waits, so the offsets below are exact.

const ms = time.Millisecond

// conn returns the last socket opened for ifname and proto.
func (fn *fakeNet) conn(t *testing.T, ifname string, proto int) *fakeConn {
	t.Helper()
	for i := len(fn.opened) - 1; i >= 0; i-- {
		if fn.opened[i].ifname == ifname && fn.opened[i].proto == proto {
			return fn.conns[i]
		}
	}
	t.Fatalf("no socket opened on %s for %#x", ifname, proto)
	return nil
}

// offsets returns when each frame on c was written, relative to t0.
func offsets(c *fakeConn, t0 time.Time) []time.Duration {
	c.mu.Lock()
	defer c.mu.Unlock()
	var out []time.Duration
	for _, at := range c.at {
		out = append(out, at.Sub(t0))
	}
	return out
}

// arpTargets returns the addresses announced by the ARP frames on c.
func arpTargets(t *testing.T, c *fakeConn) []string {
	t.Helper()
	c.mu.Lock()
	defer c.mu.Unlock()
	var out []string
	for _, f := range c.frames {
		p, err := ParseARP(f)
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, p.SenderIP.String())
	}
	return out
}

func v4s(ns ...int) []netip.Addr {
	var out []netip.Addr
	for _, n := range ns {
		out = append(out, netip.AddrFrom4([4]byte{10, 0, byte(n >> 8), byte(n)}))
	}
	return out
}

func durs(ds ...time.Duration) []time.Duration { return ds }

// pacedNet is a fake network with eth0 (index 7), eth1..eth3 and vrrp.1, a
// macvlan on eth0.
func pacedNet() *fakeNet {
	return &fakeNet{
		index: 7, mac: testMAC,
		others: map[string]int{"eth1": 8, "eth2": 9, "eth3": 10, "vrrp.1": 11},
		base:   map[string]string{"vrrp.1": "eth0"},
	}
}

func mustAnnounce(t *testing.T, a *Announcer, ifname string, addrs []netip.Addr) {
	t.Helper()
	start := time.Now()
	if err := a.Announce(ifname, addrs); err != nil {
		t.Fatal(err)
	}
	if d := time.Since(start); d != 0 {
		t.Fatalf("Announce on %s waited %v", ifname, d)
	}
}

func TestAnnouncerPacing(t *testing.T) {
	cases := []struct {
		name string
		run  func(t *testing.T, a *Announcer, fn *fakeNet, t0 time.Time)
	}{
		{"ARPs an interval apart, NAs unpaced", func(t *testing.T, a *Announcer, fn *fakeNet, t0 time.Time) {
			a.SetDefaultPacing(100*ms, 0)
			mustAnnounce(t, a, "eth0", append(v4s(1, 2, 3), netip.MustParseAddr("fd00::1"), netip.MustParseAddr("fd00::2")))
			synctest.Wait()
			arp, na := fn.conn(t, "eth0", etherTypeARP), fn.conn(t, "eth0", etherTypeIPv6)
			if got := offsets(arp, t0); !slices.Equal(got, durs(0)) {
				t.Errorf("before any time passed, ARPs at %v; want only the first", got)
			}
			time.Sleep(time.Second)
			if got := offsets(arp, t0); !slices.Equal(got, durs(0, 100*ms, 200*ms)) {
				t.Errorf("ARPs at %v", got)
			}
			if got := arpTargets(t, arp); !slices.Equal(got, []string{"10.0.0.1", "10.0.0.2", "10.0.0.3"}) {
				t.Errorf("ARP order %v", got)
			}
			if got := offsets(na, t0); !slices.Equal(got, durs(0, 0)) {
				t.Errorf("NAs at %v, want both at once", got)
			}
		}},
		{"NAs paced on their own interval", func(t *testing.T, a *Announcer, fn *fakeNet, t0 time.Time) {
			a.SetPacing("eth0", 100*ms, 30*ms)
			mustAnnounce(t, a, "eth0", []netip.Addr{netip.MustParseAddr("fd00::1"), netip.MustParseAddr("10.0.0.1"),
				netip.MustParseAddr("fd00::2"), netip.MustParseAddr("10.0.0.2"), netip.MustParseAddr("fd00::3")})
			time.Sleep(time.Second)
			if got := offsets(fn.conn(t, "eth0", etherTypeIPv6), t0); !slices.Equal(got, durs(0, 30*ms, 60*ms)) {
				t.Errorf("NAs at %v", got)
			}
			if got := offsets(fn.conn(t, "eth0", etherTypeARP), t0); !slices.Equal(got, durs(0, 100*ms)) {
				t.Errorf("ARPs at %v", got)
			}
		}},
		{"paced across calls; repeats of a waiting address collapse", func(t *testing.T, a *Announcer, fn *fakeNet, t0 time.Time) {
			a.SetDefaultPacing(100*ms, 0)
			// Two instances on eth0, and garp_master_repeat 3.
			for range 3 {
				mustAnnounce(t, a, "eth0", v4s(1, 2))
				mustAnnounce(t, a, "eth0", v4s(3))
			}
			time.Sleep(time.Second)
			arp := fn.conn(t, "eth0", etherTypeARP)
			if got := offsets(arp, t0); !slices.Equal(got, durs(0, 100*ms, 200*ms, 300*ms)) {
				t.Errorf("ARPs at %v", got)
			}
			if got := arpTargets(t, arp); !slices.Equal(got, []string{"10.0.0.1", "10.0.0.2", "10.0.0.3", "10.0.0.1"}) {
				t.Errorf("ARPs for %v", got)
			}
		}},
		{"the default paces each interface on its own", func(t *testing.T, a *Announcer, fn *fakeNet, t0 time.Time) {
			a.SetDefaultPacing(100*ms, 0)
			mustAnnounce(t, a, "eth0", v4s(1, 2))
			mustAnnounce(t, a, "eth1", v4s(3, 4))
			time.Sleep(time.Second)
			for _, dev := range []string{"eth0", "eth1"} {
				if got := offsets(fn.conn(t, dev, etherTypeARP), t0); !slices.Equal(got, durs(0, 100*ms)) {
					t.Errorf("%s: ARPs at %v", dev, got)
				}
			}
		}},
		{"a group shares one pacing across its interfaces", func(t *testing.T, a *Announcer, fn *fakeNet, t0 time.Time) {
			a.SetGroupPacing(PacingGroup{Interfaces: []string{"eth0", "eth1"}, GARP: 100 * ms})
			mustAnnounce(t, a, "eth0", v4s(1))
			mustAnnounce(t, a, "eth1", v4s(2))
			mustAnnounce(t, a, "eth0", v4s(3))
			time.Sleep(time.Second)
			if got := offsets(fn.conn(t, "eth0", etherTypeARP), t0); !slices.Equal(got, durs(0, 200*ms)) {
				t.Errorf("eth0: ARPs at %v", got)
			}
			if got := offsets(fn.conn(t, "eth1", etherTypeARP), t0); !slices.Equal(got, durs(100*ms)) {
				t.Errorf("eth1: ARPs at %v", got)
			}
		}},
		{"a VMAC is paced with its lower interface", func(t *testing.T, a *Announcer, fn *fakeNet, t0 time.Time) {
			a.SetPacing("eth0", 100*ms, 0)
			mustAnnounce(t, a, "eth0", v4s(1))
			vmac := net.HardwareAddr{0x00, 0x00, 0x5e, 0x00, 0x01, 0x01}
			if err := a.AnnounceFrom("vrrp.1", vmac, v4s(2)); err != nil {
				t.Fatal(err)
			}
			time.Sleep(time.Second)
			c := fn.conn(t, "vrrp.1", etherTypeARP)
			if got := offsets(c, t0); !slices.Equal(got, durs(100*ms)) {
				t.Errorf("vrrp.1: ARPs at %v", got)
			}
			if p, err := ParseARP(c.frames[0]); err != nil || p.SenderMAC.String() != vmac.String() {
				t.Errorf("queued VMAC announcement %+v, %v", p, err)
			}
		}},
		{"an unpaced interface sends before Announce returns, without a goroutine", func(t *testing.T, a *Announcer, fn *fakeNet, t0 time.Time) {
			a.SetPacing("eth1", 100*ms, 0)
			mustAnnounce(t, a, "eth0", v4s(1, 2, 3))
			if got := offsets(fn.conn(t, "eth0", etherTypeARP), t0); !slices.Equal(got, durs(0, 0, 0)) {
				t.Errorf("eth0: ARPs at %v", got)
			}
			a.pmu.Lock()
			n := len(a.lanes)
			a.pmu.Unlock()
			if n != 1 {
				t.Errorf("%d lanes, want only eth1's", n)
			}
		}},
		{"removing the pacing sends what waits at once", func(t *testing.T, a *Announcer, fn *fakeNet, t0 time.Time) {
			a.SetPacing("eth0", time.Second, 0)
			mustAnnounce(t, a, "eth0", v4s(1, 2, 3))
			synctest.Wait()
			a.SetPacing("eth0", 0, 0)
			synctest.Wait()
			arp := fn.conn(t, "eth0", etherTypeARP)
			if got := offsets(arp, t0); !slices.Equal(got, durs(0, 0, 0)) {
				t.Errorf("ARPs at %v, want the waiting ones sent on removal", got)
			}
			mustAnnounce(t, a, "eth0", v4s(4, 5))
			if got := offsets(arp, t0); len(got) != 5 {
				t.Errorf("after removal, %d ARPs sent at once, want 5 in all", len(got))
			}
		}},
		{"changing an interval keeps the queue and the last send", func(t *testing.T, a *Announcer, fn *fakeNet, t0 time.Time) {
			a.SetPacing("eth0", 100*ms, 0)
			mustAnnounce(t, a, "eth0", v4s(1, 2, 3))
			time.Sleep(50 * ms)
			a.SetPacing("eth0", 300*ms, 0)
			time.Sleep(time.Second)
			if got := offsets(fn.conn(t, "eth0", etherTypeARP), t0); !slices.Equal(got, durs(0, 300*ms, 600*ms)) {
				t.Errorf("ARPs at %v", got)
			}
		}},
		{"ConfigurePacing: first group wins, a group without intervals falls back to the default", func(t *testing.T, a *Announcer, fn *fakeNet, t0 time.Time) {
			groups := []PacingGroup{
				{Interfaces: []string{"eth0", "eth1"}, GARP: 100 * ms},
				{Interfaces: []string{"eth1", "eth2"}, GARP: 200 * ms},
				{Interfaces: []string{"eth3"}},
			}
			a.ConfigurePacing(50*ms, 0, groups)
			mustAnnounce(t, a, "eth0", v4s(1, 2))
			mustAnnounce(t, a, "eth1", v4s(3))
			mustAnnounce(t, a, "eth2", v4s(4, 5))
			mustAnnounce(t, a, "eth3", v4s(6, 7))
			time.Sleep(30 * ms)
			a.ConfigurePacing(50*ms, 0, groups) // a reload with no change
			time.Sleep(time.Second)
			want := map[string][]time.Duration{
				"eth0": durs(0, 100*ms), "eth1": durs(200 * ms), "eth2": durs(0, 200*ms), "eth3": durs(0, 50*ms),
			}
			for dev, w := range want {
				if got := offsets(fn.conn(t, dev, etherTypeARP), t0); !slices.Equal(got, w) {
					t.Errorf("%s: ARPs at %v, want %v", dev, got, w)
				}
			}
		}},
		{"Close drops what waits; later announcements go at once", func(t *testing.T, a *Announcer, fn *fakeNet, t0 time.Time) {
			a.SetDefaultPacing(time.Second, 0)
			mustAnnounce(t, a, "eth0", v4s(1, 2, 3))
			synctest.Wait()
			old := fn.conn(t, "eth0", etherTypeARP)
			a.Close()
			time.Sleep(5 * time.Second)
			if got := offsets(old, t0); !slices.Equal(got, durs(0)) {
				t.Errorf("ARPs at %v, want the first only", got)
			}
			mustAnnounce(t, a, "eth0", v4s(4, 5))
			if got := offsets(fn.conn(t, "eth0", etherTypeARP), t0); len(got) != 2 {
				t.Errorf("after Close, ARPs at %v, want two at once", got)
			}
		}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				fn := pacedNet()
				a := newTestAnnouncer(fn)
				defer a.Close()
				tc.run(t, a, fn, time.Now())
			})
		})
	}
}

// recorder is a slog handler keeping the messages of warnings.
type recorder struct {
	mu   sync.Mutex
	msgs []string
}

func (r *recorder) Enabled(context.Context, slog.Level) bool { return true }
func (r *recorder) Handle(_ context.Context, rec slog.Record) error {
	if rec.Level >= slog.LevelWarn {
		r.mu.Lock()
		r.msgs = append(r.msgs, rec.Message)
		r.mu.Unlock()
	}
	return nil
}
func (r *recorder) WithAttrs([]slog.Attr) slog.Handler { return r }
func (r *recorder) WithGroup(string) slog.Handler      { return r }

func (r *recorder) count(substr string) int {
	r.mu.Lock()
	defer r.mu.Unlock()
	n := 0
	for _, m := range r.msgs {
		if strings.Contains(m, substr) {
			n++
		}
	}
	return n
}

func TestAnnouncerPacingOverflow(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		fn := pacedNet()
		a := newTestAnnouncer(fn)
		rec := &recorder{}
		a.log = slog.New(rec)
		defer a.Close()
		a.SetDefaultPacing(time.Second, 0)
		t0 := time.Now()
		mustAnnounce(t, a, "eth0", v4s(0)) // sent at once
		many := make([]int, paceQueueLimit+6)
		for i := range many {
			many[i] = i + 1
		}
		mustAnnounce(t, a, "eth0", v4s(many...))
		if got := a.Stats().Dropped; got != 6 {
			t.Errorf("dropped %d, want 6", got)
		}
		mustAnnounce(t, a, "eth0", v4s(5000, 5001))
		if got := a.Stats().Dropped; got != 8 {
			t.Errorf("dropped %d, want 8", got)
		}
		if n := rec.count("queue full"); n != 1 {
			t.Errorf("%d queue-full warnings, want one per episode", n)
		}
		// Once the queue has drained, a new overflow is reported again.
		time.Sleep(time.Duration(paceQueueLimit+1) * time.Second)
		arp := fn.conn(t, "eth0", etherTypeARP)
		if got := offsets(arp, t0); len(got) != paceQueueLimit+1 || got[len(got)-1] != time.Duration(paceQueueLimit)*time.Second {
			t.Fatalf("%d ARPs, the last at %v", len(got), got[len(got)-1])
		}
		mustAnnounce(t, a, "eth0", v4s(many...))
		if n := rec.count("queue full"); n != 2 {
			t.Errorf("%d queue-full warnings after a second episode, want 2", n)
		}
	})
}

func TestAnnouncerPacedSendError(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		fn := pacedNet()
		a := newTestAnnouncer(fn)
		defer a.Close()
		a.SetDefaultPacing(100*ms, 0)
		mustAnnounce(t, a, "eth0", v4s(1, 2))
		c := fn.conn(t, "eth0", etherTypeARP)
		c.mu.Lock()
		c.writeErr = fmt.Errorf("link went away")
		c.mu.Unlock()
		time.Sleep(time.Second)
		if got := a.Stats().SendErrors; got != 1 {
			t.Errorf("send errors %d, want 1", got)
		}
		// The failed socket was dropped; the next announcement opens one.
		time.Sleep(time.Second)
		mustAnnounce(t, a, "eth0", v4s(3))
		if nc := fn.conn(t, "eth0", etherTypeARP); nc == c || len(offsets(nc, time.Now())) != 1 {
			t.Error("no new socket after a failed paced send")
		}
	})
}

func TestAnnouncerPacingOf(t *testing.T) {
	a := newTestAnnouncer(pacedNet())
	defer a.Close()
	a.ConfigurePacing(50*ms, 10*ms, []PacingGroup{
		{Interfaces: []string{"eth0", "eth1"}, GARP: 100 * ms},
		{Interfaces: []string{"eth1", "eth2", "eth2"}, GARP: 200 * ms},
		{Interfaces: []string{"eth3"}},
	})
	def := func(n string) PacingGroup { return PacingGroup{Interfaces: []string{n}, GARP: 50 * ms, GNA: 10 * ms} }
	check := func(when string, want map[string]PacingGroup) {
		t.Helper()
		for n, w := range want {
			got := a.PacingOf(n)
			if !slices.Equal(got.Interfaces, w.Interfaces) || got.GARP != w.GARP || got.GNA != w.GNA {
				t.Errorf("%s: PacingOf(%s) = %+v, want %+v", when, n, got, w)
			}
		}
	}
	check("configured", map[string]PacingGroup{
		"eth0": {Interfaces: []string{"eth0", "eth1"}, GARP: 100 * ms},
		"eth1": {Interfaces: []string{"eth0", "eth1"}, GARP: 100 * ms},
		"eth2": {Interfaces: []string{"eth2"}, GARP: 200 * ms},
		"eth3": def("eth3"),
		"eth9": def("eth9"),
	})
	a.SetPacing("eth1", 0, 0)
	a.SetPacing("eth3", 0, 30*ms)
	a.SetDefaultPacing(0, 0)
	check("after the setters", map[string]PacingGroup{
		"eth0": {Interfaces: []string{"eth0"}, GARP: 100 * ms},
		"eth1": {Interfaces: []string{"eth1"}},
		"eth3": {Interfaces: []string{"eth3"}, GNA: 30 * ms},
	})
}
