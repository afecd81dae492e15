package daemon

import (
	"context"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"vigil/internal/runpath"
	"vigil/internal/status"
	"vigil/internal/vrrp"
)

// stateRec records SetVRRPState calls and signals each on calls.
type stateRec struct {
	mu    sync.Mutex
	got   []string
	calls chan struct{}
}

func (r *stateRec) SetVRRPState(instance, state string) {
	r.mu.Lock()
	r.got = append(r.got, instance+"="+state)
	r.mu.Unlock()
	r.calls <- struct{}{}
}

func TestFollowVRRPSeedsThenForwardsTransitions(t *testing.T) {
	hub := status.NewHub()
	hub.SetSource(func() []status.Instance {
		return []status.Instance{
			{Snapshot: vrrp.Snapshot{Name: "VI_1", State: vrrp.StateBackup}},
			{Snapshot: vrrp.Snapshot{Name: "VI_2", State: vrrp.StateMaster}},
		}
	})
	rec := &stateRec{calls: make(chan struct{}, 16)}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); followVRRP(ctx, hub, rec) }()
	// The seed comes after the subscription: once both are told, every
	// event published from here on reaches it.
	<-rec.calls
	<-rec.calls
	hub.Publish(status.Event{Instance: "VS [10.0.0.1]:tcp:80", Kind: "real-up"}) // the LVS side's: not a state
	hub.Publish(status.Event{Instance: "VI_1", From: "BACKUP", To: "MASTER"})
	<-rec.calls
	cancel()
	<-done
	want := []string{"VI_1=BACKUP", "VI_2=MASTER", "VI_1=MASTER"}
	if !slices.Equal(rec.got, want) {
		t.Fatalf("told %v, want %v", rec.got, want)
	}
}

// TestCheckOnlyServesMetrics: under -C (the LVS side alone) global_defs
// vigil_metrics_listen serves the metrics too, the LVS side's included; it
// used to be read and never served there.
func TestCheckOnlyServesMetrics(t *testing.T) {
	if _, err := os.Stat("/proc/net/ip_vs"); err == nil {
		t.Skip("this kernel has IPVS: the test relies on the IPVS plane failing to open, so that it changes nothing")
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	dir := t.TempDir()
	conf := filepath.Join(dir, "keepalived.conf")
	text := "global_defs {\n    vigil_metrics_listen " + addr + "\n}\n" +
		"virtual_server 192.0.2.1 80 {\n    lvs_sched rr\n    protocol TCP\n    real_server 192.0.2.11 80 {\n    }\n}\n"
	if err := os.WriteFile(conf, []byte(text), 0o644); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() {
		done <- Run(ctx, Options{ConfigFile: conf, CheckOnly: true, Dataplane: "ipvs",
			Paths: runpath.Input{StateDirEnv: dir}, Log: slog.New(slog.DiscardHandler)})
	}()
	defer func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("Run: %v", err)
		}
	}()
	// The LVS side reports (an error: no IPVS here) within a bound that
	// only a stuck daemon misses.
	deadline := time.Now().Add(10 * time.Second)
	var body string
	for {
		resp, err := http.Get("http://" + addr + "/metrics")
		if err == nil {
			b, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			body = string(b)
			if resp.StatusCode == http.StatusOK && strings.Contains(body, "vigil_lvs_up") {
				break
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("no LVS metrics on %s under -C after 10s (last error %v):\n%s", addr, err, body)
		}
		select {
		case err := <-done:
			t.Fatalf("Run returned early: %v", err)
		case <-time.After(50 * time.Millisecond):
		}
	}
	if !strings.Contains(body, "keepalived_up 1") {
		t.Errorf("metrics under -C lack keepalived_up 1:\n%s", body)
	}
}
