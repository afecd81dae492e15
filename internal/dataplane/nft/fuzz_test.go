package nft

import (
	"net/netip"
	"testing"
	"time"

	"github.com/google/nftables/expr"

	"vigil/internal/dataplane"
)

// FuzzCompile builds services from arbitrary bytes and checks what the
// kernel would otherwise refuse: every map element has its map's key and
// data lengths, every modulus equals its map's size, every lookup names a
// map that exists.
func FuzzCompile(f *testing.F) {
	f.Add([]byte{0, 1, 0, 0, 0, 3, 1, 80, 2, 0, 5, 0})
	f.Add([]byte{1, 4, 2, 1, 24, 1, 0, 0, 0, 7, 9, 1})
	f.Add([]byte{3, 5, 3, 0, 64, 0, 0, 1, 1, 0, 4, 0, 0})
	f.Add([]byte{0, 0, 8, 1, 24, 1, 80, 1, 5, 80, 1, 7, 80, 0})
	f.Add([]byte{1, 3, 10, 0, 0, 2, 44, 3, 9, 44, 1})
	f.Fuzz(func(t *testing.T, b []byte) {
		at := func(i int) byte {
			if i < len(b) {
				return b[i]
			}
			return 0
		}
		v6 := at(0)&1 == 1
		fw := at(0)&2 == 2
		sched := schedulers[int(at(1))%len(schedulers)]
		s := dataplane.Service{Scheduler: sched, Flags: dataplane.SchedFlags(at(2) & 7)}
		if at(3)&1 == 1 {
			s.Persistence, s.PersistenceBits = time.Duration(at(3))*time.Second, at(4)
		}
		vip := netip.MustParseAddr("10.0.0.1")
		if v6 {
			vip = netip.MustParseAddr("fd00::1")
		}
		s.Key = dataplane.ServiceKey{Family: dataplane.FamilyOf(vip), Protocol: dataplane.ProtoTCP, Addr: vip, Port: 80}
		if fw {
			s.Key = dataplane.ServiceKey{Family: dataplane.FamilyOf(vip), Fwmark: 1}
		}
		e := dataplane.Entry{Service: s, Dests: map[dataplane.DestKey]dataplane.Destination{}}
		for i := 5; i+2 < len(b) && len(e.Dests) < 20; i += 3 {
			a := netip.AddrFrom4([4]byte{10, 1, 0, b[i]})
			if v6 {
				a = netip.AddrFrom16([16]byte{0xfd, 1, 15: b[i]})
			}
			d := dataplane.Destination{Key: dataplane.DestKey{Addr: a, Port: uint16(b[i+1])}, Weight: int32(b[i+2])}
			if at(2)&8 != 0 {
				d.Forwarding.Method = dataplane.DR
			}
			e.Dests[d.Key] = d
		}
		p, err := compile(e, 1, facts{ready: func(a netip.Addr) bool { return a.As16()[15]%5 != 0 }, conns: func(k dataplane.DestKey) Conns {
			return Conns{Active: uint32(k.Port), Inactive: uint32(k.Addr.As16()[15])}
		}})
		if err != nil {
			return
		}
		if p.DR != (at(2)&8 != 0 && len(e.Dests) > 0) {
			t.Fatalf("DR program %v for %d DR real servers", p.DR, len(e.Dests))
		}
		for _, r := range p.Rules {
			// A DR rule ends by dropping the frame (sent, or not
			// sendable); it never NATs.
			if p.DR {
				last := r.Exprs[len(r.Exprs)-1]
				if v, ok := last.(*expr.Verdict); !ok || v.Kind != expr.VerdictDrop {
					t.Fatalf("DR rule ends with %T %+v", last, last)
				}
				for _, x := range r.Exprs {
					if _, ok := x.(*expr.NAT); ok {
						t.Fatal("DR rule with a nat expression")
					}
				}
			}
			sets := map[string]setDef{}
			for _, s := range drSets() {
				sets[s.Name] = s
			}
			for _, s := range r.Anon {
				sets[s.Name] = s
				for _, el := range s.Elems {
					if len(el.Key) != int(s.Key.Bytes) || len(el.Val) != int(s.Data.Bytes) {
						t.Fatalf("map %s: element %x : %x, want %d : %d bytes", s.Name, el.Key, el.Val, s.Key.Bytes, s.Data.Bytes)
					}
				}
			}
			if p.Aff != nil {
				sets[p.Aff.Name] = *p.Aff
			}
			if p.Flow != nil {
				sets[p.Flow.Name] = *p.Flow
			}
			for _, x := range r.Exprs {
				switch x := x.(type) {
				case *expr.Lookup:
					if _, ok := sets[x.SetName]; !ok {
						t.Fatalf("lookup of unknown map %s", x.SetName)
					}
				case *expr.Numgen:
					if int(x.Modulus) != len(sets["sched"].Elems) {
						t.Fatalf("numgen mod %d over %d slots", x.Modulus, len(sets["sched"].Elems))
					}
				case *expr.Hash:
					if int(x.Modulus) != len(sets["sched"].Elems) {
						t.Fatalf("hash mod %d over %d slots", x.Modulus, len(sets["sched"].Elems))
					}
				}
			}
		}
	})
}
