package lvs

import (
	"context"
	"net/netip"
	"runtime"
	"testing"
	"unsafe"

	"vigil/internal/dataplane"
	"vigil/internal/dataplane/fakeplane"
)

// bigTable is n services of four destinations each.
func bigTable(n int) dataplane.Table {
	t := dataplane.Table{}
	for i := range n {
		k := dataplane.ServiceKey{Family: dataplane.IPv4, Protocol: dataplane.ProtoTCP,
			Addr: netip.AddrFrom4([4]byte{10, 1, byte(i / 250), byte(i%250 + 1)}), Port: 80}
		e := dataplane.Entry{Service: dataplane.Service{Key: k, Scheduler: "wrr"}, Dests: map[dataplane.DestKey]dataplane.Destination{}}
		for r := range 4 {
			dk := dataplane.DestKey{Addr: netip.AddrFrom4([4]byte{10, byte(2 + r), byte(i / 250), byte(i%250 + 1)}), Port: 8080}
			e.Dests[dk] = dataplane.Destination{Key: dk, Weight: 1}
		}
		t[k] = e
	}
	return t
}

// allocated is the bytes f allocates.
func allocated(f func()) uint64 {
	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	f()
	runtime.ReadMemStats(&after)
	return after.TotalAlloc - before.TotalAlloc
}

// opsBound is what a list of n ops for services services may allocate:
// the list once, and a little per service for sorting its destinations.
// A list grown by append allocates it about five times over (Go grows
// large slices by a quarter at a time), which this bound refuses.
func opsBound(n, services int) uint64 {
	return uint64(n)*uint64(unsafe.Sizeof(Op{}))*5/4 + uint64(services)*512
}

// TestDiffOfAStartAllocatesItsOpsOnce checks that the diff of a start
// (5,000 services of four destinations against an empty plane, the IPVS
// lab's table) allocates its 25,000 operations once rather than growing
// them, the start's largest allocation.
func TestDiffOfAStartAllocatesItsOpsOnce(t *testing.T) {
	desired := bigTable(5000)
	var ops []Op
	got := allocated(func() { ops = Diff(desired, dataplane.Table{}, nil) })
	if len(ops) != 25000 {
		t.Fatalf("%d ops, want 25000", len(ops))
	}
	if bound := opsBound(len(ops), 5000); got > bound {
		t.Errorf("Diff of a start allocated %d bytes for %d ops, want at most %d (the ops once)", got, len(ops), bound)
	}
	// A diff with nothing to do reserves nothing.
	if ops := Diff(desired, desired, nil); ops != nil {
		t.Errorf("Diff of equal tables: %d ops, want none", len(ops))
	}
}

// TestRemoveOwnedRealsAllocatesItsOpsOnce is the same for a stop that
// removes every destination, then every service.
func TestRemoveOwnedRealsAllocatesItsOpsOnce(t *testing.T) {
	p := fakeplane.New()
	desired := bigTable(5000)
	r := NewReconciler(p, nil)
	if _, err := r.Apply(context.Background(), desired); err != nil {
		t.Fatal(err)
	}
	p.Reset()
	var n int
	var err error
	got := allocated(func() { n, err = r.RemoveOwnedReals(context.Background()) })
	if err != nil || n != 25000 {
		t.Fatalf("RemoveOwnedReals: %d ops, %v; want 25000", n, err)
	}
	if len(p.Table()) != 0 {
		t.Fatalf("the plane still holds %d services", len(p.Table()))
	}
	// The fake plane's log of calls (grown by append) and the
	// Reconciler's bookkeeping allocate too: the bound is twice the ops
	// and three times the log (about 69 MB when the ops were grown, about
	// 29 MB now).
	if bound := 2*opsBound(n, 5000) + uint64(n)*uint64(unsafe.Sizeof(fakeplane.Call{}))*3; got > bound {
		t.Errorf("RemoveOwnedReals allocated %d bytes for %d ops, want at most %d", got, n, bound)
	}
}
