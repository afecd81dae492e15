package lvsproc

import (
	"context"
	"net/netip"
	"strings"
	"testing"
	"time"

	"vigil/internal/config"
	"vigil/internal/dataplane"
	"vigil/internal/dataplane/fakeplane"
)

// TestReloadDuringFirstReports reloads, with one real server re-weighted,
// while the Runner is still reporting every server's first health (3,000
// of them, more than the loop's buffer, so the Runner is still sending
// when the reload comes). Those reports carry the old file's weight; the
// reload must still cost exactly one operation and leave the new weight.
// Applied after the Side's reload, a stale report put the old weight back
// and the Runner's switch the new one again: three operations, and a
// wrong weight in between. It may also pass without a reload landing
// mid-report (the interleaving is the scheduler's); it cannot fail on
// correct code.
func TestReloadDuringFirstReports(t *testing.T) {
	text := manyVS(1500)
	const old = " real_server 10.3.2.101 80 {\n }"
	if !strings.Contains(text, old) {
		t.Fatal("the real server to re-weight is not in the file")
	}
	cfg := load(t, text)
	next := load(t, strings.Replace(text, old, " real_server 10.3.2.101 80 {\n  weight 2\n }", 1))
	p := fakeplane.New()
	var st latest
	reload := make(chan struct{}, 1)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() {
		done <- Run(ctx, RunOptions{
			Config: cfg, Load: func(context.Context) (*config.Config, error) { return next, nil }, Reload: reload,
			Candidates: []Candidate{{Name: "ipvs", Open: func() (dataplane.Plane, error) { return p, nil }}},
			Publish:    st.set,
		})
	}()
	defer func() { cancel(); <-done }()
	// Bounded waits: 30 s for what takes milliseconds, for a loaded
	// machine running the race detector.
	waitFor := func(what string, ok func() bool) {
		t.Helper()
		for deadline := time.Now().Add(30 * time.Second); !ok(); time.Sleep(time.Millisecond) {
			if time.Now().After(deadline) {
				t.Fatalf("%s: not within 30 s; status %+v", what, st.get().State)
			}
		}
	}
	// The first status is published before the Runner starts reporting.
	waitFor("the start", func() bool { return st.get().State == "running" })
	ops0 := st.get().Operations
	reload <- struct{}{}
	waitFor("the reload", func() bool { return st.get().Reloads == 1 })
	if n := st.get().Operations - ops0; n != 1 {
		t.Errorf("the reload cost %d operations, want 1 (calls %v)", n, p.Calls()[len(p.Calls())-n:])
	}
	key := dataplane.ServiceKey{Family: dataplane.IPv4, Protocol: dataplane.ProtoTCP, Addr: netip.MustParseAddr("10.1.2.101"), Port: 80}
	d, ok := p.Table()[key].Dests[dataplane.DestKey{Addr: netip.MustParseAddr("10.3.2.101"), Port: 80}]
	if !ok || d.Weight != 2 {
		t.Errorf("after the reload the real server is %+v (present %v), want weight 2", d, ok)
	}
}
