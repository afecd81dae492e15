package main

import (
	"bytes"
	"os/exec"
	"reflect"
	"regexp"
	"strings"
	"testing"

	"vigil/internal/logging"
)

// def is the zero options as parseOptions returns them.
func def(f func(o *options)) options {
	o := options{logFacility: logging.FacilityDaemon}
	if f != nil {
		f(&o)
	}
	return o
}

func TestParseOptions(t *testing.T) {
	umask := func(n int) *int { return &n }
	tests := []struct {
		name string
		argv []string
		want options
	}{
		{"defaults", nil, def(nil)},
		{"short separate", []string{"-f", "/x.conf", "-t"}, def(func(o *options) { o.configFile, o.configTest = "/x.conf", true })},
		{"short attached", []string{"-f/x.conf"}, def(func(o *options) { o.configFile = "/x.conf" })},
		{"grouped", []string{"-lDn"}, def(func(o *options) { o.logConsole, o.logDetail, o.dontFork = true, true, true })},
		{"grouped with value", []string{"-lf", "/y"}, def(func(o *options) { o.configFile, o.logConsole = "/y", true })},
		{"long eq", []string{"--use-file=/z", "--config-test"}, def(func(o *options) { o.configFile, o.configTest = "/z", true })},
		{"long separate", []string{"--use-file", "/z", "--dump-conf"}, def(func(o *options) { o.configFile, o.dumpConf = "/z", true })},
		{"long prefix", []string{"--use", "/z", "--dump"}, def(func(o *options) { o.configFile, o.dumpConf = "/z", true })},
		{"pid files", []string{"-p", "/a", "-r", "/b", "-c", "/c"}, def(func(o *options) { o.pidFile, o.vrrpPidFile, o.checkPid = "/a", "/b", "/c" })},
		{"long pid aliases", []string{"--vrrp_pid=/b", "--checkers-pid", "/c"}, def(func(o *options) { o.vrrpPidFile, o.checkPid = "/b", "/c" })},
		{"subsystems", []string{"-P", "--check"}, def(func(o *options) { o.vrrpOnly, o.checkOnly = true, true })},
		{"config id", []string{"-i", "lb1"}, def(func(o *options) { o.configID = "lb1" })},
		{"facility number", []string{"-S", "7"}, def(func(o *options) { o.logFacility = logging.FacilityLocal0 + 7 })},
		{"facility name", []string{"--log-facility=local2"}, def(func(o *options) { o.logFacility = logging.FacilityLocal0 + 2 })},
		{"facility user", []string{"-Suser"}, def(func(o *options) { o.logFacility = logging.FacilityUser })},
		{"log file attached", []string{"-g/var/log/v.log"}, def(func(o *options) { o.logFile = "/var/log/v.log" })},
		{"log file default", []string{"-g", "-l"}, def(func(o *options) { o.logFile, o.logConsole = defaultLogFile, true })},
		{"log file long", []string{"--log-file=/l"}, def(func(o *options) { o.logFile = "/l" })},
		{"config test log", []string{"-t/tmp/ct.log"}, def(func(o *options) { o.configTest, o.configTestLog = true, "/tmp/ct.log" })},
		{"config test without log takes no next word", []string{"-t", "status"}, def(func(o *options) { o.configTest, o.args = true, []string{"status"} })},
		{"namespace", []string{"-s", "blue"}, def(func(o *options) { o.namespace = "blue" })},
		{"umask octal", []string{"-u", "027"}, def(func(o *options) { o.umask = umask(0o27) })},
		{"no syslog", []string{"-G"}, def(func(o *options) { o.noSyslog = true })},
		{"all config", []string{"-e"}, def(func(o *options) { o.allConfig = true })},
		{"core dump", []string{"-m"}, def(func(o *options) { o.coreDump = true })},
		{"signum", []string{"--signum=JSON"}, def(func(o *options) { o.signum = "JSON" })},
		{"version help", []string{"-v", "--help"}, def(func(o *options) { o.version, o.help = true, true })},
		{"subcommand", []string{"-l", "status", "--json"}, def(func(o *options) { o.logConsole, o.args = true, []string{"status", "--json"} })},
		{"double dash", []string{"--", "-x"}, def(func(o *options) { o.args = []string{"-x"} })},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := parseOptions(tc.argv)
			if err != nil {
				t.Fatalf("parseOptions(%q): %v", tc.argv, err)
			}
			if !reflect.DeepEqual(*got, tc.want) {
				t.Errorf("parseOptions(%q) =\n %+v, want\n %+v", tc.argv, *got, tc.want)
			}
		})
	}
}

func TestParseOptionsErrors(t *testing.T) {
	for _, argv := range [][]string{
		{"-x9"}, {"-Z"}, {"--bogus"}, {"-f"}, {"--use-file"}, {"--use-file="}, {"--config-test=yes", "--dump-conf=1"},
		{"-lq"}, {"-S", "9"}, {"--log-facility=kern"}, {"-u", "0999"}, {"--d"}, // --d: --dump-conf, --dont-fork, ...
	} {
		if _, err := parseOptions(argv); err == nil {
			t.Errorf("parseOptions(%q): no error", argv)
		}
	}
}

// Every option of keepalived's own --help is accepted by Vigil, short and
// long, and either acts or says why it has no effect.
func TestEveryKeepalivedFlag(t *testing.T) {
	out, err := exec.Command("keepalived", "--help").CombinedOutput()
	if err != nil && len(out) == 0 {
		t.Skipf("keepalived is not installed (%v): cannot compare with its --help", err)
	}
	// "  -S, --log-facility=([0-7]|...)" / "      --signum=SIGFUNC" /
	// "  -t, --config-test[=LOG_FILE]" / "  -i, --config-id id"
	re := regexp.MustCompile(`(?m)^\s+(?:-([A-Za-z]), )?--([A-Za-z_-]+)(\[?=| [a-z])?`)
	// Values that keepalived's help names only by type.
	values := map[string]string{"log-facility": "7", "umask": "022", "signum": "RELOAD", "namespace": "blue"}
	flags := re.FindAllStringSubmatch(string(out), -1)
	if len(flags) < 30 {
		t.Fatalf("found only %d options in keepalived --help:\n%s", len(flags), out)
	}
	var help bytes.Buffer
	usage(&help)
	for _, m := range flags {
		short, long, helpArg := m[1], m[2], m[3]
		val := values[long]
		if val == "" {
			val = "/tmp/x"
		}
		s, err := findLong(long)
		if err != nil {
			t.Errorf("keepalived's --%s is not one of Vigil's options: %v", long, err)
			continue
		}
		// keepalived's help writes "=X" for -M, whose value getopt takes as
		// optional: Vigil's table says which, the help only that one exists.
		if (helpArg == "") != (s.arg == noArg) {
			t.Errorf("--%s: keepalived's help says value %q, Vigil's table %v", long, helpArg, s.arg)
		}
		var forms [][]string
		switch s.arg {
		case requiredArg:
			forms = append(forms, []string{"--" + long + "=" + val}, []string{"--" + long, val})
			if short != "" {
				forms = append(forms, []string{"-" + short, val}, []string{"-" + short + val})
			}
		case optionalArg:
			forms = append(forms, []string{"--" + long}, []string{"--" + long + "=" + val})
			if short != "" {
				forms = append(forms, []string{"-" + short}, []string{"-" + short + val})
			}
		default:
			forms = append(forms, []string{"--" + long})
			if short != "" {
				forms = append(forms, []string{"-" + short})
			}
		}
		if s.set == nil && s.unsupported == "" {
			t.Errorf("--%s neither acts nor says why not", long)
		}
		if !strings.Contains(help.String(), "--"+long) {
			t.Errorf("vigil --help does not list --%s", long)
		}
		for _, argv := range forms {
			o, err := parseOptions(argv)
			if err != nil {
				t.Errorf("parseOptions(%q): %v", argv, err)
				continue
			}
			if len(o.args) > 0 {
				t.Errorf("parseOptions(%q): %q left as a command", argv, o.args)
			}
			if s.unsupported != "" && (len(o.warnings) != 1 || !strings.Contains(o.warnings[0], "has no effect")) {
				t.Errorf("parseOptions(%q): warnings %q, want one saying it has no effect", argv, o.warnings)
			}
			if s.unsupported == "" && reflect.DeepEqual(*o, def(nil)) && s.set == nil {
				t.Errorf("parseOptions(%q) changed nothing", argv)
			}
		}
	}
}

func TestUnknownFlagExits2WithUsage(t *testing.T) {
	var out, errb bytes.Buffer
	code := run([]string{"--no-such-flag"}, &out, &errb)
	if code != exitUsage {
		t.Fatalf("exit code %d, want %d", code, exitUsage)
	}
	if !strings.Contains(errb.String(), "Usage: vigil") || !strings.Contains(errb.String(), "--no-such-flag") {
		t.Errorf("stderr does not name the flag and show usage:\n%s", errb.String())
	}
}

func TestHelpAndVersion(t *testing.T) {
	var out, errb bytes.Buffer
	if code := run([]string{"-h"}, &out, &errb); code != exitOK || !strings.Contains(out.String(), "--config-test") {
		t.Errorf("-h: code %d, out %q", code, out.String())
	}
	out.Reset()
	if code := run([]string{"--version"}, &out, &errb); code != exitOK || !strings.HasPrefix(out.String(), "Vigil ") {
		t.Errorf("--version: code %d, out %q", code, out.String())
	}
}
