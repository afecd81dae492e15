package lvsproc

import (
	"context"
	"fmt"
	"net/netip"
	"strings"
	"testing"

	"vigil/internal/check"
	"vigil/internal/config"
	"vigil/internal/dataplane/fakeplane"
	"vigil/internal/lvs"
)

// manyVS is a configuration of n virtual servers with two real servers
// each (a quorum event each at start).
func manyVS(n int) string {
	var b strings.Builder
	for i := range n {
		fmt.Fprintf(&b, "virtual_server 10.1.%d.%d 80 {\n lb_algo rr\n lb_kind NAT\n protocol TCP\n", i/250, i%250+1)
		fmt.Fprintf(&b, " real_server 10.2.%d.%d 80 {\n }\n real_server 10.3.%d.%d 80 {\n }\n}\n", i/250, i%250+1, i/250, i%250+1)
	}
	return b.String()
}

// TestStartCostIsLinear checks that starting the LVS side costs in
// proportion to the number of virtual servers: four times the virtual
// servers may cost about four times the allocations (a little more for
// sorting), not sixteen. Start once looked every quorum event's
// virtual server up in a snapshot of all of them, which made a start with
// 5,000 virtual servers take many minutes in the IPVS lab. Allocations
// are counted rather than time measured: they do not depend on the
// machine's load.
func TestStartCostIsLinear(t *testing.T) {
	cost := func(n int) float64 {
		cfg := load(t, manyVS(n))
		return testing.AllocsPerRun(3, func() {
			s := NewSide(cfg, fakeplane.New(), SideOptions{})
			if _, err := s.Start(ctx); err != nil {
				t.Fatal(err)
			}
		})
	}
	small, large := cost(200), cost(800)
	if ratio := large / small; ratio > 6 {
		t.Errorf("Start allocates %.0f times for 200 virtual servers and %.0f for 800 (%.1f×): more than linear (want at most 6×)", small, large, ratio)
	}
}

// TestSnapshotHasNoSlack checks that the status of a large table is built
// at its size: the daemon keeps the last status for as long as nothing
// changes, so slices grown by append would keep their slack (a quarter
// of a 5,000-entry list, half of a list of three real servers) for good.
func TestSnapshotHasNoSlack(t *testing.T) {
	var b strings.Builder
	for i := range 1000 {
		fmt.Fprintf(&b, "virtual_server 10.1.%d.%d 80 {\n lb_algo wrr\n lb_kind NAT\n protocol TCP\n", i/250, i%250+1)
		for r := range 3 {
			fmt.Fprintf(&b, " real_server 10.%d.%d.%d 8080 {\n }\n", 2+r, i/250, i%250+1)
		}
		b.WriteString("}\n")
	}
	s := NewSide(load(t, b.String()), fakeplane.New(), SideOptions{})
	if _, err := s.Start(ctx); err != nil {
		t.Fatal(err)
	}
	snap := s.SnapshotWith(nil)
	if len(snap) != 1000 || cap(snap) != len(snap) {
		t.Fatalf("status of 1000 virtual servers: length %d, capacity %d; want 1000 and 1000", len(snap), cap(snap))
	}
	for _, v := range snap {
		if len(v.Reals) != 3 || cap(v.Reals) != 3 {
			t.Fatalf("%s: %d real servers, capacity %d; want 3 and 3", v.Name, len(v.Reals), cap(v.Reals))
		}
	}
	for _, v := range s.engine.Snapshot() {
		if len(v.Reals) != 3 || cap(v.Reals) != 3 {
			t.Fatalf("Engine.Snapshot %s: %d real servers, capacity %d; want 3 and 3", v.ID, len(v.Reals), cap(v.Reals))
		}
	}
}

// TestKeysAndMailIDsAreTheEngines checks that the maps NewSide builds
// (the checkers' keys per real server, the mail policy's virtual servers) name each
// real server by the Engine's own id (lvs.RealIDOf), for an address, a
// fwmark and a group virtual server alike: they compute the virtual
// server's id once and share it among its real servers.
func TestKeysAndMailIDsAreTheEngines(t *testing.T) {
	cfg := load(t, `
virtual_server_group G {
  10.9.0.1 80
}
virtual_server 10.1.0.1 80 {
  protocol TCP
  real_server 10.2.0.1 8080 {
  }
  real_server 10.2.0.2 8080 {
    smtp_alert off
  }
}
virtual_server fwmark 7 {
  real_server 10.3.0.1 80 {
  }
}
virtual_server group G {
  protocol UDP
  real_server 10.4.0.1 53 {
  }
}
`)
	s := NewSide(cfg, fakeplane.New(), SideOptions{})
	s.awaitLookups()
	mail := s.mail
	want := 0
	for _, vs := range cfg.VirtualServers {
		for _, rs := range vs.RealServers {
			want++
			id := lvs.RealIDOf(vs, rs)
			if got, ok := s.realID(check.ServerKey{VS: check.VSName(vs), RS: id.Real}); !ok || got != id {
				t.Errorf("realID: %s is %v (%v), want %v", id, got, ok, id)
			}
			if !mail.has(id) {
				t.Errorf("mailPolicyOf has no %s", id)
			}
			if wantMail := rs.SMTPAlert == nil || *rs.SMTPAlert; mail.rsAlert(id) != wantMail {
				t.Errorf("mailPolicyOf: %s mails %v, want %v", id, mail.rsAlert(id), wantMail)
			}
		}
	}
	if want != 4 || len(s.keys) != 3 || len(mail.byID) != 3 || realsOf(cfg) != want {
		t.Errorf("%d real servers: keysOf has %d virtual servers, mailPolicyOf %d, realsOf counts %d real servers; want 4, 3, 3, 4", want, len(s.keys), len(mail.byID), realsOf(cfg))
	}
	// A real server the configuration does not have, of a virtual server
	// it has, is not the Engine's.
	if id, ok := s.realID(check.ServerKey{VS: "[10.1.0.1]:tcp:80", RS: netip.MustParseAddrPort("10.2.0.9:8080")}); ok {
		t.Errorf("realID of a real server not in the configuration: %v, want none", id)
	}
}

// TestRealIDSharedName checks that two virtual servers the checkers name
// alike (one fwmark in both families: "FWM 7") each find their own real
// servers, before and after a reload that removes one of them.
func TestRealIDSharedName(t *testing.T) {
	const both = `
virtual_server fwmark 7 {
  real_server 10.3.0.1 80 {
  }
}
virtual_server fwmark 7 {
  ip_family inet6
  real_server fd00::1 80 {
  }
}
`
	cfg := load(t, both)
	s := NewSide(cfg, fakeplane.New(), SideOptions{})
	if _, err := s.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	v4, v6 := cfg.VirtualServers[0], cfg.VirtualServers[1]
	if check.VSName(v4) != check.VSName(v6) {
		t.Fatalf("names %q and %q: the test needs one name", check.VSName(v4), check.VSName(v6))
	}
	for _, p := range []struct {
		vs *config.VirtualServer
		rs string
	}{{v4, "10.3.0.1:80"}, {v6, "[fd00::1]:80"}} {
		k := check.ServerKey{VS: check.VSName(p.vs), RS: netip.MustParseAddrPort(p.rs)}
		if got, ok := s.realID(k); !ok || got != lvs.RealIDOf(p.vs, p.vs.RealServers[0]) {
			t.Errorf("realID(%v) = %v, %v; want %v", k, got, ok, lvs.RealIDOf(p.vs, p.vs.RealServers[0]))
		}
	}
	next := load(t, `
virtual_server fwmark 7 {
  real_server 10.3.0.1 80 {
  }
}
`)
	if _, err := s.Reload(context.Background(), next); err != nil {
		t.Fatal(err)
	}
	if id, ok := s.realID(check.ServerKey{VS: "FWM 7", RS: netip.MustParseAddrPort("[fd00::1]:80")}); ok {
		t.Errorf("after the reload, the removed virtual server's real server is %v, want none", id)
	}
	if _, ok := s.realID(check.ServerKey{VS: "FWM 7", RS: netip.MustParseAddrPort("10.3.0.1:80")}); !ok {
		t.Errorf("after the reload, the kept virtual server's real server is not found")
	}
}
