package lvsproc

import (
	"context"
	"fmt"
	"runtime"
	"strings"
	"testing"
	"time"

	"vigil/internal/config"
	"vigil/internal/dataplane"
	"vigil/internal/dataplane/fakeplane"
	"vigil/internal/status"
)

// labConf is the IPVS lab's start configuration (test/vmlab's
// benchConfig without checkers): services virtual servers 10.1.x.y:80,
// wrr, NAT, TCP, each with reals real servers 10.(2+r).x.y:8080.
func labConf(services, reals int) string {
	var b strings.Builder
	b.WriteString("global_defs {\n    router_id vmbench\n}\n")
	for i := range services {
		fmt.Fprintf(&b, "virtual_server 10.1.%d.%d 80 {\n    delay_loop 60\n    lvs_sched wrr\n    lvs_method NAT\n    protocol TCP\n", i/250, i%250+1)
		for r := range reals {
			fmt.Fprintf(&b, "    real_server 10.%d.%d.%d 8080 {\n        weight 1\n    }\n", 2+r, i/250, i%250+1)
		}
		b.WriteString("}\n")
	}
	return b.String()
}

// startRun is the LVS process's start path on the fake plane: parse the
// text, build the checkers and the Engine, apply the table, publish the
// first status, which it keeps as the daemon does (the status it
// serves). It returns the plane, a stop function, and the time each step
// took.
func startRun(tb testing.TB, text []byte) (p *fakeplane.Plane, stop func(), parse, first, start time.Duration) {
	tb.Helper()
	t0 := time.Now()
	cfg, diags := config.LoadBytes("keepalived.conf", text, config.LoadOptions{})
	if diags.HasErrors() {
		tb.Fatalf("config: %v", diags)
	}
	parse = time.Since(t0)
	p = fakeplane.New()
	// Like the kernel's IPVS, the plane keeps traffic counters: the
	// start ends with a read of the whole table for the status.
	caps := fakeplane.AllCapabilities
	caps.Stats = true
	p.SetCapabilities(caps)
	var firstAt time.Time
	p.FailWith(func(c fakeplane.Call) error {
		if firstAt.IsZero() && c.Op == fakeplane.OpAddService {
			firstAt = time.Now()
		}
		return nil
	})
	ctx, cancel := context.WithCancel(context.Background())
	running := make(chan struct{})
	done := make(chan error, 1)
	t1 := time.Now()
	var last status.LVSJSON
	go func() {
		first := true
		done <- Run(ctx, RunOptions{
			Config:     cfg,
			Load:       func(context.Context) (*config.Config, error) { return cfg, nil },
			Candidates: []Candidate{{Name: "ipvs", Open: func() (dataplane.Plane, error) { return p, nil }}},
			Publish: func(s status.LVSJSON) {
				last = s
				if first && s.State == "running" {
					first = false
					close(running)
				}
			},
		})
	}()
	select {
	case <-running:
	case err := <-done:
		cancel()
		tb.Fatalf("Run ended before it ran: %v", err)
	}
	start = time.Since(t1)
	first = firstAt.Sub(t1)
	return p, func() {
		cancel()
		if err := <-done; err != nil {
			tb.Errorf("Run: %v", err)
		}
		if len(last.VirtualServers) == 0 {
			tb.Errorf("the last status has no virtual server")
		}
	}, parse, first, start
}

// BenchmarkLabStart is the IPVS lab's start (5,000 virtual servers × 4
// real servers, no checkers) on the fake plane: the LVS process's own
// CPU time before and between its requests, and the heap it keeps once
// started. Run it with -cpuprofile/-memprofile to see where they go:
//
//	go test -run '^$' -bench LabStart -benchtime 3x ./internal/lvsproc
func BenchmarkLabStart(b *testing.B) {
	text := []byte(labConf(5000, 4))
	var parse, first, start time.Duration
	var heap uint64
	for b.Loop() {
		p, stop, pa, fi, st := startRun(b, text)
		parse += pa
		first += fi
		start += st
		p.Reset() // the fake kernel's log of calls is not the process's
		runtime.GC()
		var ms runtime.MemStats
		runtime.ReadMemStats(&ms)
		heap += ms.HeapAlloc
		stop()
	}
	n := float64(b.N)
	b.ReportMetric(parse.Seconds()/n, "parse-s/op")
	b.ReportMetric(first.Seconds()/n, "first-request-s/op")
	b.ReportMetric(start.Seconds()/n, "start-s/op")
	b.ReportMetric(float64(heap)/n/1e6, "heap-MB-after-start")
	// The heap's address space never shrinks: with -benchtime 1x it is
	// the high-water mark of one start (and stop), which sets the RSS a
	// process reaches before it gives memory back.
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	b.ReportMetric(float64(ms.HeapSys)/1e6, "heap-peak-MB")
}
