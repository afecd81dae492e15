package check

import (
	"context"
	"sync"
	"testing"
	"testing/synctest"
	"time"
)

// pollProber starts checks that complete after a number of polls (never,
// with -1), and records what the Runner did with them.
type pollProber struct {
	after                        int
	mu                           sync.Mutex
	polls, waits, aborts, starts int
}

func (p *pollProber) Probe(ctx context.Context, step int) Result { return Result{Why: "Probe called"} }

func (p *pollProber) StartPoll(int) (Result, Pending, func(context.Context) Result) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.starts++
	return Result{}, &fakePending{p: p}, nil
}

type fakePending struct {
	p     *pollProber
	polls int
}

func (f *fakePending) Poll() (Result, bool) {
	f.p.mu.Lock()
	defer f.p.mu.Unlock()
	f.p.polls++
	f.polls++
	if f.p.after >= 0 && f.polls >= f.p.after {
		return Result{OK: true}, true
	}
	return Result{}, false
}

func (f *fakePending) Wait(ctx context.Context) Result {
	f.p.mu.Lock()
	f.p.waits++
	f.p.mu.Unlock()
	return Result{OK: true}
}

func (f *fakePending) Abort() {
	f.p.mu.Lock()
	f.p.aborts++
	f.p.mu.Unlock()
}

func (p *pollProber) counts() (starts, polls, waits, aborts int) {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.starts, p.polls, p.waits, p.aborts
}

// A PollStarter's checks are polled by the Runner, a tick apart, without
// a worker; one still pending after maxPolls polls is finished by Wait on
// a worker; pending checks are dropped (Abort) when the Runner stops.
func TestRunnerPollsPendingChecks(t *testing.T) {
	tests := []struct {
		name  string
		after int
		// per check: the polls and waits expected
		polls, waits int
	}{
		{name: "done at the first poll", after: 1, polls: 1},
		{name: "done at the last poll", after: maxPolls, polls: maxPolls},
		{name: "still pending: a worker waits", after: -1, polls: maxPolls, waits: 1},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				tm := Timing{DelayLoop: time.Second, Timeout: time.Second}
				p := &pollProber{after: tc.after}
				var o outputs
				plan := &Plan{
					Probes:  []*Probe{{Key: NewProbeKey("http"), Machine: &MachineConfig{Family: FamilyTCP, Timing: tm, Alpha: true}, Name: "http", Prober: p, Feeds: []Feed{{0, 0}}}},
					Servers: []*ServerSpec{{Config: ServerConfig{Key: keyN(3), Weight: 1}, Alpha: []bool{true}}},
				}
				ctx, cancel := context.WithCancel(context.Background())
				done := make(chan struct{})
				r := NewRunner(plan, RunnerOptions{Output: o.add, Jitter: func() float64 { return 0 }})
				go func() { r.Run(ctx); close(done) }()
				time.Sleep(BootstrapDelay + 10*time.Second + time.Second/2)
				synctest.Wait()
				starts, polls, waits, _ := p.counts()
				if starts < 10 || polls != starts*tc.polls || waits != starts*tc.waits {
					t.Errorf("%d checks: %d polls, %d waits; want %d and %d per check", starts, polls, waits, tc.polls, tc.waits)
				}
				if got := o.health(keyN(3)); len(got) != 2 || got[0] || !got[1] {
					t.Errorf("health reports %v, want down (alpha) then up", got)
				}
				cancel()
				<-done
			})
		})
	}
	t.Run("stop aborts", func(t *testing.T) {
		synctest.Test(t, func(t *testing.T) {
			tm := Timing{DelayLoop: time.Second, Timeout: time.Second}
			p := &pollProber{after: -1}
			plan := &Plan{
				Probes:  []*Probe{{Key: NewProbeKey("http"), Machine: &MachineConfig{Family: FamilyTCP, Timing: tm}, Name: "http", Prober: p, Feeds: []Feed{{0, 0}}}},
				Servers: []*ServerSpec{{Config: ServerConfig{Key: keyN(3), Weight: 1}, Alpha: []bool{false}}},
			}
			ctx, cancel := context.WithCancel(context.Background())
			done := make(chan struct{})
			r := NewRunner(plan, RunnerOptions{Jitter: func() float64 { return 0 }})
			go func() { r.Run(ctx); close(done) }()
			// Until the first check has started and been polled once.
			for {
				time.Sleep(timerTick)
				synctest.Wait()
				if _, polls, _, _ := p.counts(); polls > 0 {
					break
				}
			}
			cancel()
			<-done
			if starts, _, waits, aborts := p.counts(); starts != 1 || waits != 0 || aborts != 1 {
				t.Errorf("%d checks, %d waits, %d aborts; want the pending check aborted", starts, waits, aborts)
			}
		})
	})
}
