package lvsproc

import (
	"context"
	"errors"
	"log/slog"
	"maps"
	"net/netip"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"vigil/internal/check"
	"vigil/internal/config"
	"vigil/internal/dataplane"
	"vigil/internal/dataplane/fakeplane"
	"vigil/internal/status"
)

const twoReals = `
virtual_server 10.0.0.1 80 {
  lb_algo rr
  lb_kind NAT
  protocol TCP
  %INHIBIT%
  quorum_up "/bin/true up"
  real_server 10.0.0.2 80 {
    weight 2
    TCP_CHECK { connect_timeout 1 }
  }
  real_server 10.0.0.3 80 {
    weight 3
    TCP_CHECK { connect_timeout 1 }
  }
}
`

func load(t *testing.T, conf string) *config.Config {
	t.Helper()
	cfg, diags := config.LoadBytes("keepalived.conf", []byte(conf), config.LoadOptions{})
	if diags.HasErrors() {
		t.Fatalf("config: %v", diags)
	}
	return cfg
}

func conf(inhibit bool) string {
	r := ""
	if inhibit {
		r = "inhibit_on_failure"
	}
	return strings.Replace(twoReals, "%INHIBIT%", r, 1)
}

// recNotes records what the Side asks to run.
type recNotes struct {
	mu      sync.Mutex
	scripts []string
	lines   []string
	mails   []string
}

func (n *recNotes) Script(s *config.Script, what string, stopping bool) {
	n.mu.Lock()
	n.scripts = append(n.scripts, what+": "+s.Command)
	n.mu.Unlock()
}

func (n *recNotes) Mail(subject, body string) {
	n.mu.Lock()
	defer n.mu.Unlock()
	n.mails = append(n.mails, subject+"|"+body)
}

func (n *recNotes) FIFO(line string) {
	n.mu.Lock()
	n.lines = append(n.lines, line)
	n.mu.Unlock()
}

var (
	vsKey = check.ServerKey{VS: "[10.0.0.1]:tcp:80", RS: netip.MustParseAddrPort("10.0.0.2:80")}
	ctx   = context.Background()
)

func started(t *testing.T, cfg *config.Config, p *fakeplane.Plane, notes Notes, emit func(status.Event)) *Side {
	t.Helper()
	s := NewSide(cfg, p, SideOptions{Notes: notes, Emit: emit})
	if _, err := s.Start(ctx); err != nil {
		t.Fatal(err)
	}
	p.Reset()
	return s
}

func TestHealthCostsOneOperation(t *testing.T) {
	for _, tc := range []struct {
		name     string
		inhibit  bool
		down, up fakeplane.Op
	}{
		{"removal", false, fakeplane.OpDeleteDest, fakeplane.OpAddDest},
		{"inhibit_on_failure", true, fakeplane.OpUpdateDest, fakeplane.OpUpdateDest},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p := fakeplane.New()
			var evs []status.Event
			s := started(t, load(t, conf(tc.inhibit)), p, nil, func(e status.Event) { evs = append(evs, e) })
			evs = nil // the start's quorum-up
			n, err := s.Health(ctx, check.Health{Server: vsKey, Up: false, Weight: 2})
			if err != nil || n != 1 {
				t.Fatalf("down: %d operations, err %v; want 1", n, err)
			}
			calls := p.Calls()
			if len(calls) != 1 || calls[0].Op != tc.down || calls[0].Dest.Addr != vsKey.RS.Addr() {
				t.Fatalf("down: calls %v, want one %s of %s", calls, tc.down, vsKey.RS)
			}
			if tc.inhibit {
				for _, e := range p.Table() {
					if d := e.Dests[calls[0].Dest]; d.Weight != 0 {
						t.Fatalf("inhibited weight %d, want 0", d.Weight)
					}
				}
			}
			if len(evs) != 1 || evs[0].Kind != "real-down" || evs[0].RealServer != "10.0.0.2:80" {
				t.Fatalf("events %+v, want one real-down of 10.0.0.2:80", evs)
			}
			p.Reset()
			n, err = s.Health(ctx, check.Health{Server: vsKey, Up: true, Weight: 2})
			if err != nil || n != 1 || p.Calls()[0].Op != tc.up {
				t.Fatalf("up: %d operations %v, err %v; want one %s", n, p.Calls(), err, tc.up)
			}
		})
	}
}

func TestRestartAdoptsTheTable(t *testing.T) {
	cfg := load(t, conf(false))
	p := fakeplane.New()
	first := NewSide(cfg, p, SideOptions{})
	if n, err := first.Start(ctx); err != nil || n != 3 {
		t.Fatalf("first start: %d operations, err %v; want 3 (service and two real servers)", n, err)
	}
	// The child is SIGKILLed: nothing removes its table. The next one
	// finds it and sends nothing.
	p.Reset()
	second := NewSide(cfg, p, SideOptions{})
	if n, err := second.Start(ctx); err != nil || n != 0 || p.Count() != 0 {
		t.Fatalf("restart: %d operations %v, err %v; want none", n, p.Calls(), err)
	}
}

func TestReload(t *testing.T) {
	p := fakeplane.New()
	s := started(t, load(t, conf(false)), p, nil, nil)
	if n, err := s.Reload(ctx, load(t, conf(false))); err != nil || n != 0 || p.Count() != 0 {
		t.Fatalf("unchanged reload: %d operations %v, err %v; want none", n, p.Calls(), err)
	}
	n, err := s.Reload(ctx, load(t, strings.Replace(conf(false), "weight 3", "weight 4", 1)))
	if err != nil || n != 1 || p.Calls()[0].Op != fakeplane.OpUpdateDest {
		t.Fatalf("re-weighting reload: %d operations %v, err %v; want one UpdateDestination", n, p.Calls(), err)
	}
}

func TestStopRemovesOnlyOwned(t *testing.T) {
	p := fakeplane.New()
	foreign := dataplane.Table{}
	fk := dataplane.ServiceKey{Family: dataplane.IPv4, Protocol: dataplane.ProtoTCP, Addr: netip.MustParseAddr("10.9.9.9"), Port: 443}
	foreign[fk] = dataplane.Entry{Service: dataplane.Service{Key: fk, Scheduler: "rr"}}
	p.Seed(foreign)
	s := started(t, load(t, conf(false)), p, nil, nil)
	if _, err := s.Stop(ctx); err != nil {
		t.Fatal(err)
	}
	tab := p.Table()
	if len(tab) != 1 {
		t.Fatalf("after stop the plane holds %d services, want only the foreign one", len(tab))
	}
	if _, ok := tab[fk]; !ok {
		t.Fatal("the foreign service was removed")
	}
}

func TestNotifyAndQuorumScripts(t *testing.T) {
	p := fakeplane.New()
	notes := &recNotes{}
	cfg := load(t, strings.Replace(conf(false), "quorum_up", "quorum 3\n  quorum_down \"/bin/true down\"\n  quorum_up", 1))
	s := started(t, cfg, p, notes, nil)
	// The first evaluation's quorum has its VS line too, as keepalived's.
	if want := []string{"VS [10.0.0.1]:tcp:80 UP\n"}; strings.Join(notes.lines, "") != strings.Join(want, "") {
		t.Fatalf("FIFO lines at start %q, want %q", notes.lines, want)
	}
	notes.scripts, notes.lines = nil, nil
	// 10.0.0.3 (weight 3) down leaves weight 2 < quorum 3.
	s.Health(ctx, check.Health{Server: check.ServerKey{VS: vsKey.VS, RS: netip.MustParseAddrPort("10.0.0.3:80")}, Up: false, Weight: 3})
	s.Notify(check.Notify{Server: vsKey, Up: false, Script: &config.Script{Command: "/bin/true rs"}})
	want := []string{"quorum_down of VS [10.0.0.1]:TCP:80: /bin/true down", "notify_down of [10.0.0.2]:80 in VS [10.0.0.1]:tcp:80: /bin/true rs"}
	if strings.Join(notes.scripts, "|") != strings.Join(want, "|") {
		t.Fatalf("scripts %q, want %q", notes.scripts, want)
	}
	// keepalived's FIFO lines: the quorum change (FMT_VS), then the real
	// server (FMT_RS, with the protocol).
	wantLines := []string{"VS [10.0.0.1]:tcp:80 DOWN\n", "RS [10.0.0.2]:tcp:80 [10.0.0.1]:tcp:80 DOWN\n"}
	if strings.Join(notes.lines, "") != strings.Join(wantLines, "") {
		t.Fatalf("FIFO lines %q, want %q", notes.lines, wantLines)
	}
}

func TestChoose(t *testing.T) {
	noIPVS := Candidate{Name: "ipvs", Open: func() (dataplane.Plane, error) { return nil, errors.New("the kernel has no IPVS") }}
	fake := Candidate{Name: "proxy", Open: func() (dataplane.Plane, error) { return fakeplane.New(), nil }}
	for _, tc := range []struct {
		want   string
		cands  []Candidate
		chosen string
		errHas []string
	}{
		{"auto", []Candidate{noIPVS}, "", []string{"no IPVS", "nftables and proxy", "not in this build"}},
		{"", []Candidate{noIPVS, fake}, "proxy", nil},
		{"ipvs", []Candidate{noIPVS, fake}, "", []string{"ipvs: the kernel has no IPVS"}},
		{"nftables", []Candidate{noIPVS}, "", []string{"no nftables data plane yet"}},
		{"dpdk", []Candidate{noIPVS}, "", []string{`unknown data plane "dpdk"`}},
	} {
		_, ch, err := Choose(tc.want, tc.cands)
		if ch.Name != tc.chosen {
			t.Errorf("%q: chose %q, want %q", tc.want, ch.Name, tc.chosen)
		}
		for _, s := range tc.errHas {
			if err == nil || !strings.Contains(err.Error(), s) {
				t.Errorf("%q: error %v, want it to say %q", tc.want, err, s)
			}
		}
		if tc.errHas == nil && err != nil {
			t.Errorf("%q: %v", tc.want, err)
		}
		if tc.chosen == "proxy" && !strings.Contains(ch.Why, "ipvs: the kernel has no IPVS") {
			t.Errorf("%q: why %q does not say why ipvs was passed over", tc.want, ch.Why)
		}
	}
}

func TestLVSTimeouts(t *testing.T) {
	withTimeouts := "global_defs {\n  lvs_timeouts tcp 900 tcpfin 60 udp 30\n}\n" + conf(false)
	p := fakeplane.New()
	s := NewSide(load(t, withTimeouts), p, SideOptions{})
	if _, err := s.Start(ctx); err != nil {
		t.Fatal(err)
	}
	if got, _ := p.Timeouts(ctx); got.TCP.Seconds() != 900 || got.TCPFin.Seconds() != 60 || got.UDP.Seconds() != 30 {
		t.Fatalf("timeouts %+v, want tcp 900 tcpfin 60 udp 30", got)
	}
	p.Reset()
	if n, err := s.Reload(ctx, load(t, withTimeouts)); n != 0 || err != nil || p.Count() != 0 {
		t.Fatalf("unchanged reload: %d operations %v", n, p.Calls())
	}
	if _, err := s.Reload(ctx, load(t, strings.Replace(withTimeouts, "udp 30", "udp 40", 1))); err != nil {
		t.Fatal(err)
	}
	if calls := p.Calls(); len(calls) != 1 || calls[0].Op != fakeplane.OpSetTimeouts {
		t.Fatalf("changed timeouts: calls %v, want one SetTimeouts", calls)
	}
}

// foreignTable is a service someone else added (ipvsadm), not in the
// configuration.
func foreignTable() (dataplane.Table, dataplane.ServiceKey) {
	fk := dataplane.ServiceKey{Family: dataplane.IPv4, Protocol: dataplane.ProtoTCP, Addr: netip.MustParseAddr("10.9.9.9"), Port: 443}
	return dataplane.Table{fk: dataplane.Entry{Service: dataplane.Service{Key: fk, Scheduler: "rr"}}}, fk
}

// writes are the operations of the recorded calls (the fake plane records
// only the calls that change it).
func writes(calls []fakeplane.Call) []fakeplane.Op {
	var out []fakeplane.Op
	for _, c := range calls {
		out = append(out, c.Op)
	}
	return out
}

func TestLVSFlushAtStart(t *testing.T) {
	const flush = "global_defs {\n  lvs_flush\n}\n"
	for _, tc := range []struct {
		name string
		conf string
		// firstOps and restartOps are the plane's writes at the first
		// start and at a start after a crash (the table left as it was).
		firstOps, restartOps []fakeplane.Op
		foreignKept          bool
	}{
		{"unset: adopt, never flush", conf(false),
			[]fakeplane.Op{fakeplane.OpAddService, fakeplane.OpAddDest, fakeplane.OpAddDest}, nil, true},
		{"lvs_flush: flush at every start", flush + conf(false),
			[]fakeplane.Op{fakeplane.OpFlush, fakeplane.OpAddService, fakeplane.OpAddDest, fakeplane.OpAddDest},
			[]fakeplane.Op{fakeplane.OpFlush, fakeplane.OpAddService, fakeplane.OpAddDest, fakeplane.OpAddDest}, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cfg := load(t, tc.conf)
			p := fakeplane.New()
			foreign, fk := foreignTable()
			p.Seed(foreign)
			if _, err := NewSide(cfg, p, SideOptions{}).Start(ctx); err != nil {
				t.Fatal(err)
			}
			if got := writes(p.Calls()); !slices.Equal(got, tc.firstOps) {
				t.Fatalf("first start: %v, want %v", got, tc.firstOps)
			}
			// SIGKILL: nothing is removed; the next child starts.
			p.Reset()
			if _, err := NewSide(cfg, p, SideOptions{}).Start(ctx); err != nil {
				t.Fatal(err)
			}
			if got := writes(p.Calls()); !slices.Equal(got, tc.restartOps) {
				t.Fatalf("restart: %v, want %v", got, tc.restartOps)
			}
			if _, ok := p.Table()[fk]; ok != tc.foreignKept {
				t.Fatalf("foreign service kept: %v, want %v", ok, tc.foreignKept)
			}
			if len(p.Table()) != map[bool]int{true: 2, false: 1}[tc.foreignKept] {
				t.Fatalf("table after restart: %d services", len(p.Table()))
			}
		})
	}
}

func TestLVSFlushOnStop(t *testing.T) {
	for _, tc := range []struct {
		name        string
		global      string
		want        []fakeplane.Op
		foreignKept bool
	}{
		{"unset: real servers, then the service", "",
			[]fakeplane.Op{fakeplane.OpDeleteDest, fakeplane.OpDeleteDest, fakeplane.OpDeleteService}, true},
		{"VS: the service only", "lvs_flush_on_stop VS", []fakeplane.Op{fakeplane.OpDeleteService}, true},
		{"onstop spelling, VS", "lvs_flush_onstop VS", []fakeplane.Op{fakeplane.OpDeleteService}, true},
		{"no argument: the whole table", "lvs_flush_on_stop", []fakeplane.Op{fakeplane.OpFlush}, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := conf(false)
			if tc.global != "" {
				c = "global_defs {\n  " + tc.global + "\n}\n" + c
			}
			p := fakeplane.New()
			foreign, fk := foreignTable()
			p.Seed(foreign)
			s := started(t, load(t, c), p, nil, nil)
			n, err := s.Stop(ctx)
			if err != nil {
				t.Fatal(err)
			}
			if got := writes(p.Calls()); !slices.Equal(got, tc.want) || n != len(tc.want) {
				t.Fatalf("stop: %d operations %v, want %v", n, got, tc.want)
			}
			tab := p.Table()
			if _, ok := tab[fk]; ok != tc.foreignKept {
				t.Fatalf("foreign service kept: %v, want %v", ok, tc.foreignKept)
			}
			for k := range tab {
				if k != fk {
					t.Fatalf("Vigil's service %s is still in the table", k)
				}
			}
		})
	}
}

const syncConf = `
global_defs {
  lvs_sync_daemon eth0 VI_1 id 7
}
vrrp_instance VI_1 {
  interface eth0
  virtual_router_id 51
  priority 100
  virtual_ipaddress {
    10.0.0.1
  }
}
vrrp_instance VI_2 {
  interface eth0
  virtual_router_id 52
  priority 100
  virtual_ipaddress {
    10.0.0.5
  }
}
`

// roles are the running sync daemons' roles, with the sync id each got.
func roles(p *fakeplane.Plane) map[dataplane.SyncState]uint32 {
	out := map[dataplane.SyncState]uint32{}
	for r, d := range p.SyncDaemons() {
		out[r] = d.SyncID
	}
	return out
}

func TestLVSSyncDaemonFollowsVRRP(t *testing.T) {
	const (
		master = dataplane.SyncMaster
		backup = dataplane.SyncBackup
		start  = fakeplane.OpStartSync
		stop   = fakeplane.OpStopSync
	)
	p := fakeplane.New()
	s := NewSide(load(t, syncConf+conf(false)), p, SideOptions{})
	if _, err := s.Start(ctx); err != nil {
		t.Fatal(err)
	}
	// Before the parent says anything the instance's state is unknown:
	// nothing runs until its first word (sent the moment the LVS process
	// starts), which starts backup for a new node, as keepalived does at
	// its VRRP instance's init.
	if got := roles(p); len(got) != 0 {
		t.Fatalf("after start: %v, want none before the parent's first word", got)
	}
	for _, step := range []struct {
		instance, state string
		want            []fakeplane.Op
		running         dataplane.SyncState
	}{
		{"VI_1", "INIT", []fakeplane.Op{start}, backup},
		{"VI_1", "BACKUP", nil, backup},
		{"VI_1", "MASTER", []fakeplane.Op{stop, start}, master},
		{"VI_1", "MASTER", nil, master},
		{"VI_2", "BACKUP", nil, master}, // another instance: no change
		{"VI_1", "FAULT", []fakeplane.Op{stop, start}, backup},
		{"VI_1", "BACKUP", nil, backup},
		{"VI_1", "MASTER", []fakeplane.Op{stop, start}, master},
		{"VI_1", "STOP", []fakeplane.Op{stop, start}, backup},
	} {
		p.Reset()
		n := s.VRRPState(ctx, step.instance, step.state)
		if got := writes(p.Calls()); !slices.Equal(got, step.want) || n != len(step.want) {
			t.Fatalf("%s %s: %d operations %v, want %v", step.instance, step.state, n, got, step.want)
		}
		if got := roles(p); !maps.Equal(got, map[dataplane.SyncState]uint32{step.running: 7}) {
			t.Fatalf("%s %s: running %v, want only role %d", step.instance, step.state, got, step.running)
		}
	}
	// A reload that changes the daemon's settings restarts it.
	p.Reset()
	if _, err := s.Reload(ctx, load(t, strings.Replace(syncConf, "id 7", "id 9", 1)+conf(false))); err != nil {
		t.Fatal(err)
	}
	if got := writes(p.Calls()); !slices.Equal(got, []fakeplane.Op{stop, start}) {
		t.Fatalf("reload with id 9: %v, want stop and start", got)
	}
	if got := roles(p); !maps.Equal(got, map[dataplane.SyncState]uint32{backup: 9}) {
		t.Fatalf("after reload: %v, want backup with id 9", got)
	}
	// A clean stop stops it; a reload that drops the keyword would too.
	p.Reset()
	if _, err := s.Stop(ctx); err != nil {
		t.Fatal(err)
	}
	if len(p.SyncDaemons()) != 0 {
		t.Fatalf("after stop: %v still running", roles(p))
	}
}

func TestLVSSyncDaemonAdoptedAfterCrash(t *testing.T) {
	cfg := load(t, syncConf+conf(false))
	p := fakeplane.New()
	first := NewSide(cfg, p, SideOptions{})
	if _, err := first.Start(ctx); err != nil {
		t.Fatal(err)
	}
	first.VRRPState(ctx, "VI_1", "MASTER")
	// SIGKILL: the kernel's master daemon keeps running. The new child
	// starts no role until the parent's replay arrives, then finds the
	// master daemon running and keeps it: at no moment does a backup
	// daemon run beside it.
	second := NewSide(cfg, p, SideOptions{})
	p.Reset()
	if _, err := second.Start(ctx); err != nil {
		t.Fatal(err)
	}
	if got := writes(p.Calls()); len(got) != 0 {
		t.Fatalf("the new child changed %v before the parent's word", got)
	}
	second.VRRPState(ctx, "VI_1", "MASTER")
	if got := writes(p.Calls()); !slices.Equal(got, []fakeplane.Op{fakeplane.OpStartSync}) {
		t.Fatalf("after the replay: %v, want one start of the master role (found running, adopted)", got)
	}
	if got := roles(p); !maps.Equal(got, map[dataplane.SyncState]uint32{dataplane.SyncMaster: 7}) {
		t.Fatalf("after the replay: %v, want only the master daemon", got)
	}
	if _, err := second.Stop(ctx); err != nil {
		t.Fatal(err)
	}
	if len(p.SyncDaemons()) != 0 {
		t.Fatalf("after stop: %v still running", roles(p))
	}
}

func TestLVSSyncDaemonWithoutInstanceRunsBoth(t *testing.T) {
	c := "global_defs {\n  lvs_sync_daemon eth0 id 7\n}\n" + conf(false)
	p := fakeplane.New()
	s := NewSide(load(t, c), p, SideOptions{})
	if _, err := s.Start(ctx); err != nil {
		t.Fatal(err)
	}
	both := map[dataplane.SyncState]uint32{dataplane.SyncMaster: 7, dataplane.SyncBackup: 7}
	if got := roles(p); !maps.Equal(got, both) {
		t.Fatalf("after start: %v, want master and backup", got)
	}
	p.Reset()
	if n := s.VRRPState(ctx, "VI_1", "MASTER"); n != 0 || p.Count() != 0 {
		t.Fatalf("a VRRP state changed %d things: %v", n, p.Calls())
	}
	if _, err := s.Stop(ctx); err != nil {
		t.Fatal(err)
	}
	if len(p.SyncDaemons()) != 0 {
		t.Fatalf("after stop: %v still running", roles(p))
	}
}

// TestSnapshotCounters: the plane's counters reach the status, summed over
// the services of a group, a real server's found under the key Desired
// gave it; a plane without counters, or a destination it does not list,
// shows none.
func TestSnapshotCounters(t *testing.T) {
	cfg := load(t, `
virtual_server_group G {
  10.0.0.1 80
  10.0.0.5 80
}
virtual_server group G {
  lb_algo rr
  lb_kind DR
  protocol TCP
  real_server 10.0.1.2 80 { weight 1 }
  real_server 10.0.1.3 80 { weight 1 }
}
`)
	p := fakeplane.New()
	s := started(t, cfg, p, nil, nil)
	if c := s.Counters(ctx); c != nil {
		t.Fatalf("a plane without counters gave %v", c)
	}
	caps := fakeplane.AllCapabilities
	caps.Stats = true
	p.SetCapabilities(caps)
	counters := s.Counters(ctx)
	if len(counters) != 2 {
		t.Fatalf("counters of %d services, want 2", len(counters))
	}
	rs2 := dataplane.DestKey{Addr: netip.MustParseAddr("10.0.1.2"), Port: 80}
	rs3 := dataplane.DestKey{Addr: netip.MustParseAddr("10.0.1.3"), Port: 80}
	for i, k := range counters.Keys() {
		e := counters[k]
		n := uint64(i + 1)
		e.Service.Stats = dataplane.Stats{Conns: 10 * n, InPkts: 100 * n, OutBytes: 1000 * n, CPS: n}
		d := e.Dests[rs2]
		d.Stats = &dataplane.Stats{Conns: n, InPkts: 10 * n, ActiveConns: uint32(n), InactConns: uint32(2 * n), PersistConns: 1}
		e.Dests[rs2] = d
		delete(e.Dests, rs3)
		counters[k] = e
	}
	snap := s.SnapshotWith(counters)
	if len(snap) != 1 || len(snap[0].Reals) != 2 {
		t.Fatalf("snapshot %+v", snap)
	}
	vs := snap[0]
	if vs.Protocol != "TCP" || vs.Stats == nil || *vs.Stats != (status.LVSStatsJSON{Conns: 30, InPackets: 300, OutBytes: 3000, CPS: 3}) {
		t.Errorf("virtual server %s %+v", vs.Protocol, vs.Stats)
	}
	for _, r := range vs.Reals {
		switch r.Addr {
		case "10.0.1.2:80":
			if r.ActiveConns == nil || *r.ActiveConns != 3 || *r.InactiveConns != 6 || *r.PersistentConns != 2 ||
				r.Stats == nil || r.Stats.Conns != 3 || r.Stats.InPackets != 30 {
				t.Errorf("real server 10.0.1.2: %+v %+v", r, r.Stats)
			}
		case "10.0.1.3:80":
			if r.ActiveConns != nil || r.Stats != nil {
				t.Errorf("a destination the plane does not list has counters: %+v", r)
			}
		}
	}
	for _, vs := range s.Snapshot() {
		if vs.Stats != nil || vs.Reals[0].Stats != nil || vs.Reals[0].ActiveConns != nil {
			t.Errorf("counters without a table: %+v", vs)
		}
	}
}

// TestStopRestoresTimeouts: a clean stop puts back the timeouts that were
// in force before lvs_timeouts changed them, those a reload changed too;
// without lvs_timeouts the stop leaves them alone.
func TestStopRestoresTimeouts(t *testing.T) {
	orig := dataplane.Timeouts{TCP: 900 * time.Second, TCPFin: 120 * time.Second, UDP: 300 * time.Second}
	tests := []struct {
		name, global string
		reload       string // a second global_defs applied by a reload, if set
		wantSets     int    // SetTimeouts calls made by Stop
	}{
		{"all three", "lvs_timeouts tcp 7200 tcpfin 30 udp 60", "", 1},
		{"partial", "lvs_timeouts udp 60", "", 1},
		{"changed by a reload", "lvs_timeouts tcp 7200", "lvs_timeouts tcp 100 udp 5", 1},
		{"none", "", "", 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := fakeplane.New()
			if err := p.SetTimeouts(ctx, orig); err != nil {
				t.Fatal(err)
			}
			file := func(g string) string { return "global_defs {\n  " + g + "\n}\n" + conf(false) }
			s := NewSide(load(t, file(tt.global)), p, SideOptions{})
			if _, err := s.Start(ctx); err != nil {
				t.Fatal(err)
			}
			if tt.global != "" {
				if got, _ := p.Timeouts(ctx); got == orig {
					t.Fatalf("timeouts %+v unchanged by %q", got, tt.global)
				}
			}
			if tt.reload != "" {
				if _, err := s.Reload(ctx, load(t, file(tt.reload))); err != nil {
					t.Fatal(err)
				}
			}
			p.Reset()
			if _, err := s.Stop(ctx); err != nil {
				t.Fatal(err)
			}
			if got, _ := p.Timeouts(ctx); got != orig {
				t.Errorf("after stop: timeouts %+v, want %+v", got, orig)
			}
			sets := 0
			for _, c := range p.Calls() {
				if c.Op == fakeplane.OpSetTimeouts {
					sets++
				}
			}
			if sets != tt.wantSets {
				t.Errorf("stop made %d SetTimeouts calls, want %d", sets, tt.wantSets)
			}
		})
	}
}

// TestLVSSyncDaemonNamedInstanceWithoutVRRP: with -C no VRRP side runs, so
// an lvs_sync_daemon that follows an instance runs in no role, as with
// keepalived 2.2.7 (its checker process starts the daemon only when no
// instance is named); a reload that drops the instance starts both.
func TestLVSSyncDaemonNamedInstanceWithoutVRRP(t *testing.T) {
	p := fakeplane.New()
	s := NewSide(load(t, syncConf+conf(false)), p, SideOptions{NoVRRP: true})
	if _, err := s.Start(ctx); err != nil {
		t.Fatal(err)
	}
	if got := roles(p); len(got) != 0 {
		t.Fatalf("after start under -C: %v, want no sync daemon", got)
	}
	if _, err := s.Reload(ctx, load(t, "global_defs {\n  lvs_sync_daemon eth0 id 7\n}\n"+conf(false))); err != nil {
		t.Fatal(err)
	}
	both := map[dataplane.SyncState]uint32{dataplane.SyncMaster: 7, dataplane.SyncBackup: 7}
	if got := roles(p); !maps.Equal(got, both) {
		t.Fatalf("after a reload naming no instance: %v, want master and backup", got)
	}
	if _, err := s.Stop(ctx); err != nil {
		t.Fatal(err)
	}
	if len(p.SyncDaemons()) != 0 {
		t.Fatalf("after stop: %v still running", roles(p))
	}
}

// TestServiceLogLines: the real servers' changes are logged with
// keepalived's wording and names (FMT_RS with the protocol, FMT_VS).
func TestServiceLogLines(t *testing.T) {
	var buf strings.Builder
	var mu sync.Mutex
	log := slog.New(slog.NewTextHandler(writerFunc(func(p []byte) (int, error) {
		mu.Lock()
		defer mu.Unlock()
		return buf.Write(p)
	}), nil))
	s := NewSide(load(t, conf(false)), fakeplane.New(), SideOptions{Log: log})
	if _, err := s.Start(ctx); err != nil {
		t.Fatal(err)
	}
	key := check.ServerKey{VS: vsKey.VS, RS: netip.MustParseAddrPort("10.0.0.3:80")}
	s.Health(ctx, check.Health{Server: key, Up: false, Weight: 3})
	s.Health(ctx, check.Health{Server: key, Up: true, Weight: 3})
	mu.Lock()
	defer mu.Unlock()
	for _, want := range []string{
		`msg="Removing service [10.0.0.3]:tcp:80 from VS [10.0.0.1]:tcp:80"`,
		`msg="Adding service [10.0.0.3]:tcp:80 to VS [10.0.0.1]:tcp:80"`,
	} {
		if !strings.Contains(buf.String(), want) {
			t.Errorf("log lacks %s:\n%s", want, buf.String())
		}
	}
}

type writerFunc func([]byte) (int, error)

func (f writerFunc) Write(p []byte) (int, error) { return f(p) }

// planeNotes records, for each notification, how many services the plane
// held when it was asked for.
type planeNotes struct {
	recNotes
	p    *fakeplane.Plane
	seen []int
}

func (n *planeNotes) Script(s *config.Script, what string, stopping bool) {
	n.seen = append(n.seen, len(n.p.Table()))
	n.recNotes.Script(s, what, stopping)
}

func (n *planeNotes) FIFO(line string) {
	n.seen = append(n.seen, len(n.p.Table()))
	n.recNotes.FIFO(line)
}

// TestStartNotifiesAfterApply: the start's quorum_up script and FIFO line
// come once the service is in the plane, as every later change's
// notifications do, and its events still reach `vigil events`.
func TestStartNotifiesAfterApply(t *testing.T) {
	p := fakeplane.New()
	n := &planeNotes{p: p}
	var evs []status.Event
	s := NewSide(load(t, conf(false)), p, SideOptions{Notes: n, Emit: func(e status.Event) { evs = append(evs, e) }})
	if _, err := s.Start(ctx); err != nil {
		t.Fatal(err)
	}
	if len(n.seen) < 2 || len(n.scripts) != 1 || !strings.HasPrefix(n.scripts[0], "quorum_up") {
		t.Fatalf("notifications %v %v, want the quorum_up script and its FIFO line", n.scripts, n.lines)
	}
	for i, c := range n.seen {
		if c != 1 {
			t.Errorf("notification %d came with %d services in the plane, want 1", i, c)
		}
	}
	if len(evs) != 1 || evs[0].Kind != "quorum-up" {
		t.Errorf("events %+v, want the quorum-up", evs)
	}
}
