// Package daemon wires Vigil together: it loads the configuration, starts
// the VRRP instances with their sockets and host side, and stops them
// cleanly, leaving no address behind.
package daemon

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"syscall"
	"time"

	"vigil/internal/config"
	"vigil/internal/netns"
	"vigil/internal/runpath"
	"vigil/internal/sdnotify"
	"vigil/internal/status"
)

// Options are the daemon's settings from the command line.
type Options struct {
	ConfigFile string
	ConfigID   string
	LogDetail  bool // -D: debug level (for the fallback logger when Log is nil)
	VRRPOnly   bool // -P
	CheckOnly  bool // -C
	// Strict refuses a configuration with errors keepalived runs past
	// (unknown keywords) at start and on reload, instead of logging each and
	// running without it; global_defs vigil_strict does the same.
	Strict bool
	// IncludeCheckAll is -e/--all-config: every include checked as includet.
	IncludeCheckAll bool
	// Paths are the flags and environment that name the runtime files (pid
	// files, control socket, state file); Run completes them with
	// global_defs net_namespace and instance and resolves them with
	// runpath.Resolve, as keepalived names its files.
	Paths runpath.Input
	// Log is where the daemon logs (syslog, console, file: cmd/vigil sets
	// it up from -l, -S, -g, -G); nil logs text to Stderr.
	Log    *slog.Logger
	Stderr io.Writer
	// Dataplane is --dataplane: auto, ipvs, nftables or proxy.
	Dataplane string
	// DontRespawn is -R: a dead LVS child is not restarted.
	DontRespawn bool
	// ChildArgs are the arguments the LVS child is started with (after
	// lvsproc.ChildFlag): the parent's own.
	ChildArgs []string
}

// Run loads the configuration and runs until ctx is cancelled. A
// configuration with errors is refused before anything on the host is
// touched; the returned error is then a *config.DiagnosticsError.
func Run(ctx context.Context, o Options) error {
	if o.Stderr == nil {
		o.Stderr = os.Stderr
	}
	log := o.Log
	if log == nil {
		log = newLogger(o)
	}
	// Catch SIGHUP from the start: its default action would kill us, and a
	// reload sent while we are still starting must not take the node down.
	hup := make(chan os.Signal, 1)
	signal.Notify(hup, syscall.SIGHUP)
	defer signal.Stop(hup)
	cfg, diags, err := loadConfig(ctx, o, log)
	if err != nil {
		return err
	}
	files, err := runtimeFiles(cfg.Global, o.Paths, log)
	if err != nil {
		return err
	}
	if err := writePidFile(files.PidFile); err != nil {
		return err
	}
	defer removePidFile(files.PidFile)
	runVRRP := !o.CheckOnly || o.VRRPOnly
	if runVRRP {
		if err := writePidFile(files.VRRPPidFile); err != nil {
			return err
		}
		defer removePidFile(files.VRRPPidFile)
	}
	if !runVRRP {
		return runLVSOnly(ctx, o, cfg, diags, files, log)
	}
	// keepalived's dump signals, caught before anything runs so that an
	// early one never kills the process.
	dumps := make(chan os.Signal, 1)
	signal.Notify(dumps, status.DumpSignals...)
	defer signal.Stop(dumps)

	hub := status.NewHub()
	hupLVS := func() {}
	hub.SetConfigReport(configReport(o.ConfigFile, diags, time.Now()))
	// The control socket comes up before the instances, so a second Vigil
	// started by mistake fails here, before it touches any address.
	ops, err := listenOps(files.Socket, cfg.Global.VigilMetricsListen, log)
	if err != nil {
		return err
	}
	defer ops.stop()

	// Real-time scheduling and locked memory (vrrp_rt_priority,
	// vrrp_no_swap, ...) before the instances start, so every thread they
	// run on has it. Advisory, as in keepalived: a failure is logged.
	if err := applyScheduling(cfg.Global, log); err != nil {
		log.Warn("scheduling settings not fully applied", "err", err)
	}
	v, err := startVRRP(ctx, cfg, files.StateFile, hub, log)
	if err != nil {
		return err
	}
	hub.SetSource(v.statusInstances)
	if wantLVS(o, cfg) {
		// The LVS side runs in a child of its own (normal scheduling, every
		// core); its death never touches the VRRP instances.
		sup, err := startLVSChild(o, hub, log)
		if err != nil {
			log.Error("the LVS side is not running", "err", err)
		} else {
			defer sup.Stop(lvsStopTimeout)
			hupLVS = sup.Reload
			fctx, fcancel := context.WithCancel(ctx)
			defer fcancel()
			go followVRRP(fctx, hub, sup)
		}
	}
	d := &daemon{o: o, log: log, vrrp: v, hub: hub, sd: sdnotify.FromEnv(), reloads: make(chan reloadRequest), metricsAddr: cfg.Global.VigilMetricsListen,
		namespace: cfg.Global.NetNamespace, instance: cfg.Global.Instance, reloadLVS: hupLVS}
	hub.SetReload(d.requestReload)
	ops.serve(hub)
	log.Info("vigil started", "config", o.ConfigFile, "instances", len(cfg.Instances), "socket", files.Socket,
		"pid_file", files.PidFile, "state_file", files.StateFile,
		"tolerated_errors", len(diags.Tolerated()), "warnings", len(diags.Warnings()))
	if err := d.sd.Ready(fmt.Sprintf("%d VRRP instance(s)", len(cfg.Instances))); err != nil {
		log.Warn("sd_notify", "err", err)
	}
	d.loop(ctx, hup, dumps, hub)
	log.Info("stopping")
	d.sd.Stopping()
	v.stop()
	d.sd.Close()
	log.Info("stopped")
	return nil
}

// daemon is the running process: one event loop owns reloads, so two can
// never interleave, and keeps the systemd watchdog fed, so a stuck loop is
// noticed.
type daemon struct {
	o       Options
	log     *slog.Logger
	vrrp    *vrrpRunner
	hub     *status.Hub
	sd      *sdnotify.Notifier
	reloads chan reloadRequest
	// metricsAddr is the metrics endpoint opened at start ("" for none).
	metricsAddr string
	// namespace and instance are net_namespace and instance at start: the
	// namespace and runtime files do not change on reload.
	namespace, instance string
	// reloadLVS forwards a reload to the LVS child.
	reloadLVS func()
}

// reloadRequest is a reload asked for over the control socket.
type reloadRequest struct{ reply chan reloadResult }

// reloadResult is what a reload did, or why it was refused.
type reloadResult struct {
	reply status.ReloadJSON
	err   error
}

// requestReload hands a reload to the event loop and waits for its result.
func (d *daemon) requestReload(ctx context.Context) (status.ReloadJSON, error) {
	req := reloadRequest{reply: make(chan reloadResult, 1)}
	select {
	case d.reloads <- req:
	case <-ctx.Done():
		return status.ReloadJSON{}, ctx.Err()
	}
	select {
	case res := <-req.reply:
		return res.reply, res.err
	case <-ctx.Done():
		return status.ReloadJSON{}, ctx.Err()
	}
}

// loop runs until ctx is done: reloads (SIGHUP or the control socket),
// keepalived's dump signals, the watchdog, and the memory trim.
func (d *daemon) loop(ctx context.Context, hup, dumps <-chan os.Signal, hub *status.Hub) {
	var wd <-chan time.Time
	if period, ok := d.sd.WatchdogPeriod(); ok {
		t := time.NewTicker(period)
		defer t.Stop()
		wd = t.C
	}
	// The memory a start, a reload or a transition used is handed back
	// once the daemon has been quiet for a while (memory.go).
	trim := time.NewTimer(trimAfterQuiet)
	defer trim.Stop()
	doReload := func() reloadResult {
		d.sd.Reloading()
		reply, err := d.reload(ctx)
		if err != nil {
			d.log.Error("reload refused; the running configuration is unchanged", "err", err)
		}
		trim.Reset(trimAfterQuiet)
		d.sd.Ready("reloaded")
		return reloadResult{reply, err}
	}
	for {
		select {
		case <-ctx.Done():
			return
		case <-hup:
			doReload()
		case req := <-d.reloads:
			req.reply <- doReload()
		case sig := <-dumps:
			if _, err := hub.HandleDumpSignal(sig, status.DumpFiles{}); err != nil {
				d.log.Error("writing the dump", "signal", sig.String(), "err", err)
			} else {
				d.log.Info("dump written", "signal", sig.String())
			}
		case <-d.vrrp.feed.changed:
			trim.Reset(trimAfterQuiet)
		case <-trim.C:
			trimMemory(d.log)
		case <-wd:
			// The ticker runs at half the watchdog time and sets the pace;
			// a ping on every tick, so timer jitter can never stretch the
			// gap to the full watchdog time.
			if err := d.sd.Watchdog(); err != nil {
				d.log.Warn("watchdog notification", "err", err)
			}
		}
	}
}

// reload loads and validates the configuration file again and, only if it
// is valid (mistakes keepalived runs past aside, unless strict), applies it
// as a difference to what runs. It returns an error only when it refused
// the file and changed nothing; otherwise the reply names what changed and
// carries the new file's diagnostics, and an instance that fails to start
// while the rest is applied is in the reply's errors.
func (d *daemon) reload(ctx context.Context) (status.ReloadJSON, error) {
	d.log.Info("reloading", "config", d.o.ConfigFile)
	if d.reloadLVS != nil {
		// The LVS child loads the file itself, and keeps its
		// configuration if the file is refused, as this process does:
		// it is told at once, so that its reload does not wait for this
		// process's parse of the file.
		d.reloadLVS()
	}
	cfg, diags, err := loadConfig(ctx, d.o, d.log)
	if err != nil {
		return status.ReloadJSON{}, err
	}
	if cfg.Global.VigilMetricsListen != d.metricsAddr {
		d.log.Warn("vigil_metrics_listen changed; the metrics endpoint moves at the next restart, not on reload",
			"running", d.metricsAddr, "configured", cfg.Global.VigilMetricsListen)
	}
	if cfg.Global.NetNamespace != d.namespace || cfg.Global.Instance != d.instance {
		d.log.Warn("net_namespace or instance changed; the namespace and the runtime files change at the next restart, not on reload",
			"running_namespace", d.namespace, "configured_namespace", cfg.Global.NetNamespace,
			"running_instance", d.instance, "configured_instance", cfg.Global.Instance)
	}
	sum, err := d.vrrp.reload(cfg)
	if refused := (*reloadRefusedError)(nil); errors.As(err, &refused) {
		return status.ReloadJSON{}, err
	}
	d.log.Info("reloaded", "unchanged", sum.Unchanged, "addresses_changed", sum.AddressesChanged, "priority_changed", sum.PriorityChanged,
		"restarted", sum.Restarted, "added", sum.Added, "removed", sum.Removed,
		"tolerated_errors", len(diags.Tolerated()), "warnings", len(diags.Warnings()))
	if err != nil {
		// The rest of the new configuration runs: saying the old one is
		// unchanged would be false.
		d.log.Error("reload applied in part; these instances are not running", "err", err)
	}
	if d.hub != nil {
		d.hub.SetConfigReport(configReport(d.o.ConfigFile, diags, time.Now()))
	}
	return reloadReply(diags, sum, err), nil
}

// runtimeFiles completes the paths' input with global_defs (net_namespace
// when -s is not given, as keepalived; instance; use_pid_dir), enters the
// network namespace if one is named, and resolves the runtime files.
func runtimeFiles(g config.GlobalDefs, in runpath.Input, log *slog.Logger) (runpath.Files, error) {
	switch {
	case in.Namespace == "":
		in.Namespace = g.NetNamespace
	case g.NetNamespace != "" && g.NetNamespace != in.Namespace:
		log.Info("net_namespace of the configuration overridden by the command line", "net_namespace", g.NetNamespace, "namespace", in.Namespace)
	}
	in.Instance = g.Instance
	in.UsePidDir = g.UsePIDDir
	if in.Namespace != "" {
		// Returns only when already inside (or on an error); otherwise the
		// program starts again in the namespace and gets here inside it.
		if err := netns.Enter(in.Namespace); err != nil {
			return runpath.Files{}, err
		}
		log.Info("running in network namespace", "namespace", in.Namespace)
	}
	return runpath.Resolve(in), nil
}

// newLogger builds the fallback logger: text on Stderr, debug level with -D.
func newLogger(o Options) *slog.Logger {
	lvl := slog.LevelInfo
	if o.LogDetail {
		lvl = slog.LevelDebug
	}
	return slog.New(slog.NewTextHandler(o.Stderr, &slog.HandlerOptions{Level: lvl}))
}
