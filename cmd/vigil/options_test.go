package main

import (
	"bytes"
	"reflect"
	"strings"
	"testing"
)

func TestParseOptions(t *testing.T) {
	tests := []struct {
		name string
		argv []string
		want options
	}{
		{"defaults", nil, options{configFile: defaultConfigFile}},
		{"short separate", []string{"-f", "/x.conf", "-t"}, options{configFile: "/x.conf", configTest: true}},
		{"short attached", []string{"-f/x.conf"}, options{configFile: "/x.conf"}},
		{"grouped", []string{"-lDn"}, options{configFile: defaultConfigFile, logConsole: true, logDetail: true, dontFork: true}},
		{"grouped with value", []string{"-lf", "/y"}, options{configFile: "/y", logConsole: true}},
		{"long eq", []string{"--use-file=/z", "--config-test"}, options{configFile: "/z", configTest: true}},
		{"long separate", []string{"--use-file", "/z", "--dump-conf"}, options{configFile: "/z", dumpConf: true}},
		{"pid files", []string{"-p", "/a", "-r", "/b", "-c", "/c"}, options{configFile: defaultConfigFile, pidFile: "/a", vrrpPidFile: "/b", checkPid: "/c"}},
		{"long pid aliases", []string{"--vrrp_pid=/b", "--checkers-pid", "/c"}, options{configFile: defaultConfigFile, vrrpPidFile: "/b", checkPid: "/c"}},
		{"subsystems", []string{"-P", "--check"}, options{configFile: defaultConfigFile, vrrpOnly: true, checkOnly: true}},
		{"config id", []string{"-i", "lb1"}, options{configFile: defaultConfigFile, configID: "lb1"}},
		{"version help", []string{"-v", "--help"}, options{configFile: defaultConfigFile, version: true, help: true}},
		{"subcommand", []string{"-l", "status", "--json"}, options{configFile: defaultConfigFile, logConsole: true, args: []string{"status", "--json"}}},
		{"double dash", []string{"--", "-x"}, options{configFile: defaultConfigFile, args: []string{"-x"}}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := parseOptions(tc.argv)
			if err != nil {
				t.Fatalf("parseOptions(%q): %v", tc.argv, err)
			}
			if !reflect.DeepEqual(*got, tc.want) {
				t.Errorf("parseOptions(%q) = %+v, want %+v", tc.argv, *got, tc.want)
			}
		})
	}
}

func TestParseOptionsErrors(t *testing.T) {
	for _, argv := range [][]string{
		{"-x"}, {"--bogus"}, {"-f"}, {"--use-file"}, {"--config-test=yes"}, {"-lq"},
	} {
		if _, err := parseOptions(argv); err == nil {
			t.Errorf("parseOptions(%q): no error", argv)
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
