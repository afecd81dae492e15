package vmlab

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"os"
	"os/signal"
	"path/filepath"
	"regexp"
	"syscall"
	"testing"

	"vigil/internal/check"
	"vigil/internal/config"
	"vigil/internal/dataplane"
	"vigil/internal/dataplane/ipvs"
	"vigil/internal/lvs"
	"vigil/internal/netlab"
)

// vigilConf, when set, makes this test binary the Vigil LVS side for that
// config (TestVigilLVSSide) instead of running the tests.
var vigilConf = flag.String("vigil.conf", "", "run as Vigil's LVS side on this keepalived.conf (vigilPlane's child)")

// vigilPlane runs Vigil's LVS side on the case: the daemon (its LVS
// process alone, -C, unless the file has a VRRP instance) when
// -vigil.bin (or VIGIL_BIN) names a vigil binary, as `make vmtest` does;
// otherwise this test binary again in the case's namespace as
// TestVigilLVSSide, which drives the same packages in process (config,
// check, lvs, dataplane/ipvs).
var vigilPlane = plane{name: "vigil", start: startVigil}

// vigilBin, when set, is a vigil binary the plane runs instead of the
// in-process driver. Its default comes from VIGIL_BIN because the lab
// passes the same flags to every package's test binary (and only this
// one defines the flag).
var vigilBin = flag.String("vigil.bin", os.Getenv("VIGIL_BIN"), "run this vigil binary instead of the in-process LVS side (default $VIGIL_BIN)")

// startVigil starts Vigil's LVS side in h's namespace on conf: by default
// this test binary as TestVigilLVSSide; with -vigil.bin the daemon, its
// runtime files (pid files, control socket) in dir.
func startVigil(h *netlab.Host, dir, conf string) (*netlab.Proc, error) {
	if *vigilBin != "" {
		// As keepalivedPlane: the LVS process alone (-C) unless the file
		// has a VRRP instance, whose state lvs_sync_daemon follows.
		args := []string{"-n", "-l", "-D", "--dataplane", "ipvs", "-f", conf,
			"-p", filepath.Join(dir, "vigil.pid"),
			"-c", filepath.Join(dir, "checkers.pid"),
			"-r", filepath.Join(dir, "vrrp.pid")}
		text, err := os.ReadFile(conf)
		if err != nil {
			return nil, err
		}
		if !regexp.MustCompile(`(?m)^\s*vrrp_instance\s`).Match(text) {
			args = append(args, "-C")
		}
		return h.Start(*vigilBin, args...)
	}
	return h.Start(os.Args[0], "-test.run=^TestVigilLVSSide$", "-test.timeout=0", "-vigil.conf="+conf)
}

// TestVigilGolden runs Vigil's LVS side on every case and checks that it
// programs keepalived's table, or the recorded deliberate difference
// (NAME.vigil.ipvsadm, see the goldens' README).
func TestVigilGolden(t *testing.T) {
	runGolden(t, vigilPlane)
}

// TestVigilLVSSide is not a test: it is vigilPlane's child process, which
// runs only with -vigil.conf. It loads the config, programs the
// namespace's IPVS table from the Engine as the checkers report, and on
// SIGTERM removes what it added, as a clean stop of the daemon does.
func TestVigilLVSSide(t *testing.T) {
	if *vigilConf == "" {
		t.Skip("vigilPlane's child process; runs only with -vigil.conf")
	}
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, syscall.SIGINT)
	defer stop()
	log := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelDebug}))
	if err := runLVSSide(ctx, *vigilConf, log); err != nil {
		log.Error("lvs side", "err", err)
		os.Exit(1)
	}
	os.Exit(0)
}

// runLVSSide is the LVS side of the daemon, in one goroutine: the
// checkers' verdicts go into the Engine, whose changes the Reconciler
// applies to IPVS.
func runLVSSide(ctx context.Context, path string, log *slog.Logger) error {
	cfg, diags := config.Load(path, config.LoadOptions{})
	for _, d := range diags {
		log.Warn("config", "diag", d.String())
	}
	if diags.HasErrors() {
		return fmt.Errorf("refused: %w", diags.Errors().Err())
	}
	plan, errs := check.Build(cfg, check.BuildOptions{Log: log})
	for _, err := range errs {
		log.Warn("checker left out", "err", err)
	}
	plane, err := ipvs.Open(ipvs.Options{})
	if err != nil {
		return err
	}
	engine := lvs.New(cfg)
	rec := lvs.NewReconciler(plane, log)
	if err := rec.Sync(ctx); err != nil {
		return err
	}
	// The host's addresses, for ha_suspend (the daemon watches them).
	if addrs, err := net.InterfaceAddrs(); err == nil {
		for _, a := range addrs {
			if p, err := netip.ParsePrefix(a.String()); err == nil {
				engine.SetHeld(p.Addr(), true)
			}
		}
	}
	keys := map[check.ServerKey]lvs.RealID{}
	for _, vs := range cfg.VirtualServers {
		for _, rs := range vs.RealServers {
			id := lvs.RealIDOf(vs, rs)
			keys[check.ServerKey{VS: check.VSName(vs), RS: id.Real}] = id
		}
	}

	// Globals: keepalived sets them at start and restores them at stop.
	found, err := plane.Timeouts(ctx)
	if err != nil {
		return err
	}
	to, setTimeouts := lvs.TimeoutsOf(cfg)
	if setTimeouts {
		if err := plane.SetTimeouts(ctx, to); err != nil {
			log.Error("lvs_timeouts", "err", err)
		}
	}
	var daemons []dataplane.SyncState
	for _, st := range syncStates(cfg) {
		d, _ := lvs.SyncDaemonOf(cfg, st)
		if err := plane.StartSyncDaemon(ctx, d); err != nil {
			log.Error("lvs_sync_daemon", "state", st, "err", err)
			continue
		}
		daemons = append(daemons, st)
	}

	engine.Start()
	if _, err := rec.Apply(ctx, engine.Desired()); err != nil {
		log.Error("apply", "err", engine.Explain(err))
	}
	engine.Changes()

	health := make(chan check.Health, 64)
	runner := check.NewRunner(plan, check.RunnerOptions{Log: log, Output: func(o check.Output) {
		if h, ok := o.(check.Health); ok {
			select {
			case health <- h:
			case <-ctx.Done():
			}
		}
	}})
	rctx, cancel := context.WithCancel(ctx)
	done := make(chan struct{})
	go func() { runner.Run(rctx); close(done) }()
loop:
	for {
		select {
		case <-ctx.Done():
			break loop
		case h := <-health:
			id, ok := keys[h.Server]
			if !ok {
				continue
			}
			engine.SetHealth(id, lvs.Health{Up: h.Up, Weight: int64(h.Weight), Dynamic: true})
			t, scope := engine.Changes()
			if _, err := rec.ApplySome(ctx, t, scope); err != nil {
				log.Error("apply", "err", engine.Explain(err))
			}
		}
	}
	cancel()
	<-done

	// A clean stop: what was added goes, the globals are put back.
	sctx := context.Background()
	engine.Stop()
	var errs2 []error
	if _, err := rec.RemoveOwned(sctx); err != nil {
		errs2 = append(errs2, err)
	}
	if setTimeouts {
		if err := plane.SetTimeouts(sctx, found); err != nil {
			errs2 = append(errs2, err)
		}
	}
	for _, st := range daemons {
		if err := plane.StopSyncDaemon(sctx, st); err != nil {
			errs2 = append(errs2, err)
		}
	}
	return errors.Join(errs2...)
}

// syncStates is which sync daemons run: both without a VRRP instance
// named (as keepalived's checker process does), else the role of the
// instance. This driver has no VRRP side: it takes the instance's
// configured initial state, which a lone node reaches (a MASTER with
// nobody else on the link stays master).
func syncStates(cfg *config.Config) []dataplane.SyncState {
	sd := cfg.Global.LVSSyncDaemon
	if sd == nil {
		return nil
	}
	if sd.Instance == "" {
		return []dataplane.SyncState{dataplane.SyncMaster, dataplane.SyncBackup}
	}
	for _, in := range cfg.Instances {
		if in.Name == sd.Instance && in.State == config.StateMaster {
			return []dataplane.SyncState{dataplane.SyncMaster}
		}
	}
	return []dataplane.SyncState{dataplane.SyncBackup}
}
