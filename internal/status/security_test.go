package status

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
)

// asNobody runs curl against the control socket at sock as the user nobody
// (65534) and reports whether it got an answer.
func asNobody(t *testing.T, sock string) (bool, string) {
	t.Helper()
	cmd := exec.Command("curl", "-sS", "--max-time", "5", "--unix-socket", sock, "http://vigil/status")
	cmd.SysProcAttr = &syscall.SysProcAttr{Credential: &syscall.Credential{Uid: 65534, Gid: 65534}}
	out, err := cmd.CombinedOutput()
	return err == nil, string(out)
}

// TestControlSocketRefusesNonRoot (docs/SECURITY.md): a local user who is not
// root cannot talk to the daemon, even when every directory on the way is
// open to them: the socket's own mode (0600, root) refuses the connect. The
// control case, the same socket opened to everyone, proves the refusal
// comes from the mode and not from the test's set-up.
func TestControlSocketRefusesNonRoot(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("needs root: the test runs a client as the user nobody")
	}
	if _, err := exec.LookPath("curl"); err != nil {
		t.Skip("curl not installed (apt-get install curl): no client to run as nobody")
	}
	dir := t.TempDir()
	// Open every directory on the way, as a careless /run layout might.
	for d := dir; d != "/" && d != os.TempDir(); d = filepath.Dir(d) {
		if err := os.Chmod(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	sock := filepath.Join(dir, "vigil.sock")
	ln, err := ListenControl(sock)
	if err != nil {
		t.Fatal(err)
	}
	h := fixtureHub()
	srvDone := make(chan error, 1)
	ctx := t.Context()
	go func() { srvDone <- Serve(ctx, ln, h.Handler(nil)) }()

	if ok, out := asNobody(t, sock); ok {
		t.Fatalf("nobody read the status through a 0600 socket: %s", out)
	} else if !strings.Contains(out, "ermission denied") && !strings.Contains(out, "Couldn't connect") {
		t.Errorf("nobody's connect failed, but not for want of permission: %s", out)
	}
	if err := os.Chmod(sock, 0o666); err != nil {
		t.Fatal(err)
	}
	if ok, out := asNobody(t, sock); !ok || !strings.Contains(out, "VI_1") {
		t.Fatalf("control case: nobody could not read a 0666 socket (%s): the test set-up is wrong", out)
	}
}

// TestDumpReplacesPlantedSymlink (docs/SECURITY.md): the signal dumps go to
// keepalived's paths in /tmp, where any local user can create files. A
// symlink planted there is replaced by the dump, never written through, so
// it cannot make the root daemon overwrite another file.
func TestDumpReplacesPlantedSymlink(t *testing.T) {
	dir := t.TempDir()
	victim := filepath.Join(dir, "victim")
	if err := os.WriteFile(victim, []byte("precious\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	files := DumpFiles{Data: filepath.Join(dir, "keepalived.data"), Stats: filepath.Join(dir, "keepalived.stats"), JSON: filepath.Join(dir, "keepalived.json")}
	for _, p := range []string{files.Data, files.Stats, files.JSON} {
		if err := os.Symlink(victim, p); err != nil {
			t.Fatal(err)
		}
	}
	h := fixtureHub()
	for name, dump := range map[string]func(DumpFiles) error{"data": h.DumpData, "stats": h.DumpStats, "json": h.DumpJSON} {
		if err := dump(files); err != nil {
			t.Fatalf("%s: %v", name, err)
		}
	}
	if b, _ := os.ReadFile(victim); string(b) != "precious\n" {
		t.Fatalf("the symlink's target was written: %q", b)
	}
	for _, p := range []string{files.Data, files.Stats, files.JSON} {
		fi, err := os.Lstat(p)
		if err != nil {
			t.Fatal(err)
		}
		if !fi.Mode().IsRegular() || fi.Mode().Perm() != 0o600 {
			t.Errorf("%s: mode %v, want a regular file 0600", p, fi.Mode())
		}
	}
}
