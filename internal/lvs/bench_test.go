package lvs

import (
	"context"
	"fmt"
	"strings"
	"testing"

	"vigil/internal/config"
	"vigil/internal/dataplane/fakeplane"
)

// bigConfig has n virtual servers of 4 real servers each.
func bigConfig(n int) string {
	var b strings.Builder
	for i := 0; i < n; i++ {
		fmt.Fprintf(&b, "virtual_server 10.%d.%d.1 80 {\n lb_algo wrr\n lb_kind NAT\n protocol TCP\n", i/250, i%250)
		for j := 1; j <= 4; j++ {
			fmt.Fprintf(&b, " real_server 10.200.%d.%d 80 {\n  weight %d\n }\n", i%250, j, j)
		}
		b.WriteString("}\n")
	}
	return b.String()
}

// BenchmarkHealthChange5000: one real server's health flips among 5,000
// services x 4 real servers; each round trip (engine, desired table, diff,
// apply) sends exactly one operation.
func BenchmarkHealthChange5000(b *testing.B) {
	cfg, diags := config.LoadBytes("keepalived.conf", []byte(bigConfig(5000)), config.LoadOptions{})
	if diags.HasErrors() {
		b.Fatal(diags.Errors())
	}
	e := New(cfg)
	e.Start()
	p := fakeplane.New()
	r := NewReconciler(p, quiet)
	ctx := context.Background()
	tab, keys := e.Changes()
	if _, err := r.ApplySome(ctx, tab, keys); err != nil {
		b.Fatal(err)
	}
	id := RealIDOf(cfg.VirtualServers[2500], cfg.VirtualServers[2500].RealServers[1])
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		e.SetHealth(id, Health{Up: i%2 == 1})
		tab, keys := e.Changes()
		n, err := r.ApplySome(ctx, tab, keys)
		if err != nil || n != 1 {
			b.Fatalf("apply: %d operations, %v", n, err)
		}
	}
}
