// Command vigil is a keepalived-compatible high-availability and
// load-balancing daemon. It reads keepalived.conf and takes keepalived's
// command-line flags.
package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"runtime"
	"strings"
	"syscall"

	"vigil/internal/config"
	"vigil/internal/daemon"
)

// version is set at build time with -ldflags "-X main.version=...".
var version = "0.1.0-dev"

// Exit codes. keepalived exits 1 on a configuration error in -t mode; Vigil
// does the same, and reserves 2 for usage errors as getopt-based tools do.
const (
	exitOK     = 0
	exitConfig = 1
	exitUsage  = 2
	exitRun    = 3
)

func main() {
	if isGenhash(os.Args[0]) {
		os.Exit(runGenhash(os.Args[0], os.Args[1:], os.Stdout, os.Stderr))
	}
	os.Exit(run(os.Args[1:], os.Stdout, os.Stderr))
}

// run is main without the process exit, so it can be tested.
func run(argv []string, stdout, stderr io.Writer) int {
	o, err := parseOptions(argv)
	if err != nil {
		fmt.Fprintf(stderr, "vigil: %v\n", err)
		usage(stderr)
		return exitUsage
	}
	switch {
	case o.help:
		usage(stdout)
		return exitOK
	case o.version:
		fmt.Fprintf(stdout, "Vigil %s (keepalived.conf compatible)\n", version)
		return exitOK
	}
	if len(o.args) > 0 {
		if o.args[0] == "genhash" {
			return runGenhash("vigil genhash", o.args[1:], stdout, stderr)
		}
		if code, ok := runSubcommand(o.args, stdout, stderr); ok {
			return code
		}
		fmt.Fprintf(stderr, "vigil: unknown command %q\n", o.args[0])
		usage(stderr)
		return exitUsage
	}
	if o.configID == "" {
		o.configID = shortHostname()
	}
	if o.configTest || o.dumpConf {
		return checkConfig(o, stdout, stderr)
	}
	if os.Getenv("GOMAXPROCS") == "" {
		// The VRRP side does little work per packet but does it often
		// (thousands of adverts a second with hundreds of instances); on
		// one P the runtime hands packets from the socket reader to the
		// instances without waking other threads, which halves the CPU
		// it spends on that (docs/BENCHMARKS.md). keepalived's VRRP
		// process is single-threaded too. GOMAXPROCS in the environment
		// overrides this.
		runtime.GOMAXPROCS(1)
	}
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, syscall.SIGINT)
	defer stop()
	err = daemon.Run(ctx, daemon.Options{
		ConfigFile:  o.configFile,
		ConfigID:    o.configID,
		LogConsole:  o.logConsole,
		LogDetail:   o.logDetail,
		VRRPOnly:    o.vrrpOnly,
		CheckOnly:   o.checkOnly,
		PidFile:     o.pidFile,
		VRRPPidFile: o.vrrpPidFile,
		CheckPid:    o.checkPid,
		Strict:      o.strict,
		// Not a keepalived flag: where the record of added addresses lives,
		// so that several Vigils on one machine (tests, namespaces) keep
		// separate records.
		StateDir:   os.Getenv("VIGIL_STATE_DIR"),
		SocketPath: os.Getenv("VIGIL_SOCKET"),
		Stderr:     stderr,
	})
	if err != nil {
		fmt.Fprintf(stderr, "vigil: %v\n", err)
		var de *config.DiagnosticsError
		if errors.As(err, &de) {
			return exitConfig
		}
		return exitRun
	}
	return exitOK
}

// checkConfig implements -t and -d: load, report every diagnostic, and for
// -d print the model as JSON.
func checkConfig(o *options, stdout, stderr io.Writer) int {
	cfg, diags := config.Load(o.configFile, config.LoadOptions{
		ReadOptions: config.ReadOptions{ConfigID: o.configID},
		HostChecks:  true,
	})
	diags.Sort()
	for _, d := range diags {
		fmt.Fprintln(stderr, d.String())
	}
	tolerableHint(stderr, diags)
	if o.dumpConf && cfg != nil {
		enc := json.NewEncoder(stdout)
		enc.SetIndent("", "  ")
		if err := enc.Encode(cfg); err != nil {
			fmt.Fprintf(stderr, "vigil: %v\n", err)
			return exitRun
		}
	}
	if diags.HasErrors() {
		fmt.Fprintf(stderr, "vigil: %s: configuration is invalid (%d error(s))\n", o.configFile, len(diags.Errors()))
		return exitConfig
	}
	if o.configTest {
		fmt.Fprintf(stderr, "vigil: %s: configuration is valid\n", o.configFile)
	}
	return exitOK
}

// shortHostname is keepalived's default config id: the host name up to the first dot.
func shortHostname() string {
	h, err := os.Hostname()
	if err != nil {
		return ""
	}
	h, _, _ = strings.Cut(h, ".")
	return h
}
