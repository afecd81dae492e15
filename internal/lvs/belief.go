package lvs

import (
	"slices"

	"vigil/internal/dataplane"
)

// belief is the Reconciler's record of what the plane holds. It lives as
// long as the process, with an entry per destination of the whole table:
// each service keeps its destinations in one slice sorted by key (a
// destination's 56 bytes), not in a Go map (about twice that per
// destination once the map's slots and growth are counted). Diff works on
// dataplane.Table: table and entry build that form, for the services an
// Apply looks at, and the Reconciler drops it after the Apply.
type belief map[dataplane.ServiceKey]*believed

// believed is one service of the belief.
type believed struct {
	service dataplane.Service
	// dests are sorted by dataplane.CompareDest, one per key.
	dests []dataplane.Destination
}

// beliefOf records t.
func beliefOf(t dataplane.Table) belief {
	b := make(belief, len(t))
	for k, e := range t {
		s := &believed{service: e.Service, dests: make([]dataplane.Destination, 0, len(e.Dests))}
		for _, d := range e.Dests {
			s.dests = append(s.dests, d)
		}
		slices.SortFunc(s.dests, func(a, b dataplane.Destination) int { return dataplane.CompareDest(a.Key, b.Key) })
		b[k] = s
	}
	return b
}

// entry is the service in Diff's form, a copy the caller may change.
func (s *believed) entry() dataplane.Entry {
	e := dataplane.Entry{Service: s.service, Dests: make(map[dataplane.DestKey]dataplane.Destination, len(s.dests))}
	for _, d := range s.dests {
		e.Dests[d.Key] = d
	}
	return e
}

// table is the belief in Diff's form, limited to scope (all of it for
// nil).
func (b belief) table(scope map[dataplane.ServiceKey]bool) dataplane.Table {
	if scope == nil {
		t := make(dataplane.Table, len(b))
		for k, s := range b {
			t[k] = s.entry()
		}
		return t
	}
	t := make(dataplane.Table, len(scope))
	for k := range scope {
		if s, ok := b[k]; ok {
			t[k] = s.entry()
		}
	}
	return t
}

// services is the belief's services without their destinations: all
// that Diff reads of the plane's table when nothing is desired (a stop).
func (b belief) services() dataplane.Table {
	t := make(dataplane.Table, len(b))
	for k, s := range b {
		t[k] = dataplane.Entry{Service: s.service}
	}
	return t
}

// keys returns the services' keys in dataplane.Compare's order.
func (b belief) keys() []dataplane.ServiceKey {
	keys := make([]dataplane.ServiceKey, 0, len(b))
	for k := range b {
		keys = append(keys, k)
	}
	slices.SortFunc(keys, dataplane.Compare)
	return keys
}

// find is the index of the destination k, or where it would go.
func (s *believed) find(k dataplane.DestKey) (int, bool) {
	return slices.BinarySearchFunc(s.dests, k, func(d dataplane.Destination, k dataplane.DestKey) int {
		return dataplane.CompareDest(d.Key, k)
	})
}

// set records d, in place of the destination of its key if there is one.
func (s *believed) set(d dataplane.Destination) {
	i, ok := s.find(d.Key)
	if ok {
		s.dests[i] = d
		return
	}
	s.dests = slices.Insert(s.dests, i, d)
}

// remove forgets the destination k.
func (s *believed) remove(k dataplane.DestKey) {
	if i, ok := s.find(k); ok {
		s.dests = slices.Delete(s.dests, i, i+1)
	}
}
