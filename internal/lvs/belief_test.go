package lvs

import (
	"context"
	"net/netip"
	"runtime"
	"testing"

	"vigil/internal/dataplane"
	"vigil/internal/dataplane/fakeplane"
)

// heapInUse is the live heap after a full collection.
func heapInUse() uint64 {
	var m runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&m)
	return m.HeapAlloc
}

// TestBeliefHeapPerDestination guards the Reconciler's record of the
// plane, which lives as long as the process: 40 services of 250
// destinations (the health check benchmark's table), applied to a fake
// plane; the Reconciler's heap per destination. A Go map per service
// kept about 200 bytes per destination; a sorted slice keeps the
// destination's 56 bytes and its share of the slice's growth.
func TestBeliefHeapPerDestination(t *testing.T) {
	const services, per = 40, 250
	desired := dataplane.Table{}
	for i := range services {
		k := dataplane.ServiceKey{Family: dataplane.IPv4, Protocol: dataplane.ProtoTCP,
			Addr: netip.AddrFrom4([4]byte{10, 1, 0, byte(i + 1)}), Port: 80}
		e := dataplane.Entry{Service: dataplane.Service{Key: k, Scheduler: "wrr"}, Dests: map[dataplane.DestKey]dataplane.Destination{}}
		for j := range per {
			dk := dataplane.DestKey{Addr: netip.AddrFrom4([4]byte{10, 201, byte(i), byte(j + 1)}), Port: 8080}
			e.Dests[dk] = dataplane.Destination{Key: dk, Weight: 1}
		}
		desired[k] = e
	}
	r := NewReconciler(fakeplane.New(), nil)
	if err := r.Sync(context.Background()); err != nil {
		t.Fatal(err)
	}
	before := heapInUse()
	if _, err := r.Apply(context.Background(), desired); err != nil {
		t.Fatal(err)
	}
	r.plane = nil // the fake plane's own table is not the Reconciler's
	after := heapInUse()
	n := 0
	for _, s := range r.actual {
		n += len(s.dests)
	}
	if n != services*per {
		t.Fatalf("the belief holds %d destinations, want %d", n, services*per)
	}
	got := int64(after-before) / int64(n)
	t.Logf("the Reconciler keeps %d bytes per destination", got)
	const bound = 100
	if got > bound {
		t.Errorf("the Reconciler keeps %d bytes per destination, want at most %d", got, bound)
	}
	runtime.KeepAlive(r)
	runtime.KeepAlive(desired)
}
