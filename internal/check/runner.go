package check

import (
	"container/heap"
	"context"
	"log/slog"
	"math/rand/v2"
	"time"
)

// Grace is how long after a check's deadline the Runner still waits for
// its result before it counts the check as failed and moves on without it.
// Probers honour their deadline themselves; the grace only matters for one
// that does not (a hung script, a stuck system call), which then can never
// hold up its checker or any other.
const Grace = 500 * time.Millisecond

// Probe is one check to run: a machine, what performs the check, and the
// real servers it feeds. Several real_server blocks (of several virtual
// servers) with an identical check share one Probe.
type Probe struct {
	// Key identifies the check: kind, target and every option. Equal keys
	// are the same check.
	Key     string
	Machine MachineConfig
	// Prober performs a check; nil for FILE_CHECK, which has a Watcher.
	Prober  Prober
	Watcher Watcher
	// Feeds lists the (server, checker slot) pairs the check reports to.
	Feeds []Feed
}

// Feed is one real server slot a Probe reports to.
type Feed struct {
	Server  int
	Checker int
}

// ServerSpec is one real server of one virtual server with the alpha
// setting of each of its checker slots.
type ServerSpec struct {
	Config ServerConfig
	Alpha  []bool
}

// Plan is every check of a configuration and the real servers they feed.
type Plan struct {
	Probes  []*Probe
	Servers []*ServerSpec
}

// RunnerOptions are the Runner's dependencies.
type RunnerOptions struct {
	// Output receives health changes and notifications, in order, from
	// the Runner's goroutine; it must not block for long.
	Output func(Output)
	Log    *slog.Logger
	// Jitter draws the warmup share of each checker, in [0,1); nil: random.
	Jitter func() float64
}

// Runner runs a Plan: one goroutine owns every machine, server and timer;
// each check runs in a goroutine of its own with its deadline.
type Runner struct {
	plan    *Plan
	opts    RunnerOptions
	log     *slog.Logger
	probes  []*probeState
	servers []*Server
	timers  timerHeap
	results chan probeResult
	// runCtx ends the checks in progress when Run returns.
	runCtx context.Context
}

type probeState struct {
	p *Probe
	m *Machine
	// gen numbers the checks; a result of an older check is dropped.
	gen uint64
	// busy is set while a check's goroutine has not returned, even after
	// the Runner gave up on it: no second check of the same target starts
	// next to a hung one.
	busy bool
	// waitGen invalidates an armed Wait when a new one replaces it.
	waitGen uint64
}

type probeResult struct {
	probe int
	gen   uint64
	r     Result
	// done marks the return of a check's goroutine.
	done bool
}

type timerKind uint8

const (
	timerWait timerKind = iota
	timerDeadline
)

type timerEntry struct {
	at    time.Time
	probe int
	kind  timerKind
	gen   uint64
}

type timerHeap []timerEntry

func (h timerHeap) Len() int           { return len(h) }
func (h timerHeap) Less(i, j int) bool { return h[i].at.Before(h[j].at) }
func (h timerHeap) Swap(i, j int)      { h[i], h[j] = h[j], h[i] }
func (h *timerHeap) Push(x any)        { *h = append(*h, x.(timerEntry)) }
func (h *timerHeap) Pop() any {
	old := *h
	e := old[len(old)-1]
	*h = old[:len(old)-1]
	return e
}

// NewRunner prepares a Runner for plan.
func NewRunner(plan *Plan, opts RunnerOptions) *Runner {
	if opts.Output == nil {
		opts.Output = func(Output) {}
	}
	if opts.Log == nil {
		opts.Log = slog.New(slog.DiscardHandler)
	}
	if opts.Jitter == nil {
		opts.Jitter = rand.Float64
	}
	r := &Runner{plan: plan, opts: opts, log: opts.Log, results: make(chan probeResult, 64)}
	for _, s := range plan.Servers {
		r.servers = append(r.servers, NewServer(s.Config, s.Alpha))
	}
	for _, p := range plan.Probes {
		r.probes = append(r.probes, &probeState{p: p, m: NewMachine(p.Machine)})
	}
	return r
}

// Run checks until ctx ends. It first reports every server's initial
// health, and at the end the notifications due at shutdown (omega).
func (r *Runner) Run(ctx context.Context) {
	for _, s := range r.servers {
		r.opts.Output(s.Health())
	}
	watchCtx, cancelWatch := context.WithCancel(ctx)
	defer cancelWatch()
	r.runCtx = watchCtx
	now := time.Now()
	for i, ps := range r.probes {
		if ps.p.Watcher != nil {
			i := i
			go ps.p.Watcher.Watch(watchCtx, func(res Result) {
				select {
				case r.results <- probeResult{probe: i, r: res}:
				case <-watchCtx.Done():
				}
			})
			continue
		}
		r.apply(now, i, ps.m.Handle(now, Start{Jitter: r.opts.Jitter()}))
	}
	timer := time.NewTimer(time.Hour)
	defer timer.Stop()
	for {
		r.arm(timer)
		select {
		case <-ctx.Done():
			for _, s := range r.servers {
				for _, o := range s.Stop() {
					r.opts.Output(o)
				}
			}
			return
		case <-timer.C:
			r.expire(time.Now())
		case res := <-r.results:
			r.result(time.Now(), res)
		}
	}
}

// arm sets the clock timer to the earliest entry.
func (r *Runner) arm(t *time.Timer) {
	if len(r.timers) == 0 {
		t.Reset(time.Hour)
		return
	}
	t.Reset(max(time.Until(r.timers[0].at), 0))
}

// expire handles every timer entry that is due.
func (r *Runner) expire(now time.Time) {
	for len(r.timers) > 0 && !r.timers[0].at.After(now) {
		e := heap.Pop(&r.timers).(timerEntry)
		ps := r.probes[e.probe]
		switch e.kind {
		case timerWait:
			if e.gen == ps.waitGen {
				r.apply(now, e.probe, ps.m.Handle(now, Timer{}))
			}
		case timerDeadline:
			if e.gen == ps.gen && ps.m.Running() {
				// The check overran its deadline and its grace: it
				// fails, and its result, should it ever come, is
				// dropped.
				ps.gen++
				r.apply(now, e.probe, ps.m.Handle(now, Result{Why: "check did not finish by its deadline"}))
			}
		}
	}
}

func (r *Runner) result(now time.Time, res probeResult) {
	ps := r.probes[res.probe]
	if ps.p.Watcher != nil {
		r.apply(now, res.probe, ps.m.Handle(now, res.r))
		return
	}
	if res.done {
		ps.busy = false
	}
	if res.gen != ps.gen {
		return
	}
	ps.gen++
	r.apply(now, res.probe, ps.m.Handle(now, res.r))
}

// apply carries out a machine's actions.
func (r *Runner) apply(now time.Time, i int, acts []Action) {
	ps := r.probes[i]
	for _, a := range acts {
		switch a := a.(type) {
		case Wait:
			ps.waitGen++
			heap.Push(&r.timers, timerEntry{at: a.At, probe: i, kind: timerWait, gen: ps.waitGen})
		case Run:
			r.start(now, i, a)
		case Report:
			for _, f := range ps.p.Feeds {
				for _, o := range r.servers[f.Server].Handle(f.Checker, a) {
					r.opts.Output(o)
				}
			}
		case Log:
			r.log.Info(a.Msg, "checker", ps.p.Machine.Name)
		}
	}
}

// start launches a check unless the last one is still stuck.
func (r *Runner) start(now time.Time, i int, run Run) {
	ps := r.probes[i]
	if ps.busy {
		ps.gen++
		r.apply(now, i, ps.m.Handle(now, Result{Why: "the previous check has not returned yet"}))
		return
	}
	ps.busy = true
	gen := ps.gen
	heap.Push(&r.timers, timerEntry{at: run.Deadline.Add(Grace), probe: i, kind: timerDeadline, gen: gen})
	go func() {
		ctx, cancel := context.WithDeadline(r.runCtx, run.Deadline)
		res := ps.p.Prober.Probe(ctx, run.Step)
		cancel()
		select {
		case r.results <- probeResult{probe: i, gen: gen, r: res, done: true}:
		case <-r.runCtx.Done():
		}
	}()
}
