package lvsproc

import (
	"context"
	"log/slog"
	"runtime/debug"
	"time"

	"vigil/internal/check"
	"vigil/internal/check/rawsyn"
	"vigil/internal/config"
	"vigil/internal/dataplane"
	"vigil/internal/memtrim"
	"vigil/internal/status"
)

// RunOptions are the LVS loop's inputs.
type RunOptions struct {
	// Config is the loaded configuration; Load loads it again on reload
	// (an error keeps the running one).
	Config *config.Config
	Load   func(ctx context.Context) (*config.Config, error)
	// Reload asks for a reload (SIGHUP).
	Reload <-chan struct{}
	// Dataplane is --dataplane; Candidates the planes to choose from
	// (default Candidates).
	Dataplane  string
	Candidates []Candidate
	// Dialer replaces the checkers' network (tests).
	Dialer check.Dialer
	// Addrs feeds ha_suspend (WatchAddrs); nil: no address is held.
	Addrs <-chan AddrEvent
	// VRRP carries the VRRP instances' states from the parent
	// (ReadVRRPStates), for lvs_sync_daemon; nil: none (-C).
	VRRP <-chan VRRPState
	// Notes runs scripts and FIFO lines; nil: none.
	Notes Notes
	// Publish receives the status after every change; Emit the events.
	Publish func(status.LVSJSON)
	Emit    func(status.Event)
	Log     *slog.Logger
}

// stopTimeout bounds a clean stop's removal of the services.
const stopTimeout = 10 * time.Second

// checkersWait bounds the wait for the Runner's snapshot of its checks:
// the Runner's goroutine answers between two events, so this is only hit
// when it is stuck handing over outputs, and the status keeps the checks
// it had.
const checkersWait = time.Second

// checkersEvery is how often the checks are read for the status between
// outputs.
const checkersEvery = 2 * time.Second

// countersEvery is how often the plane's counters are read for the status:
// the kernel's rate estimator works on 2 s intervals, so reading faster
// shows nothing new.
const countersEvery = 2 * time.Second

// Run is the LVS process's loop: it builds the checks, chooses the data
// plane, adopts its table, and then feeds the checkers' verdicts, address
// changes and reloads to the Side until ctx is done, when it removes what
// Vigil added. Without a data plane it reports why and waits for a reload
// to try again: it never exits on its own, so the parent does not restart
// it in a loop, and it never half-applies.
func Run(ctx context.Context, o RunOptions) error {
	if o.Log == nil {
		o.Log = slog.New(slog.DiscardHandler)
	}
	if o.Candidates == nil {
		o.Candidates = candidates(o.Log.With("dataplane", "nftables"))
	}
	if o.Publish == nil {
		o.Publish = func(status.LVSJSON) {}
	}
	// The start's phases, for its log line: the process's age here
	// (the runtime's start, the file's parse), then this function's
	// preparation, then the first Apply.
	ranAt, ranAtOK := processAge()
	tRun := time.Now()
	cfg := o.Config
	// problems are the running configuration's checkers that cannot
	// run, for the status.
	var problems []string
	// lastPlan is the plan last built: a reload's plan takes its specs
	// of unchanged virtual servers without checkers.
	var lastPlan *check.Plan
	reportBuild := func(c *config.Config) *check.Plan {
		plan, errs := check.Build(c, check.BuildOptions{Dialer: o.Dialer, Log: o.Log, Prev: lastPlan})
		lastPlan = plan
		problems = nil
		for _, err := range errs {
			o.Log.Error("checker not run", "err", err)
			problems = append(problems, err.Error())
		}
		return plan
	}
	var plane dataplane.Plane
	var choice Choice
	for plane == nil {
		p, ch, err := Choose(o.Dataplane, o.Candidates)
		if err == nil {
			plane, choice = p, ch
			break
		}
		o.Log.Error("the LVS side cannot run", "err", err)
		o.Publish(status.LVSJSON{State: "error", Error: err.Error(), VirtualServers: []status.LVSVirtualServerJSON{}})
		select {
		case <-ctx.Done():
			return nil
		case <-o.Reload:
			if c, err := o.Load(ctx); err == nil {
				cfg = c
			}
		}
	}
	if c, ok := plane.(interface{ Close() error }); ok {
		defer c.Close()
	}
	side := NewSide(cfg, plane, SideOptions{Log: o.Log, Notes: o.Notes, Emit: o.Emit, NoVRRP: o.VRRP == nil})
	reloads := 0
	// counters are the plane's traffic counters as last read; a plane
	// that keeps them is read again every countersEvery (longer for a
	// table that takes long to read: countersInterval), so that the
	// status and the metrics follow the traffic between changes.
	var counters dataplane.Table
	var countersTick <-chan time.Time
	var countersTimer *time.Timer
	// checkers are the checks as last read from the Runner (see
	// refreshCheckers), in the compact form the loop keeps; each status
	// builds its own form of them.
	var checkers []keptCheck
	var runner *check.Runner
	var outputs chan check.Output
	// Verdicts are recorded as they come and applied to the plane once
	// per batch of outputs (flush, which every status publishes first),
	// and before anything that follows them (a notify script, a mail, a
	// reload), so that those still run after their real server's change
	// is in the plane.
	pending := false
	flush := func() {
		if !pending {
			return
		}
		pending = false
		if _, err := side.ApplyHealth(ctx); err != nil {
			o.Log.Error("applying a health change", "err", err)
		}
	}
	publish := func() {
		flush()
		o.Publish(status.LVSJSON{State: "running", Dataplane: choice.Name, DataplaneWhy: choice.Why,
			Operations: side.Operations(), Reloads: reloads, VirtualServers: side.SnapshotWith(counters), Checkers: side.Checkers(checkers),
			CheckerProblems: problems})
	}
	// refreshCheckers reads the checks from the Runner's goroutine, but
	// only while no output waits: the Runner may be blocked handing one
	// over, and this loop is the one that takes them. The status then
	// keeps the checks it had, until the outputs are drained.
	// It reports whether it read them.
	var version uint64
	refreshCheckers := func() bool {
		if runner == nil || len(outputs) > 0 {
			return false
		}
		v := runner.Version()
		sctx, cancel := context.WithTimeout(ctx, checkersWait)
		snap, ok := runner.Snapshot(sctx)
		cancel()
		if !ok {
			return false
		}
		version = v
		checkers = keepChecks(snap.Checks)
		return true
	}
	// Between outputs, the checks are read again every checkersEvery
	// when their states changed in a way no output told (a first check
	// that confirms the initial state): reading them costs a walk over
	// every check, which a steady state does not need.
	checkersTick := time.NewTicker(checkersEvery)
	defer checkersTick.Stop()
	tStart := time.Now()
	n, err := side.Start(ctx)
	if err != nil {
		o.Log.Error("some services were refused", "err", err)
	}
	started := []any{"dataplane", choice.Name, "why", choice.Why, "operations", n, "virtual_servers", len(cfg.VirtualServers),
		"prepare", tStart.Sub(tRun).Round(time.Millisecond), "apply", time.Since(tStart).Round(time.Millisecond)}
	if ranAtOK {
		started = append(started, "process_age_at_run", ranAt)
	}
	o.Log.Info("LVS side started", started...)
	// The checkers' plan is not needed before the table is in the
	// plane: the Runner starts after the first status.
	plan := reportBuild(cfg)
	t0 := time.Now()
	counters = side.Counters(ctx)
	if plane.Capabilities().Stats {
		// From the end of this first read: a start that took minutes
		// must not be followed by a second read at once.
		countersTimer = time.NewTimer(countersInterval(time.Since(t0)))
		defer countersTimer.Stop()
		countersTick = countersTimer.C
	}
	publish()
	// Loading and applying a large file leaves garbage several times the
	// size of what stays (the parse, the first table): give it back to
	// the system now rather than over the next minutes.
	debug.FreeOSMemory()

	outputs = make(chan check.Output, 1024)
	rctx, rcancel := context.WithCancel(context.Background())
	runner = check.NewRunner(plan, check.RunnerOptions{Log: o.Log, SYN: openSYN, Output: func(out check.Output) {
		// Room in the buffer first: once stopping, the Runner's last
		// outputs (omega's notify_down) must not lose a coin toss with
		// rctx.Done; only a full buffer nobody drains any more drops.
		select {
		case outputs <- out:
			return
		default:
		}
		select {
		case outputs <- out:
		case <-rctx.Done():
		}
	}})
	runDone := make(chan struct{})
	go func() { defer close(runDone); runner.Run(rctx) }()
	defer func() { rcancel(); <-runDone }()

	handle := func(out check.Output) {
		switch out := out.(type) {
		case check.Health:
			side.SetHealth(out)
			pending = true
		case check.Notify:
			flush()
			side.Notify(out)
		case check.CheckerChange:
			flush()
			side.CheckerChange(out)
		}
	}
	// The memory settles trimAfter a start or a reload (see memtrim), and
	// trimAfter after the last status published within settleWindow of
	// it (settle).
	trim := time.NewTimer(trimAfter)
	defer trim.Stop()
	var settle settling
	settle.begin(time.Now())
	published := func() {
		if settle.putOff(time.Now()) {
			trim.Reset(trimAfter)
		}
	}
	// Once settled, the limit follows the process when it grows (see
	// memtrim.Pressure): looked at every pressureEvery.
	var limit int64
	var pressure memtrim.Pressure
	watch := time.NewTicker(pressureEvery)
	defer watch.Stop()
	for {
		select {
		case <-trim.C:
			limit = memtrim.Settle()
			// The profile before the trim: written after it, its code's
			// pages would stay mapped and count in the RSS measured.
			memtrim.WriteHeapProfile(o.Log)
			memtrim.Trim(o.Log)
			pressure.Tight(time.Now()) // counts from here
			o.Log.Debug("memory settled", "limit_bytes", limit)
		case now := <-watch.C:
			if limit > 0 && pressure.Tight(now) {
				old := limit
				limit = memtrim.Settle()
				o.Log.Info("the LVS process grew into its memory limit; limit raised", "old_bytes", old, "new_bytes", limit)
			}
		case <-ctx.Done():
			rcancel()
			<-runDone
			// The notifications of a clean stop the Runner sent last
			// (omega: notify_down of each live real server), before the
			// Engine's quorum ones, in keepalived's order.
			for drained := false; !drained; {
				select {
				case out := <-outputs:
					if n, ok := out.(check.Notify); ok {
						side.Notify(n)
					}
				default:
					drained = true
				}
			}
			sctx, cancel := context.WithTimeout(context.Background(), stopTimeout)
			n, err := side.Stop(sctx)
			cancel()
			if err != nil {
				o.Log.Error("removing the services Vigil added", "err", err)
			}
			o.Log.Info("LVS side stopped", "operations", n)
			return nil
		case out := <-outputs:
			handle(out)
			// A burst of outputs (a network split failing thousands of
			// checks) is published once, when it is drained: each status
			// is the whole table, so publishing after each output would
			// cost the square of the burst.
			if len(outputs) == 0 {
				refreshCheckers()
				publish()
				published()
			}
		case <-checkersTick.C:
			if runner.Version() != version && refreshCheckers() {
				publish()
				published()
			}
		case <-countersTick:
			t0 := time.Now()
			counters = side.Counters(ctx)
			countersTimer.Reset(countersInterval(time.Since(t0)))
			publish()
		case ev, ok := <-o.Addrs:
			if !ok {
				o.Addrs = nil
				if ctx.Err() != nil {
					continue // stopping: the watch ends with us
				}
				o.Log.Error("the address watch ended; ha_suspend no longer follows the host's addresses")
				continue
			}
			if _, err := side.Held(ctx, ev.Addr, ev.Held); err != nil {
				o.Log.Error("applying an address change", "err", err)
			}
			publish()
		case st, ok := <-o.VRRP:
			if !ok {
				o.VRRP = nil // the parent is gone; it stops us soon
				continue
			}
			side.VRRPState(ctx, st.Instance, st.State)
			publish()
		case <-o.Reload:
			// The new configuration lives next to the old one until the
			// switch: no limit sized for one of them meanwhile.
			memtrim.Lift()
			limit = 0
			trim.Reset(trimAfter)
			settle.begin(time.Now())
			t0 := time.Now()
			c, err := o.Load(ctx)
			loaded := time.Now()
			if err != nil {
				o.Log.Error("reload refused; the LVS side keeps its configuration", "err", err)
				continue
			}
			flush()
			// The Runner switches first, and the Side follows. Until the
			// switch every output is the old file's and goes in under it:
			// a health from before the reload carries the old weight, and
			// applied after the Side's reload it would put that weight
			// back (an operation to undo the reload, another to redo it).
			// That includes outputs not even sent yet: the Runner may be
			// in the middle of its first report of every server (20,000
			// outputs for a large table) and switches only after it.
			// Replace reports, before it returns, the servers whose
			// health or weight the new file changed; those of servers the
			// old file has go in at once (the Side's reload then finds
			// them done), those of new servers are what the Side's
			// reload starts them with anyway. The Runner may block on
			// outputs while it switches (a reload that changes thousands
			// of servers fills the buffer): keep applying them until
			// Replace returns.
			before := side.Operations()
			replaced := make(chan struct{})
			next := reportBuild(c)
			built := time.Now()
			go func() { runner.Replace(ctx, next); close(replaced) }()
		wait:
			for {
				select {
				case out := <-outputs:
					handle(out)
				case <-replaced:
					break wait
				}
			}
			flush() // the old file's reports, under the old file
			switched := time.Now()
			if _, err := side.Reload(ctx, c); err != nil {
				o.Log.Error("reload applied in part", "err", err)
			}
			applied := time.Now()
		drain:
			for {
				select {
				case out := <-outputs:
					handle(out)
				default:
					break drain
				}
			}
			flush()
			n := side.Operations() - before
			reloads++
			// Where the reload's time went, to the change in the plane:
			// the file's load, the checkers' plan, the Runner's switch,
			// the Side's reload and its operations.
			o.Log.Info("LVS side reloaded", "operations", n, "load", loaded.Sub(t0), "plan", built.Sub(loaded),
				"switch", switched.Sub(built), "apply", applied.Sub(switched))
			refreshCheckers()
			publish()
		}
	}
}

// trimAfter is how long after a start or a reload the LVS process settles
// its memory (memtrim.Settle, memtrim.Trim): the start's or the reload's
// garbage is collected and given back, the runtime's memory limit is sized
// from what stays (collections then come when the heap grows by an eighth
// rather than by GOGC's half), and the executable's pages the start ran
// through are dropped. Long enough for the checks' first round and the
// initial verdicts; a status published later within settleWindow puts it
// off again.
const trimAfter = 10 * time.Second

// settleWindow is how long after a start or a reload a status publish
// puts the memory's settling off by trimAfter again: the checks' first
// verdicts arrive over their first rounds, and publishing them runs
// paths the steady state does not (the status's whole encoding, once),
// whose garbage and executable pages a settle made before them would
// keep (docs/BENCHMARKS.md, "Health checks": the RSS spread). Bounded,
// so that a table whose checks keep changing still settles.
const settleWindow = time.Minute

// settling is when a start's or a reload's settle window ends.
type settling struct{ by time.Time }

// begin opens the window, at a start or a reload.
func (s *settling) begin(now time.Time) { s.by = now.Add(settleWindow) }

// putOff says whether a status published at now puts the settling off.
func (s *settling) putOff(now time.Time) bool { return now.Before(s.by) }

// pressureEvery is how often the LVS loop asks whether its memory limit
// has become too tight (memtrim.Pressure): a reading of one runtime
// metric, so a process that outgrew its limit collects back to back for
// at most this long.
const pressureEvery = 5 * time.Second

// synPorts is the number of source ports the raw-socket TCP_CHECK
// reserves: checks of one target that overlap (the same address and port
// in two checks with other options) take one each; beyond, they connect.
const synPorts = 4

// openSYN opens the raw-socket TCP_CHECK's wire (it needs CAP_NET_RAW;
// without, the Runner logs why and connects).
func openSYN() (rawsyn.Wire, error) { return rawsyn.OpenSys(synPorts) }
