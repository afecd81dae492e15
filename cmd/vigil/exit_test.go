package main

import (
	"bytes"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// noGOMAXPROCS keeps run from changing the test process's GOMAXPROCS.
func noGOMAXPROCS(k string) string {
	if k == "GOMAXPROCS" {
		return "1"
	}
	return ""
}

func writeConf(t *testing.T, text string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "keepalived.conf")
	if err := os.WriteFile(p, []byte(text), 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

const validConf = "global_defs {\n router_id t1\n}\n"

// The exit codes of docs/OPERATIONS.md, each as Vigil gives it.
func TestExitCodes(t *testing.T) {
	dir := t.TempDir()
	missing := filepath.Join(dir, "missing.conf")
	valid := writeConf(t, validConf)
	invalid := writeConf(t, "vrrp_instance VI_1 {\n priorty 100\n}\n")
	withInclude := writeConf(t, validConf+"include "+filepath.Join(dir, "absent.conf")+"\n")
	tun := writeConf(t, "virtual_server 10.0.0.1 80 {\n lb_kind TUN\n protocol TCP\n real_server 10.0.1.1 80 {\n  weight 1\n }\n}\n")
	// Process 1 is always alive: the pid file says another daemon runs.
	heldPid := filepath.Join(dir, "held.pid")
	if err := os.WriteFile(heldPid, []byte("1\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name    string
		argv    []string
		code    int
		stderr  string
		without string // a text stderr must not have
	}{
		{"-t valid", []string{"-t", "-f", valid}, exitOK, "configuration is valid", ""},
		{"-t --dataplane nftables: what the plane cannot serve is invalid", []string{"-t", "-f", tun, "--dataplane", "nftables"}, exitInvalid, "keepalived.conf:1: virtual_server: service TCP 10.0.0.1:80", ""},
		{"-t: a TUN virtual server is valid for auto", []string{"-t", "-f", tun}, exitOK, "configuration is valid", "nftables"},
		{"-t invalid: 5 as keepalived", []string{"-t", "-f", invalid}, exitInvalid, "configuration is invalid", ""},
		{"-t missing file: not found, not line 0", []string{"-t", "-f", missing}, exitNoConfig, missing + ": configuration file not found", ":0:"},
		{"-d missing file", []string{"-d", "-f", missing}, exitNoConfig, "configuration file not found", ""},
		{"start on a missing file: 6 as keepalived", []string{"-l", "-f", missing}, exitNoConfig, "configuration file not found", ":0:"},
		{"start on an invalid file: 2 as keepalived", []string{"-l", "-f", invalid}, exitConfig, "priorty", ""},
		{"start without permission: 4", []string{"-l", "-f", valid, "-p", "/sys/vigil-exit-test.pid"}, exitPermission, "permission denied", ""},
		{"start with the pid file held by a live process: 1 as keepalived", []string{"-l", "-f", valid, "-p", heldPid}, exitFatal, "still running", ""},
		{"usage", []string{"-f"}, exitUsage, "requires an argument", ""},
		{"-T first is genhash: its own options, its usage", []string{"-T", "--bogus-genhash-flag"}, 1, "vigil -T", ""},
		{"-T after other options is refused, never a daemon started", []string{"-l", "-T", "-s", "10.0.0.1", "-p", "80"}, exitUsage, "must be the first option", ""},
		{"unknown sigfunc: 1 as keepalived", []string{"--signum=NOPE"}, exitFatal, "unknown sigfunc", ""},
		{"-t: a missing include is a warning", []string{"-t", "-f", withInclude}, exitOK, "no such file", ""},
		{"-t -e: a missing include is an error", []string{"-t", "-e", "-f", withInclude}, exitInvalid, "no such file", ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var out, errb bytes.Buffer
			code := runWith(tc.argv, &out, &errb, noGOMAXPROCS)
			if code != tc.code {
				t.Errorf("exit %d, want %d; stderr:\n%s", code, tc.code, errb.String())
			}
			if !strings.Contains(errb.String(), tc.stderr) {
				t.Errorf("stderr lacks %q:\n%s", tc.stderr, errb.String())
			}
			if tc.without != "" && strings.Contains(errb.String(), tc.without) {
				t.Errorf("stderr has %q:\n%s", tc.without, errb.String())
			}
		})
	}
}

// -t=FILE appends the diagnostics to FILE, as keepalived's.
func TestConfigTestLogFile(t *testing.T) {
	invalid := writeConf(t, "vrrp_instance VI_1 {\n priorty 100\n}\n")
	logf := filepath.Join(t.TempDir(), "ct.log")
	var out, errb bytes.Buffer
	if code := runWith([]string{"--config-test=" + logf, "-f", invalid}, &out, &errb, noGOMAXPROCS); code != exitInvalid {
		t.Fatalf("exit %d", code)
	}
	b, err := os.ReadFile(logf)
	if err != nil || !strings.Contains(string(b), "priorty") {
		t.Errorf("log file %q (%v)", b, err)
	}
	if strings.Contains(errb.String(), "priorty") {
		t.Errorf("diagnostics on stderr too: %s", errb.String())
	}
}

// Without -f: the packaged file (the one the unit passes), else keepalived's.
func TestDefaultConfigFile(t *testing.T) {
	stat := func(exist ...string) func(string) (fs.FileInfo, error) {
		return func(p string) (fs.FileInfo, error) {
			for _, e := range exist {
				if e == p {
					return nil, nil
				}
			}
			return nil, fs.ErrNotExist
		}
	}
	unit, err := os.ReadFile("../../packaging/vigil.service")
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(unit), "-f "+packagedConfigFile+" ") {
		t.Errorf("the unit does not run with -f %s, the default", packagedConfigFile)
	}
	tests := []struct {
		exist  []string
		want   string
		wantOK bool
	}{
		{[]string{packagedConfigFile, keepalivedConfigFile}, packagedConfigFile, true},
		{[]string{keepalivedConfigFile}, keepalivedConfigFile, true},
		{nil, packagedConfigFile, false},
	}
	for _, tc := range tests {
		if got, ok := defaultConfigFile(stat(tc.exist...)); got != tc.want || ok != tc.wantOK {
			t.Errorf("with %q: %q, %v; want %q, %v", tc.exist, got, ok, tc.want, tc.wantOK)
		}
	}
}

// The client finds the socket of the daemon run with the same flags and file.
func TestClientSocket(t *testing.T) {
	conf := writeConf(t, "net_namespace blue\ninstance lb1\n"+validConf)
	plain := writeConf(t, validConf)
	env := func(kv ...string) func(string) string {
		return func(k string) string {
			for i := 0; i+1 < len(kv); i += 2 {
				if kv[i] == k {
					return kv[i+1]
				}
			}
			return ""
		}
	}
	tests := []struct {
		name string
		argv []string
		env  func(string) string
		want string
	}{
		{"plain", []string{"-f", plain}, env(), "/run/vigil/vigil.sock"},
		{"-s", []string{"-f", plain, "-s", "red"}, env(), "/run/vigil/red/vigil.sock"},
		{"net_namespace and instance from the file", []string{"-f", conf}, env(), "/run/vigil/blue/vigil_lb1.sock"},
		{"-s overrides net_namespace", []string{"-f", conf, "--namespace=red"}, env(), "/run/vigil/red/vigil_lb1.sock"},
		{"-p names it", []string{"-f", plain, "-p", "/tmp/x/lb.pid"}, env(), "/tmp/x/lb.sock"},
		{"VIGIL_STATE_DIR", []string{"-f", plain}, env(stateDirEnv, "/tmp/s"), "/tmp/s/vigil.sock"},
		{"VIGIL_SOCKET", []string{"-f", conf}, env(socketEnv, "/tmp/v.sock"), "/tmp/v.sock"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			o, err := parseOptions(tc.argv)
			if err != nil {
				t.Fatal(err)
			}
			if got := clientSocket(o, tc.env); got != tc.want {
				t.Errorf("clientSocket = %q, want %q", got, tc.want)
			}
		})
	}
}
