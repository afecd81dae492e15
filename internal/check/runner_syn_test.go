package check

import (
	"context"
	"net/netip"
	"strings"
	"testing"
	"testing/synctest"
	"time"

	"vigil/internal/check/rawsyn"
)

// synScenario is one TCP_CHECK target on the raw-socket path and what it
// must come to.
type synScenario struct {
	name   string
	behave rawsyn.Behaviour
	// up is the server's last health; why a word of the check's last
	// error (none when up).
	up  bool
	why string
}

// The Runner on a fake wire: each kind of answer moves the real server as
// a connect would (keepalived's TCP_CHECK: up on a handshake answered
// within connect_timeout, down on a reset or a timeout after the retries),
// a late answer is one that timed out, a TCP check with a source option
// still connects, and all the SYNs due in a tick leave in one Send.
func TestRunnerSYNScenarios(t *testing.T) {
	scenarios := []synScenario{
		{name: "open", behave: rawsyn.Behaviour{Answer: rawsyn.Open}, up: true},
		{name: "open, 50 ms away", behave: rawsyn.Behaviour{Answer: rawsyn.Open, Delay: 50 * time.Millisecond}, up: true},
		{name: "first SYN lost", behave: rawsyn.Behaviour{Answer: rawsyn.Open, Lose: 1}, up: true},
		{name: "closed", behave: rawsyn.Behaviour{Answer: rawsyn.Closed}, why: "connection refused"},
		{name: "silent", behave: rawsyn.Behaviour{Answer: rawsyn.Silent}, why: "deadline exceeded"},
		{name: "answers after connect_timeout", behave: rawsyn.Behaviour{Answer: rawsyn.Open, Delay: 3 * time.Second}, why: "deadline exceeded"},
		{name: "unreachable", behave: rawsyn.Behaviour{Answer: rawsyn.Unreachable}, why: "network is unreachable"},
		{name: "no route", behave: rawsyn.Behaviour{Answer: rawsyn.NoRoute}, why: "network is unreachable"},
	}
	synctest.Test(t, func(t *testing.T) {
		tm := Timing{DelayLoop: 5 * time.Second, DelayBeforeRetry: time.Second, Warmup: 0, Timeout: 2 * time.Second, Retry: 1}
		behave := map[netip.Addr]rawsyn.Behaviour{}
		plan := &Plan{}
		for i, sc := range scenarios {
			dst := netip.AddrPortFrom(netip.AddrFrom4([4]byte{10, 9, 0, byte(i + 1)}), 80)
			behave[dst.Addr()] = sc.behave
			plan.Probes = append(plan.Probes, &Probe{Key: NewProbeKey(sc.name), Machine: &MachineConfig{Family: FamilyTCP, Timing: tm}, Name: sc.name,
				Prober: &TCPProber{Conn: Conn{Target: dst}}, Feeds: []Feed{{i, 0}}})
			plan.Servers = append(plan.Servers, &ServerSpec{Config: ServerConfig{Key: keyN(i + 1), Weight: 1}, Alpha: []bool{false}})
		}
		fake := &rawsyn.Fake{Behave: func(dst netip.AddrPort) rawsyn.Behaviour { return behave[dst.Addr()] }}
		var o outputs
		ctx, cancel := context.WithCancel(context.Background())
		r := NewRunner(plan, RunnerOptions{Output: o.add, Jitter: func() float64 { return 0 },
			SYN: func() (rawsyn.Wire, error) { return fake, nil }})
		done := make(chan struct{})
		go func() { r.Run(ctx); close(done) }()

		// Three rounds: every check has run with its retry.
		time.Sleep(BootstrapDelay + 3*tm.DelayLoop)
		synctest.Wait()
		snap, ok := r.Snapshot(context.Background())
		if !ok {
			t.Fatal("no snapshot")
		}
		for i, sc := range scenarios {
			h := o.health(keyN(i + 1))
			cs := snap.Checks[i]
			if len(h) == 0 || h[len(h)-1] != sc.up || cs.Up != sc.up || !cs.HasRun {
				t.Errorf("%s: health reports %v, check %+v; want up=%v", sc.name, h, cs, sc.up)
			}
			if sc.why != "" && !strings.Contains(cs.LastError, sc.why) {
				t.Errorf("%s: last error %q, want it to say %q", sc.name, cs.LastError, sc.why)
			}
			if sc.up && (len(h) != 1 || !cs.LastOK) {
				t.Errorf("%s: health reports %v (last ok %v), want up throughout", sc.name, h, cs.LastOK)
			}
		}
		// Every check of a round is due in the same tick: one Send per
		// tick with SYNs, not one per check (retransmissions and the
		// retries of failed checks add a few).
		rounds := 4 // the first round at BootstrapDelay, then every DelayLoop
		if n := fake.Sends(); n > 3*rounds+8 {
			t.Errorf("%d Send calls for %d rounds of %d checks: SYNs were not batched", n, rounds, len(scenarios))
		}
		cancel()
		<-done
		if !fake.Closed() {
			t.Error("the wire was not closed when Run returned")
		}
	})
}

// A check with a source option, or a Runner whose wire does not open,
// connects as before: the raw path is never taken for it.
func TestRunnerSYNNotForSourceOptions(t *testing.T) {
	for _, c := range []Conn{
		{Target: netip.MustParseAddrPort("10.9.0.1:80"), BindTo: netip.MustParseAddr("10.9.0.254")},
		{Target: netip.MustParseAddrPort("10.9.0.1:80"), BindPort: 1234},
		{Target: netip.MustParseAddrPort("10.9.0.1:80"), BindIf: "eth0"},
		{Target: netip.MustParseAddrPort("10.9.0.1:80"), Fwmark: 7},
		{Target: netip.MustParseAddrPort("[fe80::1%eth0]:80")},
	} {
		if (&TCPProber{Conn: c}).synTarget() != nil {
			t.Errorf("%+v: raw path taken", c)
		}
	}
	if (&TCPProber{Conn: Conn{Target: netip.MustParseAddrPort("10.9.0.1:80")}, Dialer: dialFunc(nil)}).synTarget() != nil {
		t.Error("a test's Dialer: raw path taken")
	}
	if p := (&TCPProber{Conn: Conn{Target: netip.MustParseAddrPort("[::ffff:10.9.0.1]:80")}}); p.synTarget() == nil || !p.synTarget().Dst.Addr().Is4() {
		t.Error("an IPv4-mapped target: not on the raw path as IPv4")
	}
}
