package lvs

import (
	"fmt"
	"maps"
	"slices"

	"vigil/internal/dataplane"
)

// OpKind is the kind of an Op, one per changing call of dataplane.Plane.
type OpKind uint8

// Operation kinds.
const (
	AddService OpKind = iota + 1
	UpdateService
	DeleteService
	AddDest
	UpdateDest
	DeleteDest
)

// String names the kind.
func (k OpKind) String() string {
	return [...]string{"?", "add-service", "update-service", "delete-service", "add-dest", "update-dest", "delete-dest"}[k]
}

// Op is one operation on a plane.
type Op struct {
	Kind OpKind
	// Service is the whole service for AddService and UpdateService; for
	// the other kinds only Service.Key is set.
	Service dataplane.Service
	// Dest is the whole destination for AddDest and UpdateDest; only
	// Dest.Key for DeleteDest.
	Dest dataplane.Destination
}

// String formats the op for logs and test failures.
func (o Op) String() string {
	switch o.Kind {
	case AddDest, UpdateDest, DeleteDest:
		return fmt.Sprintf("%s %s -> %s", o.Kind, o.Service.Key, o.Dest.Key)
	}
	return fmt.Sprintf("%s %s", o.Kind, o.Service.Key)
}

// Diff returns the operations that turn actual into desired, touching only
// services in owned or in desired (a service that matches a configured
// service key is Vigil's, whoever created it; any other is left alone).
// Within a service every destination is Vigil's. A service whose options
// changed is updated in place, never re-created, so its connections
// survive. Operations come in a stable order: services by key, and within a
// service deletions, then updates, then additions.
func Diff(desired, actual dataplane.Table, owned map[dataplane.ServiceKey]bool) []Op {
	// A start adds the whole table: room for the services the plane
	// lacks, and their destinations, up front, rather than growing a
	// slice of tens of thousands of large Ops a quarter at a time (a
	// start's largest allocation, and most of its copying). A reload of
	// services the plane has reserves nothing.
	var ops []Op
	if n := addsOf(desired, actual); n > 0 {
		ops = make([]Op, 0, n)
	}
	for _, k := range actual.Keys() {
		if _, want := desired[k]; !want && owned[k] {
			ops = append(ops, Op{Kind: DeleteService, Service: dataplane.Service{Key: k}})
		}
	}
	for _, k := range desired.Keys() {
		want := desired[k]
		have, exists := actual[k]
		if !exists {
			ops = append(ops, Op{Kind: AddService, Service: want.Service})
			for _, dk := range sortedDests(want.Dests) {
				ops = append(ops, Op{Kind: AddDest, Service: dataplane.Service{Key: k}, Dest: want.Dests[dk]})
			}
			continue
		}
		if withoutStats(want.Service) != withoutStats(have.Service) {
			ops = append(ops, Op{Kind: UpdateService, Service: want.Service})
		}
		for _, dk := range sortedDests(have.Dests) {
			if _, ok := want.Dests[dk]; !ok {
				ops = append(ops, Op{Kind: DeleteDest, Service: dataplane.Service{Key: k}, Dest: dataplane.Destination{Key: dk}})
			}
		}
		for _, dk := range sortedDests(want.Dests) {
			d := want.Dests[dk]
			if h, ok := have.Dests[dk]; ok && destWithoutStats(h) != destWithoutStats(d) {
				ops = append(ops, Op{Kind: UpdateDest, Service: dataplane.Service{Key: k}, Dest: d})
			}
		}
		for _, dk := range sortedDests(want.Dests) {
			if _, ok := have.Dests[dk]; !ok {
				ops = append(ops, Op{Kind: AddDest, Service: dataplane.Service{Key: k}, Dest: want.Dests[dk]})
			}
		}
	}
	return ops
}

// addsOf counts the operations that add desired's services missing from
// actual, with their destinations.
func addsOf(desired, actual dataplane.Table) int {
	n := 0
	for k, want := range desired {
		if _, ok := actual[k]; !ok {
			n += 1 + len(want.Dests)
		}
	}
	return n
}

func sortedDests(m map[dataplane.DestKey]dataplane.Destination) []dataplane.DestKey {
	keys := slices.Collect(maps.Keys(m))
	slices.SortFunc(keys, dataplane.CompareDest)
	return keys
}

// withoutStats clears the plane's counters, which change with traffic and
// are not part of what a service is configured to be.
func withoutStats(s dataplane.Service) dataplane.Service {
	s.Stats = dataplane.Stats{}
	return s
}

// destWithoutStats is withoutStats for a destination.
func destWithoutStats(d dataplane.Destination) dataplane.Destination {
	d.Stats = nil
	return d
}
