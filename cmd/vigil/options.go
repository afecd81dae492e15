package main

import (
	"fmt"
	"io"
	"strconv"
	"strings"

	"vigil/internal/logging"
)

// options are the command-line settings. The flags are keepalived 2.2.7's,
// every one of them, so that existing unit files, /etc/default/keepalived's
// DAEMON_ARGS, scripts and habits carry over unchanged: each either acts or
// is accepted with a warning that says why it has no effect.
type options struct {
	configFile    string // -f, --use-file ("" until resolved: see configPath)
	configTest    bool   // -t, --config-test[=LOG_FILE]
	configTestLog string // the LOG_FILE of -t
	dumpConf      bool   // -d, --dump-conf
	dontFork      bool   // -n, --dont-fork (Vigil never forks)
	logConsole    bool   // -l, --log-console
	logDetail     bool   // -D, --log-detail
	logFacility   int    // -S, --log-facility, as a syslog facility number
	noSyslog      bool   // -G, --no-syslog
	logFile       string // -g, --log-file[=FILE]
	umask         *int   // -u, --umask
	coreDump      bool   // -m, --core-dump (and -M)
	vrrpOnly      bool   // -P, --vrrp
	checkOnly     bool   // -C, --check
	pidFile       string // -p, --pid
	vrrpPidFile   string // -r, --vrrp_pid
	checkPid      string // -c, --checkers_pid
	namespace     string // -s, --namespace
	allConfig     bool   // -e, --all-config
	configID      string // -i, --config-id
	signum        string // --signum
	genhash       bool   // -T, --genhash not first: refused (runWith runs genhash for a first -T)
	version       bool   // -v, --version
	help          bool   // -h, --help
	strict        bool   // --strict (Vigil's own): refuse what keepalived runs past
	dataplane     string // --dataplane (Vigil's own): auto, ipvs, nftables or proxy
	dontRespawn   bool   // -R, --dont-respawn: a dead LVS child is not restarted
	// warnings say which flags were accepted without effect, and why.
	warnings []string
	args     []string
}

// The configuration file when -f is not given: the packaged one (the unit
// in packaging/ passes it with -f too), else keepalived's, so that a host
// moved from keepalived without the package works as before.
const (
	packagedConfigFile   = "/etc/vigil/keepalived.conf"
	keepalivedConfigFile = "/etc/keepalived/keepalived.conf"
)

// argKind says whether an option takes a value.
type argKind int

const (
	noArg       argKind = iota
	requiredArg         // -f FILE, -fFILE, --use-file FILE, --use-file=FILE
	optionalArg         // only attached: -gFILE, --log-file=FILE
)

// optSpec describes one option: its short and long names, whether it takes
// a value, and what it does. unsupported, when set, is why the option is
// accepted but has no effect; it becomes a warning.
type optSpec struct {
	short       byte // 0: long only
	long        string
	alias       string // a second long spelling Vigil also accepts
	arg         argKind
	argName     string
	help        string
	unsupported string
	set         func(o *options, v string) error
}

func flagOnly(f func(o *options)) func(*options, string) error {
	return func(o *options, _ string) error { f(o); return nil }
}

func ignore(*options, string) error { return nil }

var optSpecs = []optSpec{
	{short: 'f', long: "use-file", arg: requiredArg, argName: "FILE", help: "use the specified configuration file (default " + packagedConfigFile + ", else " + keepalivedConfigFile + ")",
		set: func(o *options, v string) error { o.configFile = v; return nil }},
	{short: 'P', long: "vrrp", help: "run only the VRRP subsystem", set: flagOnly(func(o *options) { o.vrrpOnly = true })},
	{short: 'C', long: "check", help: "run only the health-checking subsystem", set: flagOnly(func(o *options) { o.checkOnly = true })},
	{short: 'B', long: "no_bfd", alias: "no-bfd", help: "don't run BFD (Vigil has no BFD subsystem: nothing to do)", set: ignore},
	{long: "all", help: "run every subsystem even without configuration (Vigil runs the VRRP loop in any case)", set: ignore},
	{short: 'l', long: "log-console", help: "log to the console (stderr) instead of syslog", set: flagOnly(func(o *options) { o.logConsole = true })},
	{short: 'D', long: "log-detail", help: "detailed (debug) logging", set: flagOnly(func(o *options) { o.logDetail = true })},
	{short: 'S', long: "log-facility", arg: requiredArg, argName: "([0-7]|local[0-7]|user|daemon)", help: "syslog facility LOG_LOCAL[0-7], user or daemon (default)", set: setFacility},
	{short: 'g', long: "log-file", arg: optionalArg, argName: "FILE", help: "also log to FILE (default /tmp/vigil.log)",
		set: func(o *options, v string) error {
			if v == "" {
				v = defaultLogFile
			}
			o.logFile = v
			return nil
		}},
	{long: "flush-log-file", help: "flush the log file after each line (Vigil always does)", set: ignore},
	{short: 'G', long: "no-syslog", help: "don't log via syslog", set: flagOnly(func(o *options) { o.noSyslog = true })},
	{short: 'u', long: "umask", arg: requiredArg, argName: "MASK", help: "umask for file creation (numeric: 022, 0x12, 18)", set: setUmask},
	{short: 'X', long: "release-vips", help: "drop VIPs on a transition caused by a signal",
		unsupported: "Vigil has no signal that forces a transition, so there is nothing to release on one"},
	{short: 'V', long: "dont-release-vrrp", help: "don't remove VRRP VIPs and routes on daemon stop",
		unsupported: "Vigil always removes what it added when it stops (after a priority-0 advert hands over), so that a stopped node holds no address"},
	{short: 'I', long: "dont-release-ipvs", help: "don't remove the IPVS topology on daemon stop",
		unsupported: "Vigil always removes the services it added when it stops, so that a stopped node programs nothing; a restarted LVS process adopts what it finds instead"},
	{short: 'R', long: "dont-respawn", help: "don't restart the LVS child process when it dies", set: flagOnly(func(o *options) { o.dontRespawn = true })},
	{short: 'n', long: "dont-fork", help: "don't fork (Vigil always runs in the foreground)", set: flagOnly(func(o *options) { o.dontFork = true })},
	{short: 'd', long: "dump-conf", help: "print the parsed configuration as JSON and exit", set: flagOnly(func(o *options) { o.dumpConf = true })},
	{short: 'p', long: "pid", arg: requiredArg, argName: "FILE", help: "pid file of the main process (default /run/vigil.pid)",
		set: func(o *options, v string) error { o.pidFile = v; return nil }},
	{short: 'r', long: "vrrp_pid", alias: "vrrp-pid", arg: requiredArg, argName: "FILE", help: "pid file of the VRRP subsystem (default /run/vigil_vrrp.pid)",
		set: func(o *options, v string) error { o.vrrpPidFile = v; return nil }},
	{short: 'T', long: "genhash", help: "genhash utility mode: the options after it are genhash's (must be the first option)",
		set: flagOnly(func(o *options) { o.genhash = true })},
	{short: 'c', long: "checkers_pid", alias: "checkers-pid", arg: requiredArg, argName: "FILE", help: "pid file of the checkers subsystem (default /run/vigil_checkers.pid)",
		set: func(o *options, v string) error { o.checkPid = v; return nil }},
	{short: 'a', long: "address-monitoring", help: "log every address added or removed, as netlink reports it",
		unsupported: "Vigil logs the addresses it adds and removes itself, not the host's other address changes"},
	{short: 'b', long: "bfd_pid", alias: "bfd-pid", arg: requiredArg, argName: "FILE", help: "pid file of the BFD subsystem",
		unsupported: "Vigil has no BFD subsystem, so no BFD pid file is written"},
	{short: 'x', long: "snmp", help: "enable the SNMP subsystem",
		unsupported: "Vigil has no SNMP agent; its state is on the control socket (vigil status --json) and in Prometheus metrics"},
	{short: 'A', long: "snmp-agent-socket", arg: requiredArg, argName: "FILE", help: "socket of the SNMP master agent",
		unsupported: "Vigil has no SNMP agent"},
	{short: 'm', long: "core-dump", help: "produce a core dump if Vigil terminates abnormally", set: flagOnly(func(o *options) { o.coreDump = true })},
	{short: 'M', long: "core-dump-pattern", arg: optionalArg, argName: "PATN", help: "as -m; keepalived also sets kernel.core_pattern",
		unsupported: "Vigil does not change the host's kernel.core_pattern; -m (core dumps on) is applied",
		set:         flagOnly(func(o *options) { o.coreDump = true })},
	{long: "no-mem-check", help: "keepalived's malloc checker (a build option)", unsupported: "Vigil has no malloc checker (Go manages its memory)"},
	{short: 'L', long: "mem-check-log", help: "log keepalived's malloc checks (a build option)", unsupported: "Vigil has no malloc checker (Go manages its memory)"},
	{short: 's', long: "namespace", arg: requiredArg, argName: "NAME", help: "run in network namespace NAME (overrides net_namespace); names the runtime files after it",
		set: func(o *options, v string) error { o.namespace = v; return nil }},
	{short: 'e', long: "all-config", help: "error if any configuration file is missing (every include checked as includet)",
		set: flagOnly(func(o *options) { o.allConfig = true })},
	{short: 'i', long: "config-id", arg: requiredArg, argName: "ID", help: "configuration id for @id conditional lines (default: short host name)",
		set: func(o *options, v string) error { o.configID = v; return nil }},
	{long: "signum", arg: requiredArg, argName: "SIGFUNC", help: "print the signal number for STOP, RELOAD, DATA, STATS, JSON and exit",
		set: func(o *options, v string) error { o.signum = v; return nil }},
	{short: 't', long: "config-test", arg: optionalArg, argName: "LOG_FILE", help: "check the configuration and exit; diagnostics to LOG_FILE if given, else stderr",
		set: func(o *options, v string) error { o.configTest, o.configTestLog = true, v; return nil }},
	{long: "config-fd", arg: requiredArg, argName: "FD", help: "keepalived's internal: its children read the configuration from FD",
		unsupported: "Vigil's LVS child reads the configuration file itself, as its parent does"},
	{long: "perf", arg: optionalArg, argName: "run|all|end", help: "keepalived's perf profiling (a build option)",
		unsupported: "Vigil has no perf hook; profile it with perf record -p PID"},
	{long: "debug", arg: optionalArg, argName: "OPTS", help: "keepalived's debug options (a build option)",
		unsupported: "Vigil has no such debug options; -D gives debug logging"},
	{short: 'v', long: "version", help: "print the version and exit", set: flagOnly(func(o *options) { o.version = true })},
	{short: 'h', long: "help", help: "print this help and exit", set: flagOnly(func(o *options) { o.help = true })},
	// Vigil's own, long form only: keepalived has no such flag.
	{long: "strict", help: "refuse to start or reload on a configuration with errors keepalived runs past (unknown keywords)",
		set: flagOnly(func(o *options) { o.strict = true })},
	{long: "dataplane", arg: requiredArg, argName: "PLANE", help: "data plane of the virtual servers: auto (default: IPVS when the kernel has it), ipvs, nftables or proxy",
		set: func(o *options, v string) error { o.dataplane = v; return nil }},
}

// defaultLogFile is -g without a file name.
const defaultLogFile = "/tmp/vigil.log"

// setFacility parses -S as keepalived does: 0-7, local0-local7, user, daemon.
func setFacility(o *options, v string) error {
	f, err := logging.Facility(v)
	if err != nil {
		return err
	}
	o.logFacility = f
	return nil
}

// setUmask parses -u as keepalived does (C's strtoul with base 0: 022 is
// octal, 0x12 hexadecimal).
func setUmask(o *options, v string) error {
	n, err := strconv.ParseUint(v, 0, 32)
	if err != nil || n > 0o777 {
		return fmt.Errorf("invalid umask '%s'", v)
	}
	m := int(n)
	o.umask = &m
	return nil
}

// parseOptions parses argv (without the program name) the way getopt_long
// does: short options may be grouped (-lD) and take values attached (-fFILE)
// or separate (-f FILE); long options take --name=value or --name value and
// may be abbreviated to a unique prefix (--use for --use-file); an optional
// value is only ever attached (-gFILE, --log-file=FILE). Anything after
// "--", or the first word not starting with "-", ends option parsing and is
// returned in args (subcommands).
func parseOptions(argv []string) (*options, error) {
	o := &options{logFacility: logging.FacilityDaemon}
	apply := func(s *optSpec, name, v string) error {
		if s.unsupported != "" {
			o.warnings = append(o.warnings, fmt.Sprintf("%s is accepted but has no effect: %s", name, s.unsupported))
		}
		if s.set == nil {
			return nil
		}
		return s.set(o, v)
	}
	for i := 0; i < len(argv); i++ {
		a := argv[i]
		switch {
		case a == "--":
			o.args = append(o.args, argv[i+1:]...)
			return o, nil
		case strings.HasPrefix(a, "--"):
			name, val, hasEq := strings.Cut(a[2:], "=")
			s, err := findLong(name)
			if err != nil {
				return nil, err
			}
			flag := "--" + s.long
			switch s.arg {
			case noArg:
				if hasEq {
					return nil, fmt.Errorf("option '%s' doesn't allow an argument", flag)
				}
			case requiredArg:
				if !hasEq {
					if i+1 >= len(argv) {
						return nil, fmt.Errorf("option '%s' requires an argument", flag)
					}
					i++
					val = argv[i]
				}
				if val == "" {
					return nil, fmt.Errorf("option '%s' requires a non-empty argument", flag)
				}
			}
			if err := apply(s, flag, val); err != nil {
				return nil, err
			}
		case strings.HasPrefix(a, "-") && len(a) > 1:
			for j := 1; j < len(a); j++ {
				s := findShort(a[j])
				if s == nil {
					return nil, fmt.Errorf("invalid option -- '%c'", a[j])
				}
				flag := "-" + string(a[j])
				val := ""
				switch s.arg {
				case requiredArg:
					val = a[j+1:]
					if val == "" {
						if i+1 >= len(argv) {
							return nil, fmt.Errorf("option requires an argument -- '%c'", a[j])
						}
						i++
						val = argv[i]
					}
				case optionalArg:
					val = a[j+1:]
				}
				if err := apply(s, flag, val); err != nil {
					return nil, err
				}
				if s.arg != noArg {
					break
				}
			}
		default:
			o.args = append(o.args, argv[i:]...)
			return o, nil
		}
	}
	return o, nil
}

// findLong finds a long option by its name, or, as getopt_long, by a prefix
// of exactly one option's names.
func findLong(name string) (*optSpec, error) {
	var match []*optSpec
	for i := range optSpecs {
		s := &optSpecs[i]
		if s.long == name || s.alias == name {
			return s, nil
		}
		if name != "" && (strings.HasPrefix(s.long, name) || (s.alias != "" && strings.HasPrefix(s.alias, name))) {
			match = append(match, s)
		}
	}
	switch len(match) {
	case 0:
		return nil, fmt.Errorf("unrecognized option '--%s'", name)
	case 1:
		return match[0], nil
	}
	names := make([]string, len(match))
	for i, s := range match {
		names[i] = "'--" + s.long + "'"
	}
	return nil, fmt.Errorf("option '--%s' is ambiguous; possibilities: %s", name, strings.Join(names, " "))
}

func findShort(c byte) *optSpec {
	for i := range optSpecs {
		if optSpecs[i].short == c {
			return &optSpecs[i]
		}
	}
	return nil
}

// usage writes the help text.
func usage(w io.Writer) {
	fmt.Fprintf(w, "Usage: vigil [OPTION...] [COMMAND]\n\nVigil: a keepalived-compatible VRRP and load-balancing daemon.\n\nOptions (keepalived's):\n")
	for _, s := range optSpecs {
		short := "    "
		if s.short != 0 {
			short = "-" + string(s.short) + ", "
		}
		long := "--" + s.long
		switch s.arg {
		case requiredArg:
			long += "=" + s.argName
		case optionalArg:
			long += "[=" + s.argName + "]"
		}
		help := s.help
		switch {
		case s.unsupported != "" && s.set == nil:
			help += " [no effect in Vigil]"
		case s.unsupported != "":
			help += " [in part]"
		}
		fmt.Fprintf(w, "  %s%-24s %s\n", short, long, help)
	}
	fmt.Fprintln(w)
	subcommandUsage(w)
	fmt.Fprintf(w, "\nOther commands:\n  %-8s %s\n", "genhash", "keepalived's genhash: the MD5 digest of a page for HTTP_GET/SSL_GET (genhash -h)")
}
