package track

import (
	"context"
	"log/slog"
	"time"

	"vigil/internal/notify/script"
)

// Runner runs a check once; *script.Script implements it.
type Runner interface {
	Run(ctx context.Context, timeout time.Duration, extra ...string) script.Result
}

// ScriptConfig is what a script tracker needs from a vrrp_script block.
type ScriptConfig struct {
	Name     string
	Interval time.Duration
	// Timeout bounds one run; 0 means the interval.
	Timeout    time.Duration
	Rise, Fall int
	InitFail   bool
}

// ScriptTracker runs one vrrp_script every interval, in its own goroutine,
// and reports changes of its rise/fall status. A run is never started while
// the previous one is still going; a run that outlives its timeout is
// killed (with its process group) and counts as a failure.
type ScriptTracker struct {
	cfg    ScriptConfig
	runner Runner
	log    *slog.Logger
	rf     RiseFall
}

// NewScriptTracker returns a tracker for cfg that runs runner.
func NewScriptTracker(cfg ScriptConfig, runner Runner, log *slog.Logger) *ScriptTracker {
	if cfg.Timeout <= 0 {
		cfg.Timeout = cfg.Interval
	}
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return &ScriptTracker{
		cfg:    cfg,
		runner: runner,
		log:    log.With("script", cfg.Name),
		rf:     NewRiseFall(cfg.Rise, cfg.Fall, cfg.InitFail),
	}
}

// Initial is the update describing the tracker before its first run
// (Pending, or Bad with init_fail).
func (t *ScriptTracker) Initial() Update {
	return Update{Kind: KindScript, Name: t.cfg.Name, Status: t.rf.Status(), Reason: "not run yet"}
}

// Run runs the script now and then every interval until ctx ends, sending
// an Update to out whenever the status changes. It returns after the
// running script (if any) has been killed and reaped.
func (t *ScriptTracker) Run(ctx context.Context, out chan<- Update) {
	runCtx, cancel := context.WithCancel(ctx)
	defer cancel()
	ticker := time.NewTicker(t.cfg.Interval)
	defer ticker.Stop()

	results := make(chan script.Result, 1)
	running := false
	start := func() {
		running = true
		go func() { results <- t.runner.Run(runCtx, t.cfg.Timeout) }()
	}
	start()
	for {
		select {
		case <-ctx.Done():
			if running {
				<-results // cancel has killed it; wait so nothing is left behind
			}
			return
		case <-ticker.C:
			if running {
				t.log.Warn("vrrp_script still running at its next interval; not starting another")
				continue
			}
			start()
		case res := <-results:
			running = false
			status, changed := t.rf.Record(res.OK())
			if !res.OK() {
				t.log.Debug("vrrp_script failed", "result", res.String())
			}
			if !changed {
				continue
			}
			if status == Good {
				t.log.Info("vrrp_script succeeded", "result", res.String())
			} else {
				t.log.Info("vrrp_script failed", "result", res.String())
			}
			select {
			case out <- Update{Kind: KindScript, Name: t.cfg.Name, Status: status, Reason: res.String()}:
			case <-ctx.Done():
			}
		}
	}
}
