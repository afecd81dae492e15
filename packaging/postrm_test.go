package packaging

import (
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// emptyRecord is the address record of a Vigil that stopped cleanly.
const emptyRecord = "{\n  \"version\": 1,\n  \"addresses\": []\n}\n"

// TestPostrmPurge runs the package's postrm against a runtime directory of
// the test's own (VIGIL_POSTRM_RUNDIR), with a fake systemctl first in PATH
// so that the host's systemd is not touched: a purge removes what a stopped
// daemon leaves and nothing of a running one's, nor a record that still
// lists addresses, nor files it does not know.
func TestPostrmPurge(t *testing.T) {
	sh, err := exec.LookPath("sh")
	if err != nil {
		t.Skip("no sh")
	}
	tests := []struct {
		name      string
		action    string
		record    string // "" for none
		listen    bool   // a daemon listens on vigil.sock
		stale     bool   // a socket file nobody listens on
		extra     bool   // a file Vigil does not make
		wantGone  bool   // the directory is removed
		wantKept  []string
		wantStder string
	}{
		{name: "stopped daemon", action: "purge", record: emptyRecord, stale: true, wantGone: true},
		{name: "nothing in it", action: "purge", wantGone: true},
		{name: "running daemon", action: "purge", record: emptyRecord, listen: true, wantKept: []string{"vigil.sock", "addresses.json"}, wantStder: "in use by a running daemon"},
		{name: "record lists addresses", action: "purge", record: `{"version":1,"addresses":[{"ifname":"eth0","prefix":"10.0.0.1/24"}]}`, stale: true,
			wantKept: []string{"addresses.json"}, wantStder: "kept so that a later run can remove it"},
		{name: "file of someone else", action: "purge", record: emptyRecord, extra: true, wantKept: []string{"notes.txt"}},
		{name: "remove, not purge", action: "remove", record: emptyRecord, stale: true, wantKept: []string{"vigil.sock", "addresses.json"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			base := t.TempDir()
			dir := filepath.Join(base, "rv")
			fake := filepath.Join(base, "bin")
			for _, d := range []string{dir, fake} {
				if err := os.Mkdir(d, 0o700); err != nil {
					t.Fatal(err)
				}
			}
			calls := filepath.Join(base, "systemctl-calls")
			if err := os.WriteFile(filepath.Join(fake, "systemctl"), []byte("#!/bin/sh\necho \"$@\" >>"+calls+"\n"), 0o755); err != nil {
				t.Fatal(err)
			}
			if tt.record != "" {
				if err := os.WriteFile(filepath.Join(dir, "addresses.json"), []byte(tt.record), 0o600); err != nil {
					t.Fatal(err)
				}
			}
			sock := filepath.Join(dir, "vigil.sock")
			if tt.listen || tt.stale {
				ln, err := net.Listen("unix", sock)
				if err != nil {
					t.Fatal(err)
				}
				if tt.stale {
					ln.(*net.UnixListener).SetUnlinkOnClose(false)
					ln.Close()
				} else {
					defer ln.Close()
				}
			}
			if tt.extra {
				if err := os.WriteFile(filepath.Join(dir, "notes.txt"), []byte("x"), 0o600); err != nil {
					t.Fatal(err)
				}
			}
			cmd := exec.Command(sh, "postrm", tt.action)
			cmd.Env = append(os.Environ(), "VIGIL_POSTRM_RUNDIR="+dir, "PATH="+fake+":"+os.Getenv("PATH"))
			var stderr strings.Builder
			cmd.Stderr = &stderr
			if err := cmd.Run(); err != nil {
				t.Fatalf("postrm %s: %v\n%s", tt.action, err, stderr.String())
			}
			_, err := os.Stat(dir)
			if gone := os.IsNotExist(err); gone != tt.wantGone {
				t.Errorf("directory removed: %v, want %v", gone, tt.wantGone)
			}
			for _, f := range tt.wantKept {
				if _, err := os.Stat(filepath.Join(dir, f)); err != nil {
					t.Errorf("%s: %v, want it kept", f, err)
				}
			}
			if tt.wantStder != "" && !strings.Contains(stderr.String(), tt.wantStder) {
				t.Errorf("stderr %q lacks %q", stderr.String(), tt.wantStder)
			}
		})
	}
}
