package config

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"
)

// samplesDir is where Debian's keepalived package installs the sample
// configurations keepalived itself ships.
const samplesDir = "/usr/share/doc/keepalived/samples"

// keepalivedBin is the reference implementation the differential tests
// compare against.
const keepalivedBin = "/usr/sbin/keepalived"

// ensureKeepalived makes sure Debian's keepalived package is installed,
// installing it when the test runs as root, and skips the test otherwise.
// The package brings both the binary (the oracle of differential_test.go)
// and the samples.
func ensureKeepalived(t testing.TB) {
	t.Helper()
	_, errBin := os.Stat(keepalivedBin)
	_, errDir := os.Stat(samplesDir)
	if errBin == nil && errDir == nil {
		return
	}
	if os.Geteuid() != 0 {
		t.Skip("keepalived (Debian package) is not installed and installing it needs root")
	}
	if _, err := exec.LookPath("apt-get"); err != nil {
		t.Skip("keepalived is not installed and there is no apt-get to install it")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, "apt-get", "install", "-y", "keepalived")
	cmd.Env = append(os.Environ(), "DEBIAN_FRONTEND=noninteractive")
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("apt-get install -y keepalived: %v\n%s", err, out)
	}
	if _, err := os.Stat(samplesDir); err != nil {
		t.Fatalf("keepalived installed but %s is missing: %v", samplesDir, err)
	}
}

// TestDebianSamples loads every sample configuration shipped with Debian's
// keepalived 2.2.7: Vigil must accept each of them (warnings are allowed:
// the samples use features Vigil parses but does not act on yet).
func TestDebianSamples(t *testing.T) {
	ensureKeepalived(t)
	files, err := filepath.Glob(filepath.Join(samplesDir, "keepalived.conf.*"))
	if err != nil {
		t.Fatal(err)
	}
	// Debian's 2.2.7 package ships 25; fewer means a broken install or a
	// different version, and the test would prove less than it claims.
	if len(files) < 25 {
		t.Fatalf("found %d samples in %s, want the 25 of keepalived 2.2.7", len(files), samplesDir)
	}
	for _, path := range files {
		t.Run(filepath.Base(path), func(t *testing.T) {
			cfg, diags := Load(path, LoadOptions{})
			for _, d := range diags {
				if d.Severity == Warning {
					t.Logf("%s", d)
				}
			}
			if diags.HasErrors() {
				t.Fatalf("Vigil rejects a sample keepalived ships:\n%s", diags.Errors())
			}
			if len(cfg.Files) == 0 || cfg.Files[0] != path {
				t.Errorf("Files = %v, want the sample first", cfg.Files)
			}
			if len(cfg.Instances)+len(cfg.VirtualServers)+len(cfg.StaticAddresses)+len(cfg.StaticRoutes)+len(cfg.StaticRules) == 0 {
				t.Errorf("the sample loaded into an empty model")
			}
		})
	}
}
