package netlab

import (
	"context"
	"net"
	"net/netip"
	"os/exec"
	"runtime"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"
)

// ping sends one echo request, retrying a few times so a slow first
// neighbour resolution does not fail the test.
func ping(t *testing.T, from *Host, to string) {
	t.Helper()
	var err error
	for range 3 {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		_, err = from.Exec(ctx, "ping", "-c", "1", "-W", "2", to)
		cancel()
		if err == nil {
			return
		}
	}
	t.Fatalf("ping %s from %s: %v", to, from, err)
}

// pingFails asserts that one echo request gets no answer.
func pingFails(t *testing.T, from *Host, to string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if _, err := from.Exec(ctx, "ping", "-c", "1", "-W", "1", to); err == nil {
		t.Fatalf("ping %s from %s succeeded, want no connectivity", to, from)
	}
}

func nsList(t *testing.T) string {
	t.Helper()
	out, err := exec.Command("ip", "netns", "list").CombinedOutput()
	if err != nil {
		t.Fatalf("ip netns list: %v: %s", err, out)
	}
	return string(out)
}

func TestPingAndCleanup(t *testing.T) {
	if _, err := exec.LookPath("ping"); err != nil {
		t.Skip("ping not installed")
	}
	var prefix string
	t.Run("lab", func(t *testing.T) {
		l := New(t)
		prefix = l.Prefix()
		a := l.AddHost("a", "10.77.0.2/24", "fd00:77::2/64")
		b := l.AddHost("b", "10.77.0.3/24", "fd00:77::3/64")
		if !strings.Contains(nsList(t), a.Name()) || !strings.Contains(nsList(t), b.Name()) {
			t.Fatalf("namespaces %s, %s not listed:\n%s", a.Name(), b.Name(), nsList(t))
		}
		ping(t, a, "10.77.0.3")
		ping(t, b, "10.77.0.2")
		ping(t, a, "fd00:77::3")
		ping(t, b, "fd00:77::2")
	})
	if prefix == "" {
		t.Skip("lab was skipped")
	}
	if l := nsList(t); strings.Contains(l, prefix) {
		t.Fatalf("namespaces with prefix %s left behind:\n%s", prefix, l)
	}
}

func TestCleanupAfterFailure(t *testing.T) {
	// A subtest that fails half-way through must still leave nothing.
	var prefix string
	t.Run("aborted", func(t *testing.T) {
		l := New(t)
		prefix = l.Prefix()
		l.AddHost("a", "10.78.0.2/24")
		if _, err := l.Hosts()[0].Start("sleep", "60"); err != nil {
			t.Fatal(err)
		}
		// Abort the test half-way with a live process in the namespace,
		// as t.Fatal would; the cleanup path is the same.
		t.SkipNow()
	})
	if prefix == "" {
		t.Skip("lab was skipped")
	}
	if l := nsList(t); strings.Contains(l, prefix) {
		t.Fatalf("namespaces with prefix %s left behind:\n%s", prefix, l)
	}
}

func TestAddrsAndAddLink(t *testing.T) {
	l := New(t)
	a := l.AddHost("a", "10.79.0.2/24", "fd00:79::2/64")
	b := l.AddHost("b", "10.79.0.3/24")
	l.AddLink(a, "eth1", "10.80.0.2/24")
	l.AddLink(b, "eth1", "10.80.0.3/24")

	got, err := a.Addrs("eth0")
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"10.79.0.2/24", "fd00:79::2/64"} {
		if !slices.Contains(got, netip.MustParsePrefix(want)) {
			t.Errorf("eth0 addresses %v lack %s", got, want)
		}
	}
	got, err = a.Addrs("eth1")
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Contains(got, netip.MustParsePrefix("10.80.0.2/24")) {
		t.Errorf("eth1 addresses %v lack 10.80.0.2/24", got)
	}
	if _, err := a.Addrs("nonesuch"); err == nil {
		t.Error("Addrs of a missing interface: no error")
	}
	if _, err := exec.LookPath("ping"); err == nil {
		ping(t, a, "10.80.0.3") // over the second bridge
	}
}

// linkFlags returns the interface flags as seen inside h.
func linkFlags(t *testing.T, h *Host, ifname string) net.Flags {
	t.Helper()
	var flags net.Flags
	err := h.Do(func() error {
		ifi, err := net.InterfaceByName(ifname)
		if err != nil {
			return err
		}
		flags = ifi.Flags
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return flags
}

func TestLinkControls(t *testing.T) {
	if _, err := exec.LookPath("ping"); err != nil {
		t.Skip("ping not installed")
	}
	l := New(t)
	a := l.AddHost("a", "10.81.0.2/24")
	b := l.AddHost("b", "10.81.0.3/24")
	ping(t, a, "10.81.0.3")

	tests := []struct {
		name        string
		cut, heal   func() error
		wantUp      bool // IFF_UP on a's eth0 while broken
		wantRunning bool // IFF_RUNNING (carrier) while broken
	}{
		{"SetLink", func() error { return a.SetLink("eth0", false) }, func() error { return a.SetLink("eth0", true) }, false, false},
		{"CutWire", func() error { return a.CutWire("eth0", true) }, func() error { return a.CutWire("eth0", false) }, true, false},
		{"Isolate", func() error { return a.Isolate("eth0", true) }, func() error { return a.Isolate("eth0", false) }, true, true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if err := tc.cut(); err != nil {
				t.Fatal(err)
			}
			f := linkFlags(t, a, "eth0")
			if got := f&net.FlagUp != 0; got != tc.wantUp {
				t.Errorf("up = %v, want %v (flags %v)", got, tc.wantUp, f)
			}
			if got := f&net.FlagRunning != 0; got != tc.wantRunning {
				t.Errorf("running = %v, want %v (flags %v)", got, tc.wantRunning, f)
			}
			pingFails(t, b, "10.81.0.2")
			if err := tc.heal(); err != nil {
				t.Fatal(err)
			}
			ping(t, b, "10.81.0.2")
		})
	}
	if err := a.CutWire("nonesuch", true); err == nil {
		t.Error("CutWire on an unknown interface: no error")
	}
}

func TestDoSwitchesBack(t *testing.T) {
	l := New(t)
	a := l.AddHost("a", "10.82.0.2/24")
	var inside []net.Interface
	if err := a.Do(func() error {
		var err error
		inside, err = net.Interfaces()
		return err
	}); err != nil {
		t.Fatal(err)
	}
	names := func(ifs []net.Interface) []string {
		var n []string
		for _, i := range ifs {
			n = append(n, i.Name)
		}
		slices.Sort(n)
		return n
	}
	if got := names(inside); !slices.Equal(got, []string{"eth0", "lo"}) {
		t.Errorf("interfaces inside = %v, want [eth0 lo]", got)
	}
	// Run many Do calls; afterwards this goroutine's view must be the
	// test's own namespace, which has no interface named like the lab's.
	for range 20 {
		if err := a.Do(func() error { return nil }); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := net.InterfaceByName("p0"); err == nil {
		t.Error("bridge-side port visible outside the lab")
	}
	wantErr := syscall.EINVAL
	if err := a.Do(func() error { return wantErr }); err != wantErr {
		t.Errorf("Do returned %v, want fn's error %v", err, wantErr)
	}
}

func TestStartStop(t *testing.T) {
	l := New(t)
	a := l.AddHost("a", "10.83.0.2/24")
	p, err := a.Start("sh", "-c", "ip -o addr show dev eth0; exec sleep 60")
	if err != nil {
		t.Fatal(err)
	}
	deadline := time.After(5 * time.Second)
	for !strings.Contains(p.Output(), "10.83.0.2/24") {
		select {
		case <-deadline:
			t.Fatalf("output %q lacks the namespace's address", p.Output())
		case <-time.After(20 * time.Millisecond):
		}
	}
	if err := p.Stop(); err != nil {
		t.Errorf("Stop: %v", err)
	}
	select {
	case <-p.Done():
	default:
		t.Error("Done not closed after Stop")
	}
	if err := p.Signal(syscall.SIGHUP); err == nil {
		t.Error("Signal after exit: no error")
	}

	// A process ignoring SIGTERM is killed after the grace period.
	if testing.Short() {
		return
	}
	q, err := a.Start("sh", "-c", "trap '' TERM; echo ready; while :; do sleep 0.1; done")
	if err != nil {
		t.Fatal(err)
	}
	for !strings.Contains(q.Output(), "ready") {
		select {
		case <-deadline:
			t.Fatal("stubborn process did not start")
		case <-time.After(20 * time.Millisecond):
		}
	}
	start := time.Now()
	if err := q.Stop(); err != nil {
		t.Errorf("Stop of a stubborn process: %v", err)
	}
	if d := time.Since(start); d < stopGrace || d > stopGrace+5*time.Second {
		t.Errorf("stubborn process stopped after %v, want about %v", d, stopGrace)
	}
}

func TestInvalidHostName(t *testing.T) {
	l := New(t)
	ft := &fatalRecorder{TB: t}
	done := make(chan struct{})
	go func() {
		defer close(done)
		l.t = ft
		l.AddHost("Bad Name")
	}()
	<-done
	l.t = t
	if !ft.failed {
		t.Error("AddHost with an invalid name did not fail the test")
	}
}

// fatalRecorder records Fatalf and stops the goroutine like testing does.
type fatalRecorder struct {
	testing.TB
	failed bool
}

func (f *fatalRecorder) Helper() {}

func (f *fatalRecorder) Fatalf(format string, args ...any) {
	f.failed = true
	runtime.Goexit()
}

// TestNameServer: a client gets the server's name over TCP (then again on
// a held connection) and UDP; a check port refuses while off.
func TestNameServer(t *testing.T) {
	l := New(t)
	a := l.AddHost("a", "10.77.0.2/24", "fd00:77::2/64")
	b := l.AddHost("b", "10.77.0.3/24", "fd00:77::3/64")
	b.ServeName(t, 8000)
	sw := b.CheckPort(t, 8080)
	for _, addr := range []string{"10.77.0.3", "fd00:77::3"} {
		to := netip.AddrPortFrom(netip.MustParseAddr(addr), 8000)
		c, err := a.DialName(netip.Addr{}, to, 5*time.Second)
		if err != nil || c.Name != "b" {
			t.Fatalf("DialName %s: %v, %v", to, c, err)
		}
		if n, err := c.Ping(5 * time.Second); err != nil || n != "b" {
			t.Errorf("Ping on a held connection to %s: %q, %v", to, n, err)
		}
		c.Close()
		if n, err := a.AskNameUDP(to, 5*time.Second); err != nil || n != "b" {
			t.Errorf("AskNameUDP %s: %q, %v", to, n, err)
		}
	}
	check := netip.MustParseAddrPort("10.77.0.3:8080")
	dial := func() error {
		return a.Do(func() error {
			c, err := net.DialTimeout("tcp", check.String(), 5*time.Second)
			if err == nil {
				c.Close()
			}
			return err
		})
	}
	if err := dial(); err != nil {
		t.Fatalf("check port on: %v", err)
	}
	if err := sw.Set(false); err != nil {
		t.Fatal(err)
	}
	if err := dial(); err == nil {
		t.Fatal("check port off: the connection was accepted")
	}
	if err := sw.Set(true); err != nil {
		t.Fatal(err)
	}
	if err := dial(); err != nil {
		t.Fatalf("check port on again: %v", err)
	}
}
