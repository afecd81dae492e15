package host

import (
	"bytes"
	"slices"
)

// The Equal methods compare what the kernel would be asked for, field by
// field, following pointers to their values: a reload compares an
// instance's routes, rules and VMAC this way to decide whether it changed.
// Two descriptions parsed from the same line are Equal even though their
// pointers differ.

// Equal reports whether r and o describe the same route.
func (r Route) Equal(o Route) bool {
	return r.Dst == o.Dst && r.Type == o.Type && r.Src == o.Src && r.Via == o.Via &&
		r.Dev == o.Dev && r.Scope == o.Scope && r.Table == o.Table && r.Metric == o.Metric &&
		r.Protocol == o.Protocol && r.TOS == o.TOS && r.Onlink == o.Onlink && r.Realm == o.Realm &&
		r.Metrics == o.Metrics && slices.Equal(r.Nexthops, o.Nexthops) && r.Append == o.Append
}

// Equal reports whether r and o describe the same rule.
func (r Rule) Equal(o Rule) bool {
	return r.Family == o.Family && ptrEqual(r.Priority, o.Priority) && r.Not == o.Not &&
		r.From == o.From && r.To == o.To && r.TOS == o.TOS && r.FWMark == o.FWMark &&
		ptrEqual(r.FWMask, o.FWMask) && r.Realm == o.Realm && r.IIF == o.IIF && r.OIF == o.OIF &&
		r.Action == o.Action && r.Table == o.Table && r.Goto == o.Goto &&
		ptrEqual(r.SuppressPrefixLength, o.SuppressPrefixLength) &&
		ptrEqual(r.SuppressIfGroup, o.SuppressIfGroup) && ptrEqual(r.UIDRange, o.UIDRange) &&
		r.Protocol == o.Protocol && r.IPProto == o.IPProto &&
		ptrEqual(r.SPort, o.SPort) && ptrEqual(r.DPort, o.DPort)
}

// Equal reports whether v and o describe the same VMAC.
func (v VMAC) Equal(o VMAC) bool {
	return v.Name == o.Name && v.Base == o.Base && v.VRID == o.VRID && v.IPv6 == o.IPv6 &&
		bytes.Equal(v.MAC, o.MAC) && v.KeepIPv6 == o.KeepIPv6
}

// ptrEqual compares two optional values: both absent, or both present and
// equal.
func ptrEqual[T comparable](a, b *T) bool {
	if a == nil || b == nil {
		return a == b
	}
	return *a == *b
}
