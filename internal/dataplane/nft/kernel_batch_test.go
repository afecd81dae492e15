package nft

import (
	"context"
	"errors"
	"log/slog"
	"strings"
	"testing"

	"vigil/internal/dataplane"
	"vigil/internal/lvs"
)

// TestKernelApplyBatch: ApplyBatch adds, changes and deletes several
// services in one transaction, and a batch with one service it refuses
// changes nothing, in memory or in the kernel.
func TestKernelApplyBatch(t *testing.T) {
	lb := newLab(t, 2)
	ctx := context.Background()
	entry := func(s dataplane.Service, ds ...dataplane.Destination) *dataplane.Entry {
		e := &dataplane.Entry{Service: s, Dests: map[dataplane.DestKey]dataplane.Destination{}}
		for _, d := range ds {
			e.Dests[d.Key] = d
		}
		return e
	}
	wrr := svc(vip4, dataplane.ProtoTCP, "wrr")
	rr := svc(vip4b, dataplane.ProtoTCP, "rr")
	lb.must(lb.plane.ApplyBatch(ctx, map[dataplane.ServiceKey]*dataplane.Entry{
		wrr.Key: entry(wrr, rs("10.77.2.11", 1), rs("10.77.2.12", 2)),
		rr.Key:  entry(rr, rs("10.77.2.11", 1)),
	}))
	eq(t, "wrr after the batch", lb.names(vip4, 3), "[r2 r1 r2]")
	eq(t, "rr after the batch", lb.names(vip4b, 2), "[r1 r1]")

	before, kernel := lb.plane.Table().Format(), lb.nft(t, "list", "table", "inet", DefaultTable)
	lc := svc(vip6, dataplane.ProtoTCP, "lblc")
	err := lb.plane.ApplyBatch(ctx, map[dataplane.ServiceKey]*dataplane.Entry{
		rr.Key: entry(rr, rs("10.77.2.12", 1)),
		lc.Key: entry(lc, rs("10.77.2.11", 1)),
	})
	if !errors.Is(err, dataplane.ErrUnsupported) || !strings.Contains(err.Error(), lc.Key.String()) {
		t.Fatalf("batch with an lblc service: %v, want it refused as unsupported, naming the service", err)
	}
	if got := lb.plane.Table().Format(); got != before {
		t.Fatalf("a refused batch changed the plane's table:\n%s\nwant\n%s", got, before)
	}
	if got := lb.nft(t, "list", "table", "inet", DefaultTable); got != kernel {
		t.Fatalf("a refused batch changed the kernel's table:\n%s\nwant\n%s", got, kernel)
	}
	eq(t, "rr after the refused batch", lb.names(vip4b, 2), "[r1 r1]")

	lb.must(lb.plane.ApplyBatch(ctx, map[dataplane.ServiceKey]*dataplane.Entry{
		wrr.Key: nil,
		rr.Key:  entry(rr, rs("10.77.2.12", 1)),
	}))
	want := dataplane.Table{rr.Key: *entry(rr, rs("10.77.2.12", 1))}
	eq(t, "table after delete and change", lb.plane.Table().Format(), want.Format())
	eq(t, "rr after the change", lb.names(vip4b, 2), "[r2 r2]")
	if out := lb.nft(t, "list", "table", "inet", DefaultTable); strings.Contains(out, vip4+" ") {
		t.Errorf("the deleted service %s is still in the kernel:\n%s", vip4, out)
	}
}

// TestKernelReconcilerBatchStart: a start through the reconciler (which
// uses ApplyBatch) brings up a table of many services, counting one
// operation per service and real server, and traffic flows; an unchanged
// Apply sends nothing. (The unit tests of internal/lvs count the
// transactions.)
func TestKernelReconcilerBatchStart(t *testing.T) {
	lb := newLab(t, 2)
	ctx := context.Background()
	want := wideTable(300, 4)
	s := svc(vip4, dataplane.ProtoTCP, "wrr")
	want[s.Key] = dataplane.Entry{Service: s, Dests: map[dataplane.DestKey]dataplane.Destination{
		rs("10.77.2.11", 1).Key: rs("10.77.2.11", 1), rs("10.77.2.12", 2).Key: rs("10.77.2.12", 2)}}
	r := lvs.NewReconciler(lb.plane, slog.New(slog.DiscardHandler))
	n, err := r.Apply(ctx, want)
	if err != nil || n != 300*5+3 {
		t.Fatalf("Apply: %d operations, %v; want %d, nil", n, err, 300*5+3)
	}
	eq(t, "table", lb.plane.Table().Format(), want.Format())
	eq(t, "wrr through the batch", lb.names(vip4, 3), "[r2 r1 r2]")
	if n, err := r.Apply(ctx, want); n != 0 || err != nil {
		t.Errorf("unchanged Apply: %d operations, %v; want 0, nil", n, err)
	}
}
