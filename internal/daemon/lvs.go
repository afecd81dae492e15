package daemon

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"os/signal"
	"syscall"
	"time"

	"vigil/internal/check"
	"vigil/internal/config"
	"vigil/internal/lvsproc"
	"vigil/internal/runpath"
	"vigil/internal/status"
)

// lvsStopTimeout is how long the parent waits for the LVS child to remove
// its services on a clean stop before killing it.
const lvsStopTimeout = 15 * time.Second

// wantLVS reports whether this process should run (or start) the LVS side.
func wantLVS(o Options, cfg *config.Config) bool {
	return len(cfg.VirtualServers) > 0 && (!o.VRRPOnly || o.CheckOnly)
}

// startLVSChild starts the supervised LVS child: the same executable with
// lvsproc.ChildFlag and the parent's own arguments, so that it loads the
// same file the same way.
func startLVSChild(o Options, hub *status.Hub, log *slog.Logger) (*lvsproc.Supervisor, error) {
	exe, err := os.Executable()
	if err != nil {
		return nil, fmt.Errorf("LVS process: %w", err)
	}
	sup := lvsproc.Supervise(lvsproc.SuperviseOptions{Path: exe, Args: o.ChildArgs, Log: log.With("side", "lvs"), Emit: hub.Publish, NoRespawn: o.DontRespawn})
	hub.SetLVSSource(sup.Status)
	return sup, nil
}

// RunLVSChild is the LVS process, started by the VRRP process with
// lvsproc.ChildFlag: normal scheduling and every core, the checkers, the
// lvs Engine and a data plane; status and events go to the parent on fd 3.
// SIGTERM (or the parent's death) stops it cleanly, removing what it
// added; SIGHUP (forwarded by the parent) reloads.
func RunLVSChild(ctx context.Context, o Options) error {
	lvsproc.ResetScheduling()
	if o.Stderr == nil {
		o.Stderr = os.Stderr
	}
	log := o.Log
	if log == nil {
		log = newLogger(o)
	}
	log = log.With("side", "lvs", "pid", os.Getpid())
	// keepalived's checkers pid file (-c) names this process. The parent
	// has entered the network namespace already; the child inherits it.
	cfg, _, err := loadConfig(ctx, o, slog.New(slog.DiscardHandler))
	if err == nil {
		in := o.Paths
		if in.Namespace == "" {
			in.Namespace = cfg.Global.NetNamespace
		}
		in.Instance, in.UsePidDir = cfg.Global.Instance, cfg.Global.UsePIDDir
		pid := runpath.Resolve(in).CheckersPidFile
		if err := writePidFile(pid); err != nil {
			log.Warn("checkers pid file not written", "err", err)
		} else {
			defer removePidFile(pid)
		}
	}
	rep := lvsproc.NewReporter(lvsproc.Pipe())
	if err != nil {
		cfg = nil // runLVS loads it again and reports why it cannot
	}
	return runLVS(ctx, o, cfg, log, "child", rep.Publish, rep.Emit, lvsproc.ReadVRRPStates(lvsproc.ControlPipe()))
}

// vrrpStateSink is what followVRRP tells (lvsproc.Supervisor).
type vrrpStateSink interface {
	SetVRRPState(instance, state string)
}

// followVRRP tells the LVS child every VRRP instance's state and each
// transition (lvs_sync_daemon's role follows one), until ctx is done. A
// subscription cut off for falling behind is opened again and the states
// read afresh, so no transition is lost for good.
func followVRRP(ctx context.Context, hub *status.Hub, sup vrrpStateSink) {
	for ctx.Err() == nil {
		sub := hub.Subscribe()
		for _, in := range hub.Instances() {
			sup.SetVRRPState(in.Snapshot.Name, in.Snapshot.State.String())
		}
	events:
		for {
			select {
			case <-ctx.Done():
				sub.Close()
				return
			case ev, ok := <-sub.Events():
				if !ok {
					break events
				}
				if ev.Kind == "" && ev.To != "" {
					sup.SetVRRPState(ev.Instance, ev.To)
				}
			}
		}
	}
}

// runLVS loads the configuration and runs the LVS loop in this process.
// vrrp carries the VRRP instances' states (nil under -C: no VRRP side).
func runLVS(ctx context.Context, o Options, cfg *config.Config, log *slog.Logger, mode string, publish func(status.LVSJSON), emit func(status.Event), vrrp <-chan lvsproc.VRRPState) error {
	hup := make(chan os.Signal, 1)
	signal.Notify(hup, syscall.SIGHUP)
	defer signal.Stop(hup)
	// The parent has logged the file's diagnostics already.
	quiet := slog.New(slog.DiscardHandler)
	load := func(ctx context.Context) (*config.Config, error) {
		cfg, _, err := loadConfig(ctx, o, quiet)
		return cfg, err
	}
	// The caller has usually loaded the file already: a second parse of
	// a large one is not free (seconds for 5,000 virtual servers in an
	// emulated guest).
	if cfg == nil {
		var err error
		if cfg, err = load(ctx); err != nil {
			return err
		}
	}
	reload := make(chan struct{}, 1)
	go func() {
		for {
			select {
			case <-ctx.Done():
				return
			case <-hup:
				log.Info("SIGHUP: reloading the LVS side")
				select {
				case reload <- struct{}{}:
				default:
				}
			}
		}
	}()
	addrs, err := lvsproc.WatchAddrs(ctx)
	if err != nil {
		log.Error("ha_suspend cannot follow the host's addresses", "err", err)
	}
	notes := lvsproc.NewNotes(cfg, log, mode == "only")
	defer notes.Close()
	return lvsproc.Run(ctx, lvsproc.RunOptions{
		Config: cfg, Load: load, Reload: reload, Dataplane: o.Dataplane, Addrs: addrs, VRRP: vrrp, Notes: notes, Log: log,
		Publish: func(s status.LVSJSON) { s.Mode, s.PID = mode, os.Getpid(); publish(s) },
		Emit:    emit,
	})
}

// CheckProblems lists what keeps a checker of cfg from running (a missing
// script, an unreadable certificate), each with its file:line, for
// `vigil -t` and the start.
func CheckProblems(cfg *config.Config) []error {
	_, errs := check.Build(cfg, check.BuildOptions{ProblemsOnly: true})
	return errs
}

// runLVSOnly is -C: the LVS side alone, in this process, with the control
// socket for status and events (keepalived's -C runs its checker process
// alone).
func runLVSOnly(ctx context.Context, o Options, cfg *config.Config, diags config.Diagnostics, files runpath.Files, log *slog.Logger) error {
	if len(cfg.VirtualServers) == 0 {
		log.Warn("only the checker subsystem was asked for (-C) and the configuration has no virtual_server; nothing to run")
		<-ctx.Done()
		return nil
	}
	if err := writePidFile(files.CheckersPidFile); err != nil {
		return err
	}
	defer removePidFile(files.CheckersPidFile)
	hub := status.NewHub()
	hub.SetConfigReport(configReport(o.ConfigFile, diags, time.Now()))
	// vigil_metrics_listen serves the LVS side's metrics (the traffic
	// counters above all) under -C too: an LVS-only node is the one that
	// has them.
	ops, err := listenOps(files.Socket, cfg.Global.VigilMetricsListen, log)
	if err != nil {
		return err
	}
	defer ops.stop()
	var last lvsState
	last.set(status.LVSJSON{Mode: "only", PID: os.Getpid(), State: "starting", VirtualServers: []status.LVSVirtualServerJSON{}})
	hub.SetLVSSource(last.get)
	ops.serve(hub)
	return runLVS(ctx, o, cfg, log.With("side", "lvs"), "only", last.set, hub.Publish, nil)
}
