package main

import (
	"fmt"
	"io"
	"strings"
)

// options are the command-line settings. The flags are keepalived's, so that
// existing unit files, scripts and habits carry over unchanged.
type options struct {
	configFile  string // -f, --use-file
	configTest  bool   // -t, --config-test
	dumpConf    bool   // -d, --dump-conf
	dontFork    bool   // -n, --dont-fork (Vigil never forks; accepted for compatibility)
	logConsole  bool   // -l, --log-console
	logDetail   bool   // -D, --log-detail
	vrrpOnly    bool   // -P, --vrrp
	checkOnly   bool   // -C, --check
	pidFile     string // -p, --pid
	vrrpPidFile string // -r, --vrrp_pid
	checkPid    string // -c, --checkers_pid
	configID    string // -i, --config-id
	version     bool   // -v, --version
	help        bool   // -h, --help
	strict      bool   // --strict (Vigil's own): refuse what keepalived runs past
	args        []string
}

// defaultConfigFile is where keepalived looks when -f is not given.
const defaultConfigFile = "/etc/keepalived/keepalived.conf"

// optSpec describes one option: its short and long names, whether it takes
// a value, and where it is stored.
type optSpec struct {
	short    byte
	long     string
	alias    string // a second long spelling keepalived also accepts
	hasValue bool
	help     string
	set      func(o *options, v string)
}

var optSpecs = []optSpec{
	{'f', "use-file", "", true, "use the specified configuration file (default " + defaultConfigFile + ")", func(o *options, v string) { o.configFile = v }},
	{'t', "config-test", "", false, "check the configuration for obvious errors and exit", func(o *options, _ string) { o.configTest = true }},
	{'d', "dump-conf", "", false, "print the parsed configuration as JSON and exit", func(o *options, _ string) { o.dumpConf = true }},
	{'n', "dont-fork", "", false, "accepted for compatibility; Vigil always runs in the foreground", func(o *options, _ string) { o.dontFork = true }},
	{'l', "log-console", "", false, "log to the console (stderr)", func(o *options, _ string) { o.logConsole = true }},
	{'D', "log-detail", "", false, "detailed (debug) logging", func(o *options, _ string) { o.logDetail = true }},
	{'P', "vrrp", "", false, "run only the VRRP subsystem", func(o *options, _ string) { o.vrrpOnly = true }},
	{'C', "check", "", false, "run only the health-checking subsystem", func(o *options, _ string) { o.checkOnly = true }},
	{'p', "pid", "", true, "pid file of the main process", func(o *options, v string) { o.pidFile = v }},
	{'r', "vrrp_pid", "vrrp-pid", true, "pid file of the VRRP subsystem", func(o *options, v string) { o.vrrpPidFile = v }},
	{'c', "checkers_pid", "checkers-pid", true, "pid file of the checkers subsystem", func(o *options, v string) { o.checkPid = v }},
	{'i', "config-id", "", true, "configuration id for @id conditional lines (default: short host name)", func(o *options, v string) { o.configID = v }},
	{'v', "version", "", false, "print the version and exit", func(o *options, _ string) { o.version = true }},
	{'h', "help", "", false, "print this help and exit", func(o *options, _ string) { o.help = true }},
	// Vigil's own, long form only (short 0): keepalived has no such flag.
	{0, "strict", "", false, "refuse to start or reload on a configuration with errors keepalived runs past (unknown keywords)", func(o *options, _ string) { o.strict = true }},
}

// parseOptions parses argv (without the program name) the way getopt_long
// does: short options may be grouped (-lD) and take values attached (-fFILE)
// or separate (-f FILE); long options take --name=value or --name value.
// Anything after "--", or the first word not starting with "-", ends option
// parsing and is returned in args (subcommands).
func parseOptions(argv []string) (*options, error) {
	o := &options{configFile: defaultConfigFile}
	for i := 0; i < len(argv); i++ {
		a := argv[i]
		switch {
		case a == "--":
			o.args = append(o.args, argv[i+1:]...)
			return o, nil
		case strings.HasPrefix(a, "--"):
			name, val, hasEq := strings.Cut(a[2:], "=")
			s := findLong(name)
			if s == nil {
				return nil, fmt.Errorf("unrecognized option '--%s'", name)
			}
			if !s.hasValue {
				if hasEq {
					return nil, fmt.Errorf("option '--%s' doesn't allow an argument", s.long)
				}
				s.set(o, "")
				continue
			}
			if !hasEq {
				if i+1 >= len(argv) {
					return nil, fmt.Errorf("option '--%s' requires an argument", s.long)
				}
				i++
				val = argv[i]
			}
			s.set(o, val)
		case strings.HasPrefix(a, "-") && len(a) > 1:
			for j := 1; j < len(a); j++ {
				s := findShort(a[j])
				if s == nil {
					return nil, fmt.Errorf("invalid option -- '%c'", a[j])
				}
				if !s.hasValue {
					s.set(o, "")
					continue
				}
				val := a[j+1:]
				if val == "" {
					if i+1 >= len(argv) {
						return nil, fmt.Errorf("option requires an argument -- '%c'", a[j])
					}
					i++
					val = argv[i]
				}
				s.set(o, val)
				break
			}
		default:
			o.args = append(o.args, argv[i:]...)
			return o, nil
		}
	}
	return o, nil
}

func findLong(name string) *optSpec {
	for i := range optSpecs {
		if optSpecs[i].long == name || (optSpecs[i].alias != "" && optSpecs[i].alias == name) {
			return &optSpecs[i]
		}
	}
	return nil
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
	fmt.Fprintf(w, "Usage: vigil [OPTION...]\n\nVigil: a keepalived-compatible VRRP and load-balancing daemon.\n\nOptions:\n")
	for _, s := range optSpecs {
		arg := ""
		if s.hasValue {
			arg = "=" + strings.ToUpper(strings.SplitN(s.long, "-", 2)[0])
		}
		if s.short == 0 {
			fmt.Fprintf(w, "      --%-22s %s\n", s.long+arg, s.help)
			continue
		}
		fmt.Fprintf(w, "  -%c, --%-22s %s\n", s.short, s.long+arg, s.help)
	}
	fmt.Fprintln(w)
	subcommandUsage(w)
	fmt.Fprintf(w, "\nOther commands:\n  %-8s %s\n", "genhash", "keepalived's genhash: the MD5 digest of a page for HTTP_GET/SSL_GET (genhash -h)")
}
