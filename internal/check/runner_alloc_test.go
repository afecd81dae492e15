package check

import (
	"net/netip"
	"testing"
	"time"

	"vigil/internal/check/rawsyn"
)

// The steady state of TCP_CHECK on raw sockets, driven as the Runner's
// loop drives it (due timers, then the SYN pump) on a fake wire whose
// targets answer within the send: what one check costs in allocations
// once every check has run a few times. The LVS process runs 10,000 of
// them a second, so anything a check allocates is collector work (and,
// under the settled memory limit, more frequent collections). The bound
// is the count this path is built to: allocsPerSYNCheck.
func TestRunnerSYNAllocsPerCheck(t *testing.T) {
	const n = 500
	tm := Timing{DelayLoop: time.Second, DelayBeforeRetry: time.Second, Timeout: 3 * time.Second, Retry: 1}
	plan := &Plan{}
	for i := range n {
		dst := netip.AddrPortFrom(netip.AddrFrom4([4]byte{10, 9, byte(i >> 8), byte(i)}), 80)
		plan.Probes = append(plan.Probes, &Probe{Key: NewProbeKey(dst.String()), Machine: &MachineConfig{Family: FamilyTCP, Timing: tm}, Name: dst.String(),
			Prober: &TCPProber{Conn: Conn{Target: dst}}, Feeds: []Feed{{i, 0}}})
		plan.Servers = append(plan.Servers, &ServerSpec{Config: ServerConfig{Key: allocKey(i), Weight: 1}, Alpha: []bool{false}})
	}
	fake := &rawsyn.Fake{}
	r := NewRunner(plan, RunnerOptions{Jitter: func() float64 { return 0 }})
	r.syn = rawsyn.New(fake)
	now := time.Now()
	for _, ps := range r.probes {
		r.begin(now, ps)
	}
	round := func() {
		now = now.Add(tm.DelayLoop)
		r.expire(now)
		r.pumpSYN(now)
	}
	for range 5 { // start-up: first reports, buffers grown
		round()
	}
	before := fake.Sends()
	const rounds = 20
	allocs := testing.AllocsPerRun(rounds, round)
	if sent := fake.Sends() - before; sent < rounds {
		t.Fatalf("%d sends in %d rounds: the checks did not run", sent, rounds+1)
	}
	for i, ps := range r.probes {
		if !ps.lastResult.OK || !ps.lastAt.Time().Equal(now) {
			t.Fatalf("check %d: last result %+v at %v, want a success at %v", i, ps.lastResult, ps.lastAt, now)
		}
	}
	per := allocs / n
	t.Logf("%.2f allocations per check (%.0f per round of %d)", per, allocs, n)
	if per > allocsPerSYNCheck {
		t.Errorf("%.2f allocations per check (%.0f per round of %d), want at most %d", per, allocs, n, allocsPerSYNCheck)
	}
}

// allocsPerSYNCheck is what a steady TCP_CHECK on raw sockets may
// allocate: nothing. The Machine's actions are values appended to the
// Runner's one slice, the Engine's entries and buffers are reused, and
// the timer heap is a typed slice. (It was 2 while the Run and the Wait
// were boxed in an Action interface: 640 kB of garbage a second for
// 10,000 checks, a collection every 7 s under the settled memory limit.)
const allocsPerSYNCheck = 0

func allocKey(i int) ServerKey {
	return ServerKey{VS: "[10.0.0.1]:tcp:80", RS: netip.AddrPortFrom(netip.AddrFrom4([4]byte{10, 0, byte(i >> 8), byte(i)}), 80)}
}
