package nft

import (
	"context"
	"log/slog"
	"net/netip"
	"os"
	"testing"

	"vigil/internal/dataplane"
	"vigil/internal/lvs"
	"vigil/internal/netlab"
)

// bigTable is n TCP services of three wrr real servers each, on 10.x
// addresses that never leave the namespace.
func bigTable(n int) dataplane.Table { return wideTable(n, 3) }

// wideTable is bigTable with reals real servers per service.
func wideTable(n, reals int) dataplane.Table {
	t := dataplane.Table{}
	for i := range n {
		a := netip.AddrFrom4([4]byte{10, 100, byte(i / 250), byte(i%250 + 1)})
		s := dataplane.Service{Key: dataplane.ServiceKey{Family: dataplane.IPv4, Protocol: dataplane.ProtoTCP, Addr: a, Port: 80}, Scheduler: "wrr"}
		e := dataplane.Entry{Service: s, Dests: map[dataplane.DestKey]dataplane.Destination{}}
		for j := range reals {
			d := dataplane.Destination{Key: dataplane.DestKey{Addr: netip.AddrFrom4([4]byte{10, 200, byte(i / 250), byte(j + 1)}), Port: 8080}, Weight: int32(j + 1)}
			e.Dests[d.Key] = d
		}
		t[s.Key] = e
	}
	return t
}

// benchPlane is a plane in a fresh namespace holding a 5,000-service table.
func benchPlane(b *testing.B) (*Plane, dataplane.Table) { return benchPlaneN(b, 5000) }

func benchPlaneN(b *testing.B, n int) (*Plane, dataplane.Table) {
	l := netlab.New(b)
	h := l.AddHost("dir", "10.77.1.1/24")
	var p *Plane
	if err := h.Do(func() error {
		var err error
		p, err = New(Config{})
		return err
	}); err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { p.Close() })
	t := bigTable(n)
	if err := p.Replace(context.Background(), t); err != nil {
		b.Fatal(err)
	}
	return p, t
}

// BenchmarkApplyChange5000 is one real server's weight change in a
// 5,000-service table: one transaction rebuilding that service's rules.
func BenchmarkApplyChange5000(b *testing.B) { benchChange(b, 5000) }

// BenchmarkApplyChange10 is the same change in a 10-service table: the
// difference is the kernel's per-transaction validation of the whole table.
func BenchmarkApplyChange10(b *testing.B) { benchChange(b, 10) }

func benchChange(b *testing.B, n int) {
	p, t := benchPlaneN(b, n)
	key := t.Keys()[n/2]
	var d dataplane.Destination
	for _, d = range t[key].Dests {
		break
	}
	ctx := context.Background()
	b.ResetTimer()
	for i := range b.N {
		d.Weight = int32(i%5 + 1)
		if err := p.UpdateDestination(ctx, key, d); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkAddService5000 adds (and removes) a service with three real
// servers next to 5,000 others: two transactions per iteration.
func BenchmarkAddService5000(b *testing.B) {
	p, _ := benchPlane(b)
	e := bigTable(5001)
	var key dataplane.ServiceKey
	for k := range e {
		if k.Addr == netip.AddrFrom4([4]byte{10, 100, 20, 1}) {
			key = k
		}
	}
	ctx := context.Background()
	b.ResetTimer()
	for range b.N {
		if err := p.AddService(ctx, e[key].Service); err != nil {
			b.Fatal(err)
		}
		if err := p.DeleteService(ctx, key); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkReplace5000 replaces the whole 5,000-service table (15,000 real
// servers) in one transaction: a start-up after a crash.
func BenchmarkReplace5000(b *testing.B) {
	p, t := benchPlane(b)
	ctx := context.Background()
	b.ResetTimer()
	for range b.N {
		if err := p.Replace(ctx, t); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkCompileMaglev is the pure cost of one mh service's rules.
func BenchmarkCompileMaglev(b *testing.B) {
	e := compileCases[4].e
	for range b.N {
		if _, err := compile(e, 1, facts{}); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkReconcileStart2500 is a start from an empty table through the
// reconciler, as the LVS process does it: 2,500 services of four real
// servers each, 12,500 operations. batch is how it runs (the plane's
// ApplyBatch: one transaction); per-op hides ApplyBatch, so that every
// operation is a transaction of its own, as before batching. per-op takes
// minutes per iteration: it runs only with VIGIL_BENCH_PEROP=1.
func BenchmarkReconcileStart2500(b *testing.B) {
	b.Run("batch", func(b *testing.B) { benchStart(b, 2500, true) })
	b.Run("per-op", func(b *testing.B) {
		if os.Getenv("VIGIL_BENCH_PEROP") == "" {
			b.Skip("minutes per iteration; set VIGIL_BENCH_PEROP=1")
		}
		benchStart(b, 2500, false)
	})
}

// perOp is a plane with only dataplane.Plane's methods: no batching.
type perOp struct{ dataplane.Plane }

func benchStart(b *testing.B, n int, batch bool) {
	p, _ := benchPlaneN(b, 0)
	t := wideTable(n, 4)
	ctx := context.Background()
	log := slog.New(slog.DiscardHandler)
	var plane dataplane.Plane = p
	if !batch {
		plane = perOp{p}
	}
	b.ResetTimer()
	for range b.N {
		b.StopTimer()
		if err := p.Remove(ctx); err != nil {
			b.Fatal(err)
		}
		r := lvs.NewReconciler(plane, log)
		b.StartTimer()
		ops, err := r.Apply(ctx, t)
		if err != nil || ops != n*5 {
			b.Fatalf("Apply: %d operations, %v; want %d, nil", ops, err, n*5)
		}
	}
	b.StopTimer()
	if got := p.Table(); len(got) != n {
		b.Fatalf("the plane holds %d services, want %d", len(got), n)
	}
}
