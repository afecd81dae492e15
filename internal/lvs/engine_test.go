package lvs

import (
	"net/netip"
	"strings"
	"testing"

	"vigil/internal/config"
)

func load(t *testing.T, conf string) *config.Config {
	t.Helper()
	cfg, diags := config.LoadBytes("keepalived.conf", []byte(conf), config.LoadOptions{})
	if diags.HasErrors() {
		t.Fatalf("config errors:\n%s", diags.Errors())
	}
	return cfg
}

// fourReals is a virtual server with four real servers of weight 2 and the
// quorum settings given.
func fourReals(quorum, hysteresis string, extra string) string {
	var b strings.Builder
	b.WriteString("virtual_server 10.0.0.1 80 {\n lb_algo rr\n lb_kind NAT\n protocol TCP\n")
	b.WriteString(" quorum " + quorum + "\n hysteresis " + hysteresis + "\n" + extra)
	for _, a := range []string{"10.0.1.1", "10.0.1.2", "10.0.1.3", "10.0.1.4"} {
		b.WriteString(" real_server " + a + " 80 {\n  weight 2\n  TCP_CHECK {\n  }\n }\n")
	}
	b.WriteString("}\n")
	return b.String()
}

func rid(cfg *config.Config, vs int, addr string) RealID {
	return RealID{VS: IDOf(cfg.VirtualServers[vs]), Real: netip.MustParseAddrPort(addr)}
}

func kinds(evs []Event) string {
	var s []string
	for _, e := range evs {
		s = append(s, e.Kind.String())
	}
	return strings.Join(s, ",")
}

// TestQuorumHysteresis walks a virtual server of total weight 8 down and up
// again: quorum is lost below quorum-hysteresis (or at no weight) and
// regained at quorum+hysteresis, as keepalived computes it.
func TestQuorumHysteresis(t *testing.T) {
	type step struct {
		real   string
		up     bool
		events string
		quorum bool
	}
	tests := []struct {
		name               string
		quorum, hysteresis string
		start              string
		steps              []step
	}{
		{
			name: "quorum 4 hysteresis 2", quorum: "4", hysteresis: "2", start: "quorum-up",
			steps: []step{
				{"10.0.1.1:80", false, "real-down", true}, // 6
				{"10.0.1.2:80", false, "real-down", true}, // 4
				{"10.0.1.3:80", false, "real-down", true}, // 2, not below 4-2
				{"10.0.1.4:80", false, "real-down,quorum-down", false},
				{"10.0.1.1:80", true, "real-up", false}, // 2
				{"10.0.1.2:80", true, "real-up", false}, // 4, below 4+2
				{"10.0.1.3:80", true, "real-up,quorum-up", true},
				{"10.0.1.3:80", true, "", true}, // no change, no event
			},
		},
		{
			name: "quorum 5 no hysteresis", quorum: "5", hysteresis: "0", start: "quorum-up",
			steps: []step{
				{"10.0.1.1:80", false, "real-down", true},              // 6
				{"10.0.1.2:80", false, "real-down,quorum-down", false}, // 4
				{"10.0.1.2:80", true, "real-up,quorum-up", true},       // 6
				{"10.0.1.9:80", false, "", true},                       // unknown real server
				{"10.0.1.2:80", false, "real-down,quorum-down", false}, // 4
				{"10.0.1.3:80", false, "real-down", false},             // 2
			},
		},
		{
			name: "quorum above total weight is clamped by config", quorum: "100", hysteresis: "0", start: "quorum-up",
			steps: []step{
				{"10.0.1.1:80", false, "real-down,quorum-down", false},
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg := load(t, fourReals(tt.quorum, tt.hysteresis, ""))
			e := New(cfg)
			if got := kinds(e.Start()); got != tt.start {
				t.Fatalf("start events %q, want %q", got, tt.start)
			}
			for i, s := range tt.steps {
				got := kinds(e.SetHealth(rid(cfg, 0, s.real), Health{Up: s.up}))
				if got != s.events {
					t.Errorf("step %d (%s up=%t): events %q, want %q", i, s.real, s.up, got, s.events)
				}
				if q := e.QuorumUp(IDOf(cfg.VirtualServers[0])); q != s.quorum {
					t.Errorf("step %d: quorum %t, want %t", i, q, s.quorum)
				}
			}
		})
	}
}

// TestStartWithoutQuorum: alpha real servers start down; without a sorry
// server keepalived says nothing at start, with one it reports quorum down
// and puts the sorry server in.
func TestStartWithoutQuorum(t *testing.T) {
	for _, tt := range []struct {
		extra, events, table string
	}{
		{" alpha\n", "", "-A -t 10.0.0.1:80 -s rr\n"},
		{" alpha\n sorry_server 10.0.9.9 80\n", "quorum-down", "-A -t 10.0.0.1:80 -s rr\n-a -t 10.0.0.1:80 -r 10.0.9.9:80 -m -w 1\n"},
	} {
		cfg := load(t, fourReals("1", "0", tt.extra))
		e := New(cfg)
		evs := e.Start()
		if got := kinds(evs); got != tt.events {
			t.Errorf("%q: start events %q, want %q", tt.extra, got, tt.events)
		}
		if len(evs) == 1 && !evs[0].Init {
			t.Errorf("%q: start event not marked Init", tt.extra)
		}
		if got := e.Desired().Format(); got != tt.table {
			t.Errorf("%q: table\n%s\nwant\n%s", tt.extra, got, tt.table)
		}
		// One real server coming up regains quorum and replaces the sorry
		// server.
		if got := kinds(e.SetHealth(rid(cfg, 0, "10.0.1.1:80"), Health{Up: true})); got != "real-up,quorum-up" {
			t.Errorf("%q: events %q after one real server came up", tt.extra, got)
		}
		if got := e.Desired().Format(); strings.Contains(got, "10.0.9.9") || !strings.Contains(got, "10.0.1.1:80 -m -w 2") {
			t.Errorf("%q: table after recovery:\n%s", tt.extra, got)
		}
	}
}

func TestReloadKeepsState(t *testing.T) {
	conf := fourReals("1", "0", "")
	cfg := load(t, conf)
	e := New(cfg)
	e.Start()
	e.SetHealth(rid(cfg, 0, "10.0.1.2:80"), Health{Up: false})
	before := e.Desired().Format()

	// The same file: no event, same table (the down server stays out).
	if evs := e.Reload(load(t, conf)); len(evs) != 0 {
		t.Errorf("unchanged reload: events %q", kinds(evs))
	}
	if got := e.Desired().Format(); got != before {
		t.Errorf("unchanged reload changed the table:\n%s\nwant\n%s", got, before)
	}

	// Remove a live real server and add a virtual server.
	conf2 := strings.Replace(conf, " real_server 10.0.1.1 80 {\n  weight 2\n  TCP_CHECK {\n  }\n }\n", "", 1) +
		"virtual_server 10.0.0.2 80 {\n lb_algo rr\n lb_kind NAT\n protocol TCP\n quorum_up /bin/up\n real_server 10.0.2.1 80 {\n }\n}\n"
	cfg2 := load(t, conf2)
	evs := e.Reload(cfg2)
	if got := kinds(evs); got != "real-down,quorum-up" {
		t.Errorf("reload events %q, want real-down (removed live server), quorum-up (new VS)", got)
	}
	if evs[0].Real != netip.MustParseAddrPort("10.0.1.1:80") || !evs[1].Init || evs[1].Script == nil {
		t.Errorf("reload events %+v", evs)
	}
	if e.Alive(rid(cfg2, 0, "10.0.1.2:80")) {
		t.Error("a down real server came back up on reload")
	}
}

func TestStopOmega(t *testing.T) {
	for _, tt := range []struct{ extra, events string }{
		{"", ""},
		{" omega\n quorum_down /bin/down\n", "real-down,real-down,real-down,quorum-down"},
	} {
		cfg := load(t, fourReals("1", "0", tt.extra))
		e := New(cfg)
		e.Start()
		e.SetHealth(rid(cfg, 0, "10.0.1.4:80"), Health{Up: false})
		evs := e.Stop()
		if got := kinds(evs); got != tt.events {
			t.Errorf("%q: stop events %q, want %q", tt.extra, got, tt.events)
		}
		for _, ev := range evs {
			if !ev.Stopping {
				t.Errorf("%q: stop event %v not marked Stopping", tt.extra, ev.Kind)
			}
		}
	}
}

// TestSorryDuplicatesReal: a sorry server that is also a real server is one
// destination; while in use it carries the sorry weight.
func TestSnapshot(t *testing.T) {
	cfg := load(t, fourReals("4", "2", " sorry_server 10.0.9.9 80\n"))
	e := New(cfg)
	e.Start()
	for _, a := range []string{"10.0.1.1:80", "10.0.1.2:80", "10.0.1.3:80", "10.0.1.4:80"} {
		e.SetHealth(rid(cfg, 0, a), Health{Up: false})
	}
	e.SetHealth(rid(cfg, 0, "10.0.1.2:80"), Health{Up: true, Weight: 5, Dynamic: true})
	s := e.Snapshot()
	if len(s) != 1 || s[0].QuorumUp || !s[0].SorryInUse || s[0].WeightSum != 5 || s[0].Quorum != 4 || s[0].Hysteresis != 2 {
		t.Fatalf("snapshot %+v", s)
	}
	// The sorry server is in use: the live real server is out of the
	// plane, so the weight the plane gives it is 0; its weight still
	// counts towards quorum (WeightSum).
	if r := s[0].Reals[1]; !r.Alive || r.Weight != 0 || s[0].Reals[0].Alive {
		t.Errorf("reals %+v", s[0].Reals)
	}
	e.SetHealth(rid(cfg, 0, "10.0.1.1:80"), Health{Up: true, Weight: 4, Dynamic: true})
	s = e.Snapshot()
	if !s[0].QuorumUp || s[0].Reals[0].Weight != 4 || s[0].Reals[1].Weight != 5 || s[0].Reals[2].Weight != 0 {
		t.Errorf("with quorum back: %+v", s[0].Reals)
	}
}

// TestSnapshotInhibited: a failed real server under inhibit_on_failure is
// in the plane at weight 0, and the snapshot says so (the status and the
// real server weight metric read it), not its configured weight.
func TestSnapshotInhibited(t *testing.T) {
	cfg := load(t, fourReals("1", "0", " inhibit_on_failure\n"))
	e := New(cfg)
	e.Start()
	e.SetHealth(rid(cfg, 0, "10.0.1.2:80"), Health{Up: false})
	s := e.Snapshot()
	desired := e.Desired().Format()
	for _, r := range s[0].Reals {
		want := int32(2)
		if r.Real.String() == "10.0.1.2:80" {
			want = 0
		}
		if r.Weight != want {
			t.Errorf("%s: snapshot weight %d, want %d (the plane's:\n%s)", r.Real, r.Weight, want, desired)
		}
	}
	if !strings.Contains(desired, "-r 10.0.1.2:80 -m -w 0") {
		t.Fatalf("the inhibited real server is not in the plane at weight 0:\n%s", desired)
	}
}

func TestSorryDuplicatesReal(t *testing.T) {
	conf := `virtual_server 10.0.0.1 80 {
 lb_algo rr
 lb_kind NAT
 protocol TCP
 quorum 3
 inhibit_on_failure
 sorry_server 10.0.1.1 80
 sorry_server_inhibit
 real_server 10.0.1.1 80 {
  weight 3
  TCP_CHECK {
  }
 }
}
`
	cfg := load(t, conf)
	e := New(cfg)
	e.Start()
	if got, want := e.Desired().Format(), "-A -t 10.0.0.1:80 -s rr\n-a -t 10.0.0.1:80 -r 10.0.1.1:80 -m -w 3\n"; got != want {
		t.Errorf("with quorum:\n%s\nwant\n%s", got, want)
	}
	e.SetHealth(rid(cfg, 0, "10.0.1.1:80"), Health{Up: false})
	if got, want := e.Desired().Format(), "-A -t 10.0.0.1:80 -s rr\n-a -t 10.0.0.1:80 -r 10.0.1.1:80 -m -w 1\n"; got != want {
		t.Errorf("without quorum:\n%s\nwant\n%s", got, want)
	}
}

// TestReloadAddsReals: a real server added by a reload joins its pool at
// once, unless alpha keeps it out until its checker passes.
func TestReloadAddsReals(t *testing.T) {
	conf := fourReals("1", "0", "")
	e := New(load(t, conf))
	e.Start()
	more := strings.Replace(conf, " real_server 10.0.1.1 80 {",
		" real_server 10.0.1.5 80 {\n }\n real_server 10.0.1.6 80 {\n  alpha\n  TCP_CHECK {\n  }\n }\n real_server 10.0.1.1 80 {", 1)
	cfg := load(t, more)
	if evs := e.Reload(cfg); len(evs) != 0 {
		t.Errorf("reload events %q", kinds(evs))
	}
	if !e.Alive(rid(cfg, 0, "10.0.1.5:80")) || e.Alive(rid(cfg, 0, "10.0.1.6:80")) {
		t.Errorf("after reload: new server alive %t, new alpha server alive %t; want true, false",
			e.Alive(rid(cfg, 0, "10.0.1.5:80")), e.Alive(rid(cfg, 0, "10.0.1.6:80")))
	}
	if got := e.Desired().Format(); !strings.Contains(got, "10.0.1.5:80 -m -w 1") || strings.Contains(got, "10.0.1.6") {
		t.Errorf("table after reload:\n%s", got)
	}
}

// TestInitNotifies: with rs_init_notifies, real servers that join at start
// report RealUp (marked Init) before the quorum event.
func TestInitNotifies(t *testing.T) {
	cfg := load(t, "global_defs {\n rs_init_notifies\n}\n"+fourReals("1", "0", " alpha\n")+
		"virtual_server 10.0.0.2 80 {\n lb_algo rr\n lb_kind NAT\n protocol TCP\n real_server 10.0.2.1 80 {\n }\n}\n")
	evs := New(cfg).Start()
	if got := kinds(evs); got != "real-up,quorum-up" {
		t.Fatalf("start events %q: alpha servers stay quiet, the checker-less one reports up", got)
	}
	if !evs[0].Init || evs[0].Real != netip.MustParseAddrPort("10.0.2.1:80") {
		t.Errorf("init event %+v", evs[0])
	}
}

// TestReloadSorryServer: a reload that keeps a sorry server in use says
// nothing; one that adds a sorry server to a server without quorum reports
// quorum down (Init, as keepalived's start-up path does) and puts it in.
func TestReloadSorryServer(t *testing.T) {
	conf := fourReals("1", "0", " alpha\n")
	withSorry := fourReals("1", "0", " alpha\n sorry_server 10.0.9.9 80\n")
	e := New(load(t, conf))
	if evs := e.Start(); len(evs) != 0 {
		t.Fatalf("start: %q", kinds(evs))
	}
	evs := e.Reload(load(t, withSorry))
	if kinds(evs) != "quorum-down" || !evs[0].Init {
		t.Errorf("reload adding a sorry server: %+v", evs)
	}
	if evs := e.Reload(load(t, withSorry)); len(evs) != 0 {
		t.Errorf("unchanged reload with the sorry server in use: %q", kinds(evs))
	}
	if got := e.Desired().Format(); !strings.Contains(got, "10.0.9.9:80 -m -w 1") {
		t.Errorf("table:\n%s", got)
	}
}

func TestHugeGroupRangeIsBounded(t *testing.T) {
	cfg := load(t, "virtual_server_group G {\n fd00::/64 80\n}\nvirtual_server group G {\n lb_algo rr\n lb_kind DR\n protocol TCP\n real_server fd00:1::1 80 {\n }\n}\n")
	e := New(cfg)
	e.Start()
	if n := len(e.Desired()); n != MaxRange {
		t.Errorf("a /64 range gave %d services, want the cap %d", n, MaxRange)
	}
}

// TestQuorumSorryLikeKeepalived replays a run of keepalived 2.2.7 on Linux
// 6.1 (TCP_CHECKs against listeners stopped and restarted one by one):
// after each health change the table is what `ipvsadm -Sn` showed under
// keepalived, and the events are the transitions its log reported.
func TestQuorumSorryLikeKeepalived(t *testing.T) {
	cfg := load(t, `virtual_server 10.0.0.1 80 {
    delay_loop 1
    lb_algo rr
    lb_kind NAT
    protocol TCP
    quorum 3
    hysteresis 1
    sorry_server 192.168.9.9 8080
    real_server 192.168.1.1 8081 {
        weight 2
        TCP_CHECK {
        }
    }
    real_server 192.168.1.2 8082 {
        weight 2
        inhibit_on_failure
        TCP_CHECK {
        }
    }
}
`)
	e := New(cfg)
	if got := kinds(e.Start()); got != "quorum-up" {
		t.Fatalf("start: %q", got)
	}
	head := "-A -t 10.0.0.1:80 -s rr\n"
	steps := []struct {
		real   string
		up     bool
		events string
		table  string
	}{
		{"192.168.1.1:8081", false, "real-down", // "Removing service"; 2 is not below 3-1
			head + "-a -t 10.0.0.1:80 -r 192.168.1.2:8082 -m -w 2\n"},
		{"192.168.1.2:8082", false, "real-down,quorum-down", // "Disabling", "Lost quorum 3-1=2 > 0", "Adding sorry server"
			head + "-a -t 10.0.0.1:80 -r 192.168.1.2:8082 -m -w 0\n-a -t 10.0.0.1:80 -r 192.168.9.9:8080 -m -w 1\n"},
		{"192.168.1.1:8081", true, "real-up", // "Adding service", but 2 is below 3+1: the table stays
			head + "-a -t 10.0.0.1:80 -r 192.168.1.2:8082 -m -w 0\n-a -t 10.0.0.1:80 -r 192.168.9.9:8080 -m -w 1\n"},
		{"192.168.1.2:8082", true, "real-up,quorum-up", // "Enabling", "Gained quorum 3+1=4 <= 4", "Removing sorry server"
			head + "-a -t 10.0.0.1:80 -r 192.168.1.1:8081 -m -w 2\n-a -t 10.0.0.1:80 -r 192.168.1.2:8082 -m -w 2\n"},
	}
	for i, s := range steps {
		if got := kinds(e.SetHealth(rid(cfg, 0, s.real), Health{Up: s.up})); got != s.events {
			t.Errorf("step %d: events %q, want %q", i, got, s.events)
		}
		if got := e.Desired().Format(); got != s.table {
			t.Errorf("step %d: table\n%s\nwant (keepalived's)\n%s", i, got, s.table)
		}
	}
}
