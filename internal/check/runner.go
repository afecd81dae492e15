package check

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"slices"
	"sync/atomic"
	"time"

	"vigil/internal/check/rawsyn"
	"vigil/internal/config"
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
	// are the same check, within a Plan and across reloads.
	Key ProbeKey
	// Identity is the check without its schedule: a reload that changes
	// only delay_loop, retry, delay_before_retry, warmup, alpha or
	// log_all_failures of a check (a new Key, the same Identity) starts
	// it again with the state of the one it replaces, as keepalived
	// carries a checker's state when only those changed. Zero: none
	// (the check carries no state across a reload).
	Identity ProbeKey
	// Machine is the check's schedule and rules, shared by the checks
	// with an equal one (Build interns them: a TCP_CHECK's Probe is 112
	// bytes with a pointer, 176 with the record in place), and Name its
	// description in log lines and the status.
	Machine *MachineConfig
	Name    string
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
	// InitNotifies is rs_init_notifies: at start, every real server that
	// starts up gets its notify_up (keepalived otherwise only notifies
	// changes).
	InitNotifies bool
	// vss are the virtual servers the plan was built from, in order, and
	// vsFirst the index in Servers of each one's first real server: what
	// the next Build takes again (BuildOptions.Prev).
	vss     []*config.VirtualServer
	vsFirst []int
}

// RunnerOptions are the Runner's dependencies.
type RunnerOptions struct {
	// Output receives health changes and notifications, in order, from
	// the Runner's goroutine; it must not block for long.
	Output func(Output)
	Log    *slog.Logger
	// Jitter draws the warmup share of each checker, in [0,1); nil: random.
	Jitter func() float64
	// SYN, when set, opens the wire of the raw-socket TCP_CHECK
	// (package rawsyn: rawsyn.Open, a fake in tests): the TCP checks
	// with no source option then leave as bare SYNs, all those due in a
	// tick in one system call. When it fails, the Runner logs why and
	// connects as without it.
	SYN func() (rawsyn.Wire, error)
}

// Runner runs a Plan: one goroutine (Run) owns every machine, server and
// timer; checks run on worker goroutines, each with its deadline.
type Runner struct {
	opts    RunnerOptions
	log     *slog.Logger
	probes  []*probeState
	servers []*Server
	timers  timerHeap
	results chan probeResult
	replace chan replaceReq
	// snapshot carries requests for a Snapshot.
	snapshot chan chan Snapshot
	// jobs hands checks to idle workers.
	jobs         chan job
	initNotifies bool
	// starts numbers the checkers' starts (at Run and for the new checks
	// of a reload), so that a status can tell a check a reload kept from
	// one it started again.
	starts uint64
	// version counts the changes of the checks' states (a report, a
	// start), for readers that poll: see Version.
	version atomic.Uint64
	// pending are the checks a PollStarter began, polled at every
	// wakeup (runpoll.go).
	pending []pendingCheck
	// runCtx ends the checks in progress when Run returns.
	runCtx      context.Context
	cancelWatch context.CancelFunc
	// syn is the raw-socket TCP_CHECK (nil: none); synQueued counts the
	// SYNs queued since its last Flush, synSwept is its last Sweep, and
	// synOut is reused for its outcomes.
	syn       *rawsyn.Engine
	synQueued int
	synSwept  time.Time
	synOut    []rawsyn.Outcome
	// acts holds the actions of the machines being handled (see handle).
	acts []Action
	// cfgs holds the machines' shared configurations: those of the
	// current checks (swap starts it again from theirs).
	cfgs configs
}

type probeState struct {
	p *Probe
	// m is held in the record, not behind a pointer: the Runner reaches
	// for the machine at each of a check's events, and a pointer would
	// be one more cache miss each time.
	m Machine
	// syn is the check's target on the raw-socket path, taken from its
	// TCPProber at its first start (noSYN: it has none), so that a start
	// does not go through the Probe and its Prober.
	syn *rawsyn.Target
	// gen numbers the checks; a result of an older check is dropped.
	gen uint64
	// waitGen invalidates an armed Wait when a new one replaces it.
	waitGen uint64
	// lastResult and lastAt are the latest outcome, for snapshots.
	lastResult Result
	lastAt     Stamp
	// stopWatch ends a FILE_CHECK's watcher.
	stopWatch context.CancelFunc
	// start is the check's number in the Runner's sequence of starts,
	// startedAt when it started.
	start     uint64
	startedAt Stamp
	// busy is set while a check's goroutine has not returned, even after
	// the Runner gave up on it: no second check of the same target starts
	// next to a hung one.
	busy bool
	// removed is set when a reload dropped the check.
	removed bool
	noSYN   bool
	// (The flags last, the times as Stamps: one record per check, 184
	// bytes.)
}

type probeResult struct {
	ps  *probeState
	gen uint64
	r   Result
	// done marks the return of a check's goroutine.
	done bool
}

type replaceReq struct {
	plan *Plan
	done chan struct{}
}

type timerKind uint8

const (
	timerWait timerKind = iota
	timerDeadline
)

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
	r := &Runner{opts: opts, log: opts.Log, results: make(chan probeResult, 64), replace: make(chan replaceReq), snapshot: make(chan chan Snapshot), jobs: make(chan job), initNotifies: plan.InitNotifies}
	for _, s := range plan.Servers {
		r.servers = append(r.servers, newServer(&s.Config, s.Alpha))
	}
	for _, p := range plan.Probes {
		ps := &probeState{p: p}
		ps.m.init(&r.cfgs, *p.Machine, p.Name)
		r.probes = append(r.probes, ps)
	}
	return r
}

// Run checks until ctx ends. It first reports every server's initial
// health, and at the end the notifications due at shutdown (omega).
func (r *Runner) Run(ctx context.Context) {
	for _, s := range r.servers {
		// A server without checkers is up at its configured weight
		// from the start, as the LVS side starts it: its first report
		// would say nothing new, and for a large table (20,000 real
		// servers) those reports keep the LVS loop busy long after its
		// start, a reload waiting behind them.
		if s.checkers() > 0 {
			r.opts.Output(s.Health())
		}
		if r.initNotifies && s.alive {
			r.opts.Output(s.notify())
		}
	}
	r.runCtx, r.cancelWatch = context.WithCancel(ctx)
	defer r.cancelWatch()
	if r.opts.SYN != nil {
		if w, err := r.opts.SYN(); err != nil {
			r.log.Warn("TCP_CHECK without raw sockets: each check connects", "err", err)
		} else {
			r.log.Info("TCP_CHECK sends its SYNs on raw sockets", "wire", w.Describe())
			r.syn = rawsyn.New(w)
			defer r.syn.Close()
		}
	}
	now := time.Now()
	for _, ps := range r.probes {
		r.begin(now, ps)
	}
	timer := time.NewTimer(time.Hour)
	defer timer.Stop()
	for {
		r.arm(timer)
		select {
		case <-ctx.Done():
			r.abortPending()
			for _, s := range r.servers {
				for _, o := range s.Stop() {
					r.opts.Output(o)
				}
			}
			return
		case <-timer.C:
			now := time.Now()
			r.poll(now)
			r.expire(now)
		case res := <-r.results:
			r.result(time.Now(), res)
		case req := <-r.replace:
			r.swap(time.Now(), req.plan)
			close(req.done)
		case c := <-r.snapshot:
			c <- r.snap()
		}
		if r.syn != nil {
			r.pumpSYN(time.Now())
		}
	}
}

// pumpSYN sends the raw SYNs queued since the last pass (those of every
// check due in the tick go in one system call), then takes the answers
// that came: on loopback and local addresses the host answered within the
// send, so the checks end here, on the Runner's goroutine, in the same
// pass. Answers from farther away are found at a later pass: the Runner
// wakes every tick while a check waits for one (see arm).
func (r *Runner) pumpSYN(now time.Time) {
	out := r.synOut[:0]
	if r.synQueued > 0 {
		out = r.syn.Flush(out)
		r.synQueued = 0
	}
	if r.syn.Pending() > 0 {
		out = r.syn.Poll(out)
		// Retransmissions and timeouts (a check nobody answers fails
		// within SweepEvery of its connect_timeout).
		if now.Sub(r.synSwept) >= rawsyn.SweepEvery {
			out = r.syn.Sweep(now, out)
			r.synSwept = now
		}
	}
	for i, o := range out {
		ps := o.Tag.(*probeState)
		out[i] = rawsyn.Outcome{}
		// As result, for a check that is never a FILE_CHECK's: an answer
		// is ended with what the probeState holds, without reaching for
		// the Probe and its Prober unless the check failed (by then, after
		// the send's trip through the kernel, they are out of the cache).
		if ps.removed || o.Gen != ps.gen {
			continue
		}
		res := Result{OK: true}
		if o.Err != nil {
			res = ps.p.Prober.(*TCPProber).outcome(o.Err)
		}
		ps.gen++
		ps.lastResult, ps.lastAt = res, StampOf(now)
		r.handle(now, ps, res)
	}
	r.synOut = out[:0]
	if r.synQueued > 0 {
		// Checks the outcomes started (a retry with no delay).
		r.pumpSYN(now)
	}
}

// Replace switches a running Runner to plan, as a reload does: a check
// whose Key is in both plans keeps its state, its timers and any check in
// progress; one whose Identity is in both (its schedule changed) starts
// again with the state of the one it replaces; a new one starts as at
// start-up (within its warmup), up unless alpha holds it down (see swap);
// a removed one stops. A server whose health is unchanged is not reported
// again.
// It returns once the switch is made, or when ctx ends.
func (r *Runner) Replace(ctx context.Context, plan *Plan) {
	req := replaceReq{plan: plan, done: make(chan struct{})}
	select {
	case r.replace <- req:
		select {
		case <-req.done:
		case <-ctx.Done():
		}
	case <-ctx.Done():
	}
}

// begin starts a check's machine (or its file watcher).
func (r *Runner) begin(now time.Time, ps *probeState) {
	r.starts++
	r.version.Add(1)
	ps.start, ps.startedAt = r.starts, StampOf(now)
	if ps.p.Watcher != nil {
		ctx, cancel := context.WithCancel(r.runCtx)
		ps.stopWatch = cancel
		go ps.p.Watcher.Watch(ctx, func(res Result) {
			select {
			case r.results <- probeResult{ps: ps, r: res}:
			case <-ctx.Done():
			}
		})
		return
	}
	r.handle(now, ps, Start{Jitter: r.opts.Jitter()})
}

// swap is Replace inside the loop.
func (r *Runner) swap(now time.Time, plan *Plan) {
	old := map[ProbeKey]*probeState{}
	for _, ps := range r.probes {
		old[ps.p.Key] = ps
	}
	// The shared configurations: those of the checks that carry on, and
	// the new ones'; those of removed checks are let go.
	r.cfgs = nil
	for _, p := range plan.Probes {
		if ps, ok := old[p.Key]; ok {
			r.cfgs.keep(ps.m.cfg)
		}
	}
	// The servers' health before the switch, by the new plan's index:
	// mostly the plans list the same servers in the same order, so the
	// old server at the same index is compared first, and a map is built
	// only when one is not there (a reload that adds or removes servers).
	oldServers := r.servers
	var prevByKey map[ServerKey]Health
	prevHealth := func(i int) (Health, bool) {
		k := plan.Servers[i].Config.Key
		if i < len(oldServers) && oldServers[i].cfg.Key == k {
			return oldServers[i].Health(), true
		}
		if prevByKey == nil {
			prevByKey = make(map[ServerKey]Health, len(oldServers))
			for _, s := range oldServers {
				prevByKey[s.cfg.Key] = s.Health()
			}
		}
		h, ok := prevByKey[k]
		return h, ok
	}
	var probes []*probeState
	var fresh []*probeState
	for _, p := range plan.Probes {
		if ps, ok := old[p.Key]; ok {
			delete(old, p.Key)
			// Same check: keep the machine, the watcher and any check in
			// progress; take the new feeds.
			ps.p = &Probe{Key: p.Key, Identity: p.Identity, Machine: ps.p.Machine, Name: ps.p.Name, Prober: ps.p.Prober, Watcher: ps.p.Watcher, Feeds: p.Feeds}
			probes = append(probes, ps)
			continue
		}
		ps := &probeState{p: p}
		probes = append(probes, ps)
		fresh = append(fresh, ps)
	}
	// A new check that is an old one with another schedule carries its
	// state on: the same Identity, for the same real servers.
	byIdentity := map[string]*probeState{}
	for _, ps := range old {
		if ps.p.Identity != (ProbeKey{}) && ps.p.Watcher == nil {
			byIdentity[string(ps.p.Identity[:])+feedsOf(ps.p.Feeds, func(i int) ServerKey { return r.servers[i].cfg.Key })] = ps
		}
	}
	adopted := map[*probeState]bool{}
	for _, ps := range fresh {
		if ps.p.Identity == (ProbeKey{}) || ps.p.Watcher != nil {
			continue
		}
		id := string(ps.p.Identity[:]) + feedsOf(ps.p.Feeds, func(i int) ServerKey { return plan.Servers[i].Config.Key })
		if prev, ok := byIdentity[id]; ok {
			delete(byIdentity, id)
			ps.m.init(&r.cfgs, *ps.p.Machine, ps.p.Name)
			ps.m.adopt(&prev.m)
			adopted[ps] = true
		}
	}
	// A new check of a real server that carries on starts as keepalived's
	// reload starts it: alpha holds it down only when the server has a
	// failed check, or is down with no check that has run; a healthy
	// server does not flap down for a check that was added or changed.
	failed := make([]bool, len(plan.Servers))
	hasRun := make([]bool, len(plan.Servers))
	for _, ps := range probes {
		if !ps.m.HasRun() { // (a new check's machine is not made yet: zero)
			continue
		}
		for _, f := range ps.p.Feeds {
			hasRun[f.Server] = true
			if !ps.m.Up() {
				failed[f.Server] = true
			}
		}
	}
	for _, ps := range fresh {
		if adopted[ps] {
			continue
		}
		mc := *ps.p.Machine // a copy: the Probe's record is shared
		if mc.Alpha {
			pessimistic := false
			for _, f := range ps.p.Feeds {
				prev, existed := prevHealth(f.Server)
				if !existed || failed[f.Server] || (!prev.Up && !hasRun[f.Server]) {
					pessimistic = true
				}
			}
			mc.Alpha = pessimistic
		}
		ps.m.init(&r.cfgs, mc, ps.p.Name) // (the Probe keeps its alpha)
	}
	for _, ps := range old {
		ps.removed = true
		if ps.stopWatch != nil {
			ps.stopWatch()
		}
	}
	r.probes = probes
	// A new slice: the old servers' health is read until the end.
	r.servers = make([]*Server, 0, len(plan.Servers))
	for _, s := range plan.Servers {
		r.servers = append(r.servers, newServer(&s.Config, s.Alpha))
	}
	// Seed the servers with the state of the checks that carry on, and
	// with the initial state of the new ones.
	for _, ps := range r.probes {
		rep := ps.m.State()
		for _, f := range ps.p.Feeds {
			r.servers[f.Server].seed(f.Checker, rep)
		}
	}
	for _, ps := range fresh {
		if ps.p.Machine.Alpha && ps.m.Up() {
			// Up despite alpha: its first success is no news.
			for _, f := range ps.p.Feeds {
				r.servers[f.Server].clearAlpha(f.Checker)
			}
		}
	}
	for i, s := range r.servers {
		h := s.Health()
		if prev, ok := prevHealth(i); !ok || prev != h {
			r.opts.Output(h)
		}
	}
	for _, ps := range fresh {
		r.begin(now, ps)
	}
}

// feedsOf names the real servers of feeds, in order, for matching a check
// of one plan with a check of another.
func feedsOf(feeds []Feed, key func(int) ServerKey) string {
	names := make([]string, 0, len(feeds))
	for _, f := range feeds {
		k := key(f.Server)
		names = append(names, k.VS+" "+k.RS.String())
	}
	slices.Sort(names)
	return fmt.Sprint(names)
}

// timerTick is the Runner's pass quantum: it wakes at most once per tick,
// on the tick grid, and each pass handles every timer entry due within
// timerEarly of it, earlier or later. Checks due within the same 20 ms
// share one wakeup (10,000 checks a second: 50 passes, not 10,000), each
// keeps its own phase (a check's time moves by less than timerEarly, so
// checks spread over their delay_loop stay spread), and none runs more
// than timerEarly away from its time (plus the system's timer latency),
// so that a chain of checks keeps its delay_loop on average: a check that
// only ever ran late would run a half-tick late every time.
//
// A pass costs a wakeup of the goroutine and its thread, and the raw SYN
// pump's system calls; at 10 ms (never early, up to a tick late) the
// wakeups were about a twentieth of the LVS process's CPU at 10,000
// checks a second.
const timerTick = 20 * time.Millisecond

// timerEarly is how far from its time a timer entry may be handled: half
// a tick either way. A check's deadline timer (its deadline plus Grace)
// is then never handled before the deadline itself.
const timerEarly = timerTick / 2

// arm sets the clock timer to the Runner's next pass.
func (r *Runner) arm(t *time.Timer) {
	now := time.Now()
	at, ok := r.nextPass(now)
	if !ok {
		t.Reset(time.Hour)
		return
	}
	t.Reset(max(at.Sub(now), 0))
}

// nextPass is the time of the Runner's next pass after one at now (ok
// false: nothing to wait for): the first tick whose window (timerEarly
// either side) holds the earliest timer entry, or sooner, the next tick
// while checks wait for an answer (polled checks, raw SYNs). A pass at
// now has handled every entry due within timerEarly of now, so the pass
// it returns is later than now: a Runner woken on a tick's edge does not
// spin.
func (r *Runner) nextPass(now time.Time) (at time.Time, ok bool) {
	if r.timers.len() > 0 {
		first := r.timers.first().Add(-timerEarly)
		at = first.Truncate(timerTick)
		if at.Before(first) {
			at = at.Add(timerTick)
		}
	}
	if len(r.pending) > 0 || (r.syn != nil && r.syn.Pending() > 0) {
		// Look for answers at the next tick, strictly after now.
		if next := now.Truncate(timerTick).Add(timerTick); at.IsZero() || next.Before(at) {
			at = next
		}
	}
	return at, !at.IsZero()
}

// expire handles every timer entry due by the end of the pass at now's
// window (timerEarly after now; see timerTick).
func (r *Runner) expire(now time.Time) {
	for horizon := now.Add(timerEarly); r.timers.due(horizon); {
		e := r.timers.pop()
		ps := e.ps
		if ps.removed {
			continue
		}
		switch e.kind {
		case timerWait:
			if e.gen == ps.waitGen {
				r.handle(now, ps, Timer{})
			}
		case timerDeadline:
			if e.gen == ps.gen && ps.m.Running() {
				// The check overran its deadline and its grace: it
				// fails, and its result, should it ever come, is
				// dropped.
				ps.gen++
				ps.lastResult, ps.lastAt = Result{Why: "check did not finish by its deadline"}, StampOf(now)
				r.handle(now, ps, ps.lastResult)
			}
		}
	}
}

func (r *Runner) result(now time.Time, res probeResult) {
	ps := res.ps
	if ps.removed {
		return
	}
	if ps.p.Watcher != nil {
		ps.lastResult, ps.lastAt = res.r, StampOf(now)
		r.handle(now, ps, res.r)
		return
	}
	if res.done {
		ps.busy = false
	}
	if res.gen != ps.gen {
		return
	}
	ps.gen++
	ps.lastResult, ps.lastAt = res.r, StampOf(now)
	r.handle(now, ps, res.r)
}

// handle feeds ev to the machine of ps and carries out its actions. The
// actions go into the Runner's one slice (acts), so that a steady check's
// Run and Wait allocate nothing; a check the actions start may end at
// once (a connect answered within the call) and feed its machine again
// from in here: that nested handle appends after this one's actions and
// takes its own off before returning.
func (r *Runner) handle(now time.Time, ps *probeState, ev Event) {
	base := len(r.acts)
	r.acts = ps.m.Append(r.acts, now, ev)
	for i := base; i < len(r.acts); i++ {
		// By index, not range: a nested handle may move the slice.
		switch a := &r.acts[i]; a.Kind {
		case ActWait:
			ps.waitGen++
			r.timers.push(a.Wait.At, timerEntry{ps: ps, kind: timerWait, gen: ps.waitGen})
		case ActRun:
			r.start(now, ps, a.Run)
		case ActReport:
			r.version.Add(1)
			rep := a.Report
			for _, f := range ps.p.Feeds {
				for _, o := range r.servers[f.Server].Handle(f.Checker, rep) {
					r.opts.Output(o)
				}
			}
		case ActLog:
			r.log.Info(a.Log.Msg, "checker", ps.p.Name)
		}
	}
	clear(r.acts[base:]) // the strings of Reports and Logs
	r.acts = r.acts[:base]
}

// start launches a check unless the last one is still stuck.
func (r *Runner) start(now time.Time, ps *probeState, run Run) {
	if ps.busy {
		ps.gen++
		r.handle(now, ps, Result{Why: "the previous check has not returned yet"})
		return
	}
	if r.syn != nil && !ps.noSYN {
		if ps.syn == nil {
			if tp, ok := ps.p.Prober.(*TCPProber); ok {
				ps.syn = tp.synTarget()
			}
			ps.noSYN = ps.syn == nil
		}
		if t := ps.syn; t != nil {
			err := r.syn.Queue(now, t, run.Deadline, ps, ps.gen)
			switch {
			case err == nil:
				// Its outcome comes from the Engine, a timeout
				// included (pumpSYN): no timer of the Runner's.
				r.synQueued++
				return
			case !errors.Is(err, rawsyn.ErrBusy) && !errors.Is(err, rawsyn.ErrFamily):
				// No route to the target: the check fails at once.
				ps.gen++
				ps.lastResult, ps.lastAt = ps.p.Prober.(*TCPProber).outcome(err), StampOf(now)
				r.handle(now, ps, ps.lastResult)
				return
			}
			// Busy or no socket of the family: connect instead.
		}
	}
	if r.startPoll(now, ps, run) {
		return
	}
	j := job{ps: ps, run: run, prober: ps.p.Prober}
	if st, ok := ps.p.Prober.(Starter); ok {
		res, wait := st.Start(run.Step)
		if wait == nil {
			// Over at once (a TCP check on loopback or a local
			// network): the result goes straight to the machine.
			ps.gen++
			ps.lastResult, ps.lastAt = res, StampOf(now)
			r.handle(now, ps, res)
			return
		}
		j.wait = wait
	}
	r.startJob(ps, j)
}

// startJob hands a check to a worker, with its deadline.
func (r *Runner) startJob(ps *probeState, j job) {
	ps.busy = true
	j.gen = ps.gen
	r.timers.push(j.run.Deadline.Add(Grace), timerEntry{ps: ps, kind: timerDeadline, gen: j.gen})
	r.dispatch(j)
}

// dispatch gives a job to an idle worker, or to a new one.
func (r *Runner) dispatch(j job) {
	select {
	case r.jobs <- j: // an idle worker takes it
	default:
		go r.worker(j)
	}
}

// workerIdle is how long a worker with nothing to do waits for a check
// before it ends.
const workerIdle = 10 * time.Second

// job is one check for a worker.
type job struct {
	ps     *probeState
	gen    uint64
	run    Run
	prober Prober
	// wait, when set, finishes a check a Starter began; it replaces
	// prober.Probe.
	wait func(ctx context.Context) Result
}

// worker runs checks, the first one given and then whatever comes while
// it is idle. Workers outlive their check so that their stacks, grown by
// the network code, are reused rather than grown again for every check;
// there are as many as checks run at once (a stuck check keeps its worker,
// the others go on without it).
func (r *Runner) worker(j job) {
	idle := time.NewTimer(workerIdle)
	defer idle.Stop()
	for {
		ctx, cancel := context.WithDeadline(r.runCtx, j.run.Deadline)
		var res Result
		if j.wait != nil {
			res = j.wait(ctx)
		} else {
			res = j.prober.Probe(ctx, j.run.Step)
		}
		cancel()
		select {
		case r.results <- probeResult{ps: j.ps, gen: j.gen, r: res, done: true}:
		case <-r.runCtx.Done():
			return
		}
		idle.Reset(workerIdle)
		select {
		case j = <-r.jobs:
		case <-idle.C:
			return
		case <-r.runCtx.Done():
			return
		}
	}
}

// Snapshot is the state of every check and real server at one moment, for
// status reports.
type Snapshot struct {
	Checks  []CheckStatus `json:"checks"`
	Servers []Health      `json:"servers"`
}

// CheckStatus is one check in a Snapshot.
type CheckStatus struct {
	Name    string `json:"name"`
	Up      bool   `json:"up"`
	HasRun  bool   `json:"has_run"`
	Running bool   `json:"running"`
	// Weight is the dynamic weight reported, when HasWeight.
	Weight    int  `json:"weight,omitempty"`
	HasWeight bool `json:"has_weight,omitempty"`
	// LastOK, LastError and LastAt describe the latest outcome.
	LastOK    bool        `json:"last_ok"`
	LastError string      `json:"last_error,omitempty"`
	LastAt    time.Time   `json:"last_at,omitzero"`
	Servers   []ServerKey `json:"servers"`
	// Start numbers the check's start among all the starts of the
	// Runner (1 for the first); StartedAt is when it started. A reload
	// that keeps the check keeps both, one that starts it again gives it
	// a new number.
	Start     uint64    `json:"start"`
	StartedAt time.Time `json:"started_at"`
}

// Version counts the changes of the checks' states (up or down, a first
// result, a dynamic weight, a start); it is safe to call from any
// goroutine. A reader that polls Snapshot for those states needs a new
// one only when Version moved: the outcome of every check (LastAt,
// LastError) is not counted.
func (r *Runner) Version() uint64 { return r.version.Load() }

// Snapshot asks the Runner's goroutine for its state; ok is false when ctx
// ends first (or Run is not running).
func (r *Runner) Snapshot(ctx context.Context) (s Snapshot, ok bool) {
	c := make(chan Snapshot, 1)
	select {
	case r.snapshot <- c:
	case <-ctx.Done():
		return Snapshot{}, false
	}
	select {
	case s = <-c:
		return s, true
	case <-ctx.Done():
		return Snapshot{}, false
	}
}

func (r *Runner) snap() Snapshot {
	var s Snapshot
	for _, ps := range r.probes {
		st := ps.m.State()
		cs := CheckStatus{Name: ps.p.Name, Up: st.Up, HasRun: ps.m.HasRun(), Running: ps.m.Running(),
			Weight: st.Weight, HasWeight: st.HasWeight, LastOK: ps.lastResult.OK, LastError: ps.lastResult.Why, LastAt: ps.lastAt.Time(),
			Start: ps.start, StartedAt: ps.startedAt.Time()}
		for _, f := range ps.p.Feeds {
			cs.Servers = append(cs.Servers, r.servers[f.Server].cfg.Key)
		}
		s.Checks = append(s.Checks, cs)
	}
	for _, sv := range r.servers {
		s.Servers = append(s.Servers, sv.Health())
	}
	return s
}
