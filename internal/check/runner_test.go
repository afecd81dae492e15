package check

import (
	"context"
	"net/netip"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"testing/synctest"
	"time"

	"vigil/internal/config"
)

// probeFunc is a Prober made of a function.
type probeFunc func(ctx context.Context, step int) Result

func (f probeFunc) Probe(ctx context.Context, step int) Result { return f(ctx, step) }

// switchProber passes while healthy is set and records when it ran.
type switchProber struct {
	healthy atomic.Bool
	mu      sync.Mutex
	calls   []time.Time
}

func (p *switchProber) Probe(ctx context.Context, _ int) Result {
	p.mu.Lock()
	p.calls = append(p.calls, time.Now())
	p.mu.Unlock()
	if p.healthy.Load() {
		return Result{OK: true}
	}
	return Result{Why: "down"}
}

// outputs collects a Runner's outputs.
type outputs struct {
	mu  sync.Mutex
	out []Output
}

func (o *outputs) add(x Output) { o.mu.Lock(); o.out = append(o.out, x); o.mu.Unlock() }
func (o *outputs) health(key ServerKey) []bool {
	o.mu.Lock()
	defer o.mu.Unlock()
	var states []bool
	for _, x := range o.out {
		if h, ok := x.(Health); ok && h.Server == key {
			states = append(states, h.Up)
		}
	}
	return states
}

func keyN(n int) ServerKey {
	return ServerKey{VS: "[10.0.0.1]:tcp:80", RS: netip.AddrPortFrom(netip.AddrFrom4([4]byte{10, 0, 0, byte(n)}), 80)}
}

// The down bound keepalived's semantics give, and which the Runner keeps:
// a server that dies is down within delay_loop + (retry+1) × timeout +
// retry × delay_before_retry, and up again within delay_loop + timeout of
// its recovery.
func TestRunnerDownAndUpWithinBound(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		tm := Timing{DelayLoop: 5 * time.Second, DelayBeforeRetry: time.Second, Warmup: 5 * time.Second, Timeout: 2 * time.Second, Retry: 2}
		p := &switchProber{}
		p.healthy.Store(true)
		var o outputs
		plan := &Plan{
			Probes:  []*Probe{{Key: NewProbeKey("tcp"), Machine: &MachineConfig{Family: FamilyTCP, Timing: tm}, Name: "tcp", Prober: p, Feeds: []Feed{{0, 0}}}},
			Servers: []*ServerSpec{{Config: ServerConfig{Key: keyN(2), Weight: 1}, Alpha: []bool{false}}},
		}
		ctx, cancel := context.WithCancel(context.Background())
		done := make(chan struct{})
		r := NewRunner(plan, RunnerOptions{Output: o.add, Jitter: func() float64 { return 0.5 }})
		go func() {
			r.Run(ctx)
			close(done)
		}()

		time.Sleep(time.Minute) // fake time: a minute of healthy checks
		synctest.Wait()
		if got := o.health(keyN(2)); len(got) != 1 || !got[0] {
			t.Fatalf("healthy server: health reports %v, want only the initial up", got)
		}
		died := time.Now()
		p.healthy.Store(false)
		bound := tm.DelayLoop + time.Duration(tm.Retry+1)*tm.Timeout + time.Duration(tm.Retry)*tm.DelayBeforeRetry
		time.Sleep(bound)
		synctest.Wait()
		if got := o.health(keyN(2)); len(got) != 2 || got[1] {
			t.Fatalf("%v after the server died: health reports %v, want down", time.Since(died), got)
		}
		p.healthy.Store(true)
		time.Sleep(tm.DelayLoop + tm.Timeout)
		synctest.Wait()
		if got := o.health(keyN(2)); len(got) != 3 || !got[2] {
			t.Fatalf("after recovery: health reports %v, want up again", got)
		}
		snap, ok := r.Snapshot(context.Background())
		if !ok || len(snap.Checks) != 1 || !snap.Checks[0].Up || !snap.Checks[0].HasRun || !snap.Checks[0].LastOK ||
			len(snap.Checks[0].Servers) != 1 || len(snap.Servers) != 1 || !snap.Servers[0].Up {
			t.Errorf("snapshot %+v", snap)
		}
		cancel()
		<-done
		// The first check came after the bootstrap delay and half the warmup.
		if first := p.calls[0].Sub(died.Add(-time.Minute)); first != BootstrapDelay+tm.Warmup/2 {
			t.Errorf("first check %v after start, want %v", first, BootstrapDelay+tm.Warmup/2)
		}
	})
}

// One check feeding two virtual servers' real servers runs once per round
// and moves both.
func TestRunnerSharedProbe(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		tm := Timing{DelayLoop: 5 * time.Second, DelayBeforeRetry: time.Second, Timeout: time.Second}
		p := &switchProber{}
		var o outputs
		plan := &Plan{
			Probes: []*Probe{{Key: NewProbeKey("shared"), Machine: &MachineConfig{Family: FamilyPlain, Timing: tm}, Prober: p, Feeds: []Feed{{0, 0}, {1, 0}}}},
			Servers: []*ServerSpec{
				{Config: ServerConfig{Key: keyN(2), Weight: 1}, Alpha: []bool{false}},
				{Config: ServerConfig{Key: ServerKey{VS: "FWM 1", RS: keyN(2).RS}, Weight: 1}, Alpha: []bool{false}},
			},
		}
		ctx, cancel := context.WithCancel(context.Background())
		done := make(chan struct{})
		go func() { NewRunner(plan, RunnerOptions{Output: o.add}).Run(ctx); close(done) }()
		time.Sleep(30 * time.Second)
		synctest.Wait()
		cancel()
		<-done
		for _, k := range []ServerKey{keyN(2), {VS: "FWM 1", RS: keyN(2).RS}} {
			if got := o.health(k); len(got) != 2 || got[1] {
				t.Errorf("%v: health %v, want initial up then down", k, got)
			}
		}
		// 30 s at delay_loop 5 s, the first within warmup: at most 7 runs
		// of the one check, not twice that.
		if n := len(p.calls); n < 5 || n > 7 {
			t.Errorf("%d checks in 30 s, want one per delay_loop", n)
		}
	})
}

// A check that never returns (it ignores its context) fails at its
// deadline plus Grace, is not started a second time while stuck, and
// never delays another checker.
func TestRunnerHungCheck(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		tm := Timing{DelayLoop: 5 * time.Second, DelayBeforeRetry: time.Second, Timeout: 2 * time.Second}
		release := make(chan struct{})
		var hungCalls atomic.Int32
		hung := probeFunc(func(ctx context.Context, _ int) Result {
			hungCalls.Add(1)
			<-release
			return Result{OK: true}
		})
		good := &switchProber{}
		good.healthy.Store(true)
		var o outputs
		plan := &Plan{
			Probes: []*Probe{
				{Key: NewProbeKey("hung"), Machine: &MachineConfig{Family: FamilyPlain, Timing: tm}, Prober: hung, Feeds: []Feed{{0, 0}}},
				{Key: NewProbeKey("good"), Machine: &MachineConfig{Family: FamilyPlain, Timing: tm}, Prober: good, Feeds: []Feed{{1, 0}}},
			},
			Servers: []*ServerSpec{
				{Config: ServerConfig{Key: keyN(2), Weight: 1}, Alpha: []bool{false}},
				{Config: ServerConfig{Key: keyN(3), Weight: 1}, Alpha: []bool{false}},
			},
		}
		ctx, cancel := context.WithCancel(context.Background())
		done := make(chan struct{})
		start := time.Now()
		go func() {
			NewRunner(plan, RunnerOptions{Output: o.add, Jitter: func() float64 { return 0 }}).Run(ctx)
			close(done)
		}()
		time.Sleep(BootstrapDelay + tm.Timeout + Grace)
		synctest.Wait()
		if got := o.health(keyN(2)); len(got) != 2 || got[1] {
			t.Fatalf("hung check after %v: health %v, want down", time.Since(start), got)
		}
		time.Sleep(time.Minute)
		synctest.Wait()
		if n := hungCalls.Load(); n != 1 {
			t.Errorf("the stuck check was started %d times, want once", n)
		}
		good.mu.Lock()
		n := len(good.calls)
		good.mu.Unlock()
		if n < 12 {
			t.Errorf("the other checker ran %d times in a minute and a bit, want one per delay_loop", n)
		}
		close(release)
		cancel()
		<-done
	})
}

// Checks are spread over their warmup at start: no thundering herd.
func TestRunnerSpreadsStart(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		tm := Timing{DelayLoop: 10 * time.Second, DelayBeforeRetry: time.Second, Warmup: 10 * time.Second, Timeout: time.Second}
		var mu sync.Mutex
		var firsts []time.Duration
		start := time.Now()
		plan := &Plan{}
		const n = 50
		for i := 0; i < n; i++ {
			seen := false
			plan.Probes = append(plan.Probes, &Probe{Key: NewProbeKey(i), Machine: &MachineConfig{Timing: tm}, Prober: probeFunc(func(context.Context, int) Result {
				mu.Lock()
				if !seen {
					seen = true
					firsts = append(firsts, time.Since(start))
				}
				mu.Unlock()
				return Result{OK: true}
			})})
		}
		ctx, cancel := context.WithCancel(context.Background())
		done := make(chan struct{})
		go func() { NewRunner(plan, RunnerOptions{}).Run(ctx); close(done) }()
		time.Sleep(BootstrapDelay + tm.Warmup + time.Second)
		synctest.Wait()
		cancel()
		<-done
		buckets := map[time.Duration]int{}
		for _, f := range firsts {
			if f < BootstrapDelay || f > BootstrapDelay+tm.Warmup {
				t.Errorf("first check at %v, outside bootstrap + warmup", f)
			}
			buckets[f.Truncate(time.Second)]++
		}
		if len(firsts) != n {
			t.Fatalf("%d checkers ran, want %d", len(firsts), n)
		}
		for b, c := range buckets {
			if c > n/2 {
				t.Errorf("%d of %d first checks in the second at %v: not spread", c, n, b)
			}
		}
	})
}

// A reload that keeps a check keeps its state: no flap, no new first
// check; a changed check starts over; a removed one stops.
func TestRunnerReplaceKeepsUnchangedChecks(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		tm := Timing{DelayLoop: 5 * time.Second, DelayBeforeRetry: time.Second, Warmup: 5 * time.Second, Timeout: time.Second}
		kept, changed, removed := &switchProber{}, &switchProber{}, &switchProber{}
		kept.healthy.Store(true)
		// changed and removed stay failing: their servers are down.
		server := func(n int) *ServerSpec {
			return &ServerSpec{Config: ServerConfig{Key: keyN(n), Weight: 1}, Alpha: []bool{false}}
		}
		plan1 := &Plan{
			Probes: []*Probe{
				{Key: NewProbeKey("kept"), Machine: &MachineConfig{Timing: tm}, Prober: kept, Feeds: []Feed{{0, 0}}},
				{Key: NewProbeKey("changed-v1"), Machine: &MachineConfig{Timing: tm}, Prober: changed, Feeds: []Feed{{1, 0}}},
				{Key: NewProbeKey("removed"), Machine: &MachineConfig{Timing: tm}, Prober: removed, Feeds: []Feed{{2, 0}}},
			},
			Servers: []*ServerSpec{server(2), server(3), server(4)},
		}
		var o outputs
		ctx, cancel := context.WithCancel(context.Background())
		done := make(chan struct{})
		r := NewRunner(plan1, RunnerOptions{Output: o.add})
		go func() { r.Run(ctx); close(done) }()
		time.Sleep(time.Minute)
		synctest.Wait()
		if got := o.health(keyN(3)); len(got) != 2 || got[1] {
			t.Fatalf("server 3 before reload: %v, want down", got)
		}

		changed2 := &switchProber{}
		changed2.healthy.Store(true)
		plan2 := &Plan{
			Probes: []*Probe{
				{Key: NewProbeKey("kept"), Machine: &MachineConfig{Timing: tm}, Prober: &switchProber{}, Feeds: []Feed{{0, 0}}},
				{Key: NewProbeKey("changed-v2"), Machine: &MachineConfig{Timing: tm}, Prober: changed2, Feeds: []Feed{{1, 0}}},
			},
			Servers: []*ServerSpec{server(2), server(3)},
		}
		kept.mu.Lock()
		keptBefore := len(kept.calls)
		kept.mu.Unlock()
		removed.mu.Lock()
		removedBefore := len(removed.calls)
		removed.mu.Unlock()
		snap1, _ := r.Snapshot(ctx)
		r.Replace(ctx, plan2)
		snap2, _ := r.Snapshot(ctx)
		time.Sleep(time.Minute)
		synctest.Wait()
		cancel()
		<-done

		// The status tells a kept check from a restarted one: the kept
		// one keeps its start number and time, the changed one has the
		// next number of the sequence (three checks started before).
		starts := func(s Snapshot) map[string]CheckStatus {
			m := map[string]CheckStatus{}
			for i, c := range s.Checks {
				m[[]string{"kept", "changed", "removed"}[min(i, 2)]] = c
			}
			return m
		}
		b, a := starts(snap1), starts(snap2)
		if len(snap1.Checks) != 3 || len(snap2.Checks) != 2 {
			t.Fatalf("snapshots: %d checks before, %d after; want 3 and 2", len(snap1.Checks), len(snap2.Checks))
		}
		if a["kept"].Start != b["kept"].Start || !a["kept"].StartedAt.Equal(b["kept"].StartedAt) || a["kept"].Start == 0 {
			t.Errorf("kept check: start %d at %v before, %d at %v after; want it unchanged", b["kept"].Start, b["kept"].StartedAt, a["kept"].Start, a["kept"].StartedAt)
		}
		if a["changed"].Start != 4 || !a["changed"].StartedAt.After(b["changed"].StartedAt) {
			t.Errorf("changed check: start %d at %v after the reload; want 4, later than %v", a["changed"].Start, a["changed"].StartedAt, b["changed"].StartedAt)
		}
		if !a["kept"].Up || !a["kept"].HasRun {
			t.Errorf("kept check lost its state across the reload: %+v", a["kept"])
		}

		if got := o.health(keyN(2)); len(got) != 1 {
			t.Errorf("unchanged server reported %v across the reload, want only its initial up", got)
		}
		// The changed check starts over: server 3 is reported with the
		// initial state of the new check (up), then stays up.
		if got := o.health(keyN(3)); len(got) != 3 || !got[2] {
			t.Errorf("server 3 across the reload: %v, want down then up", got)
		}
		kept.mu.Lock()
		if len(kept.calls) <= keptBefore {
			t.Errorf("the kept check stopped running")
		}
		kept.mu.Unlock()
		removed.mu.Lock()
		if len(removed.calls) != removedBefore {
			t.Errorf("the removed check ran %d more times", len(removed.calls)-removedBefore)
		}
		removed.mu.Unlock()
	})
}

func TestRunnerInitNotifies(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		upS := &config.Script{Command: "/bin/up"}
		plan := &Plan{InitNotifies: true, Servers: []*ServerSpec{
			{Config: ServerConfig{Key: keyN(2), Weight: 1, NotifyUp: upS}, Alpha: []bool{false}},
			{Config: ServerConfig{Key: keyN(3), Weight: 1, NotifyUp: upS}, Alpha: []bool{true}},
		}}
		var o outputs
		ctx, cancel := context.WithCancel(context.Background())
		done := make(chan struct{})
		go func() { NewRunner(plan, RunnerOptions{Output: o.add}).Run(ctx); close(done) }()
		synctest.Wait()
		cancel()
		<-done
		var notified []ServerKey
		for _, x := range o.out {
			if n, ok := x.(Notify); ok && n.Up && n.Script == upS {
				notified = append(notified, n.Server)
			}
		}
		if len(notified) != 1 || notified[0] != keyN(2) {
			t.Errorf("rs_init_notifies: notify_up for %v, want only the server that starts up", notified)
		}
	})
}

// A check added (or changed) by a reload starts as keepalived's reload
// starts it: alpha holds it down only where the real server has a failed
// check or is down with none that has run. A healthy server does not flap
// down for it, and gets no notification; a failing one stays down.
func TestRunnerReplaceAlphaOnHealthyServer(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		tm := Timing{DelayLoop: 5 * time.Second, DelayBeforeRetry: time.Second, Warmup: 5 * time.Second, Timeout: time.Second}
		good, bad := &switchProber{}, &switchProber{}
		good.healthy.Store(true)
		upS, downS := &config.Script{Command: "/bin/up"}, &config.Script{Command: "/bin/down"}
		server := func(n, checks int) *ServerSpec {
			return &ServerSpec{Config: ServerConfig{Key: keyN(n), Weight: 1, NotifyUp: upS, NotifyDown: downS}, Alpha: make([]bool, checks)}
		}
		plan1 := &Plan{
			Probes: []*Probe{
				{Key: NewProbeKey("good"), Machine: &MachineConfig{Timing: tm}, Prober: good, Feeds: []Feed{{0, 0}}},
				{Key: NewProbeKey("bad"), Machine: &MachineConfig{Timing: tm}, Prober: bad, Feeds: []Feed{{1, 0}}},
			},
			Servers: []*ServerSpec{server(2, 1), server(3, 1)},
		}
		var o outputs
		ctx, cancel := context.WithCancel(context.Background())
		done := make(chan struct{})
		r := NewRunner(plan1, RunnerOptions{Output: o.add})
		go func() { r.Run(ctx); close(done) }()
		time.Sleep(time.Minute)
		synctest.Wait()
		o.mu.Lock()
		before := len(o.out)
		o.mu.Unlock()

		// Each server gets a second check, with alpha, that passes.
		added2, added3 := &switchProber{}, &switchProber{}
		added2.healthy.Store(true)
		added3.healthy.Store(true)
		s2, s3 := server(2, 2), server(3, 2)
		s2.Alpha[1], s3.Alpha[1] = true, true
		plan2 := &Plan{
			Probes: []*Probe{
				{Key: NewProbeKey("good"), Machine: &MachineConfig{Timing: tm}, Prober: good, Feeds: []Feed{{0, 0}}},
				{Key: NewProbeKey("bad"), Machine: &MachineConfig{Timing: tm}, Prober: bad, Feeds: []Feed{{1, 0}}},
				{Key: NewProbeKey("added2"), Machine: &MachineConfig{Timing: tm, Alpha: true}, Prober: added2, Feeds: []Feed{{0, 1}}},
				{Key: NewProbeKey("added3"), Machine: &MachineConfig{Timing: tm, Alpha: true}, Prober: added3, Feeds: []Feed{{1, 1}}},
			},
			Servers: []*ServerSpec{s2, s3},
		}
		r.Replace(ctx, plan2)
		snap, _ := r.Snapshot(ctx)
		time.Sleep(time.Minute)
		synctest.Wait()
		cancel()
		<-done

		if got := snap.Checks[2]; !got.Up {
			t.Errorf("the alpha check added to a healthy server starts %+v, want up", got)
		}
		if got := snap.Checks[3]; got.Up {
			t.Errorf("the alpha check added to a failing server starts %+v, want down", got)
		}
		o.mu.Lock()
		defer o.mu.Unlock()
		for _, x := range o.out[before:] {
			switch x := x.(type) {
			case Health:
				t.Errorf("after the reload: %+v; want no change of either server", x)
			case Notify:
				t.Errorf("after the reload: notification %+v; want none", x)
			}
		}
	})
}

// A reload that changes only a check's schedule (delay_loop here) starts
// it again with the state of the check it replaces, as keepalived
// migrates a checker whose connection and options compare equal: a real
// server that is down stays down, without a transient up. One that
// changes the check itself (its timeout) starts it as new: up, without
// alpha, as in keepalived.
func TestRunnerReplaceCarriesStateOnScheduleChange(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		tm := Timing{DelayLoop: 5 * time.Second, DelayBeforeRetry: time.Second, Warmup: 5 * time.Second, Timeout: time.Second}
		a, b := &switchProber{}, &switchProber{} // both failing
		server := func(n int) *ServerSpec {
			return &ServerSpec{Config: ServerConfig{Key: keyN(n), Weight: 1}, Alpha: []bool{false}}
		}
		probe := func(key, identity string, tm Timing, p Prober, srv int) *Probe {
			return &Probe{Key: NewProbeKey(key), Identity: NewProbeKey(identity), Machine: &MachineConfig{Timing: tm}, Prober: p, Feeds: []Feed{{srv, 0}}}
		}
		plan1 := &Plan{Probes: []*Probe{probe("a1", "a", tm, a, 0), probe("b1", "b", tm, b, 1)}, Servers: []*ServerSpec{server(2), server(3)}}
		var o outputs
		ctx, cancel := context.WithCancel(context.Background())
		done := make(chan struct{})
		r := NewRunner(plan1, RunnerOptions{Output: o.add})
		go func() { r.Run(ctx); close(done) }()
		time.Sleep(time.Minute)
		synctest.Wait()
		if got := o.health(keyN(2)); len(got) != 2 || got[1] {
			t.Fatalf("server 2 before the reload: %v, want down", got)
		}
		slower := tm
		slower.DelayLoop = 7 * time.Second
		longer := tm
		longer.Timeout = 2 * time.Second
		plan2 := &Plan{Probes: []*Probe{probe("a2", "a", slower, a, 0), probe("b2", "b-other-timeout", longer, b, 1)}, Servers: []*ServerSpec{server(2), server(3)}}
		r.Replace(ctx, plan2)
		snap, _ := r.Snapshot(ctx)
		time.Sleep(time.Minute)
		synctest.Wait()
		cancel()
		<-done
		if got := o.health(keyN(2)); len(got) != 2 {
			t.Errorf("server 2 across a reload of its check's delay_loop: %v, want it to stay down", got)
		}
		if c := snap.Checks[0]; c.Up || !c.HasRun || c.Start != 3 {
			t.Errorf("the rescheduled check after the reload: %+v; want down, has run, start 3 (restarted with its state)", c)
		}
		if got := o.health(keyN(3)); len(got) != 4 || !got[2] || got[3] {
			t.Errorf("server 3 across a reload of its check's timeout: %v, want down, up (a new check), then down again", got)
		}
	})
}

// TestRunnerNoFirstReportWithoutCheckers starts a Runner with a real
// server that has a checker and one that has none: only the first is
// reported at start (the LVS side starts a server without checkers up at
// its weight, so its report would say nothing), and rs_init_notifies
// still notifies both.
func TestRunnerNoFirstReportWithoutCheckers(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		upS := &config.Script{Command: "/bin/up"}
		plan := &Plan{InitNotifies: true, Servers: []*ServerSpec{
			{Config: ServerConfig{Key: keyN(2), Weight: 1, NotifyUp: upS}, Alpha: []bool{false}},
			{Config: ServerConfig{Key: keyN(3), Weight: 1, NotifyUp: upS}},
		}}
		var o outputs
		ctx, cancel := context.WithCancel(context.Background())
		done := make(chan struct{})
		go func() { NewRunner(plan, RunnerOptions{Output: o.add}).Run(ctx); close(done) }()
		synctest.Wait()
		if got := o.health(keyN(2)); len(got) != 1 || !got[0] {
			t.Errorf("the server with a checker: first reports %v, want one, up", got)
		}
		if got := o.health(keyN(3)); len(got) != 0 {
			t.Errorf("the server without checkers: first reports %v, want none", got)
		}
		notified := 0
		for _, x := range o.out {
			if n, ok := x.(Notify); ok && n.Up && n.Script == upS {
				notified++
			}
		}
		if notified != 2 {
			t.Errorf("rs_init_notifies: %d notify_up, want 2", notified)
		}
		cancel()
		<-done
	})
}

// TestRunnerSharesMachineConfigs: machines of equal configurations share
// one configuration record (each keeps its Probe's name for its log
// lines), and a reload lets go of the records of the checks it drops.
func TestRunnerSharesMachineConfigs(t *testing.T) {
	tm := Timing{DelayLoop: time.Second, Timeout: time.Second, Retry: 1}
	other := tm
	other.DelayLoop = 2 * time.Second
	probe := func(key string, tm Timing) *Probe {
		return &Probe{Key: NewProbeKey(key), Machine: &MachineConfig{Family: FamilyTCP, Timing: tm}, Name: "check " + key, Prober: &switchProber{}, Feeds: []Feed{{0, 0}}}
	}
	servers := []*ServerSpec{{Config: ServerConfig{Key: keyN(1), Weight: 1}, Alpha: []bool{false}}}
	r := NewRunner(&Plan{Probes: []*Probe{probe("x", tm), probe("y", tm), probe("z", other)}, Servers: servers}, RunnerOptions{})
	x, y, z := r.probes[0], r.probes[1], r.probes[2]
	if x.m.cfg != y.m.cfg {
		t.Errorf("two checks of the same configuration have two records")
	}
	if x.m.cfg == z.m.cfg || z.m.cfg.Timing != other {
		t.Errorf("the check of another delay_loop has the record %+v", *z.m.cfg)
	}
	if x.m.name != "check x" || y.m.name != "check y" {
		t.Errorf("names: %q, %q; want each its own", x.m.name, y.m.name)
	}
	if len(r.cfgs) != 2 {
		t.Errorf("%d shared records, want 2", len(r.cfgs))
	}
	// A reload drops z: its record goes; x carries on with its own.
	r.swap(time.Now(), &Plan{Probes: []*Probe{probe("x", tm), probe("w", tm)}, Servers: servers})
	if len(r.cfgs) != 1 || r.probes[0] != x || r.probes[1].m.cfg != x.m.cfg {
		t.Errorf("after the reload: %d records, want 1 shared by x and the new w", len(r.cfgs))
	}
	// The log lines still name the checker.
	var acts []Action
	acts = x.m.Append(acts, time.Now(), Timer{})
	acts = x.m.Append(acts, time.Now(), Result{Why: "refused"})
	found := false
	for _, a := range acts {
		if a.Kind == ActLog && strings.HasPrefix(a.Log.Msg, "check x failed") {
			found = true
		}
	}
	if !found {
		t.Errorf("no log line naming the checker among %+v", acts)
	}
}
