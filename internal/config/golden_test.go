package config

import (
	"bytes"
	"context"
	"encoding/json"
	"flag"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// update rewrites the want section of every golden file from the current
// output: go test ./internal/config -run TestGolden -update
var update = flag.Bool("update", false, "rewrite testdata/golden/*.txt with the current output")

// goldenGlobs selects the golden files: the VRRP side and the LVS side share
// this runner and its format (configuration, "-- want --", then the
// diagnostics and, when there is no error, the whole model as JSON).
var goldenGlobs = []string{"vrrp_*.txt", "lvs_*.txt"}

// goldenSep separates the configuration from the expected output.
const goldenSep = "-- want --\n"

// goldenOutput is what a golden file's want section holds: the diagnostics
// one per line, then, when there is no error, the JSON model.
func goldenOutput(t *testing.T, conf []byte) string {
	t.Helper()
	cfg, diags := LoadBytes("keepalived.conf", conf, LoadOptions{})
	var b strings.Builder
	b.WriteString(diags.String())
	if !diags.HasErrors() {
		js, err := json.MarshalIndent(cfg, "", "  ")
		if err != nil {
			t.Fatalf("marshal: %v", err)
		}
		b.Write(js)
		b.WriteByte('\n')
	}
	return b.String()
}

// TestGolden runs every testdata/golden/*.txt: a configuration, a line
// "-- want --", then the expected diagnostics and model.
func TestGolden(t *testing.T) {
	var files []string
	for _, g := range goldenGlobs {
		m, err := filepath.Glob(filepath.Join("testdata", "golden", g))
		if err != nil {
			t.Fatal(err)
		}
		files = append(files, m...)
	}
	if len(files) == 0 {
		t.Fatal("no golden files")
	}
	for _, path := range files {
		name := filepath.Base(path)
		t.Run(strings.TrimSuffix(name, ".txt"), func(t *testing.T) {
			data, err := os.ReadFile(path)
			if err != nil {
				t.Fatal(err)
			}
			conf, want, ok := bytes.Cut(data, []byte(goldenSep))
			if !ok && !*update {
				t.Fatalf("%s: no %q line", path, strings.TrimSpace(goldenSep))
			}
			got := goldenOutput(t, conf)
			if *update {
				out := append(append(append([]byte(nil), conf...), goldenSep...), got...)
				if err := os.WriteFile(path, out, 0o644); err != nil {
					t.Fatal(err)
				}
				return
			}
			if got != string(want) {
				t.Errorf("%s: output differs (run with -update to accept)\n--- got ---\n%s--- want ---\n%s", path, got, want)
			}
		})
	}
}

// TestGoldenAgainstKeepalived makes keepalived 2.2.7 the oracle for
// valid-vs-invalid: a golden config Vigil rejects must fail "keepalived -t",
// and one Vigil accepts without a word (other than "not supported yet")
// must pass it. Configs where Vigil only warns are not compared: keepalived -t exits non-zero for anything it
// reports, even what it repairs and runs with (a deprecated "gw", a route it
// cannot track), and Vigil warns about those and runs too. A case that is
// deliberately different says why on a line "# not-keepalived: REASON". The configs use eth0, so
// the test needs a host with that interface (keepalived -t checks it).
func TestGoldenAgainstKeepalived(t *testing.T) {
	ka := "/usr/sbin/keepalived"
	if _, err := os.Stat(ka); err != nil {
		t.Skip("keepalived is not installed; the reference comparison needs it")
	}
	if os.Geteuid() != 0 {
		t.Skip("keepalived -t needs root")
	}
	if _, err := net.InterfaceByName("eth0"); err != nil {
		t.Skip("the golden configs use eth0, which this host lacks")
	}
	var files []string
	for _, g := range goldenGlobs {
		m, _ := filepath.Glob(filepath.Join("testdata", "golden", g))
		files = append(files, m...)
	}
	for _, path := range files {
		t.Run(strings.TrimSuffix(filepath.Base(path), ".txt"), func(t *testing.T) {
			data, err := os.ReadFile(path)
			if err != nil {
				t.Fatal(err)
			}
			conf, _, _ := bytes.Cut(data, []byte(goldenSep))
			if bytes.Contains(conf, []byte("# not-keepalived")) {
				t.Skip("deliberately different from keepalived (see the file)")
			}
			_, diags := LoadBytes("keepalived.conf", conf, LoadOptions{})
			if aboutConfig(diags) > 0 && !diags.HasErrors() {
				t.Skip("warnings only")
			}
			file := filepath.Join(t.TempDir(), "keepalived.conf")
			if err := os.WriteFile(file, conf, 0o644); err != nil {
				t.Fatal(err)
			}
			ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
			defer cancel()
			out, err := exec.CommandContext(ctx, ka, "-t", "-l", "-D", "-f", file).CombinedOutput()
			kaOK := err == nil
			if kaOK == !diags.HasErrors() {
				return
			}
			t.Errorf("keepalived accepts=%v, vigil accepts=%v\nvigil:\n%skeepalived:\n%s", kaOK, !diags.HasErrors(), diags, kaMessages(out))
		})
	}
}

// aboutConfig counts the diagnostics that are about the file itself, leaving
// out the warnings that Vigil does not act on a keyword yet: those say
// nothing about whether keepalived should accept the file.
func aboutConfig(diags Diagnostics) int {
	n := 0
	for _, d := range diags {
		if d.Severity == Error || !strings.Contains(d.Msg, notSupportedPhrase) {
			n++
		}
	}
	return n
}

// kaMessages drops keepalived's start-up banner from its output.
func kaMessages(out []byte) string {
	var b strings.Builder
	for _, l := range strings.Split(string(out), "\n") {
		if strings.Contains(l, "(Line") || strings.Contains(l, "keepalived.conf") || strings.Contains(l, "rror") || strings.Contains(l, "arning") || strings.Contains(l, "(VI") {
			b.WriteString(l)
			b.WriteByte('\n')
		}
	}
	return b.String()
}
