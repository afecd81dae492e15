package lvs

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"syscall"
	"testing"

	"vigil/internal/dataplane"
	"vigil/internal/dataplane/fakeplane"
)

// serialPlane hides the fake's Pipeline: the reconciler sends one
// operation at a time, as to a plane that cannot pipeline (proxy).
type serialPlane struct{ dataplane.Plane }

// cutPlane pipelines like the fake but loses its connection once cuts[0]
// more results have been given, then at cuts[1], and so on: the change at
// the cut is applied but its answer lost.
type cutPlane struct {
	*fakeplane.Plane
	cuts []int
}

func (p *cutPlane) Pipeline(ctx context.Context, n int, change func(int) dataplane.Change, result func(int, error)) (int, error) {
	if len(p.cuts) == 0 || n <= p.cuts[0] {
		if len(p.cuts) > 0 {
			p.cuts[0] -= n
		}
		return p.Plane.Pipeline(ctx, n, change, result)
	}
	cut := p.cuts[0]
	p.cuts = p.cuts[1:]
	got, _ := p.Plane.Pipeline(ctx, cut+1, change, func(i int, err error) {
		if i < cut {
			result(i, err)
		}
	})
	return min(got, cut), errors.New("connection lost")
}

// TestReconcilePipelinedStart: a start goes to a pipelining plane in two
// waves, every service, then every real server; a change afterwards in
// one; the count stays one per operation.
func TestReconcilePipelinedStart(t *testing.T) {
	ctx := context.Background()
	p := fakeplane.New()
	p.Seed(unrelated)
	r := NewReconciler(p, quiet)
	want := wideTable(3)
	n, err := r.Apply(ctx, want)
	if err != nil || n != 15 {
		t.Fatalf("start: %d operations, %v; want 15", n, err)
	}
	if got := p.Pipelines(); !slices.Equal(got, []int{3, 12}) {
		t.Errorf("start pipelined as %v, want [3 12]: the services, then their real servers", got)
	}
	for i, c := range p.Calls() {
		if (i < 3) != (c.Op == fakeplane.OpAddService) {
			t.Errorf("operation %d is %s", i, c)
		}
	}
	all := want.Clone()
	for k, e := range unrelated {
		all[k] = e
	}
	if got := p.Table().Format(); got != all.Format() {
		t.Fatalf("plane holds\n%s\nwant\n%s", got, all.Format())
	}
	p.Reset()
	keys := want.Keys()
	for dk, d := range want[keys[1]].Dests {
		d.Weight = 7
		want[keys[1]].Dests[dk] = d
		break
	}
	delete(want, keys[2])
	if n, err := r.Apply(ctx, want); n != 2 || err != nil || !slices.Equal(p.Pipelines(), []int{2}) {
		t.Errorf("change: %d operations, %v, pipelines %v; want 2 in one", n, err, p.Pipelines())
	}
	p.Reset()
	if n, err := r.RemoveOwnedReals(ctx); n != 2*5 || err != nil || !slices.Equal(p.Pipelines(), []int{10}) {
		t.Errorf("stop: %d operations, %v, pipelines %v; want 10 in one", n, err, p.Pipelines())
	}
	if got := p.Table().Format(); got != unrelated.Format() {
		t.Errorf("after the stop the plane holds\n%s", got)
	}
}

// outcome is what a reconcile did, to compare the pipelined path with the
// serial one.
type outcome struct {
	sent   int
	errs   []string
	table  string
	calls  []string
	second int // operations of the Apply after it
}

// TestReconcilePipelinedLikeSerial: with operation k of n refused (an add
// of a service, of a real server, an update, a deletion), the pipelined
// path does what the serial one does: the same operations (in another
// order across services), the same refusals reported as OpErrors of the
// same operations, the same table after it, and the same retries on the
// next Apply. A refused service's real servers are never sent; every
// other service comes up.
func TestReconcilePipelinedLikeSerial(t *testing.T) {
	base := wideTable(6)
	keys := base.Keys()
	destOf := func(i, j int) dataplane.DestKey { return sortedDests(base[keys[i]].Dests)[j] }
	changed := base.Clone()
	delete(changed, keys[0])
	for dk, d := range changed[keys[1]].Dests {
		d.Weight = 50
		changed[keys[1]].Dests[dk] = d
	}
	e := changed[keys[2]]
	e.Service.Scheduler = "rr"
	changed[keys[2]] = e
	delete(changed[keys[3]].Dests, destOf(3, 0))
	tests := []struct {
		name        string
		seed, want  dataplane.Table
		fail        func(fakeplane.Call) error
		refusedKind OpKind
	}{
		{"add service refused", nil, base, func(c fakeplane.Call) error {
			if c.Op == fakeplane.OpAddService && c.Service == keys[2] {
				return syscall.EEXIST
			}
			return nil
		}, AddService},
		{"add real server refused", nil, base, func(c fakeplane.Call) error {
			if c.Op == fakeplane.OpAddDest && c.Dest == destOf(4, 2) {
				return syscall.EINVAL
			}
			return nil
		}, AddDest},
		{"update real server refused", base, changed, func(c fakeplane.Call) error {
			if c.Op == fakeplane.OpUpdateDest && c.Dest == destOf(1, 1) {
				return syscall.ENOENT
			}
			return nil
		}, UpdateDest},
		{"update service refused", base, changed, func(c fakeplane.Call) error {
			if c.Op == fakeplane.OpUpdateService {
				return syscall.ENOENT
			}
			return nil
		}, UpdateService},
		{"delete refused", base, changed, func(c fakeplane.Call) error {
			if c.Op == fakeplane.OpDeleteService || c.Op == fakeplane.OpDeleteDest {
				return syscall.ESRCH
			}
			return nil
		}, DeleteService},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			run := func(pipelined bool) outcome {
				p := fakeplane.New()
				p.Seed(unrelated)
				r := NewReconciler(p, quiet)
				if tt.seed != nil {
					// Owned, as after a first start.
					if _, err := r.Apply(context.Background(), tt.seed); err != nil {
						t.Fatal(err)
					}
				}
				p.Reset()
				var plane dataplane.Plane = p
				if !pipelined {
					plane = serialPlane{p}
				}
				r.plane = plane
				p.FailWith(tt.fail)
				n, err := r.Apply(context.Background(), tt.want)
				o := outcome{sent: n, table: p.Table().Format()}
				var opErr *OpError
				if !errors.As(err, &opErr) || opErr.Op.Kind != tt.refusedKind {
					t.Errorf("pipelined %t: error %v, want an OpError of a %v", pipelined, err, tt.refusedKind)
				}
				if err != nil {
					o.errs = strings.Split(err.Error(), "\n")
					sort.Strings(o.errs)
				}
				for _, c := range p.Calls() {
					o.calls = append(o.calls, c.String())
				}
				sort.Strings(o.calls)
				p.Reset()
				o.second, _ = r.Apply(context.Background(), tt.want)
				if pipelined && len(p.Pipelines()) == 0 && o.second > 0 {
					t.Errorf("the next Apply was not pipelined")
				}
				return o
			}
			serial, piped := run(false), run(true)
			if serial.sent != piped.sent || serial.second != piped.second || serial.table != piped.table ||
				!slices.Equal(serial.errs, piped.errs) || !slices.Equal(serial.calls, piped.calls) {
				t.Errorf("pipelined:\n%+v\nserial:\n%+v", piped, serial)
			}
		})
	}
}

// TestReconcilePipelineLost: when the plane loses its connection in the
// middle of a wave, the results before it stand, the belief is in doubt,
// and Apply reads the plane again and finishes the table, whatever the
// operation whose answer was lost did, as after any doubtful refusal.
func TestReconcilePipelineLost(t *testing.T) {
	ctx := context.Background()
	fp := fakeplane.New()
	p := &cutPlane{Plane: fp, cuts: []int{3 + 5}} // the services, then 5 real servers
	r := NewReconciler(p, quiet)
	want := wideTable(3)
	n, err := r.Apply(ctx, want)
	// 8 with results, then the 6 the re-read showed missing (the 9th
	// was applied, its answer lost).
	if err != nil || n != 8+6 {
		t.Fatalf("start: %d operations, %v; want 14 and no error", n, err)
	}
	if fp.Count() != 15 {
		t.Errorf("the plane saw %d operations, want 15", fp.Count())
	}
	if got := fp.Table().Format(); got != want.Format() {
		t.Errorf("plane holds\n%s\nwant\n%s", got, want.Format())
	}
	// Lost again in the retry: the reason is reported, and the next
	// Apply reads the plane again and repairs.
	fp = fakeplane.New()
	p = &cutPlane{Plane: fp, cuts: []int{3 + 5, 0}}
	r = NewReconciler(p, quiet)
	n, err = r.Apply(ctx, want)
	if err == nil || !strings.Contains(err.Error(), "connection lost") || n != 8 {
		t.Fatalf("start: %d operations, %v; want 8 and the lost connection", n, err)
	}
	n, err = r.Apply(ctx, want)
	if err != nil || n != 15-10 {
		t.Errorf("next apply: %d operations, %v; want the 5 left", n, err)
	}
	if got := fp.Table().Format(); got != want.Format() {
		t.Errorf("plane holds\n%s\nwant\n%s", got, want.Format())
	}
}

// TestReloadPipelined is TestReloadLikeKeepalived's reload as a
// pipelining plane (IPVS) gets it: every operation but those that follow
// a service's add in one write, then those; in each service the order of
// the Diff.
func TestReloadPipelined(t *testing.T) {
	read := func(name string) string {
		b, err := os.ReadFile(filepath.Join("testdata", "reload", name))
		if err != nil {
			t.Fatal(err)
		}
		return string(b)
	}
	p := fakeplane.New()
	e := New(load(t, read("a.conf")))
	e.Start()
	r := NewReconciler(p, quiet)
	if _, err := r.Apply(context.Background(), e.Desired()); err != nil {
		t.Fatal(err)
	}
	e.Reload(load(t, read("b.conf")))
	p.Reset()
	if _, err := r.Apply(context.Background(), e.Desired()); err != nil {
		t.Fatal(err)
	}
	wantOps := `DeleteService TCP 10.0.0.2:80
DeleteService TCP 10.0.3.1:80
UpdateService TCP 10.0.0.1:80
DeleteDestination TCP 10.0.0.1:80 -> 10.0.1.2:80
UpdateDestination TCP 10.0.0.1:80 -> 10.0.1.1:80
AddDestination TCP 10.0.0.1:80 -> 10.0.1.6:80
AddService TCP 10.0.0.4:443
UpdateDestination TCP 10.0.3.2:80 -> 10.0.1.5:80
UpdateDestination TCP 10.0.3.3:80 -> 10.0.1.5:80
AddService TCP 10.0.3.4:80
AddDestination TCP 10.0.0.4:443 -> 10.0.1.7:443
AddDestination TCP 10.0.3.4:80 -> 10.0.1.5:80`
	if ops := calls(p); ops != wantOps || !slices.Equal(p.Pipelines(), []int{10, 2}) {
		t.Errorf("reload sent (pipelines %v)\n%s\nwant (pipelines [10 2])\n%s", p.Pipelines(), ops, wantOps)
	}
}
