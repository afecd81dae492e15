package lvs

import (
	"net/netip"
	"strings"
	"testing"

	"vigil/internal/dataplane"
)

func TestDiff(t *testing.T) {
	key := func(a string, port uint16) dataplane.ServiceKey {
		return dataplane.ServiceKey{Family: dataplane.IPv4, Protocol: dataplane.ProtoTCP, Addr: netip.MustParseAddr(a), Port: port}
	}
	dest := func(a string, w int32) dataplane.Destination {
		return dataplane.Destination{Key: dataplane.DestKey{Addr: netip.MustParseAddr(a), Port: 80}, Weight: w}
	}
	entry := func(k dataplane.ServiceKey, sched string, ds ...dataplane.Destination) dataplane.Entry {
		e := dataplane.Entry{Service: dataplane.Service{Key: k, Scheduler: sched, PersistenceBits: 32}, Dests: map[dataplane.DestKey]dataplane.Destination{}}
		for _, d := range ds {
			e.Dests[d.Key] = d
		}
		return e
	}
	a, b, c, other := key("10.0.0.1", 80), key("10.0.0.2", 80), key("10.0.0.3", 80), key("10.9.9.9", 80)
	// busy is entry with the counters a plane reports under traffic.
	busy := func(k dataplane.ServiceKey, sched string, ds ...dataplane.Destination) dataplane.Entry {
		for i := range ds {
			ds[i].Stats = &dataplane.Stats{Conns: 9, InPkts: 90, InBytes: 9000, CPS: 1, ActiveConns: 3, InactConns: 2, PersistConns: 1}
		}
		e := entry(k, sched, ds...)
		e.Service.Stats = dataplane.Stats{Conns: 18, InPkts: 180, OutPkts: 170, InBytes: 18000, OutBytes: 17000, CPS: 2, InPPS: 3, OutPPS: 4, InBPS: 5, OutBPS: 6}
		return e
	}
	tests := []struct {
		name            string
		desired, actual dataplane.Table
		owned           []dataplane.ServiceKey
		want            string
	}{
		{name: "empty"},
		{
			name:    "add a service with its destinations, in address order",
			desired: dataplane.Table{a: entry(a, "rr", dest("10.0.1.2", 1), dest("10.0.1.1", 1))},
			want:    "add-service TCP 10.0.0.1:80|add-dest TCP 10.0.0.1:80 -> 10.0.1.1:80|add-dest TCP 10.0.0.1:80 -> 10.0.1.2:80",
		},
		{
			name:    "identical: nothing",
			desired: dataplane.Table{a: entry(a, "rr", dest("10.0.1.1", 1))},
			actual:  dataplane.Table{a: entry(a, "rr", dest("10.0.1.1", 1)), other: entry(other, "wlc")},
		},
		{
			name:    "the plane's counters are not a change",
			desired: dataplane.Table{a: entry(a, "rr", dest("10.0.1.1", 1), dest("10.0.1.2", 1))},
			actual:  dataplane.Table{a: busy(a, "rr", dest("10.0.1.1", 1), dest("10.0.1.2", 1))},
		},
		{
			name:    "a change beside the counters is still one",
			desired: dataplane.Table{a: entry(a, "wrr", dest("10.0.1.1", 2))},
			actual:  dataplane.Table{a: busy(a, "rr", dest("10.0.1.1", 1))},
			want:    "update-service TCP 10.0.0.1:80|update-dest TCP 10.0.0.1:80 -> 10.0.1.1:80",
		},
		{
			name:    "deletions, then updates, then additions within a service",
			desired: dataplane.Table{a: entry(a, "wrr", dest("10.0.1.1", 2), dest("10.0.1.3", 1))},
			actual:  dataplane.Table{a: entry(a, "rr", dest("10.0.1.1", 1), dest("10.0.1.2", 1))},
			want:    "update-service TCP 10.0.0.1:80|delete-dest TCP 10.0.0.1:80 -> 10.0.1.2:80|update-dest TCP 10.0.0.1:80 -> 10.0.1.1:80|add-dest TCP 10.0.0.1:80 -> 10.0.1.3:80",
		},
		{
			name:    "owned services no longer desired go, unowned ones stay",
			desired: dataplane.Table{a: entry(a, "rr")},
			actual:  dataplane.Table{a: entry(a, "rr"), b: entry(b, "rr"), c: entry(c, "rr"), other: entry(other, "rr")},
			owned:   []dataplane.ServiceKey{a, b, c},
			want:    "delete-service TCP 10.0.0.2:80|delete-service TCP 10.0.0.3:80",
		},
		{
			name:    "an unowned service that matches a desired key is adopted and corrected",
			desired: dataplane.Table{other: entry(other, "rr", dest("10.0.1.1", 1))},
			actual:  dataplane.Table{other: entry(other, "rr", dest("10.0.1.1", 1), dest("10.0.1.7", 1))},
			want:    "delete-dest TCP 10.9.9.9:80 -> 10.0.1.7:80",
		},
	}
	for _, tt := range tests {
		owned := map[dataplane.ServiceKey]bool{}
		for _, k := range tt.owned {
			owned[k] = true
		}
		var got []string
		for _, op := range Diff(tt.desired, tt.actual, owned) {
			got = append(got, op.String())
		}
		if g := strings.Join(got, "|"); g != tt.want {
			t.Errorf("%s:\ngot  %s\nwant %s", tt.name, g, tt.want)
		}
		// Applying the ops to actual must give desired on the touched
		// services: checked by the reconciler tests against the fake.
	}
}
