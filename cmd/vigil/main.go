// Command vigil is a keepalived-compatible high-availability and
// load-balancing daemon. It reads keepalived.conf and takes keepalived's
// command-line flags.
package main

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"os/signal"
	"runtime"
	"runtime/debug"
	"strings"
	"syscall"
	"time"

	"vigil/internal/config"
	"vigil/internal/daemon"
	"vigil/internal/logging"
	"vigil/internal/lvsproc"
	"vigil/internal/runpath"
)

// version is set at build time with -ldflags "-X main.version=...".
var version = "0.1.0-dev"

// Exit codes, keepalived 2.2.7's where they make sense (its values follow
// the LSB and systemd.exec(5)); docs/OPERATIONS.md has the table.
const (
	exitOK = 0
	// exitFatal: a start-up or run-time failure (keepalived's
	// KEEPALIVED_EXIT_FATAL); also a client that cannot reach the daemon
	// and an unknown --signum name (keepalived exits 1 there too).
	exitFatal = 1
	// exitUsage: a bad command line. keepalived exits 1; Vigil keeps the
	// LSB's 2 ("invalid or excess arguments").
	exitUsage = 2
	// exitConfig: the daemon refused to start on an invalid configuration
	// (keepalived's KEEPALIVED_EXIT_CONFIG, systemd's EXIT_INVALIDARGUMENT).
	exitConfig = 2
	// exitPermission: not allowed (not root, no CAP_NET_ADMIN), as
	// keepalived's KEEPALIVED_EXIT_MISSING_PERMISSION.
	exitPermission = 4
	// exitInvalid: -t found errors (keepalived -t exits 5), and a reload the
	// daemon refused because the new file is invalid.
	exitInvalid = 5
	// exitNoConfig: the configuration file does not exist or cannot be
	// read (keepalived's KEEPALIVED_EXIT_NO_CONFIG at start; keepalived -t
	// exits 0 there, Vigil does not).
	exitNoConfig = 6
)

// Environment overrides of the runtime files (documented in
// docs/OPERATIONS.md): tests, benchmarks and the demo run several daemons
// with a directory of their own.
const (
	socketEnv   = "VIGIL_SOCKET"
	stateDirEnv = "VIGIL_STATE_DIR"
)

func main() {
	if isGenhash(os.Args[0]) {
		os.Exit(runGenhash(os.Args[0], os.Args[1:], os.Stdout, os.Stderr))
	}
	if len(os.Args) > 1 && os.Args[1] == lvsChildFlag {
		os.Exit(runLVSChild(os.Args[2:], os.Stderr, os.Getenv))
	}
	os.Exit(run(os.Args[1:], os.Stdout, os.Stderr))
}

// run is main without the process exit, so it can be tested.
func run(argv []string, stdout, stderr io.Writer) int {
	return runWith(argv, stdout, stderr, os.Getenv)
}

func runWith(argv []string, stdout, stderr io.Writer, getenv func(string) string) int {
	if len(argv) > 0 && (argv[0] == "-T" || argv[0] == "--genhash") {
		// keepalived's genhash mode: -T first, the rest is genhash's.
		return runGenhash("vigil -T", argv[1:], stdout, stderr)
	}
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
	case o.genhash:
		// -T after other options: the words after it are genhash's own
		// (-s server, -p port, ...), which mean other things to the
		// daemon, so never start it. keepalived too wants -T first.
		fmt.Fprintln(stderr, "vigil: -T/--genhash must be the first option (vigil -T ARGS, or vigil genhash ARGS)")
		return exitUsage
	case o.signum != "":
		n, err := signum(o.signum)
		if err != nil {
			fmt.Fprintf(stderr, "vigil: %v\n", err)
			return exitFatal
		}
		fmt.Fprintln(stdout, n)
		return exitOK
	}
	daemonMode := len(o.args) == 0 && !o.configTest && !o.dumpConf
	if !daemonMode {
		// The daemon logs them instead, once its log is set up.
		for _, w := range o.warnings {
			fmt.Fprintf(stderr, "vigil: warning: %s\n", w)
		}
	}
	if o.umask != nil {
		syscall.Umask(*o.umask)
	}
	if o.coreDump {
		enableCoreDumps()
	}
	if len(o.args) > 0 {
		if o.args[0] == "genhash" {
			return runGenhash("vigil genhash", o.args[1:], stdout, stderr)
		}
		if code, ok := runSubcommand(o.args, clientSocket(o, getenv), stdout, stderr); ok {
			return code
		}
		fmt.Fprintf(stderr, "vigil: unknown command %q\n", o.args[0])
		usage(stderr)
		return exitUsage
	}
	if o.configID == "" {
		o.configID = shortHostname()
	}
	path, code := configPath(o, stderr)
	if code != exitOK {
		return code
	}
	o.configFile = path
	if o.configTest || o.dumpConf {
		return checkConfig(o, stdout, stderr)
	}
	if getenv("GOMAXPROCS") == "" && !(o.checkOnly && !o.vrrpOnly) {
		// (-C runs the LVS side alone: it keeps the default GOMAXPROCS.)
		// The VRRP side does little work per packet but does it often
		// (thousands of adverts a second with hundreds of instances); on
		// one P the runtime hands packets from the socket reader to the
		// instances without waking other threads, which halves the CPU
		// it spends on that (docs/BENCHMARKS.md). keepalived's VRRP
		// process is single-threaded too. GOMAXPROCS in the environment
		// overrides this.
		runtime.GOMAXPROCS(1)
	}
	if getenv("GOGC") == "" {
		// The daemon's live heap is a few megabytes and it allocates almost
		// nothing per advert: a goal half Go's default costs a collection
		// now and then and keeps the resident heap small
		// (docs/BENCHMARKS.md). GOGC in the environment overrides this.
		debug.SetGCPercent(daemonGCPercent)
	}
	tag := "vigil"
	if o.namespace != "" {
		tag += "_" + o.namespace // keepalived's syslog ident: keepalived_NS
	}
	log, logWarnings, closeLog, err := logging.Setup(logging.Config{
		Console: o.logConsole, NoSyslog: o.noSyslog, File: o.logFile,
		Facility: o.logFacility, Tag: tag, Debug: o.logDetail, Stderr: stderr,
	})
	if err != nil {
		fmt.Fprintf(stderr, "vigil: %v\n", err)
		return exitFatal
	}
	defer closeLog()
	for _, w := range logWarnings {
		log.Warn(w)
	}
	for _, w := range o.warnings {
		log.Warn(w)
	}
	// The first SIGTERM or SIGINT stops the daemon cleanly; a second one,
	// or a stop still running after stopDeadline, ends the process anyway.
	sigs := make(chan os.Signal, 2)
	signal.Notify(sigs, syscall.SIGTERM, syscall.SIGINT)
	defer signal.Stop(sigs)
	ctx, stop := stopOnSignal(sigs, time.After, stopDeadline, os.Exit)
	defer stop()
	err = daemon.Run(ctx, daemon.Options{
		ConfigFile:      o.configFile,
		ConfigID:        o.configID,
		LogDetail:       o.logDetail,
		VRRPOnly:        o.vrrpOnly,
		CheckOnly:       o.checkOnly,
		Strict:          o.strict,
		IncludeCheckAll: o.allConfig,
		Paths:           pathsInput(o, getenv),
		Log:             log,
		Stderr:          stderr,
		Dataplane:       o.dataplane,
		DontRespawn:     o.dontRespawn,
		ChildArgs:       argv,
	})
	if err != nil {
		log.Error("vigil stopped: " + err.Error())
		if !o.logConsole {
			// The console too: whoever started the daemon by hand sees why.
			fmt.Fprintf(stderr, "vigil: %v\n", err)
		}
		var de *config.DiagnosticsError
		switch {
		case errors.As(err, &de):
			return exitConfig
		case errors.Is(err, fs.ErrPermission):
			return exitPermission
		}
		return exitFatal
	}
	return exitOK
}

// pathsInput is what names the runtime files, from the flags and the
// environment; the daemon adds what the configuration says.
func pathsInput(o *options, getenv func(string) string) runpath.Input {
	return runpath.Input{
		Namespace:       o.namespace,
		PidFile:         o.pidFile,
		VRRPPidFile:     o.vrrpPidFile,
		CheckersPidFile: o.checkPid,
		StateDirEnv:     getenv(stateDirEnv),
		SocketEnv:       getenv(socketEnv),
	}
}

// clientSocket is the control socket of the daemon that runs with the same
// flags (and configuration file) as the client: it reads global_defs
// net_namespace and instance from the file as the daemon does, when the
// file is there and readable, so that `vigil -s NS status` and `vigil -f
// FILE status` find the daemon started with them.
func clientSocket(o *options, getenv func(string) string) string {
	in := pathsInput(o, getenv)
	file := o.configFile
	if file == "" {
		file, _ = defaultConfigFile(os.Stat)
	}
	if file != "" {
		if cfg, _ := config.Load(file, config.LoadOptions{ReadOptions: config.ReadOptions{ConfigID: configIDOr(o)}}); cfg != nil {
			if in.Namespace == "" {
				in.Namespace = cfg.Global.NetNamespace
			}
			in.Instance = cfg.Global.Instance
			in.UsePidDir = cfg.Global.UsePIDDir
		}
	}
	return runpath.Resolve(in).Socket
}

func configIDOr(o *options) string {
	if o.configID != "" {
		return o.configID
	}
	return shortHostname()
}

// defaultConfigFile is the file read without -f: the packaged one, else
// keepalived's. ok is false when neither exists; the path is then the
// packaged one.
func defaultConfigFile(stat func(string) (fs.FileInfo, error)) (path string, ok bool) {
	for _, p := range []string{packagedConfigFile, keepalivedConfigFile} {
		if _, err := stat(p); err == nil {
			return p, true
		}
	}
	return packagedConfigFile, false
}

// configPath resolves -f and checks that the file can be read, so that a
// missing file is reported as such (exit 6), never as a configuration
// error at line 0.
func configPath(o *options, stderr io.Writer) (string, int) {
	path := o.configFile
	if path == "" {
		p, ok := defaultConfigFile(os.Stat)
		if !ok {
			fmt.Fprintf(stderr, "vigil: configuration file not found: neither %s nor %s exists (-f FILE to name one)\n", packagedConfigFile, keepalivedConfigFile)
			return "", exitNoConfig
		}
		path = p
		if o.configTest || o.dumpConf {
			fmt.Fprintf(stderr, "vigil: reading %s (the default; -f FILE to check another)\n", path)
		}
	}
	f, err := os.Open(path)
	switch {
	case errors.Is(err, fs.ErrNotExist):
		fmt.Fprintf(stderr, "vigil: %s: configuration file not found\n", path)
		return "", exitNoConfig
	case err != nil:
		fmt.Fprintf(stderr, "vigil: %s: cannot read the configuration file: %v\n", path, errors.Unwrap(err))
		return "", exitNoConfig
	}
	f.Close()
	return path, exitOK
}

// checkConfig implements -t and -d: load, report every diagnostic, and for
// -d print the model as JSON.
func checkConfig(o *options, stdout, stderr io.Writer) int {
	if o.configTestLog != "" {
		// -t=FILE: the diagnostics go to FILE, appended, as keepalived's.
		f, err := os.OpenFile(o.configTestLog, os.O_WRONLY|os.O_APPEND|os.O_CREATE|syscall.O_NOFOLLOW, 0o644)
		if err != nil {
			fmt.Fprintf(stderr, "vigil: config-test log file: %v\n", err)
			return exitFatal
		}
		defer f.Close()
		stderr = f
	}
	defer checkGC()()
	cfg, diags := config.Load(o.configFile, config.LoadOptions{
		ReadOptions: config.ReadOptions{ConfigID: o.configID, IncludeCheckAll: o.allConfig},
		HostChecks:  true,
	})
	diags.Sort()
	// One write for all diagnostics, not one per line: a large file can
	// have thousands of warnings, and stderr is unbuffered.
	w := bufio.NewWriterSize(stderr, 64<<10)
	defer w.Flush()
	stderr = w
	for _, d := range diags {
		fmt.Fprintln(stderr, d.String())
	}
	tolerableHint(stderr, diags)
	w.Flush() // the diagnostics come before the dump, as they always did
	if o.dumpConf && cfg != nil {
		if err := writeModel(stdout, cfg); err != nil {
			fmt.Fprintf(stderr, "vigil: %v\n", err)
			return exitFatal
		}
	}
	// What keeps a checker from running (a missing script, an unreadable
	// certificate) is found only by building the checks; the daemon runs
	// past it as keepalived does, but a configuration test reports it,
	// also next to errors the daemon would run past, since the daemon
	// would then meet it too.
	var probs []error
	if cfg != nil && diags.StartErr(false) == nil {
		probs = daemon.CheckProblems(cfg)
		for _, p := range probs {
			fmt.Fprintln(stderr, p.Error())
		}
	}
	if diags.HasErrors() {
		fmt.Fprintf(stderr, "vigil: %s: configuration is invalid (%d error(s))\n", o.configFile, len(diags.Errors())+len(probs))
		return exitInvalid
	}
	if len(probs) > 0 {
		fmt.Fprintf(stderr, "vigil: %s: configuration is invalid (%d checker(s) cannot run)\n", o.configFile, len(probs))
		return exitInvalid
	}
	// With --dataplane naming a plane whose verdict needs no kernel, what
	// it cannot serve is reported as the daemon would refuse it at start.
	if refused := lvsproc.CheckPlane(cfg, o.dataplane); len(refused) > 0 {
		for _, err := range refused {
			fmt.Fprintln(stderr, err.Error())
		}
		fmt.Fprintf(stderr, "vigil: %s: the %s data plane cannot serve %d virtual service(s)\n", o.configFile, o.dataplane, len(refused))
		return exitInvalid
	}
	if o.configTest {
		fmt.Fprintf(stderr, "vigil: %s: configuration is valid\n", o.configFile)
	}
	return exitOK
}

// enableCoreDumps is -m: a crash leaves a core file (the Go runtime aborts
// with SIGABRT instead of exiting 2, and the size limit is lifted).
func enableCoreDumps() {
	debug.SetTraceback("crash")
	lim := syscall.Rlimit{Cur: ^uint64(0), Max: ^uint64(0)}
	if err := syscall.Setrlimit(syscall.RLIMIT_CORE, &lim); err != nil {
		// Not privileged to raise the hard limit: raise the soft one.
		var cur syscall.Rlimit
		if syscall.Getrlimit(syscall.RLIMIT_CORE, &cur) == nil {
			cur.Cur = cur.Max
			syscall.Setrlimit(syscall.RLIMIT_CORE, &cur)
		}
	}
}

// daemonGCPercent is the daemon's GOGC.
const daemonGCPercent = 50

// checkGC sets the collector for a configuration check, a process that
// reads one file and exits: everything it allocates (the tree, the model,
// the diagnostics) lives until the end, so collections would free next to
// nothing and only cost time (a third of the check of a large file). The
// collector stays off until the heap reaches checkMemoryLimit, a guard
// against a pathological file; GOGC or GOMEMLIMIT in the environment
// override this. It returns the function that restores the settings
// (run is also called in-process, by tests).
func checkGC() (restore func()) {
	percent, limit := -2, int64(-1)
	if os.Getenv("GOGC") == "" {
		percent = debug.SetGCPercent(-1)
	}
	if os.Getenv("GOMEMLIMIT") == "" {
		limit = debug.SetMemoryLimit(checkMemoryLimit)
	}
	return func() {
		if percent != -2 {
			debug.SetGCPercent(percent)
		}
		if limit >= 0 {
			debug.SetMemoryLimit(limit)
		}
	}
}

// checkMemoryLimit is the heap size at which a configuration check starts
// collecting: about ten times what a file of 10,000 virtual servers needs.
const checkMemoryLimit = 512 << 20

// shortHostname is keepalived's default config id: the host name up to the first dot.
func shortHostname() string {
	h, err := os.Hostname()
	if err != nil {
		return ""
	}
	h, _, _ = strings.Cut(h, ".")
	return h
}
