package lvs

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"maps"
	"net/netip"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"

	"vigil/internal/dataplane"
	"vigil/internal/dataplane/fakeplane"
)

var quiet = slog.New(slog.NewTextHandler(io.Discard, nil))

const twoServices = `virtual_server 10.0.0.1 80 {
 lb_algo wrr
 lb_kind NAT
 protocol TCP
 real_server 10.0.1.1 80 {
  weight 2
  TCP_CHECK {
  }
 }
 real_server 10.0.1.2 80 {
  weight 3
  inhibit_on_failure
  TCP_CHECK {
  }
 }
}
virtual_server 10.0.0.2 443 {
 lb_algo rr
 lb_kind DR
 protocol TCP
 real_server 10.0.2.1 443 {
 }
}
`

// unrelated is a service someone added with ipvsadm.
var unrelated = dataplane.Table{
	{Family: dataplane.IPv4, Protocol: dataplane.ProtoUDP, Addr: netip.MustParseAddr("10.9.9.9"), Port: 53}: {
		Service: dataplane.Service{Key: dataplane.ServiceKey{Family: dataplane.IPv4, Protocol: dataplane.ProtoUDP, Addr: netip.MustParseAddr("10.9.9.9"), Port: 53}, Scheduler: "rr", PersistenceBits: 32},
		Dests: map[dataplane.DestKey]dataplane.Destination{
			{Addr: netip.MustParseAddr("10.9.9.10"), Port: 53}: {Key: dataplane.DestKey{Addr: netip.MustParseAddr("10.9.9.10"), Port: 53}, Weight: 1},
		},
	},
}

func calls(p *fakeplane.Plane) string {
	var s []string
	for _, c := range p.Calls() {
		s = append(s, c.String())
	}
	return strings.Join(s, "\n")
}

// incremental selects how apply reconciles: the whole desired table
// (Apply), or only the engine's changes (Changes + ApplySome).
var incremental bool

// apply reconciles once and returns the operations it sent, failing the
// test on an error.
func apply(t *testing.T, r *Reconciler, p *fakeplane.Plane, e *Engine) []fakeplane.Call {
	t.Helper()
	p.Reset()
	var n int
	var err error
	if incremental {
		tab, keys := e.Changes()
		n, err = r.ApplySome(context.Background(), tab, keys)
	} else {
		n, err = r.Apply(context.Background(), e.Desired())
	}
	if err != nil {
		t.Fatalf("apply: %v", err)
	}
	if n != p.Count() {
		t.Errorf("Apply says %d operations, the plane saw %d", n, p.Count())
	}
	return p.Calls()
}

func TestReconcileTouchesOnlyWhatChanged(t *testing.T) {
	for _, inc := range []bool{false, true} {
		incremental = inc
		t.Run(map[bool]string{false: "whole table", true: "changes only"}[inc], testTouchesOnlyWhatChanged)
	}
	incremental = false
}

func testTouchesOnlyWhatChanged(t *testing.T) {
	ctx := context.Background()
	p := fakeplane.New()
	p.Seed(unrelated)
	cfg := load(t, twoServices)
	e := New(cfg)
	e.Start()
	r := NewReconciler(p, quiet)

	// Start: 2 services, 3 destinations.
	if got := apply(t, r, p, e); len(got) != 5 {
		t.Fatalf("start sent %d operations, want 5:\n%s", len(got), calls(p))
	}
	want := e.Desired()
	for k, v := range unrelated {
		want[k] = v
	}
	if got := p.Table().Format(); got != want.Format() {
		t.Fatalf("plane holds\n%s\nwant\n%s", got, want.Format())
	}

	steps := []struct {
		name string
		do   func()
		ops  string
	}{
		{"nothing changed", func() {}, ""},
		{"a real server goes down", func() { e.SetHealth(rid(cfg, 0, "10.0.1.1:80"), Health{Up: false}) },
			"DeleteDestination TCP 10.0.0.1:80 -> 10.0.1.1:80"},
		{"an inhibited real server goes down", func() { e.SetHealth(rid(cfg, 0, "10.0.1.2:80"), Health{Up: false}) },
			"UpdateDestination TCP 10.0.0.1:80 -> 10.0.1.2:80"},
		{"it comes back", func() { e.SetHealth(rid(cfg, 0, "10.0.1.2:80"), Health{Up: true}) },
			"UpdateDestination TCP 10.0.0.1:80 -> 10.0.1.2:80"},
		{"unchanged reload", func() { e.Reload(load(t, twoServices)) }, ""},
		{"reload re-weights one real server", func() {
			e.Reload(load(t, strings.Replace(twoServices, "weight 3", "weight 7", 1)))
		}, "UpdateDestination TCP 10.0.0.1:80 -> 10.0.1.2:80"},
		{"reload changes a scheduler", func() {
			e.Reload(load(t, strings.Replace(strings.Replace(twoServices, "weight 3", "weight 7", 1), "lb_algo rr", "lb_algo wlc", 1)))
		}, "UpdateService TCP 10.0.0.2:443"},
		{"reload removes a virtual server", func() {
			e.Reload(load(t, strings.Replace(strings.SplitAfter(twoServices, "\n}\n")[0], "weight 3", "weight 7", 1)))
		}, "DeleteService TCP 10.0.0.2:443"},
	}
	for _, s := range steps {
		s.do()
		apply(t, r, p, e)
		if got := calls(p); got != s.ops {
			t.Errorf("%s: operations\n%s\nwant\n%s", s.name, got, s.ops)
		}
	}

	// A clean stop removes what Vigil owns and nothing else.
	p.Reset()
	if _, err := r.RemoveOwned(ctx); err != nil {
		t.Fatal(err)
	}
	if got := calls(p); got != "DeleteService TCP 10.0.0.1:80" {
		t.Errorf("stop sent\n%s", got)
	}
	if got := p.Table().Format(); got != unrelated.Format() {
		t.Errorf("after stop the plane holds\n%s\nwant only the unrelated service", got)
	}
}

// TestReconcileAdopts: after a crash the table still holds what the last run
// programmed; a new run adopts it without a single operation, and repairs
// only what differs.
func TestReconcileAdopts(t *testing.T) {
	cfg := load(t, twoServices)
	e := New(cfg)
	e.Start()
	p := fakeplane.New()
	left := e.Desired()
	p.Seed(left)
	r := NewReconciler(p, quiet)
	if got := apply(t, r, p, e); len(got) != 0 {
		t.Errorf("adopting an identical table sent\n%s", calls(p))
	}

	// A leftover destination and a changed weight in an owned service.
	stale := e.Desired()
	k := dataplane.ServiceKey{Family: dataplane.IPv4, Protocol: dataplane.ProtoTCP, Addr: netip.MustParseAddr("10.0.0.1"), Port: 80}
	dk := dataplane.DestKey{Addr: netip.MustParseAddr("10.0.1.9"), Port: 80}
	stale[k].Dests[dk] = dataplane.Destination{Key: dk, Weight: 1}
	d := stale[k].Dests[dataplane.DestKey{Addr: netip.MustParseAddr("10.0.1.1"), Port: 80}]
	d.Weight = 9
	stale[k].Dests[d.Key] = d
	p2 := fakeplane.New()
	p2.Seed(stale)
	r2 := NewReconciler(p2, quiet)
	apply(t, r2, p2, e)
	want := "DeleteDestination TCP 10.0.0.1:80 -> 10.0.1.9:80\nUpdateDestination TCP 10.0.0.1:80 -> 10.0.1.1:80"
	if got := calls(p2); got != want {
		t.Errorf("repairing an adopted table sent\n%s\nwant\n%s", got, want)
	}
}

// TestReconcileIgnoresCounters: a plane under traffic reports counters on
// every service and destination; adopting that table, and applying again
// after the counters moved, sends nothing.
func TestReconcileIgnoresCounters(t *testing.T) {
	cfg := load(t, twoServices)
	e := New(cfg)
	e.Start()
	busy := func(n uint64) dataplane.Table {
		tab := e.Desired()
		for k, en := range tab {
			en.Service.Stats = dataplane.Stats{Conns: 10 * n, InPkts: 100 * n, OutBytes: 1000 * n, CPS: n}
			for dk, d := range en.Dests {
				d.Stats = &dataplane.Stats{Conns: n, ActiveConns: uint32(n), InactConns: 2, PersistConns: 1}
				en.Dests[dk] = d
			}
			tab[k] = en
		}
		return tab
	}
	p := fakeplane.New()
	p.Seed(busy(1))
	r := NewReconciler(p, quiet)
	if got := apply(t, r, p, e); len(got) != 0 {
		t.Errorf("adopting a table with counters sent\n%s", calls(p))
	}
	p.Seed(busy(2))
	if err := r.Sync(context.Background()); err != nil {
		t.Fatal(err)
	}
	p.Reset()
	if got := apply(t, r, p, e); len(got) != 0 {
		t.Errorf("counters that moved sent\n%s", calls(p))
	}
}

// TestReconcileRefused: a service the plane refuses is reported, every other
// service still comes up, and it is not retried until it changes.
func TestReconcileRefused(t *testing.T) {
	cfg := load(t, twoServices)
	e := New(cfg)
	e.Start()
	p := fakeplane.New()
	bad := dataplane.ServiceKey{Family: dataplane.IPv4, Protocol: dataplane.ProtoTCP, Addr: netip.MustParseAddr("10.0.0.2"), Port: 443}
	p.FailWith(func(c fakeplane.Call) error {
		if c.Op == fakeplane.OpAddService && c.Service == bad {
			return syscall.ENOENT // what IPVS says for an unknown scheduler
		}
		return nil
	})
	r := NewReconciler(p, quiet)
	n, err := r.Apply(context.Background(), e.Desired())
	var oe *OpError
	if !errors.As(err, &oe) || oe.Op.Service.Key != bad || !errors.Is(err, syscall.ENOENT) {
		t.Fatalf("Apply error %v, want an OpError for %s wrapping ENOENT", err, bad)
	}
	if pos, ok := e.Origin(bad); !ok || pos.Line != 17 {
		t.Errorf("origin of the refused service %v %t, want keepalived.conf:17", pos, ok)
	}
	if msg := e.Explain(err).Error(); !strings.HasPrefix(msg, "keepalived.conf:17: virtual_server: add-service TCP 10.0.0.2:443: ") {
		t.Errorf("explained error %q lacks the file:line and operation", msg)
	}
	if n != 4 {
		t.Errorf("sent %d operations, want 4 (the other service and its destinations, the refused add)", n)
	}
	if got := p.Table(); len(got) != 1 || len(got[bad].Dests) != 0 {
		t.Errorf("plane holds\n%s", got.Format())
	}
	e.SetHealth(rid(cfg, 0, "10.0.1.1:80"), Health{Up: false})
	if got := apply(t, r, p, e); len(got) != 1 {
		t.Errorf("a health change after a refusal sent\n%s\nwant one operation", calls(p))
	}
}

// TestReconcileUnsupported: a service the plane cannot express is left out
// whole (no half-applied service) and reported; the others come up.
func TestReconcileUnsupported(t *testing.T) {
	cfg := load(t, twoServices)
	e := New(cfg)
	e.Start()
	p := fakeplane.New()
	caps := fakeplane.AllCapabilities
	caps.Methods = []dataplane.Method{dataplane.NAT} // like a NAT-only plane
	p.SetCapabilities(caps)
	r := NewReconciler(p, quiet)
	n, err := r.Apply(context.Background(), e.Desired())
	var ue *UnsupportedError
	if !errors.As(err, &ue) || !errors.Is(err, dataplane.ErrUnsupported) || ue.Key.Port != 443 {
		t.Fatalf("Apply: %v, want an UnsupportedError for the DR service", err)
	}
	if n != 3 || len(p.Table()) != 1 {
		t.Errorf("sent %d operations, plane holds\n%s\nwant only the NAT service (3 operations)", n, p.Table().Format())
	}
	// Not retried, not reported again, while it does not change.
	if n, err := r.Apply(context.Background(), e.Desired()); n != 0 || err != nil {
		t.Errorf("second Apply: %d operations, %v", n, err)
	}
}

// explainer is a fake plane that judges whole services: it refuses one
// whose real servers mix forwarding methods, which no single capability
// says.
type explainer struct{ *fakeplane.Plane }

func (x explainer) Explain(e dataplane.Entry) error {
	seen := map[dataplane.Method]bool{}
	for _, d := range e.Dests {
		seen[d.Forwarding.Method] = true
	}
	if len(seen) > 1 {
		return fmt.Errorf("%w: mixed forwarding methods", dataplane.ErrUnsupported)
	}
	return nil
}

// TestReconcileExplainer: a plane's whole-service judgement refuses the
// service before any operation, as a capability would.
func TestReconcileExplainer(t *testing.T) {
	cfg := load(t, twoServices)
	e := New(cfg)
	e.Start()
	p := fakeplane.New()
	r := NewReconciler(explainer{p}, quiet)
	desired := e.Desired()
	var mixed dataplane.ServiceKey
	for _, k := range desired.Keys() {
		if ent := desired[k]; len(ent.Dests) > 1 && mixed == (dataplane.ServiceKey{}) {
			mixed = k
			dk := slices.SortedFunc(maps.Keys(ent.Dests), dataplane.CompareDest)[0]
			d := ent.Dests[dk]
			d.Forwarding.Method = dataplane.DR
			ent.Dests[dk] = d
		}
	}
	if mixed == (dataplane.ServiceKey{}) {
		t.Fatal("no service with two real servers to mix")
	}
	_, err := r.Apply(context.Background(), desired)
	var ue *UnsupportedError
	if !errors.As(err, &ue) || ue.Key != mixed || !strings.Contains(err.Error(), "mixed forwarding methods") {
		t.Fatalf("Apply: %v, want the mixed service %s refused", err, mixed)
	}
	if _, ok := p.Table()[mixed]; ok {
		t.Errorf("the refused service was half-applied:\n%s", p.Table().Format())
	}
}

// TestReconcileKeepsAdoptedUnsupported: a service left in the table that the
// plane cannot express as configured is reported, and left as it is rather
// than deleted, however often Apply runs.
func TestReconcileKeepsAdoptedUnsupported(t *testing.T) {
	cfg := load(t, twoServices)
	e := New(cfg)
	e.Start()
	p := fakeplane.New()
	p.Seed(e.Desired())
	caps := fakeplane.AllCapabilities
	caps.Methods = []dataplane.Method{dataplane.NAT}
	p.SetCapabilities(caps)
	r := NewReconciler(p, quiet)
	for i := 0; i < 2; i++ {
		n, err := r.Apply(context.Background(), e.Desired())
		if n != 0 || (i == 0) != (err != nil) {
			t.Errorf("apply %d: %d operations, %v", i, n, err)
		}
	}
	if len(p.Table()) != 2 {
		t.Errorf("plane holds\n%s\nwant both services", p.Table().Format())
	}
}

// TestReconcileRepairsForeignChanges: when someone else removed a
// destination Vigil is about to update, the refused update makes the
// reconciler read the table again and add it back, in the same Apply.
func TestReconcileRepairsForeignChanges(t *testing.T) {
	cfg := load(t, twoServices)
	e := New(cfg)
	e.Start()
	p := fakeplane.New()
	r := NewReconciler(p, quiet)
	apply(t, r, p, e)
	k := dataplane.ServiceKey{Family: dataplane.IPv4, Protocol: dataplane.ProtoTCP, Addr: netip.MustParseAddr("10.0.0.1"), Port: 80}
	if err := p.DeleteDestination(context.Background(), k, dataplane.DestKey{Addr: netip.MustParseAddr("10.0.1.2"), Port: 80}); err != nil {
		t.Fatal(err) // "ipvsadm -d" behind Vigil's back
	}
	p.Reset()
	e.SetHealth(rid(cfg, 0, "10.0.1.2:80"), Health{Up: false}) // inhibited: weight 0
	n, err := r.Apply(context.Background(), e.Desired())
	if err != nil {
		t.Errorf("Apply: %v, want the refusal repaired", err)
	}
	want := "UpdateDestination TCP 10.0.0.1:80 -> 10.0.1.2:80\nAddDestination TCP 10.0.0.1:80 -> 10.0.1.2:80"
	if got := calls(p); got != want || n != 2 {
		t.Errorf("sent %d:\n%s\nwant\n%s", n, got, want)
	}
	if d := p.Table()[k].Dests[dataplane.DestKey{Addr: netip.MustParseAddr("10.0.1.2"), Port: 80}]; d.Weight != 0 || d.Key.Port != 80 {
		t.Errorf("destination after repair: %+v", d)
	}
}

// TestReloadLikeKeepalived replays a reload of keepalived 2.2.7 on Linux 6.1
// (testdata/reload: a re-weighted, a removed and an added real server, a
// scheduler and persistence change, a removed and an added virtual server,
// a group range moved by one address, and a service added by hand). The
// table after it is what `ipvsadm -Sn` showed under keepalived, except that
// keepalived left the service of the address that left the group behind,
// empty (-A -t 10.0.3.1:80 -s rr); Vigil removes it.
func TestReloadLikeKeepalived(t *testing.T) {
	read := func(name string) string {
		b, err := os.ReadFile(filepath.Join("testdata", "reload", name))
		if err != nil {
			t.Fatal(err)
		}
		return string(b)
	}
	p := fakeplane.New()
	byHand := dataplane.ServiceKey{Family: dataplane.IPv4, Protocol: dataplane.ProtoUDP, Addr: netip.MustParseAddr("10.9.9.9"), Port: 53}
	p.Seed(dataplane.Table{byHand: {Service: dataplane.Service{Key: byHand, Scheduler: "rr", PersistenceBits: 32}}})
	e := New(load(t, read("a.conf")))
	e.Start()
	// The operations one by one, in the Diff's order (TestReloadPipelined
	// has the same reload pipelined, as IPVS gets it).
	r := NewReconciler(serialPlane{p}, quiet)
	incremental = true
	defer func() { incremental = false }()
	apply(t, r, p, e)
	e.Reload(load(t, read("b.conf")))
	got := apply(t, r, p, e)
	want := `-A -t 10.0.0.1:80 -s wlc -p 100
-a -t 10.0.0.1:80 -r 10.0.1.1:80 -m -w 5
-a -t 10.0.0.1:80 -r 10.0.1.3:80 -m -w 3
-a -t 10.0.0.1:80 -r 10.0.1.6:80 -m -w 1
-A -t 10.0.0.4:443 -s rr
-a -t 10.0.0.4:443 -r 10.0.1.7:443 -m -w 1
-A -t 10.0.3.2:80 -s rr
-a -t 10.0.3.2:80 -r 10.0.1.5:80 -g -w 4
-A -t 10.0.3.3:80 -s rr
-a -t 10.0.3.3:80 -r 10.0.1.5:80 -g -w 4
-A -t 10.0.3.4:80 -s rr
-a -t 10.0.3.4:80 -r 10.0.1.5:80 -g -w 4
-A -u 10.9.9.9:53 -s rr
`
	if tab := p.Table().Format(); tab != want {
		t.Errorf("after reload:\n%s\nwant\n%s", tab, want)
	}
	// Exactly what changed: the two services that went, then per service
	// in key order.
	wantOps := `DeleteService TCP 10.0.0.2:80
DeleteService TCP 10.0.3.1:80
UpdateService TCP 10.0.0.1:80
DeleteDestination TCP 10.0.0.1:80 -> 10.0.1.2:80
UpdateDestination TCP 10.0.0.1:80 -> 10.0.1.1:80
AddDestination TCP 10.0.0.1:80 -> 10.0.1.6:80
AddService TCP 10.0.0.4:443
AddDestination TCP 10.0.0.4:443 -> 10.0.1.7:443
UpdateDestination TCP 10.0.3.2:80 -> 10.0.1.5:80
UpdateDestination TCP 10.0.3.3:80 -> 10.0.1.5:80
AddService TCP 10.0.3.4:80
AddDestination TCP 10.0.3.4:80 -> 10.0.1.5:80`
	if ops := calls(p); ops != wantOps || len(got) != 12 {
		t.Errorf("reload sent\n%s\nwant\n%s", ops, wantOps)
	}
}
