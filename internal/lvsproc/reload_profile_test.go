package lvsproc

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"vigil/internal/config"
	"vigil/internal/dataplane"
	"vigil/internal/dataplane/fakeplane"
	"vigil/internal/status"
)

// BenchmarkLabReload is the IPVS lab's reload (5,000 virtual servers × 4
// real servers, no checkers) on the fake plane: the file on disk changes
// one real server's weight (1 ↔ 2, alternately) and the LVS loop reloads
// it, from the request to the status that counts the reload, its parse
// of the file included (with config.Loader, as the daemon loads it):
// reload-s/op to the status, to-update-s/op to the weight's update on the
// plane (what the IPVS lab measures). Each reload must cost one operation. Run it with
// -cpuprofile/-memprofile to see where a reload goes:
//
//	go test -run '^$' -bench LabReload -benchtime 20x ./internal/lvsproc
func BenchmarkLabReload(b *testing.B) {
	text := labConf(5000, 4)
	const old = "    real_server 10.2.10.101 8080 {\n        weight 1\n"
	if !strings.Contains(text, old) {
		b.Fatal("the real server to re-weight is not in the file")
	}
	texts := [2]string{text, strings.Replace(text, old, "    real_server 10.2.10.101 8080 {\n        weight 2\n", 1)}
	path := filepath.Join(b.TempDir(), "keepalived.conf")
	if err := os.WriteFile(path, []byte(text), 0o644); err != nil {
		b.Fatal(err)
	}
	// The daemon's loader: a reload parses the blocks that changed.
	var loader config.Loader
	loadFile := func(context.Context) (*config.Config, error) {
		cfg, diags := loader.Load(path, config.LoadOptions{HostChecks: true})
		if err := diags.StartErr(false); err != nil {
			return nil, err
		}
		return cfg, nil
	}
	cfg, err := loadFile(context.Background())
	if err != nil {
		b.Fatal(err)
	}
	p := fakeplane.New()
	// The time of the reload's operation, the weight's update: what the
	// IPVS lab measures (SIGHUP to the weight in the kernel).
	var updatedAt atomic.Int64
	p.FailWith(func(c fakeplane.Call) error {
		if c.Op == fakeplane.OpUpdateDest {
			updatedAt.Store(time.Now().UnixNano())
		}
		return nil
	})
	reload := make(chan struct{}, 1)
	statuses := make(chan status.LVSJSON, 16)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() {
		done <- Run(ctx, RunOptions{
			Config: cfg, Load: loadFile, Reload: reload,
			Candidates: []Candidate{{Name: "ipvs", Open: func() (dataplane.Plane, error) { return p, nil }}},
			Publish: func(s status.LVSJSON) {
				// Only the counts: the loop must not wait on the benchmark.
				select {
				case statuses <- status.LVSJSON{State: s.State, Reloads: s.Reloads, Operations: s.Operations}:
				default:
				}
			},
		})
	}()
	defer func() { cancel(); <-done }()
	waitReloads := func(n int) status.LVSJSON {
		deadline := time.After(time.Minute)
		for {
			select {
			case s := <-statuses:
				if s.State == "running" && s.Reloads >= n {
					return s
				}
			case <-deadline:
				b.Fatalf("no status with %d reloads within a minute", n)
			}
		}
	}
	ops := waitReloads(0).Operations
	reloads := 0
	var total, applied time.Duration
	b.ResetTimer()
	for b.Loop() {
		b.StopTimer()
		if err := os.WriteFile(path, []byte(texts[(reloads+1)%2]), 0o644); err != nil {
			b.Fatal(err)
		}
		b.StartTimer()
		t0 := time.Now()
		reload <- struct{}{}
		reloads++
		s := waitReloads(reloads)
		total += time.Since(t0)
		applied += time.Unix(0, updatedAt.Load()).Sub(t0)
		if n := s.Operations - ops; n != 1 {
			b.Fatalf("reload %d cost %d operations, want 1", reloads, n)
		}
		ops = s.Operations
	}
	b.ReportMetric(total.Seconds()/float64(reloads), "reload-s/op")
	b.ReportMetric(applied.Seconds()/float64(reloads), "to-update-s/op")
}
