package lvs

import (
	"fmt"
	"net/netip"
	"slices"
	"strings"
	"testing"

	"vigil/internal/config"
	"vigil/internal/dataplane"
)

// splice returns a copy of cfg in which the virtual servers at the given
// indexes are replaced by those of with (values loaded on their own),
// the others being the very values of cfg: what config.Loader hands out
// for a file of which only those blocks changed.
func splice(cfg, with *config.Config, idx ...int) *config.Config {
	out := *cfg
	out.VirtualServers = slices.Clone(cfg.VirtualServers)
	for _, i := range idx {
		out.VirtualServers[i] = with.VirtualServers[i]
	}
	return &out
}

// TestReloadCompilesOnlyChanged reloads 50 virtual servers of which one
// changed a weight (its value is new, the others are the running ones):
// one virtual server is compiled, Changes reports its service alone, and
// with the new weight; the others keep their state (a real server marked
// down stays down), and no event is reported.
func TestReloadCompilesOnlyChanged(t *testing.T) {
	var a, b strings.Builder
	for i := range 50 {
		vs := fmt.Sprintf("virtual_server 10.0.0.%d 80 {\n lb_algo rr\n lb_kind NAT\n protocol TCP\n real_server 10.0.1.%d 80 {\n  weight %%d\n }\n real_server 10.0.2.%d 80 {\n }\n}\n", i+1, i+1, i+1)
		fmt.Fprintf(&a, vs, 1)
		w := 1
		if i == 17 {
			w = 5
		}
		fmt.Fprintf(&b, vs, w)
	}
	cfg := load(t, a.String())
	e := New(cfg)
	if e.compiled != 50 {
		t.Fatalf("New compiled %d virtual servers, want 50", e.compiled)
	}
	e.Start()
	e.Changes()
	e.SetHealth(rid(cfg, 3, "10.0.2.4:80"), Health{Up: false})
	e.Changes()

	next := splice(cfg, load(t, b.String()), 17)
	if evs := e.Reload(next); len(evs) != 0 {
		t.Errorf("the reload reported %s, want nothing", kinds(evs))
	}
	if e.compiled != 51 {
		t.Errorf("the reload compiled %d virtual servers, want 1", e.compiled-50)
	}
	tbl, keys := e.Changes()
	if len(tbl) != 1 || len(keys) != 1 || keys[0].Addr != netip.MustParseAddr("10.0.0.18") {
		t.Fatalf("Changes after the reload = %v, want the service of 10.0.0.18 alone", keys)
	}
	d := tbl[keys[0]].Dests[dataplane.DestKey{Addr: netip.MustParseAddr("10.0.1.18"), Port: 80}]
	if d.Weight != 5 {
		t.Errorf("the changed real server has weight %d, want 5", d.Weight)
	}
	if e.Alive(rid(cfg, 3, "10.0.2.4:80")) {
		t.Errorf("a kept virtual server lost the health of its real server")
	}
	if got := len(e.Desired()); got != 50 {
		t.Errorf("Desired has %d services after the reload, want 50", got)
	}
}

// TestReloadRemovesAndAdds reloads a configuration with one virtual server
// removed, one added and the rest the same values: only the added one is
// compiled; the removed one's service is reported gone and its live real
// server RealDown; the new one starts (its quorum up, as at start).
func TestReloadRemovesAndAdds(t *testing.T) {
	text := func(first, last int) string {
		var b strings.Builder
		for i := first; i <= last; i++ {
			fmt.Fprintf(&b, "virtual_server 10.0.0.%d 80 {\n lb_algo rr\n lb_kind NAT\n protocol TCP\n real_server 10.0.1.%d 80 {\n }\n}\n", i, i)
		}
		return b.String()
	}
	cfg := load(t, text(1, 10))
	e := New(cfg)
	e.Start()
	e.Changes()
	other := load(t, text(2, 11)) // VS 2..11: index i holds 10.0.0.(i+2)
	next := *cfg
	next.VirtualServers = append(slices.Clone(cfg.VirtualServers[1:]), other.VirtualServers[9])
	evs := e.Reload(&next)
	if kinds(evs) != "real-down,quorum-up" || evs[0].Real != netip.MustParseAddrPort("10.0.1.1:80") || !evs[1].Init {
		t.Errorf("the reload reported %s (%v), want the removed server's real-down, then the new one's starting quorum-up", kinds(evs), evs)
	}
	if e.compiled != 11 {
		t.Errorf("the reload compiled %d virtual servers, want 1", e.compiled-10)
	}
	tbl, keys := e.Changes()
	if len(keys) != 2 || keys[0].Addr != netip.MustParseAddr("10.0.0.1") || keys[1].Addr != netip.MustParseAddr("10.0.0.11") {
		t.Fatalf("Changes = %v, want 10.0.0.1 (gone) and 10.0.0.11 (new)", keys)
	}
	if _, ok := tbl[keys[0]]; ok {
		t.Errorf("the removed service is still in the changed table")
	}
	if len(tbl[keys[1]].Dests) != 1 {
		t.Errorf("the new service has %d destinations, want 1", len(tbl[keys[1]].Dests))
	}
	if _, ok := e.Origin(keys[0]); ok {
		t.Errorf("the removed service still has an origin")
	}
	if _, ok := e.Origin(keys[1]); !ok {
		t.Errorf("the new service has no origin")
	}
	if got := len(e.Desired()); got != 10 {
		t.Errorf("Desired has %d services, want 10", got)
	}
}
