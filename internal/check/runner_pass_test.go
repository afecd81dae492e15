package check

import (
	"net/netip"
	"testing"
	"time"

	"vigil/internal/check/rawsyn"
)

// The Runner's passes, driven on a fake clock as its loop drives them
// (nextPass, then the due timers and the SYN pump at that time) with raw
// TCP checks on a fake wire:
//   - quantum: passes lie on the tick grid, at least a tick apart, and no
//     pass comes at or before the previous one (no spinning);
//   - every check runs within timerEarly of its time, earlier or later,
//     and every check due within a pass's window runs in it;
//   - spread: checks whose warmup spreads them over delay_loop stay
//     spread: no pass takes more than twice a tick's share of them;
//   - deadline: a check nobody answers fails after its connect_timeout,
//     and no later than a Sweep interval and a tick after it.
func TestRunnerPasses(t *testing.T) {
	tests := []struct {
		name      string
		n         int
		delayLoop time.Duration
		silent    bool
	}{
		{name: "1,000 checks, delay_loop 1 s", n: 1000, delayLoop: time.Second},
		{name: "1,000 checks, delay_loop off the tick grid (1.007 s)", n: 1000, delayLoop: 1007 * time.Millisecond},
		{name: "300 checks, delay_loop 3 s", n: 300, delayLoop: 3 * time.Second},
		{name: "50 silent targets, connect_timeout 3 s", n: 50, delayLoop: time.Second, silent: true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			timeout := 3 * time.Second
			tm := Timing{DelayLoop: tc.delayLoop, DelayBeforeRetry: tc.delayLoop, Warmup: tc.delayLoop, Timeout: timeout}
			plan := &Plan{}
			for i := range tc.n {
				dst := netip.AddrPortFrom(netip.AddrFrom4([4]byte{10, 9, byte(i >> 8), byte(i)}), 80)
				plan.Probes = append(plan.Probes, &Probe{Key: NewProbeKey(dst.String()), Machine: &MachineConfig{Family: FamilyTCP, Timing: tm}, Name: dst.String(),
					Prober: &TCPProber{Conn: Conn{Target: dst}}, Feeds: []Feed{{i, 0}}})
				plan.Servers = append(plan.Servers, &ServerSpec{Config: ServerConfig{Key: allocKey(i), Weight: 1}, Alpha: []bool{false}})
			}
			fake := &rawsyn.Fake{}
			if tc.silent {
				fake.Behave = func(netip.AddrPort) rawsyn.Behaviour { return rawsyn.Behaviour{Answer: rawsyn.Silent} }
			}
			k := 0
			r := NewRunner(plan, RunnerOptions{Jitter: func() float64 { k++; return float64(k-1) / float64(tc.n) }})
			r.syn = rawsyn.New(fake)
			// A start off the tick grid, as a real one is.
			now := time.Date(2026, 12, 2, 16, 0, 0, 3_456_789, time.UTC)
			for _, ps := range r.probes {
				r.begin(now, ps)
			}
			begun := now
			started := map[*probeState]time.Time{} // when the running check started
			runs, maxPerPass := 0, 0
			var prev time.Time
			end := now.Add(10 * tm.DelayLoop)
			for now.Before(end) {
				at, ok := r.nextPass(now)
				if !ok {
					t.Fatalf("at %v: no next pass with %d checks", now, tc.n)
				}
				if !at.After(now) || (!prev.IsZero() && at.Sub(prev) < timerTick) || !at.Equal(at.Truncate(timerTick)) {
					t.Fatalf("pass at %v after one at %v: want a later tick at least %v on", at, prev, timerTick)
				}
				// The checks due in this pass's window, and when.
				due := map[*probeState]time.Time{}
				for _, e := range r.timers.s {
					if when := r.timers.epoch.Add(e.at); e.kind == timerWait && !when.After(at.Add(timerEarly)) {
						due[e.ps] = when
					}
				}
				sends := fake.Sends()
				r.expire(at)
				r.pumpSYN(at)
				n := 0
				for ps, when := range due {
					if !ps.m.Running() && !ps.lastAt.Time().Equal(at) {
						t.Fatalf("pass at %v: check due at %v did not run", at, when)
					}
					if d := at.Sub(when); d > timerEarly || d < -timerEarly {
						t.Fatalf("pass at %v: check due at %v ran %v from its time, want within %v", at, when, d, timerEarly)
					}
					if ps.m.Running() {
						started[ps] = at
					}
					n++
				}
				if !tc.silent {
					for _, ps := range r.probes {
						if _, ok := due[ps]; ps.lastAt.Time().Equal(at) && !ok {
							t.Fatalf("pass at %v: a check ran that was not due within %v", at, timerEarly)
						}
					}
				}
				if n > 0 && fake.Sends() == sends {
					t.Fatalf("pass at %v: %d checks and no send", at, n)
				}
				runs += n
				if at.Sub(begun) > BootstrapDelay+tm.Warmup { // after the warmup's first round
					maxPerPass = max(maxPerPass, n)
				}
				if r.timers.due(at.Add(timerEarly)) {
					t.Fatalf("pass at %v: an entry due within its window left behind", at)
				}
				if tc.silent {
					for ps, st := range started {
						if ps.m.Running() {
							if at.Sub(st) > timeout+rawsyn.SweepEvery+timerTick {
								t.Fatalf("check started at %v still running at %v: connect_timeout %v passed", st, at, timeout)
							}
							continue
						}
						if took := ps.lastAt.Time().Sub(st); took < timeout || ps.lastResult.OK {
							t.Fatalf("silent target: %+v after %v, want a failure after connect_timeout %v", ps.lastResult, took, timeout)
						}
						delete(started, ps)
					}
				}
				prev, now = at, at
			}
			if want := tc.n * 9; !tc.silent && runs < want {
				t.Errorf("%d checks ran in %v, want at least %d", runs, 10*tm.DelayLoop, want)
			}
			share := tc.n * int(timerTick) / int(tc.delayLoop)
			if !tc.silent && maxPerPass > 2*share+1 {
				t.Errorf("a pass ran %d checks, want at most %d (twice a tick's share of %d checks over %v)", maxPerPass, 2*share+1, tc.n, tc.delayLoop)
			}
			t.Logf("%d checks run, at most %d in one pass (a tick's share: %d)", runs, maxPerPass, share)
		})
	}
}
