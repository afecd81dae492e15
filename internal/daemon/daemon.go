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
	<-ctx.Done()
	log.Info("stopping")
	v.stop()
	log.Info("stopped")
	return nil
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
