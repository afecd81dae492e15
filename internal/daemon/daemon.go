// Package daemon wires Vigil together: it loads the configuration, starts
// the VRRP instances with their sockets and host side, and stops them
// cleanly, leaving no address behind.
package daemon

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"syscall"

	"vigil/internal/config"
)

// Options are the daemon's settings from the command line.
type Options struct {
	ConfigFile  string
	ConfigID    string
	LogConsole  bool // -l: log to Stderr (Vigil logs to stderr in any case; under systemd that is the journal)
	LogDetail   bool // -D: debug level
	VRRPOnly    bool // -P
	CheckOnly   bool // -C
	PidFile     string
	VRRPPidFile string
	CheckPid    string
	// StateDir holds the state file that lets a later run remove addresses
	// a crashed run left behind; default /run/vigil.
	StateDir string
	Stderr   io.Writer
}

// DefaultStateDir is where Vigil keeps its runtime state.
const DefaultStateDir = "/run/vigil"

// Run loads the configuration and runs until ctx is cancelled. A
// configuration with errors is refused before anything on the host is
// touched; the returned error is then a *config.DiagnosticsError.
func Run(ctx context.Context, o Options) error {
	if o.Stderr == nil {
		o.Stderr = os.Stderr
	}
	if o.StateDir == "" {
		o.StateDir = DefaultStateDir
	}
	log := newLogger(o)
	// Catch SIGHUP from the start: its default action would kill us, and a
	// reload sent while we are still starting must not take the node down.
	hup := make(chan os.Signal, 1)
	signal.Notify(hup, syscall.SIGHUP)
	defer signal.Stop(hup)
	cfg, diags := config.Load(o.ConfigFile, config.LoadOptions{
		ReadOptions: config.ReadOptions{ConfigID: o.ConfigID},
		HostChecks:  true,
	})
	diags.Sort()
	for _, d := range diags {
		lvl := slog.LevelWarn
		if d.Severity == config.Error {
			lvl = slog.LevelError
		}
		log.Log(ctx, lvl, d.Msg, "pos", d.Pos.String())
	}
	if err := diags.Err(); err != nil {
		return err
	}
	if err := writePidFile(o.PidFile); err != nil {
		return err
	}
	defer removePidFile(o.PidFile)
	runVRRP := !o.CheckOnly || o.VRRPOnly
	if runVRRP {
		if err := writePidFile(o.VRRPPidFile); err != nil {
			return err
		}
		defer removePidFile(o.VRRPPidFile)
	}
	if len(cfg.VirtualServers) > 0 && (!o.VRRPOnly || o.CheckOnly) {
		// The parser has warned about each virtual_server already; say once
		// what that means for the process as a whole.
		log.Warn("virtual_server blocks are not acted on yet: the checker and load-balancing subsystem is not implemented", "virtual_servers", len(cfg.VirtualServers))
	}
	if !runVRRP {
		log.Warn("only the checker subsystem was asked for (-C) and it is not implemented yet; nothing to run")
		<-ctx.Done()
		return nil
	}
	v, err := startVRRP(ctx, cfg, o.StateDir, log)
	if err != nil {
		return err
	}
	log.Info("vigil started", "config", o.ConfigFile, "instances", len(cfg.Instances))
	d := &daemon{o: o, log: log, vrrp: v}
	d.loop(ctx, hup)
	log.Info("stopping")
	v.stop()
	log.Info("stopped")
	return nil
}

// daemon is the running process: one event loop owns reloads, so two can
// never interleave.
type daemon struct {
	o    Options
	log  *slog.Logger
	vrrp *vrrpRunner
}

// loop runs until ctx is done, reloading on SIGHUP.
func (d *daemon) loop(ctx context.Context, hup <-chan os.Signal) {
	for {
		select {
		case <-ctx.Done():
			return
		case <-hup:
			if err := d.reload(ctx); err != nil {
				d.log.Error("reload refused; the running configuration is unchanged", "err", err)
			}
		}
	}
}

// reload loads and validates the configuration file again and, only if it
// is valid, applies it as a difference to what runs.
func (d *daemon) reload(ctx context.Context) error {
	d.log.Info("reloading", "config", d.o.ConfigFile)
	cfg, diags := config.Load(d.o.ConfigFile, config.LoadOptions{
		ReadOptions: config.ReadOptions{ConfigID: d.o.ConfigID},
		HostChecks:  true,
	})
	diags.Sort()
	for _, dg := range diags {
		lvl := slog.LevelWarn
		if dg.Severity == config.Error {
			lvl = slog.LevelError
		}
		d.log.Log(ctx, lvl, dg.Msg, "pos", dg.Pos.String())
	}
	if err := diags.Err(); err != nil {
		return err
	}
	sum, err := d.vrrp.reload(cfg)
	d.log.Info("reloaded", "unchanged", sum.Unchanged, "addresses_changed", sum.AddressesChanged,
		"restarted", sum.Restarted, "added", sum.Added, "removed", sum.Removed)
	return err
}

// newLogger builds the structured logger: text on stderr (the journal under
// systemd), debug level with -D.
func newLogger(o Options) *slog.Logger {
	lvl := slog.LevelInfo
	if o.LogDetail {
		lvl = slog.LevelDebug
	}
	return slog.New(slog.NewTextHandler(o.Stderr, &slog.HandlerOptions{Level: lvl}))
}

// errorf is fmt.Errorf with the daemon's prefix.
func errorf(format string, args ...any) error { return fmt.Errorf("vigil: "+format, args...) }
