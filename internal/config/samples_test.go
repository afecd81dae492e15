package config

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"
)

// samplesDir is where Debian's keepalived package installs the sample
// configurations keepalived itself ships.
const samplesDir = "/usr/share/doc/keepalived/samples"

// keepalivedBin is the reference implementation the differential tests
// compare against.
const keepalivedBin = "/usr/sbin/keepalived"

// ensureKeepalived skips the test, saying why, unless Debian's keepalived
// package is installed: it brings both the binary (the oracle of
// differential_test.go) and the samples. A unit test never installs
// anything (it must not change the host it runs on); .ci/run installs the
// package on CI machines.
func ensureKeepalived(t testing.TB) {
	t.Helper()
	if reason := keepalivedMissing(os.Stat); reason != "" {
		t.Skip(reason)
	}
}

// keepalivedMissing says what of the keepalived package is missing ("" when
// nothing is), using stat to look.
func keepalivedMissing(stat func(string) (os.FileInfo, error)) string {
	var missing []string
	for _, p := range []string{keepalivedBin, samplesDir} {
		if _, err := stat(p); err != nil {
			missing = append(missing, p)
		}
	}
	if len(missing) == 0 {
		return ""
	}
	return "keepalived 2.2.7 (Debian package keepalived) is not installed: " + strings.Join(missing, " and ") +
		" missing; install it (apt-get install keepalived, as .ci/run does) to run this test"
}

// TestDebianSamples loads every sample configuration shipped with Debian's
// keepalived 2.2.7: Vigil must accept each of them (warnings are allowed:
// the samples use features Vigil parses but does not act on yet). A sample
// whose header says to run keepalived with "-i ID" is loaded once per such
// config id, as keepalived would be.
//
// Two samples carry mistakes that keepalived itself reports when checking
// them (vrrp.lvs_syncd lists instances without "group { }", vrrp.rules has
// the address "192.168.100./24"). keepalived skips the bad lines and runs;
// Vigil runs past only the unknown keywords (docs/OPERATIONS.md) and
// refuses the rest (an empty sync group, a bad address). For those the
// test requires that every
// line Vigil rejects is a line "keepalived -t" reports as a configuration
// error too (not a fact of this host such as a missing interface), so Vigil
// never rejects a sample for a reason keepalived does not share.
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
		data, err := os.ReadFile(path)
		if err != nil {
			t.Fatal(err)
		}
		ids := sampleConfigIDs(data)
		if len(ids) == 0 {
			ids = []string{""}
		}
		for _, id := range ids {
			name := filepath.Base(path)
			if id != "" {
				name += "/-i_" + id
			}
			t.Run(name, func(t *testing.T) {
				cfg, diags := Load(path, LoadOptions{ReadOptions: ReadOptions{ConfigID: id}})
				for _, d := range diags {
					if d.Severity == Warning {
						t.Logf("%s", d)
					}
				}
				if errs := diags.Errors(); len(errs) > 0 {
					checkKeepalivedAgrees(t, path, id, errs)
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
}

// configIDHint finds "-i ID" in a sample's comments.
var configIDHint = regexp.MustCompile(`'-i ([A-Za-z0-9_]+)'`)

// sampleConfigIDs returns the config ids a sample's comment header asks
// keepalived to be run with, in order.
func sampleConfigIDs(data []byte) []string {
	var ids []string
	for _, line := range strings.Split(string(data), "\n") {
		line = strings.TrimSpace(line)
		if !strings.HasPrefix(line, "#") && !strings.HasPrefix(line, "!") {
			continue
		}
		for _, m := range configIDHint.FindAllStringSubmatch(line, -1) {
			ids = append(ids, m[1])
		}
	}
	return ids
}

// kaLineMsg matches one line of keepalived's report: "(FILE: Line N) MSG".
var kaLineMsg = regexp.MustCompile(`^\((.*): Line (\d+)\) (.*)$`)

// checkKeepalivedAgrees fails t unless keepalived -t, run on the same file
// with the same config id, reports a configuration problem (not a missing
// interface) on every line where Vigil found an error.
func checkKeepalivedAgrees(t *testing.T, path, id string, errs Diagnostics) {
	t.Helper()
	args := []string{"-t", "-l", "-D", "-f", path}
	if id != "" {
		args = append(args, "-i", id)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	out, _ := exec.CommandContext(ctx, keepalivedBin, args...).CombinedOutput()
	reported := map[int][]string{}
	for _, l := range strings.Split(string(out), "\n") {
		m := kaLineMsg.FindStringSubmatch(strings.TrimSpace(l))
		if m == nil || m[1] != path {
			continue
		}
		if strings.Contains(m[3], "doesn't exist") || strings.Contains(m[3], "Unknown interface") {
			continue // a fact of this host, not of the file
		}
		n, _ := strconv.Atoi(m[2])
		reported[n] = append(reported[n], m[3])
	}
	nodes, _, _ := ReadFile(path, ReadOptions{ConfigID: id})
	for _, d := range errs {
		if d.Pos.File == path && len(reported[d.Pos.Line]) == 0 {
			// An error about a whole block (a sync group left empty by
			// the lines keepalived rejected in it) agrees with a problem
			// keepalived reports inside that block.
			if end := blockEnd(nodes, d.Pos); end > 0 {
				for l := d.Pos.Line + 1; l <= end && len(reported[d.Pos.Line]) == 0; l++ {
					reported[d.Pos.Line] = reported[l]
				}
			}
		}
		if d.Pos.File != path || len(reported[d.Pos.Line]) == 0 {
			t.Errorf("Vigil rejects a line keepalived accepts: %s\nkeepalived -t said:\n%s", d, out)
			continue
		}
		t.Logf("the sample is wrong, and both agree: %s (keepalived: %s)", d, strings.Join(reported[d.Pos.Line], "; "))
	}
}

// blockEnd returns the line of the closing brace of the block opened at
// pos, or 0 when no block opens there.
func blockEnd(nodes []*Node, pos Pos) int {
	for _, n := range nodes {
		if n.Pos == pos && n.HasBlock {
			return n.EndPos.Line
		}
		if end := blockEnd(n.Block, pos); end > 0 {
			return end
		}
	}
	return 0
}

// TestKeepalivedMissing: without the package the samples and differential
// tests skip with a message naming what is missing and how to get it,
// instead of installing it.
func TestKeepalivedMissing(t *testing.T) {
	statWith := func(present ...string) func(string) (os.FileInfo, error) {
		return func(p string) (os.FileInfo, error) {
			for _, q := range present {
				if p == q {
					return nil, nil
				}
			}
			return nil, os.ErrNotExist
		}
	}
	tests := []struct {
		name    string
		present []string
		want    []string
	}{
		{"installed", []string{keepalivedBin, samplesDir}, nil},
		{"nothing", nil, []string{keepalivedBin + " and " + samplesDir + " missing", "apt-get install keepalived"}},
		{"samples only missing", []string{keepalivedBin}, []string{samplesDir + " missing"}},
	}
	for _, tt := range tests {
		got := keepalivedMissing(statWith(tt.present...))
		if (got == "") != (tt.want == nil) {
			t.Errorf("%s: %q", tt.name, got)
		}
		for _, w := range tt.want {
			if !strings.Contains(got, w) {
				t.Errorf("%s: %q lacks %q", tt.name, got, w)
			}
		}
	}
}
