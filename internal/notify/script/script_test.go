package script

import (
	"context"
	"errors"
	"os"
	"os/user"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"vigil/internal/config"
)

// writeScript writes an executable file in dir and returns its path.
func writeScript(t *testing.T, dir, name, body string) string {
	t.Helper()
	p := filepath.Join(dir, name)
	if err := os.WriteFile(p, []byte(body), 0o755); err != nil {
		t.Fatal(err)
	}
	return p
}

// noDefaultUser makes Prepare behave as on a host without keepalived_script,
// so the tests do not depend on the machine's user database.
func noDefaultUser(t *testing.T) {
	t.Helper()
	old := sys
	sys.lookupUser = func(name string) (*user.User, error) {
		if name == DefaultUser {
			return nil, user.UnknownUserError(name)
		}
		return user.Lookup(name)
	}
	t.Cleanup(func() { sys = old })
}

func mustPrepare(t *testing.T, argv ...string) *Script {
	t.Helper()
	s, err := Prepare(config.Command{Argv: argv}, Policy{})
	if err != nil {
		t.Fatalf("Prepare(%q): %v", argv, err)
	}
	return s
}

func TestRunExitStatus(t *testing.T) {
	noDefaultUser(t)
	dir := t.TempDir()
	out := filepath.Join(dir, "args")
	tests := []struct {
		name     string
		body     string
		extra    []string
		wantOK   bool
		wantCode int
	}{
		{"exit 0", "#!/bin/sh\nexit 0\n", nil, true, 0},
		{"exit 1", "#!/bin/sh\nexit 1\n", nil, false, 1},
		{"exit 42", "#!/bin/sh\nexit 42\n", nil, false, 42},
		{"no shebang runs under sh", "exit 3\n", nil, false, 3},
		{"extra arguments appended", "#!/bin/sh\necho \"$@\" > " + out + "\n", []string{"INSTANCE", "VI_1", "MASTER", "100"}, true, 0},
	}
	for i, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			p := writeScript(t, dir, "s"+strconv.Itoa(i), tc.body)
			res := mustPrepare(t, p).Run(context.Background(), 10*time.Second, tc.extra...)
			if res.OK() != tc.wantOK || res.ExitCode != tc.wantCode {
				t.Fatalf("got %v (ok=%v), want ok=%v code %d", res, res.OK(), tc.wantOK, tc.wantCode)
			}
			if tc.extra != nil {
				b, err := os.ReadFile(out)
				if err != nil || strings.TrimSpace(string(b)) != strings.Join(tc.extra, " ") {
					t.Fatalf("script saw args %q (%v), want %q", b, err, strings.Join(tc.extra, " "))
				}
			}
		})
	}
}

func TestRunConfiguredArgsBeforeExtra(t *testing.T) {
	noDefaultUser(t)
	dir := t.TempDir()
	out := filepath.Join(dir, "args")
	p := writeScript(t, dir, "n.sh", "#!/bin/sh\nprintf '%s|' \"$@\" > "+out+"\n")
	s := mustPrepare(t, p, "a b", "c")
	if res := s.Run(context.Background(), 10*time.Second, "GROUP", "G1", "BACKUP", "0"); !res.OK() {
		t.Fatal(res)
	}
	b, _ := os.ReadFile(out)
	if got, want := string(b), "a b|c|GROUP|G1|BACKUP|0|"; got != want {
		t.Fatalf("args %q, want %q", got, want)
	}
}

// alive reports whether pid is a live (non-zombie) process.
func alive(pid int) bool {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return false
	}
	s := string(b)
	i := strings.LastIndexByte(s, ')')
	return i < 0 || i+2 >= len(s) || s[i+2] != 'Z'
}

func TestRunTimeoutKillsGroup(t *testing.T) {
	noDefaultUser(t)
	dir := t.TempDir()
	pids := filepath.Join(dir, "pids")
	// The script starts a child that would outlive it, records both pids,
	// then hangs.
	p := writeScript(t, dir, "hang.sh", "#!/bin/sh\nsleep 1000 &\necho $$ $! > "+pids+".tmp\nmv "+pids+".tmp "+pids+"\nwhile :; do sleep 1; done\n")
	s := mustPrepare(t, p)
	res := s.Run(context.Background(), 300*time.Millisecond)
	if !res.TimedOut || res.OK() {
		t.Fatalf("got %v, want a timeout", res)
	}
	if res.Duration > 5*time.Second {
		t.Fatalf("Run took %v after a 300ms timeout", res.Duration)
	}
	b, err := os.ReadFile(pids)
	if err != nil {
		t.Fatalf("script did not record its pids: %v", err)
	}
	deadline := time.Now().Add(5 * time.Second)
	for _, f := range strings.Fields(string(b)) {
		pid, _ := strconv.Atoi(f)
		for alive(pid) && time.Now().Before(deadline) {
			time.Sleep(10 * time.Millisecond) // the kernel finishes the kill asynchronously
		}
		if alive(pid) {
			syscall.Kill(pid, syscall.SIGKILL)
			t.Errorf("process %d survived the timeout", pid)
		}
	}
}

func TestRunContextCancel(t *testing.T) {
	noDefaultUser(t)
	p := writeScript(t, t.TempDir(), "hang.sh", "#!/bin/sh\nexec sleep 1000\n")
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	res := mustPrepare(t, p).Run(ctx, 0)
	if !res.TimedOut {
		t.Fatalf("got %v, want killed on cancel", res)
	}
}

func TestRunShellRedirection(t *testing.T) {
	noDefaultUser(t)
	dir := t.TempDir()
	tests := []struct {
		cmd  string
		want bool
	}{
		{"</dev/null", true},
		{"<" + filepath.Join(dir, "missing"), false},
	}
	for _, tc := range tests {
		s := mustPrepare(t, tc.cmd)
		if !s.Shell {
			t.Fatalf("%s: not run through the shell", tc.cmd)
		}
		if res := s.Run(context.Background(), 10*time.Second); res.OK() != tc.want {
			t.Errorf("%s: got %v, want ok=%v", tc.cmd, res, tc.want)
		}
	}
}

func TestPrepareErrors(t *testing.T) {
	noDefaultUser(t)
	dir := t.TempDir()
	notExec := filepath.Join(dir, "plain")
	os.WriteFile(notExec, []byte("#!/bin/sh\n"), 0o644)
	tests := []struct {
		name string
		cmd  config.Command
		want string
	}{
		{"empty", config.Command{}, "empty command"},
		{"missing file", config.Command{Argv: []string{filepath.Join(dir, "nope")}}, "cannot be accessed"},
		{"not in PATH", config.Command{Argv: []string{"vigil-no-such-command"}}, "not found in PATH"},
		{"directory", config.Command{Argv: []string{dir}}, "not a regular file"},
		{"unknown user", config.Command{Argv: []string{"/bin/true"}, User: "vigil-no-such-user"}, "vigil-no-such-user"},
		{"unknown group", config.Command{Argv: []string{"/bin/true"}, User: "root", Group: "vigil-no-such-group"}, "vigil-no-such-group"},
	}
	if os.Getuid() != 0 {
		// Root may execute any file with an x bit; an unprivileged user
		// cannot execute a 0644 file.
		tests = append(tests, struct {
			name string
			cmd  config.Command
			want string
		}{"not executable", config.Command{Argv: []string{notExec}}, "not executable"})
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := Prepare(tc.cmd, Policy{})
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("got %v, want an error containing %q", err, tc.want)
			}
		})
	}
}

func TestPreparePathSearch(t *testing.T) {
	noDefaultUser(t)
	s := mustPrepare(t, "true")
	if !filepath.IsAbs(s.Argv[0]) || filepath.Base(s.Argv[0]) != "true" {
		t.Fatalf("argv[0] = %q, want the full path of true", s.Argv[0])
	}
	if len(s.Warnings) == 0 || !strings.Contains(s.Warnings[0], "path search") {
		t.Fatalf("no path-search warning: %q", s.Warnings)
	}
	if res := s.Run(context.Background(), 10*time.Second); !res.OK() {
		t.Fatal(res)
	}
}

func TestSecurityPolicy(t *testing.T) {
	if os.Getuid() != 0 {
		t.Skip("script security applies to scripts run as root; needs root to set up root-owned paths")
	}
	noDefaultUser(t)
	base := t.TempDir() // root-owned, 0700
	safe := writeScript(t, base, "safe.sh", "#!/bin/sh\nexit 0\n")

	open := filepath.Join(base, "open")
	os.Mkdir(open, 0o755)
	os.Chmod(open, 0o777) // world-writable directory without the sticky bit
	inOpen := writeScript(t, open, "s.sh", "#!/bin/sh\nexit 0\n")

	sticky := filepath.Join(base, "sticky")
	os.Mkdir(sticky, 0o755)
	os.Chmod(sticky, 0o777|os.ModeSticky) // like /tmp: allowed
	inSticky := writeScript(t, sticky, "s.sh", "#!/bin/sh\nexit 0\n")

	worldFile := writeScript(t, base, "world.sh", "#!/bin/sh\nexit 0\n")
	os.Chmod(worldFile, 0o757)

	groupFile := writeScript(t, base, "group.sh", "#!/bin/sh\nexit 0\n")
	os.Chmod(groupFile, 0o775)
	os.Chown(groupFile, 0, 100) // group-writable by a non-root group

	notRoot := writeScript(t, base, "owned.sh", "#!/bin/sh\nexit 0\n")
	os.Chown(notRoot, 65534, 0)

	link := filepath.Join(base, "link.sh")
	os.Symlink(inOpen, link) // a safe-looking name pointing into an unsafe directory

	tests := []struct {
		name   string
		path   string
		unsafe bool
	}{
		{"root-owned, not writable", safe, false},
		{"world-writable directory", inOpen, true},
		{"sticky world-writable directory", inSticky, false},
		{"world-writable file", worldFile, true},
		{"group-writable file, non-root group", groupFile, true},
		{"file owned by another user", notRoot, true},
		{"symlink into an unsafe directory", link, true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			s, err := Prepare(config.Command{Argv: []string{tc.path}}, Policy{Secure: true, User: "root"})
			if tc.unsafe != (err != nil) {
				t.Fatalf("secure: err = %v, want unsafe=%v", err, tc.unsafe)
			}
			if err != nil && !strings.Contains(err.Error(), "enable_script_security") {
				t.Fatalf("error does not name the setting: %v", err)
			}
			s, err = Prepare(config.Command{Argv: []string{tc.path}}, Policy{Secure: false})
			if err != nil {
				t.Fatalf("insecure policy refused the script: %v", err)
			}
			if s.Insecure != tc.unsafe || (tc.unsafe && len(s.Warnings) == 0) {
				t.Fatalf("Insecure=%v warnings=%q, want %v", s.Insecure, s.Warnings, tc.unsafe)
			}
		})
	}
}

func TestDefaultUserRequiredWhenSecure(t *testing.T) {
	noDefaultUser(t)
	_, err := Prepare(config.Command{Argv: []string{"/bin/true"}}, Policy{Secure: true})
	if err == nil || !strings.Contains(err.Error(), DefaultUser) {
		t.Fatalf("got %v, want an error naming %s", err, DefaultUser)
	}
	// An explicit script_user lifts the requirement.
	if _, err := Prepare(config.Command{Argv: []string{"/bin/true"}}, Policy{Secure: true, User: "root"}); err != nil {
		t.Fatal(err)
	}
}

func TestRunAsUser(t *testing.T) {
	if os.Getuid() != 0 {
		t.Skip("switching user needs root")
	}
	noDefaultUser(t)
	nobody, err := user.Lookup("nobody")
	if err != nil {
		t.Skip("no user nobody")
	}
	dir := t.TempDir()
	os.Chmod(filepath.Dir(dir), 0o755) // let nobody reach the script
	os.Chmod(dir, 0o755)
	outDir := filepath.Join(dir, "out")
	os.Mkdir(outDir, 0o777)
	os.Chmod(outDir, 0o777)
	p := writeScript(t, dir, "id.sh", "#!/bin/sh\nid -u > "+outDir+"/uid\n")
	s, err := Prepare(config.Command{Argv: []string{p}, User: "nobody"}, Policy{Secure: true})
	if err != nil {
		t.Fatal(err)
	}
	if res := s.Run(context.Background(), 10*time.Second); !res.OK() {
		t.Fatal(res)
	}
	b, _ := os.ReadFile(filepath.Join(outDir, "uid"))
	if strings.TrimSpace(string(b)) != nobody.Uid {
		t.Fatalf("script ran as uid %q, want %s", b, nobody.Uid)
	}
}

func TestPolicyFrom(t *testing.T) {
	g := config.GlobalDefs{EnableScriptSecurity: true, ScriptUser: &config.Command{Argv: []string{"alice"}, Group: "staff"}}
	if got := PolicyFrom(g); got != (Policy{Secure: true, User: "alice", Group: "staff"}) {
		t.Fatalf("PolicyFrom = %+v", got)
	}
	if got := PolicyFrom(config.GlobalDefs{}); got != (Policy{}) {
		t.Fatalf("PolicyFrom(empty) = %+v", got)
	}
	// What the parser makes of the global_defs keyword.
	tests := []struct {
		line string
		want Policy
	}{
		{"script_user alice", Policy{Secure: true, User: "alice"}},
		{"script_user alice staff", Policy{Secure: true, User: "alice", Group: "staff"}},
	}
	for _, tc := range tests {
		cfg, diags := config.LoadBytes("test.conf", []byte("global_defs {\n enable_script_security\n "+tc.line+"\n}\n"), config.LoadOptions{})
		if diags.HasErrors() {
			t.Fatalf("%s: %v", tc.line, diags)
		}
		if got := PolicyFrom(cfg.Global); got != tc.want {
			t.Errorf("%s: PolicyFrom = %+v, want %+v", tc.line, got, tc.want)
		}
	}
}

func TestResultString(t *testing.T) {
	tests := []struct {
		r    Result
		want string
	}{
		{Result{Err: errors.New("boom"), ExitCode: -1}, "could not start: boom"},
		{Result{TimedOut: true}, "timed out"},
		{Result{Signal: syscall.SIGKILL}, "killed by signal killed"},
		{Result{ExitCode: 2}, "exited with status 2"},
	}
	for _, tc := range tests {
		if got := tc.r.String(); got != tc.want {
			t.Errorf("%+v: %q, want %q", tc.r, got, tc.want)
		}
	}
}
