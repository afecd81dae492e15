package lvsproc

import (
	"context"
	"errors"
	"net"
	"net/netip"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"testing/synctest"
	"time"

	"vigil/internal/config"
	"vigil/internal/dataplane"
	"vigil/internal/dataplane/fakeplane"
	"vigil/internal/status"
)

// fakeDialer answers the TCP checks: addresses in down are refused.
type fakeDialer struct {
	mu   sync.Mutex
	down map[string]bool
}

func (d *fakeDialer) set(addr string, down bool) {
	d.mu.Lock()
	d.down[addr] = down
	d.mu.Unlock()
}

func (d *fakeDialer) DialContext(ctx context.Context, network, address string) (net.Conn, error) {
	d.mu.Lock()
	down := d.down[address]
	d.mu.Unlock()
	if down {
		return nil, errors.New("connection refused")
	}
	c, s := net.Pipe()
	s.Close()
	return c, nil
}

// latest keeps the last status the loop published.
type latest struct {
	mu sync.Mutex
	s  status.LVSJSON
	n  atomic.Int32
}

func (l *latest) set(s status.LVSJSON) { l.mu.Lock(); l.s = s; l.mu.Unlock(); l.n.Add(1) }
func (l *latest) get() status.LVSJSON  { l.mu.Lock(); defer l.mu.Unlock(); return l.s }

// TestRunWiring drives the whole LVS loop (checks → Engine → Reconciler
// → plane) with a fake network and a fake plane on synctest's clock: a
// failing check removes its real server with one operation, its
// recovery adds it back with one, an unchanged reload sends none, and the
// stop removes the service.
func TestRunWiring(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		cfg := load(t, strings.Replace(conf(false), "TCP_CHECK { connect_timeout 1 }", "TCP_CHECK { connect_timeout 1 }\n    delay_loop 2", -1))
		p := fakeplane.New()
		d := &fakeDialer{down: map[string]bool{}}
		var st latest
		var evMu sync.Mutex
		var evs []status.Event
		reload := make(chan struct{})
		next := cfg
		ctx, cancel := context.WithCancel(context.Background())
		done := make(chan error)
		go func() {
			done <- Run(ctx, RunOptions{
				Config: cfg, Load: func(context.Context) (*config.Config, error) { return next, nil }, Reload: reload,
				Candidates: []Candidate{{Name: "ipvs", Open: func() (dataplane.Plane, error) { return p, nil }}},
				Dialer:     d, Publish: st.set,
				Emit: func(e status.Event) { evMu.Lock(); evs = append(evs, e); evMu.Unlock() },
			})
		}()
		synctest.Wait()
		if got := st.get(); got.State != "running" || got.Dataplane != "ipvs" || got.Operations != 3 || len(got.VirtualServers) != 1 {
			t.Fatalf("started: %+v", got)
		}
		p.Reset()
		d.set("10.0.0.2:80", true)
		time.Sleep(10 * time.Second) // synctest's clock: several delay_loops
		synctest.Wait()
		if calls := p.Calls(); len(calls) != 1 || calls[0].Op != fakeplane.OpDeleteDest {
			t.Fatalf("check failing: calls %v, want one DeleteDestination", calls)
		}
		if rs := st.get().VirtualServers[0].Reals[0]; rs.Alive {
			t.Fatalf("status still shows %s alive", rs.Addr)
		}
		p.Reset()
		d.set("10.0.0.2:80", false)
		time.Sleep(10 * time.Second)
		synctest.Wait()
		if calls := p.Calls(); len(calls) != 1 || calls[0].Op != fakeplane.OpAddDest {
			t.Fatalf("check passing again: calls %v, want one AddDestination", calls)
		}
		// The status lists both checks, each with its start.
		starts := func() map[string]uint64 {
			m := map[string]uint64{}
			for _, c := range st.get().Checkers {
				if len(c.Reals) != 1 || c.Reals[0].VirtualServer != "[10.0.0.1]:TCP:80" {
					t.Fatalf("checker %+v: want one real server of [10.0.0.1]:TCP:80", c)
				}
				m[c.Reals[0].Addr] = c.Start
			}
			return m
		}
		first := starts()
		if len(first) != 2 || first["10.0.0.2:80"] == 0 || first["10.0.0.3:80"] == 0 {
			t.Fatalf("checkers in the status: %+v", st.get().Checkers)
		}
		p.Reset()
		reload <- struct{}{}
		synctest.Wait()
		if p.Count() != 0 || st.get().Reloads != 1 {
			t.Fatalf("unchanged reload: calls %v, want none", p.Calls())
		}
		if got := starts(); got["10.0.0.2:80"] != first["10.0.0.2:80"] || got["10.0.0.3:80"] != first["10.0.0.3:80"] {
			t.Fatalf("an unchanged reload restarted checks: starts %v, before %v", got, first)
		}
		// A re-weighted real server: one UpdateDestination, and the status
		// published for the reload already shows it.
		next = load(t, strings.Replace(strings.Replace(conf(false), "TCP_CHECK { connect_timeout 1 }", "TCP_CHECK { connect_timeout 1 }\n    delay_loop 2", -1), "weight 3", "weight 5", 1))
		reload <- struct{}{}
		synctest.Wait()
		if calls := p.Calls(); len(calls) != 1 || calls[0].Op != fakeplane.OpUpdateDest {
			t.Fatalf("re-weighting reload: calls %v, want one UpdateDestination", calls)
		}
		if got := st.get(); got.Reloads != 2 || got.VirtualServers[0].Reals[1].Weight != 5 {
			t.Fatalf("status after the reload: %+v", got)
		}
		// A new connect_timeout for one checker restarts that one only.
		p.Reset()
		next = load(t, strings.Replace(strings.Replace(strings.Replace(conf(false), "TCP_CHECK { connect_timeout 1 }", "TCP_CHECK { connect_timeout 1 }\n    delay_loop 2", -1), "weight 3", "weight 5", 1),
			"TCP_CHECK { connect_timeout 1 }", "TCP_CHECK { connect_timeout 2 }", 1))
		reload <- struct{}{}
		synctest.Wait()
		if got := starts(); got["10.0.0.2:80"] == first["10.0.0.2:80"] || got["10.0.0.3:80"] != first["10.0.0.3:80"] {
			t.Fatalf("a reload changing the checker of 10.0.0.2: starts %v, before %v; want that one only restarted", got, first)
		}
		if p.Count() != 0 {
			t.Fatalf("a restarted checker of a live real server: calls %v, want none", p.Calls())
		}
		evMu.Lock()
		var kinds []string
		for _, e := range evs {
			kinds = append(kinds, e.Kind)
		}
		evMu.Unlock()
		if strings.Join(kinds, ",") != "quorum-up,real-down,real-up" {
			t.Fatalf("events %v, want quorum-up, real-down, real-up", kinds)
		}
		cancel()
		if err := <-done; err != nil {
			t.Fatal(err)
		}
		if len(p.Table()) != 0 {
			t.Fatalf("after stop the plane holds %v", p.Table())
		}
	})
}

// TestRunWithoutPlane: without a data plane the loop says why, changes
// nothing, and waits (the parent must not restart it in a loop).
func TestRunWithoutPlane(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		var st latest
		ctx, cancel := context.WithCancel(context.Background())
		done := make(chan error)
		go func() {
			done <- Run(ctx, RunOptions{Config: load(t, conf(false)), Publish: st.set,
				Candidates: []Candidate{{Name: "ipvs", Open: func() (dataplane.Plane, error) { return nil, errors.New("the kernel has no IPVS") }}}})
		}()
		synctest.Wait()
		if got := st.get(); got.State != "error" || !strings.Contains(got.Error, "no IPVS") {
			t.Fatalf("status %+v, want error naming IPVS", got)
		}
		select {
		case err := <-done:
			t.Fatalf("Run returned %v without being stopped", err)
		default:
		}
		cancel()
		<-done
	})
}

// TestRunHaSuspend: ha_suspend follows the host's addresses as the
// address watch reports them.
func TestRunHaSuspend(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		cfg := load(t, strings.Replace(conf(false), "lb_algo rr", "lb_algo rr\n  ha_suspend", 1))
		var st latest
		addrs := make(chan AddrEvent)
		ctx, cancel := context.WithCancel(context.Background())
		done := make(chan error)
		go func() {
			done <- Run(ctx, RunOptions{Config: cfg, Publish: st.set, Addrs: addrs, Dialer: &fakeDialer{down: map[string]bool{}},
				Candidates: []Candidate{{Name: "ipvs", Open: func() (dataplane.Plane, error) { return fakeplane.New(), nil }}}})
		}()
		synctest.Wait()
		if !st.get().VirtualServers[0].Suspended {
			t.Fatal("the virtual server is not suspended while its address is absent")
		}
		addrs <- AddrEvent{Addr: netip.MustParseAddr("10.0.0.1"), Held: true}
		synctest.Wait()
		if st.get().VirtualServers[0].Suspended {
			t.Fatal("still suspended once the address is held")
		}
		addrs <- AddrEvent{Addr: netip.MustParseAddr("10.0.0.1"), Held: false}
		synctest.Wait()
		if !st.get().VirtualServers[0].Suspended {
			t.Fatal("not suspended after the address left")
		}
		cancel()
		<-done
	})
}

// TestRunFollowsVRRPStates: the loop hands the parent's VRRP states to
// the Side, so lvs_sync_daemon switches role, and stops it on stop.
func TestRunFollowsVRRPStates(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		cfg := load(t, syncConf+conf(false))
		p := fakeplane.New()
		vrrp := make(chan VRRPState)
		ctx, cancel := context.WithCancel(context.Background())
		done := make(chan error)
		go func() {
			done <- Run(ctx, RunOptions{
				Config: cfg, Load: func(context.Context) (*config.Config, error) { return cfg, nil },
				Candidates: []Candidate{{Name: "ipvs", Open: func() (dataplane.Plane, error) { return p, nil }}},
				Dialer:     &fakeDialer{down: map[string]bool{}}, VRRP: vrrp,
			})
		}()
		synctest.Wait()
		if got := roles(p); len(got) != 0 {
			t.Fatalf("after start: %v, want none before the parent's word", got)
		}
		vrrp <- VRRPState{Instance: "VI_1", State: "BACKUP"}
		synctest.Wait()
		if got := roles(p); len(got) != 1 || got[dataplane.SyncBackup] != 7 {
			t.Fatalf("after BACKUP: %v, want backup", got)
		}
		vrrp <- VRRPState{Instance: "VI_1", State: "MASTER"}
		synctest.Wait()
		if got := roles(p); len(got) != 1 || got[dataplane.SyncMaster] != 7 {
			t.Fatalf("after MASTER: %v, want master", got)
		}
		cancel()
		if err := <-done; err != nil {
			t.Fatal(err)
		}
		if len(p.SyncDaemons()) != 0 {
			t.Fatalf("after stop: %v", roles(p))
		}
	})
}

// TestRunReportsCheckerProblems: a checker that cannot run is in the
// status with its file:line, and a reload that fixes it clears it.
func TestRunReportsCheckerProblems(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		bad := strings.Replace(conf(false), "TCP_CHECK { connect_timeout 1 }", `MISC_CHECK { misc_path "/nonexistent/vigil-script" }`, 1)
		cfg := load(t, bad)
		next := load(t, conf(false))
		var st latest
		reload := make(chan struct{})
		ctx, cancel := context.WithCancel(context.Background())
		done := make(chan error)
		go func() {
			done <- Run(ctx, RunOptions{Config: cfg, Load: func(context.Context) (*config.Config, error) { return next, nil }, Reload: reload,
				Publish: st.set, Dialer: &fakeDialer{down: map[string]bool{}},
				Candidates: []Candidate{{Name: "ipvs", Open: func() (dataplane.Plane, error) { return fakeplane.New(), nil }}}})
		}()
		synctest.Wait()
		if got := st.get().CheckerProblems; len(got) != 1 || !strings.HasPrefix(got[0], "keepalived.conf:10: MISC_CHECK") || !strings.Contains(got[0], "/nonexistent/vigil-script") {
			t.Fatalf("checker problems %q, want the MISC_CHECK at keepalived.conf:10", got)
		}
		reload <- struct{}{}
		synctest.Wait()
		if got := st.get().CheckerProblems; len(got) != 0 {
			t.Fatalf("after a reload that fixes it: %q", got)
		}
		cancel()
		<-done
	})
}

// TestRunPublishesCheckersBetweenOutputs: a check whose first success
// confirms its real server's initial state moves nothing (no output), yet
// the status shows it has run within a couple of seconds.
func TestRunPublishesCheckersBetweenOutputs(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		var st latest
		ctx, cancel := context.WithCancel(context.Background())
		done := make(chan error)
		go func() {
			done <- Run(ctx, RunOptions{Config: load(t, conf(false)), Publish: st.set, Dialer: &fakeDialer{down: map[string]bool{}},
				Candidates: []Candidate{{Name: "ipvs", Open: func() (dataplane.Plane, error) { return fakeplane.New(), nil }}}})
		}()
		synctest.Wait()
		for _, c := range st.get().Checkers {
			if c.HasRun {
				t.Fatalf("checker %s has run at start", c.Name)
			}
		}
		// warmup defaults to delay_loop (60 s): the first checks are due
		// within a minute and a second.
		time.Sleep(62*time.Second + checkersEvery)
		synctest.Wait()
		got := st.get().Checkers
		if len(got) != 2 {
			t.Fatalf("checkers %+v", got)
		}
		for _, c := range got {
			if !c.HasRun || !c.Up || !c.LastOK {
				t.Errorf("checker %s: %+v; want it run and passing in the status", c.Name, c)
			}
		}
		cancel()
		<-done
	})
}

// TestRunOmegaStop: a clean stop with omega runs notify_down of each live
// real server and writes its FIFO line, then the quorum's, as keepalived
// does (the Runner's last outputs were once dropped on the way out).
func TestRunOmegaStop(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		text := strings.Replace(conf(false), "%INHIBIT%", "", 1)
		text = strings.Replace(text, "lb_kind NAT", "lb_kind NAT\n  omega\n  quorum_down \"/bin/true qdown\"", 1)
		text = strings.Replace(text, "weight 2", "weight 2\n    notify_down \"/bin/true rs2\"", 1)
		text = strings.Replace(text, "weight 3", "weight 3\n    notify_down \"/bin/true rs3\"", 1)
		cfg := load(t, text)
		notes := &recNotes{}
		d := &fakeDialer{down: map[string]bool{}}
		ctx, cancel := context.WithCancel(context.Background())
		done := make(chan error)
		go func() {
			done <- Run(ctx, RunOptions{
				Config: cfg, Load: func(context.Context) (*config.Config, error) { return cfg, nil },
				Candidates: []Candidate{{Name: "ipvs", Open: func() (dataplane.Plane, error) { return fakeplane.New(), nil }}},
				Dialer:     d, Notes: notes,
			})
		}()
		time.Sleep(5 * time.Second) // the first checks pass
		synctest.Wait()
		notes.mu.Lock()
		notes.scripts, notes.lines = nil, nil
		notes.mu.Unlock()
		cancel()
		if err := <-done; err != nil {
			t.Fatal(err)
		}
		notes.mu.Lock()
		defer notes.mu.Unlock()
		realsSorted := func(l []string) string {
			c := append([]string(nil), l...)
			// The real servers' order is the Runner's; the quorum's
			// comes after them.
			if len(c) > 2 && c[0] > c[1] {
				c[0], c[1] = c[1], c[0]
			}
			return strings.Join(c, "|")
		}
		wantScripts := "notify_down of [10.0.0.2]:80 in VS [10.0.0.1]:tcp:80: /bin/true rs2|notify_down of [10.0.0.3]:80 in VS [10.0.0.1]:tcp:80: /bin/true rs3|quorum_down of VS [10.0.0.1]:TCP:80: /bin/true qdown"
		if got := realsSorted(notes.scripts); got != wantScripts {
			t.Errorf("scripts at stop:\n%s\nwant\n%s", got, wantScripts)
		}
		wantLines := "RS [10.0.0.2]:tcp:80 [10.0.0.1]:tcp:80 DOWN\n|RS [10.0.0.3]:tcp:80 [10.0.0.1]:tcp:80 DOWN\n|VS [10.0.0.1]:tcp:80 DOWN\n"
		if got := realsSorted(notes.lines); got != wantLines {
			t.Errorf("FIFO lines at stop:\n%q\nwant\n%q", got, wantLines)
		}
	})
}
