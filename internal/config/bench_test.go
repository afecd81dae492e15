package config

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// benchVirtualServers is the size of the generated configuration: large
// enough that parsing dominates process start-up for keepalived.
const benchVirtualServers = 10000

// writeBenchConfig writes a keepalived.conf of n virtual servers, each
// with one or two real servers and a TCP_CHECK, into dir. Every server is
// fully specified (scheduler, method, protocol), so keepalived -t has
// nothing to report and both sides do the same work.
func writeBenchConfig(tb testing.TB, dir string, n int) string {
	tb.Helper()
	var b strings.Builder
	b.WriteString("global_defs {\n    router_id bench\n}\n")
	for i := range n {
		hi, lo := i/250, i%250+1
		fmt.Fprintf(&b, "virtual_server 10.1.%d.%d 80 {\n", hi, lo)
		b.WriteString("    delay_loop 6\n    lb_algo wrr\n    lb_kind NAT\n    protocol TCP\n")
		for r := 0; r <= i%2; r++ {
			fmt.Fprintf(&b, "    real_server 10.%d.%d.%d 8080 {\n", 2+r, hi, lo)
			b.WriteString("        weight 1\n        TCP_CHECK {\n            connect_timeout 3\n            retry 2\n            delay_before_retry 1\n        }\n    }\n")
		}
		b.WriteString("}\n")
	}
	path := filepath.Join(dir, "keepalived.conf")
	if err := os.WriteFile(path, []byte(b.String()), 0o644); err != nil {
		tb.Fatal(err)
	}
	return path
}

// BenchmarkParse measures Load on the generated configuration and, in the
// keepalived sub-benchmark, "keepalived -t" on the same file, so one run
// gives both figures for docs/BENCHMARKS.md:
//
//	go test ./internal/config -run '^$' -bench '^BenchmarkParse$' -benchtime 10x
//
// keepalived's figure includes its process start-up, which is a few
// milliseconds against the hundreds its parse of this file takes.
func BenchmarkParse(b *testing.B) {
	path := writeBenchConfig(b, b.TempDir(), benchVirtualServers)
	b.Run("vigil", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			cfg, diags := Load(path, LoadOptions{})
			if diags.HasErrors() {
				b.Fatalf("the generated config does not load:\n%s", diags.Errors())
			}
			if len(cfg.VirtualServers) != benchVirtualServers {
				b.Fatalf("loaded %d virtual servers, want %d", len(cfg.VirtualServers), benchVirtualServers)
			}
		}
	})
	b.Run("keepalived", func(b *testing.B) {
		if _, err := os.Stat(keepalivedBin); err != nil {
			b.Skip("keepalived is not installed; nothing to compare with")
		}
		if os.Geteuid() != 0 {
			b.Skip("keepalived -t needs root")
		}
		for b.Loop() {
			ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
			out, err := exec.CommandContext(ctx, keepalivedBin, "-t", "-l", "-f", path).CombinedOutput()
			cancel()
			if err != nil {
				b.Fatalf("keepalived -t: %v\n%s", err, out)
			}
		}
	})
}

// TestBenchConfigLoads keeps the benchmark honest without running it: a
// small generated configuration must load cleanly, with the servers and
// checkers it claims to contain.
func TestBenchConfigLoads(t *testing.T) {
	path := writeBenchConfig(t, t.TempDir(), 20)
	cfg, diags := Load(path, LoadOptions{})
	if diags.HasErrors() {
		t.Fatalf("generated config rejected:\n%s", diags.Errors())
	}
	if len(cfg.VirtualServers) != 20 {
		t.Fatalf("%d virtual servers, want 20", len(cfg.VirtualServers))
	}
	rs := 0
	for _, vs := range cfg.VirtualServers {
		rs += len(vs.RealServers)
		for _, r := range vs.RealServers {
			if len(r.Checkers) != 1 || r.Checkers[0].Kind != CheckTCP {
				t.Errorf("%s: real server %s has checkers %v, want one TCP_CHECK", vsName(vs), r.Addr, r.Checkers)
			}
		}
	}
	if rs != 30 {
		t.Errorf("%d real servers, want 30 (one or two per virtual server)", rs)
	}
}
