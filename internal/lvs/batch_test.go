package lvs

import (
	"context"
	"errors"
	"fmt"
	"net/netip"
	"strings"
	"syscall"
	"testing"

	"vigil/internal/dataplane"
	"vigil/internal/dataplane/fakeplane"
)

// batchPlane is a fake plane that applies batches: each ApplyBatch is one
// transaction, all of it or (when refuse says so) nothing.
type batchPlane struct {
	*fakeplane.Plane
	// batches are the services of each transaction, in order.
	batches [][]dataplane.ServiceKey
	// refuse, if set, fails any transaction holding a service it names.
	refuse func(dataplane.ServiceKey) error
}

func newBatchPlane() *batchPlane { return &batchPlane{Plane: fakeplane.New()} }

// ApplyBatch implements batcher.
func (p *batchPlane) ApplyBatch(ctx context.Context, changes map[dataplane.ServiceKey]*dataplane.Entry) error {
	var keys []dataplane.ServiceKey
	for k := range changes {
		keys = append(keys, k)
	}
	p.batches = append(p.batches, keys)
	if p.refuse != nil {
		for _, k := range keys {
			if err := p.refuse(k); err != nil {
				return fmt.Errorf("service %s: %w", k, err)
			}
		}
	}
	// Commit: rebuild each service as told (the fake's own calls are
	// its bookkeeping here; the test counts transactions).
	have := p.Plane.Table()
	for k, e := range changes {
		if _, ok := have[k]; ok {
			if err := p.Plane.DeleteService(ctx, k); err != nil {
				return err
			}
		}
		if e == nil {
			continue
		}
		if err := p.Plane.AddService(ctx, e.Service); err != nil {
			return err
		}
		for _, d := range e.Dests {
			if err := p.Plane.AddDestination(ctx, k, d); err != nil {
				return err
			}
		}
	}
	return nil
}

// wideTable is n TCP services of four real servers each.
func wideTable(n int) dataplane.Table {
	t := dataplane.Table{}
	for i := range n {
		k := dataplane.ServiceKey{Family: dataplane.IPv4, Protocol: dataplane.ProtoTCP, Addr: netip.AddrFrom4([4]byte{10, 1, byte(i / 200), byte(i%200 + 1)}), Port: 80}
		e := dataplane.Entry{Service: dataplane.Service{Key: k, Scheduler: "wrr"}, Dests: map[dataplane.DestKey]dataplane.Destination{}}
		for j := range 4 {
			d := dataplane.Destination{Key: dataplane.DestKey{Addr: netip.AddrFrom4([4]byte{10, 2, byte(i / 200), byte(j + 1)}), Port: 8080}, Weight: int32(j + 1)}
			e.Dests[d.Key] = d
		}
		t[k] = e
	}
	return t
}

// TestReconcileBatches: a plane that batches gets one whole reconcile in
// one transaction, while the count stays one per operation.
func TestReconcileBatches(t *testing.T) {
	ctx := context.Background()
	p := newBatchPlane()
	p.Seed(unrelated)
	r := NewReconciler(p, quiet)
	want := wideTable(100)

	n, err := r.Apply(ctx, want)
	if err != nil {
		t.Fatal(err)
	}
	if n != 500 {
		t.Errorf("start counted %d operations, want 500 (100 services, 400 real servers)", n)
	}
	if len(p.batches) != 1 || len(p.batches[0]) != 100 {
		t.Fatalf("start took %d transactions, want 1 of 100 services", len(p.batches))
	}
	all := want.Clone()
	for k, e := range unrelated {
		all[k] = e
	}
	if got := p.Table().Format(); got != all.Format() {
		t.Fatalf("plane holds\n%s\nwant\n%s", got, all.Format())
	}

	// An unchanged reload: nothing.
	if n, err := r.Apply(ctx, want); n != 0 || err != nil || len(p.batches) != 1 {
		t.Errorf("unchanged apply: %d operations, %v, %d transactions in all; want 0, nil, 1", n, err, len(p.batches))
	}

	// One real server's weight, and one service gone: two operations in
	// one transaction of the two services.
	keys := want.Keys()
	d := want[keys[7]].Dests
	for dk, v := range d {
		v.Weight = 9
		d[dk] = v
		break
	}
	delete(want, keys[8])
	n, err = r.Apply(ctx, want)
	if err != nil || n != 2 {
		t.Errorf("change: %d operations, %v; want 2, nil", n, err)
	}
	if len(p.batches) != 2 || len(p.batches[1]) != 2 {
		t.Errorf("change took %d transactions (last of %v), want one more of two services", len(p.batches)-1, p.batches[len(p.batches)-1])
	}
	all = want.Clone()
	for k, e := range unrelated {
		all[k] = e
	}
	if got := p.Table().Format(); got != all.Format() {
		t.Fatalf("plane holds\n%s\nwant\n%s", got, all.Format())
	}

	// A clean stop, real servers first: still one transaction.
	n, err = r.RemoveOwnedReals(ctx)
	if err != nil || n != 99*5 || len(p.batches) != 3 {
		t.Errorf("stop: %d operations, %v, %d transactions; want %d, nil, 3", n, err, len(p.batches), 99*5)
	}
	if got := p.Table().Format(); got != unrelated.Format() {
		t.Errorf("after the stop the plane holds\n%s", got)
	}
}

// TestReconcileBatchRefused: when the plane refuses the batch, each
// service is applied on its own: the bad one is reported with its first
// operation (so the engine can give its file:line), the others come up,
// nothing of the bad one is applied, and it is not retried until it
// changes.
func TestReconcileBatchRefused(t *testing.T) {
	ctx := context.Background()
	p := newBatchPlane()
	r := NewReconciler(p, quiet)
	want := wideTable(10)
	bad := want.Keys()[3]
	p.refuse = func(k dataplane.ServiceKey) error {
		if k == bad {
			return syscall.ENOENT
		}
		return nil
	}
	n, err := r.Apply(ctx, want)
	var oe *OpError
	if !errors.As(err, &oe) || oe.Op.Service.Key != bad || oe.Op.Kind != AddService || !errors.Is(err, syscall.ENOENT) {
		t.Fatalf("Apply error %v, want an OpError of add-service %s wrapping ENOENT", err, bad)
	}
	if c := strings.Count(err.Error(), "\n") + 1; c != 1 {
		t.Errorf("%d errors reported, want 1: %v", c, err)
	}
	if n != 46 {
		t.Errorf("counted %d operations, want 46 (nine services' five, the refused add)", n)
	}
	if len(p.batches) != 11 {
		t.Errorf("%d transactions, want 11 (the batch, then one per service)", len(p.batches))
	}
	got := p.Table()
	delete(want, bad)
	if got.Format() != want.Format() {
		t.Errorf("plane holds\n%s\nwant\n%s", got.Format(), want.Format())
	}
	want = wideTable(10)
	if n, err := r.Apply(ctx, want); n != 0 || err != nil || len(p.batches) != 11 {
		t.Errorf("apply after a refusal: %d operations, %v, %d transactions; want 0, nil, 11 (not retried)", n, err, len(p.batches))
	}

	// A refused change of a service the plane holds leaves it as it was
	// (the belief stands) and is tried again by the next apply.
	p.refuse = nil
	if _, err := r.Apply(ctx, wideTable(9)); err != nil { // forget bad: it is removed from the refused set
		t.Fatal(err)
	}
	other := want.Keys()[5]
	p.refuse = func(k dataplane.ServiceKey) error {
		if k == other {
			return syscall.EINVAL
		}
		return nil
	}
	changed := wideTable(9)
	e := changed[other]
	e.Service.Scheduler = "rr"
	changed[other] = e
	before := p.Table()[other]
	if _, err := r.Apply(ctx, changed); !errors.Is(err, syscall.EINVAL) {
		t.Fatalf("refused update: %v, want EINVAL", err)
	}
	if got := p.Table()[other]; got.Service.Scheduler != before.Service.Scheduler || len(got.Dests) != 4 {
		t.Errorf("a refused update changed the service: %+v", got.Service)
	}
	p.refuse = nil
	if n, err := r.Apply(ctx, changed); n != 1 || err != nil {
		t.Errorf("retry of the update: %d operations, %v; want 1, nil", n, err)
	}
	if got := p.Table()[other].Service.Scheduler; got != "rr" {
		t.Errorf("scheduler %q after the retry, want rr", got)
	}
}

// TestReconcileBatchExplained: a refusal in a batch is reported with the
// virtual server's file:line, as one operation's is.
func TestReconcileBatchExplained(t *testing.T) {
	cfg := load(t, twoServices)
	e := New(cfg)
	e.Start()
	p := newBatchPlane()
	bad := dataplane.ServiceKey{Family: dataplane.IPv4, Protocol: dataplane.ProtoTCP, Addr: netip.MustParseAddr("10.0.0.2"), Port: 443}
	p.refuse = func(k dataplane.ServiceKey) error {
		if k == bad {
			return syscall.ENOENT
		}
		return nil
	}
	r := NewReconciler(p, quiet)
	_, err := r.Apply(context.Background(), e.Desired())
	if msg := e.Explain(err).Error(); !strings.HasPrefix(msg, "keepalived.conf:17: virtual_server: add-service TCP 10.0.0.2:443: ") {
		t.Errorf("explained error %q lacks the file:line and operation", msg)
	}
	if got := p.Table(); len(got) != 1 || len(got[bad].Dests) != 0 {
		t.Errorf("plane holds\n%s", got.Format())
	}
}
