package dataplane

import (
	"context"
	"fmt"
	"maps"
	"slices"
)

// Entry is a service with its destinations.
type Entry struct {
	Service Service
	Dests   map[DestKey]Destination
}

// Table is a whole service table: what a plane holds, or what a caller
// wants it to hold.
type Table map[ServiceKey]Entry

// Clone returns a deep copy of t.
func (t Table) Clone() Table {
	out := make(Table, len(t))
	for k, e := range t {
		out[k] = Entry{Service: e.Service, Dests: maps.Clone(e.Dests)}
	}
	return out
}

// Keys returns the service keys in a stable order (see Compare).
func (t Table) Keys() []ServiceKey {
	keys := slices.Collect(maps.Keys(t))
	slices.SortFunc(keys, Compare)
	return keys
}

// Compare orders service keys: fwmark services after address ones, then by
// family, address, protocol, port and mark. It gives listings, goldens and
// operation lists a stable order.
func Compare(a, b ServiceKey) int {
	if (a.Fwmark != 0) != (b.Fwmark != 0) {
		if a.Fwmark != 0 {
			return 1
		}
		return -1
	}
	if a.Family != b.Family {
		return int(a.Family) - int(b.Family)
	}
	if c := a.Addr.Compare(b.Addr); c != 0 {
		return c
	}
	if a.Protocol != b.Protocol {
		return int(a.Protocol) - int(b.Protocol)
	}
	if a.Port != b.Port {
		return int(a.Port) - int(b.Port)
	}
	return int(int64(a.Fwmark) - int64(b.Fwmark))
}

// CompareDest orders destination keys by address, then port.
func CompareDest(a, b DestKey) int {
	if c := a.Addr.Compare(b.Addr); c != 0 {
		return c
	}
	return int(a.Port) - int(b.Port)
}

func sortDestKeys(keys []DestKey) { slices.SortFunc(keys, CompareDest) }

// Read lists the whole table of p: every service, owned or not, with its
// destinations.
func Read(ctx context.Context, p Plane) (Table, error) {
	svcs, err := p.Services(ctx)
	if err != nil {
		return nil, fmt.Errorf("list services: %w", err)
	}
	t := make(Table, len(svcs))
	for _, s := range svcs {
		ds, err := p.Destinations(ctx, s.Key)
		if err != nil {
			return nil, fmt.Errorf("list destinations of %s: %w", s.Key, err)
		}
		e := Entry{Service: s, Dests: make(map[DestKey]Destination, len(ds))}
		for _, d := range ds {
			e.Dests[d.Key] = d
		}
		t[s.Key] = e
	}
	return t, nil
}
