package host

import (
	"fmt"
	"net"
	"net/netip"

	"github.com/vishvananda/netlink"
	"golang.org/x/sys/unix"
)

// routeOps is the part of netlink the Manager needs for routes; an
// interface so the bookkeeping can be tested with a fake.
type routeOps interface {
	// addRoute adds r; an error wrapping EEXIST means a route with r's key
	// is there already.
	addRoute(r Route) error
	// delRoute removes exactly r; an error wrapping ESRCH (or ENODEV) means
	// it is not there.
	delRoute(r Route) error
	// findRoute reports whether the kernel has a route with r's key, and
	// whether that route is r itself (same type, protocol and next hops).
	findRoute(r Route) (found, same bool, err error)
}

// ruleOps is the part of netlink the Manager needs for rules.
type ruleOps interface {
	// addRule adds r; an error wrapping EEXIST means an identical rule is
	// there already.
	addRule(r Rule) error
	// delRule removes r; an error wrapping ENOENT means it is not there.
	delRule(r Rule) error
	// hasRule reports whether the kernel has r.
	hasRule(r Rule) (bool, error)
}

func (netlinkOps) addRoute(r Route) error {
	nr, err := toNetlinkRoute(r)
	if err != nil {
		return err
	}
	if r.Append {
		return netlink.RouteAppend(nr)
	}
	return netlink.RouteAdd(nr)
}

func (netlinkOps) delRoute(r Route) error {
	nr, err := toNetlinkRoute(r)
	if err != nil {
		return err
	}
	return netlink.RouteDel(nr)
}

func (netlinkOps) findRoute(r Route) (found, same bool, err error) {
	want, err := toNetlinkRoute(r)
	if err != nil {
		return false, false, err
	}
	// Filter by table only: how the library reports a default route's
	// destination has changed between versions, so compare it here.
	have, err := netlink.RouteListFiltered(want.Family, &netlink.Route{Table: want.Table}, netlink.RT_FILTER_TABLE)
	if err != nil {
		return false, false, fmt.Errorf("list routes of table %d: %w", want.Table, err)
	}
	for _, kr := range have {
		if !sameDst(kr.Dst, r.Dst) || kr.Tos != want.Tos || uint32(kr.Priority) != r.metric() {
			continue
		}
		found = true
		if sameRoute(kr, want) {
			return true, true, nil
		}
	}
	return found, false, nil
}

// sameDst compares a kernel destination (nil for a default route in some
// library versions) with a prefix.
func sameDst(n *net.IPNet, p netip.Prefix) bool {
	if n == nil {
		return p.Bits() == 0
	}
	kp, ok := prefixOf(n)
	return ok && kp == p
}

// sameRoute compares what the kernel has with what we would add, on what
// tells two routes with the same key apart.
func sameRoute(kr netlink.Route, want *netlink.Route) bool {
	typ := want.Type
	if typ == 0 {
		typ = unix.RTN_UNICAST
	}
	if kr.Type != typ || kr.Protocol != want.Protocol || !kr.Gw.Equal(want.Gw) {
		return false
	}
	if want.LinkIndex != 0 && kr.LinkIndex != want.LinkIndex {
		return false
	}
	if len(kr.MultiPath) != len(want.MultiPath) {
		return false
	}
	for i, nh := range want.MultiPath {
		k := kr.MultiPath[i]
		if !k.Gw.Equal(nh.Gw) || (nh.LinkIndex != 0 && k.LinkIndex != nh.LinkIndex) || k.Hops != nh.Hops {
			return false
		}
	}
	return true
}

// toNetlinkRoute converts a validated Route into the library's form,
// looking interfaces up by name.
func toNetlinkRoute(r Route) (*netlink.Route, error) {
	scope, err := r.scope()
	if err != nil {
		return nil, err
	}
	fam := unix.AF_INET
	if r.is6() {
		fam = unix.AF_INET6
	}
	nr := &netlink.Route{
		Family:   fam,
		Dst:      ipNet(r.Dst.Addr(), r.Dst.Bits()),
		Table:    int(r.table()),
		Priority: int(r.Metric),
		Protocol: netlink.RouteProtocol(r.protocol()),
		Tos:      int(r.TOS),
		Type:     int(r.typeNum()),
		Scope:    netlink.Scope(scope),
		Realm:    int(r.Realm),
	}
	if r.Dev != "" {
		link, err := linkByName(r.Dev)
		if err != nil {
			return nil, err
		}
		nr.LinkIndex = link.Attrs().Index
	}
	if r.Via.IsValid() {
		nr.Gw = net.IP(r.Via.AsSlice())
	}
	if r.Src.IsValid() {
		nr.Src = net.IP(r.Src.AsSlice())
	}
	if r.Onlink {
		nr.Flags |= int(netlink.FLAG_ONLINK)
	}
	for _, nh := range r.Nexthops {
		ni := &netlink.NexthopInfo{}
		if nh.Dev != "" {
			link, err := linkByName(nh.Dev)
			if err != nil {
				return nil, err
			}
			ni.LinkIndex = link.Attrs().Index
		}
		if nh.Via.IsValid() {
			ni.Gw = net.IP(nh.Via.AsSlice())
		}
		if nh.Weight > 1 {
			// The kernel stores weight-1 in rtnh_hops.
			ni.Hops = nh.Weight - 1
		}
		if nh.Onlink {
			ni.Flags |= int(netlink.FLAG_ONLINK)
		}
		nr.MultiPath = append(nr.MultiPath, ni)
	}
	m := r.Metrics
	nr.MTU, nr.MTULock = int(m.MTU), m.MTULock
	nr.AdvMSS, nr.Window, nr.Rtt, nr.RttVar = int(m.AdvMSS), int(m.Window), int(m.RTT), int(m.RTTVar)
	nr.Ssthresh, nr.Cwnd, nr.Reordering, nr.Hoplimit = int(m.Ssthresh), int(m.Cwnd), int(m.Reordering), int(m.Hoplimit)
	nr.InitCwnd, nr.InitRwnd, nr.QuickACK = int(m.InitCwnd), int(m.InitRwnd), int(m.QuickACK)
	nr.FastOpenNoCookie, nr.RtoMin, nr.RtoMinLock = int(m.FastOpenNoCookie), int(m.RTOMin), m.RTOMinLock
	nr.Congctl = m.CongCtl
	if m.ECN {
		nr.Features = 1 // RTAX_FEATURE_ECN
	}
	return nr, nil
}

func (netlinkOps) addRule(r Rule) error {
	nr, err := toNetlinkRule(r)
	if err != nil {
		return err
	}
	return netlink.RuleAdd(nr)
}

func (o netlinkOps) delRule(r Rule) error {
	nr, err := toNetlinkRule(r)
	if err != nil {
		return err
	}
	match, err := o.matchRule(r, nr)
	if err != nil {
		return err
	}
	if match == nil {
		return fmt.Errorf("rule %s: %w", r, unix.ENOENT)
	}
	// The kernel deletes the first rule matching the attributes given, so
	// name the preference too: the one the kernel chose when ours had none.
	nr.Priority = match.Priority
	return netlink.RuleDel(nr)
}

func (o netlinkOps) hasRule(r Rule) (bool, error) {
	nr, err := toNetlinkRule(r)
	if err != nil {
		return false, err
	}
	match, err := o.matchRule(r, nr)
	return match != nil, err
}

// matchRule finds the kernel's copy of r. The library does not report a
// rule's action type, so two rules differing only between blackhole,
// unreachable, prohibit and nop look the same here; the kernel's own delete
// does tell them apart.
func (netlinkOps) matchRule(r Rule, want *netlink.Rule) (*netlink.Rule, error) {
	have, err := netlink.RuleList(want.Family)
	if err != nil {
		return nil, fmt.Errorf("list rules: %w", err)
	}
	for i := range have {
		if sameRule(have[i], r, want) {
			return &have[i], nil
		}
	}
	return nil, nil
}

// sameRule compares a kernel rule with ours.
func sameRule(kr netlink.Rule, r Rule, want *netlink.Rule) bool {
	if r.Priority != nil && kr.Priority != want.Priority {
		return false
	}
	if kr.Invert != want.Invert || kr.Tos != want.Tos || kr.Mark != want.Mark ||
		kr.IifName != want.IifName || kr.OifName != want.OifName || kr.Protocol != want.Protocol ||
		kr.IPProto != want.IPProto || kr.Goto != want.Goto ||
		kr.SuppressPrefixlen != want.SuppressPrefixlen || kr.SuppressIfgroup != want.SuppressIfgroup {
		return false
	}
	if !samePrefix(kr.Src, r.From) || !samePrefix(kr.Dst, r.To) {
		return false
	}
	wantMask := uint32(0)
	if want.Mask != nil {
		wantMask = *want.Mask
	} else if want.Mark != 0 {
		wantMask = 0xffffffff
	}
	haveMask := uint32(0)
	if kr.Mask != nil {
		haveMask = *kr.Mask
	}
	if haveMask != wantMask {
		return false
	}
	if (kr.Flow > 0 || want.Flow > 0) && kr.Flow != want.Flow {
		return false
	}
	table := 0
	if r.Action == "table" {
		table = int(r.Table)
	}
	if kr.Table != table {
		return false
	}
	return samePorts(kr.Sport, want.Sport) && samePorts(kr.Dport, want.Dport) &&
		((kr.UIDRange == nil) == (want.UIDRange == nil)) &&
		(kr.UIDRange == nil || *kr.UIDRange == *want.UIDRange)
}

func samePrefix(n *net.IPNet, p netip.Prefix) bool {
	if n == nil {
		return !p.IsValid() || p.Bits() == 0
	}
	kp, ok := prefixOf(n)
	return ok && p.IsValid() && kp == p
}

func samePorts(a, b *netlink.RulePortRange) bool {
	if a == nil || b == nil {
		return a == b
	}
	return *a == *b
}

// toNetlinkRule converts a validated Rule into the library's form. What the
// library cannot send is an error rather than silently dropped.
func toNetlinkRule(r Rule) (*netlink.Rule, error) {
	nr := netlink.NewRule()
	nr.Family = unix.AF_INET
	if r.Family == 6 {
		nr.Family = unix.AF_INET6
	}
	if r.Priority != nil {
		nr.Priority = int(*r.Priority)
	}
	nr.Invert = r.Not
	if r.From.IsValid() && r.From.Bits() > 0 {
		nr.Src = ipNet(r.From.Addr(), r.From.Bits())
	}
	if r.To.IsValid() && r.To.Bits() > 0 {
		nr.Dst = ipNet(r.To.Addr(), r.To.Bits())
	}
	nr.Tos = uint(r.TOS)
	nr.Mark, nr.Mask = r.FWMark, r.FWMask
	if r.Realm != 0 {
		nr.Flow = int(r.Realm)
	}
	nr.IifName, nr.OifName = r.IIF, r.OIF
	switch r.Action {
	case "table":
		nr.Table = int(r.Table)
	case "goto":
		nr.Goto = int(r.Goto)
	default:
		nr.Type = ruleActions[r.Action]
	}
	if r.SuppressPrefixLength != nil || r.SuppressIfGroup != nil {
		if r.Table >= 256 {
			return nil, fmt.Errorf("host: rule %s: suppress_prefixlength/suppress_ifgroup with a table above 255 is not supported", r)
		}
		if r.SuppressPrefixLength != nil {
			nr.SuppressPrefixlen = *r.SuppressPrefixLength
		}
		if r.SuppressIfGroup != nil {
			nr.SuppressIfgroup = int(*r.SuppressIfGroup)
		}
	}
	if r.UIDRange != nil {
		nr.UIDRange = netlink.NewRuleUIDRange(r.UIDRange.Start, r.UIDRange.End)
	}
	if r.SPort != nil {
		nr.Sport = netlink.NewRulePortRange(uint16(r.SPort.Start), uint16(r.SPort.End))
	}
	if r.DPort != nil {
		nr.Dport = netlink.NewRulePortRange(uint16(r.DPort.Start), uint16(r.DPort.End))
	}
	nr.IPProto = int(r.IPProto)
	nr.Protocol = r.Protocol
	return nr, nil
}
