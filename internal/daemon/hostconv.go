package daemon

import (
	"errors"
	"fmt"
	"net"
	"net/netip"
	"strconv"
	"strings"

	"vigil/internal/config"
	"vigil/internal/host"
	"vigil/internal/vrrp"
)

// This file translates the configuration model's routes, rules, static
// addresses and VMAC settings into what internal/host installs. Names
// (tables, protocols, realms, TOS) are resolved here, and every option the
// netlink library cannot express is an error naming the line, never dropped.

// convErr prefixes an error with the configuration line it came from.
func convErr(pos config.Pos, what string, err error) error {
	return &lineError{fmt.Errorf("%s: %s: %w", pos, what, err)}
}

// lineError is an error that names its configuration line already, so
// that a caller does not put its block's line in front of it too.
type lineError struct{ err error }

func (e *lineError) Error() string { return e.err.Error() }
func (e *lineError) Unwrap() error { return e.err }

// hostRoute converts a virtual_routes or static_routes line.
func hostRoute(r *config.Route) (host.Route, error) {
	out, err := hostRouteOf(r)
	if err != nil {
		return host.Route{}, convErr(r.Pos, "route "+r.Dst.String(), err)
	}
	if err := out.Validate(); err != nil {
		return host.Route{}, convErr(r.Pos, "route "+r.Dst.String(), err)
	}
	return out, nil
}

func hostRouteOf(r *config.Route) (host.Route, error) {
	unsupported := func(what string) (host.Route, error) {
		return host.Route{}, fmt.Errorf("%s is not supported", what)
	}
	switch {
	case r.From.IsValid():
		return unsupported(`"from" (IPv6 source-specific routing)`)
	case r.Pref != "":
		return unsupported("pref")
	case r.TTLPropagate != nil:
		return unsupported("ttl-propagate")
	case r.Expires != nil:
		return unsupported("expires")
	case len(r.Encap) > 0:
		return unsupported("encap")
	case r.VRF != "":
		return unsupported(`vrf (give the VRF's table with "table" instead)`)
	}
	if (r.Family == config.FamilyIPv6) != r.Dst.Addr().Is6() {
		return host.Route{}, fmt.Errorf("family %s does not match destination %s", r.Family, r.Dst)
	}
	out := host.Route{
		Dst:    r.Dst,
		Type:   r.Type,
		Src:    r.Src,
		Via:    r.Via,
		Dev:    r.Dev,
		Scope:  string(r.Scope),
		Onlink: r.Onlink,
		Append: r.Append,
	}
	if out.Type == "unicast" {
		out.Type = ""
	}
	var err error
	if r.Table != "" {
		if out.Table, err = host.ParseTable(r.Table); err != nil {
			return host.Route{}, err
		}
	}
	if r.Metric != nil {
		out.Metric = *r.Metric
	}
	if r.Protocol != "" {
		if out.Protocol, err = host.ParseProtocol(r.Protocol); err != nil {
			return host.Route{}, err
		}
	}
	if r.TOS != "" {
		if out.TOS, err = host.ParseDSField(r.TOS); err != nil {
			return host.Route{}, err
		}
	}
	if r.Realms != "" {
		if out.Realm, err = host.ParseRealms(r.Realms); err != nil {
			return host.Route{}, err
		}
	}
	if out.Metrics, err = routeMetrics(r); err != nil {
		return host.Route{}, err
	}
	for i, nh := range r.Nexthops {
		if nh.Realms != "" {
			return host.Route{}, fmt.Errorf("nexthop %d: realms on a nexthop is not supported", i+1)
		}
		out.Nexthops = append(out.Nexthops, host.Nexthop{Via: nh.Via, Dev: nh.Dev, Weight: nh.Weight, Onlink: nh.Onlink})
	}
	return out, nil
}

// routeMetrics converts the numeric route options.
func routeMetrics(r *config.Route) (host.RouteMetrics, error) {
	var m host.RouteMetrics
	for _, name := range r.Locked {
		switch name {
		case "mtu":
			m.MTULock = true
		case "rto_min":
			m.RTOMinLock = true
		default:
			return m, fmt.Errorf("lock on %s is not supported (only mtu and rto_min)", name)
		}
	}
	for name, s := range r.Metrics {
		var v uint32
		var err error
		switch name {
		case "rtt":
			v, err = rttValue(s, 8)
		case "rttvar":
			v, err = rttValue(s, 4)
		case "rto_min":
			v, err = rttValue(s, 1)
		default:
			var n uint64
			n, err = strconv.ParseUint(s, 10, 32)
			v = uint32(n)
		}
		if err != nil {
			return m, fmt.Errorf("%s %q: %w", name, s, err)
		}
		dst := map[string]*uint32{
			"mtu": &m.MTU, "advmss": &m.AdvMSS, "window": &m.Window, "rtt": &m.RTT, "rttvar": &m.RTTVar,
			"ssthresh": &m.Ssthresh, "cwnd": &m.Cwnd, "reordering": &m.Reordering, "hoplimit": &m.Hoplimit,
			"initcwnd": &m.InitCwnd, "initrwnd": &m.InitRwnd, "quickack": &m.QuickACK,
			"fastopen_no_cookie": &m.FastOpenNoCookie, "rto_min": &m.RTOMin,
		}[name]
		if dst == nil {
			return m, fmt.Errorf("route metric %s is not supported", name)
		}
		*dst = v
	}
	for _, f := range r.Features {
		if f != "ecn" {
			return m, fmt.Errorf("feature %q is not supported", f)
		}
		m.ECN = true
	}
	m.CongCtl = r.CongCtl
	return m, nil
}

// rttValue converts an rtt, rttvar or rto_min value as "ip route" does: a
// bare number is passed to the kernel as is; a time with a unit (s, ms, us)
// is taken in milliseconds and scaled by the kernel's fixed-point factor.
func rttValue(s string, scale uint32) (uint32, error) {
	num, unit := s, ""
	for _, u := range []string{"msecs", "msec", "ms", "usecs", "usec", "us", "secs", "sec", "s"} {
		if strings.HasSuffix(s, u) {
			num, unit = strings.TrimSuffix(s, u), u
			break
		}
	}
	f, err := strconv.ParseFloat(num, 64)
	if err != nil || f < 0 {
		return 0, errors.New("not a time")
	}
	if unit == "" {
		if f != float64(uint32(f)) {
			return 0, errors.New("a value without a unit must be a whole number")
		}
		return uint32(f), nil
	}
	switch unit[0] {
	case 's':
		f *= 1000
	case 'u':
		f /= 1000
	}
	ms := f * float64(scale)
	if ms > float64(^uint32(0)) {
		return 0, errors.New("too large")
	}
	return uint32(ms), nil
}

// hostRule converts a virtual_rules or static_rules line.
func hostRule(r *config.Rule) (host.Rule, error) {
	what := "rule"
	if r.Priority != nil {
		what = "rule " + strconv.FormatUint(uint64(*r.Priority), 10)
	}
	out, err := hostRuleOf(r)
	if err != nil {
		return host.Rule{}, convErr(r.Pos, what, err)
	}
	if err := out.Validate(); err != nil {
		return host.Rule{}, convErr(r.Pos, what, err)
	}
	return out, nil
}

// ipProtocols are the protocol names "ip rule ipproto" accepts most often;
// others are given by number.
var ipProtocols = map[string]uint8{
	"icmp": 1, "igmp": 2, "tcp": 6, "udp": 17, "gre": 47, "esp": 50, "ah": 51,
	"ipv6-icmp": 58, "icmpv6": 58, "ospf": 89, "sctp": 132, "udplite": 136,
}

func hostRuleOf(r *config.Rule) (host.Rule, error) {
	switch {
	case r.TunnelID != nil:
		return host.Rule{}, errors.New("tunnel-id is not supported")
	case r.L3MDev:
		return host.Rule{}, errors.New("l3mdev is not supported")
	}
	out := host.Rule{
		Family:   4,
		Priority: r.Priority,
		Not:      r.Not,
		From:     r.From,
		To:       r.To,
		IIF:      r.IIF,
		OIF:      r.OIF,
		Action:   r.Action,
		Goto:     0,
	}
	if r.Family == config.FamilyIPv6 {
		out.Family = 6
	}
	var err error
	if r.TOS != "" {
		if out.TOS, err = host.ParseDSField(r.TOS); err != nil {
			return host.Rule{}, err
		}
	}
	if r.FWMark != "" {
		mark, mask, hasMask := strings.Cut(r.FWMark, "/")
		v, err := strconv.ParseUint(mark, 0, 32)
		if err != nil {
			return host.Rule{}, fmt.Errorf("fwmark %q: invalid mark", r.FWMark)
		}
		out.FWMark = uint32(v)
		if hasMask {
			mv, err := strconv.ParseUint(mask, 0, 32)
			if err != nil {
				return host.Rule{}, fmt.Errorf("fwmark %q: invalid mask", r.FWMark)
			}
			m := uint32(mv)
			out.FWMask = &m
		} else if v == 0 {
			// "fwmark 0" means unmarked packets; the kernel needs the
			// (default, all-ones) mask to be told explicitly.
			m := ^uint32(0)
			out.FWMask = &m
		}
	}
	if r.Realms != "" {
		if out.Realm, err = host.ParseRealms(r.Realms); err != nil {
			return host.Rule{}, err
		}
	}
	if r.Table != "" {
		if out.Table, err = host.ParseTable(r.Table); err != nil {
			return host.Rule{}, err
		}
	}
	if r.Goto != nil {
		out.Goto = *r.Goto
	}
	if r.SuppressPrefixLength != nil && *r.SuppressPrefixLength >= 0 {
		v := *r.SuppressPrefixLength
		out.SuppressPrefixLength = &v
	}
	if g := r.SuppressIfGroup; g != "" {
		var v uint64
		if g == "default" {
			v = 0
		} else if v, err = strconv.ParseUint(g, 0, 32); err != nil {
			return host.Rule{}, fmt.Errorf("suppress_ifgroup %q: give the group number (only \"default\" is known by name)", g)
		}
		gv := uint32(v)
		out.SuppressIfGroup = &gv
	}
	if r.UIDRange != "" {
		if out.UIDRange, err = parseRange(r.UIDRange, 1<<32-1); err != nil {
			return host.Rule{}, fmt.Errorf("uidrange: %w", err)
		}
	}
	if r.SPort != "" {
		if out.SPort, err = parseRange(r.SPort, 65535); err != nil {
			return host.Rule{}, fmt.Errorf("sport: %w", err)
		}
	}
	if r.DPort != "" {
		if out.DPort, err = parseRange(r.DPort, 65535); err != nil {
			return host.Rule{}, fmt.Errorf("dport: %w", err)
		}
	}
	if r.Protocol != "" {
		if out.Protocol, err = host.ParseProtocol(r.Protocol); err != nil {
			return host.Rule{}, err
		}
	}
	if p := r.IPProto; p != "" {
		v, ok := ipProtocols[strings.ToLower(p)]
		if !ok {
			n, err := strconv.ParseUint(p, 0, 8)
			if err != nil {
				return host.Rule{}, fmt.Errorf("ipproto %q: not a known protocol name or a number 0-255", p)
			}
			v = uint8(n)
		}
		out.IPProto = v
	}
	return out, nil
}

// parseRange parses "N-M" (or a single N).
func parseRange(s string, max uint64) (*host.Range, error) {
	lo, hi, ok := strings.Cut(s, "-")
	if !ok {
		hi = lo
	}
	a, e1 := strconv.ParseUint(lo, 10, 32)
	b, e2 := strconv.ParseUint(hi, 10, 32)
	if e1 != nil || e2 != nil || a > b || b > max {
		return nil, fmt.Errorf("invalid range %q", s)
	}
	return &host.Range{Start: uint32(a), End: uint32(b)}, nil
}

// hostAddressOf converts one address line (virtual_ipaddress,
// virtual_ipaddress_excluded or static_ipaddress) into what the host adds:
// the one conversion of an address from the configuration to the host.
// dev is the device when the line names none.
func hostAddressOf(a *config.VirtualAddress, dev string) (host.Address, error) {
	if a.Dev != "" {
		dev = a.Dev
	}
	out := host.Address{
		Prefix:        a.Address,
		Dev:           dev,
		Label:         a.Label,
		Scope:         string(a.Scope),
		NoDAD:         a.NoDAD,
		NoPrefixRoute: a.NoPrefixRoute,
		Home:          a.Home,
		MngTmpAddr:    a.MngTmpAddr,
		AutoJoin:      a.AutoJoin,
	}
	if a.Peer.IsValid() {
		out.Peer = netip.PrefixFrom(a.Peer, a.Address.Bits())
	}
	if a.Broadcast != "" && a.Peer.IsValid() {
		// keepalived ignores the broadcast then, with an error; say so
		// rather than add the address without it.
		return host.Address{}, convErr(a.Pos, "address "+a.Address.String(), errors.New("brd and peer cannot both be given"))
	}
	b, err := broadcastOf(a.Broadcast, a.Address)
	if err != nil {
		return host.Address{}, convErr(a.Pos, "address "+a.Address.String(), err)
	}
	out.Broadcast = b
	if a.PreferredLft != nil {
		if *a.PreferredLft == config.PreferredForever {
			out.PreferredLft = "forever"
		} else {
			out.PreferredLft = strconv.FormatUint(uint64(*a.PreferredLft), 10)
		}
	}
	if err := out.Validate(); err != nil {
		return host.Address{}, convErr(a.Pos, "address "+a.Address.String(), err)
	}
	return out, nil
}

// hostStaticAddress converts a static_ipaddress line, which must name its
// device.
func hostStaticAddress(a *config.VirtualAddress) (host.Address, error) {
	fail := func(err error) (host.Address, error) {
		return host.Address{}, convErr(a.Pos, "static_ipaddress "+a.Address.String(), err)
	}
	if a.Dev == "" {
		return fail(errors.New("a static address needs dev"))
	}
	if a.UseVMAC {
		return fail(errors.New("use_vmac is not valid for a static address"))
	}
	return hostAddressOf(a, "")
}

// vipOf converts a virtual_ipaddress or virtual_ipaddress_excluded line
// of an instance on ifname (through hostAddressOf) into what the instance
// carries. Its Dev stays empty when the line names none: the VIP goes
// where the instance puts its addresses (its VMAC, if it has one).
func vipOf(a *config.VirtualAddress, ifname string) (vrrp.VIP, error) {
	h, err := hostAddressOf(a, ifname)
	if err != nil {
		return vrrp.VIP{}, err
	}
	return vrrp.VIP{
		Prefix:    h.Prefix,
		Dev:       a.Dev,
		Label:     h.Label,
		Broadcast: h.Broadcast,
		Scope:     h.Scope,
		// A VIP that moves between nodes must be usable the moment it
		// arrives: keepalived adds every IPv6 VIP without DAD, and so do we
		// ("-nodad" on the line asks for the same explicitly).
		NoDAD:         h.NoDAD || h.Prefix.Addr().Is6(),
		Peer:          h.Peer,
		NoPrefixRoute: h.NoPrefixRoute,
		Home:          h.Home,
		MngTmpAddr:    h.MngTmpAddr,
		AutoJoin:      h.AutoJoin,
		PreferredLft:  h.PreferredLft,
	}, nil
}

// hostAddress is the host's form of a VIP: what vipOf took from the
// configuration, with the instance's interface (dev) when the line named
// none.
func hostAddress(v vrrp.VIP, dev string) host.Address {
	if v.Dev != "" {
		dev = v.Dev
	}
	return host.Address{
		Prefix:        v.Prefix,
		Dev:           dev,
		Label:         v.Label,
		Broadcast:     v.Broadcast,
		Scope:         v.Scope,
		NoDAD:         v.NoDAD,
		Peer:          v.Peer,
		NoPrefixRoute: v.NoPrefixRoute,
		Home:          v.Home,
		MngTmpAddr:    v.MngTmpAddr,
		AutoJoin:      v.AutoJoin,
		PreferredLft:  v.PreferredLft,
	}
}

// broadcastOf resolves "brd" as keepalived does: an IPv4 address, or "+"
// (the address with its host bits set) or "-" (host bits clear), which
// keepalived computes only for a prefix of /30 or shorter.
func broadcastOf(s string, p netip.Prefix) (netip.Addr, error) {
	switch s {
	case "":
		return netip.Addr{}, nil
	case "+", "-":
		if !p.Addr().Is4() {
			return netip.Addr{}, errors.New("brd applies to IPv4 addresses only")
		}
		if p.Bits() > 30 {
			return netip.Addr{}, fmt.Errorf("brd %s: prefix length /%d too long for a broadcast address (at most /30)", s, p.Bits())
		}
		b := p.Addr().As4()
		mask := net.CIDRMask(p.Bits(), 32)
		for i := range b {
			if s == "+" {
				b[i] |= ^mask[i]
			} else {
				b[i] &= mask[i]
			}
		}
		return netip.AddrFrom4(b), nil
	}
	a, err := netip.ParseAddr(s)
	if err != nil || !a.Is4() || !p.Addr().Is4() {
		return netip.Addr{}, fmt.Errorf("brd %q: want an IPv4 address, + or - on an IPv4 address", s)
	}
	return a, nil
}

// hostVMAC returns the VMAC an instance with use_vmac needs; ok is false
// without use_vmac. namePrefix is global_defs' vmac_prefix ("" for
// keepalived's "vrrp.").
func hostVMAC(in *config.VRRPInstance, namePrefix string) (v host.VMAC, ok bool, err error) {
	if in.UseVMAC == nil {
		return host.VMAC{}, false, nil
	}
	v = host.VMAC{Name: in.UseVMAC.Name, Base: in.Interface, VRID: uint8(in.VRID), IPv6: in.IPv6}
	if v.Name == "" && namePrefix != "" {
		v.Name = namePrefix + strconv.Itoa(in.VRID)
	}
	if s := in.UseVMAC.MAC; s != "" {
		if strings.Count(s, ":") == 4 {
			// Five octets: keepalived appends the VRID.
			s += fmt.Sprintf(":%02x", in.VRID)
		}
		mac, err := net.ParseMAC(s)
		if err != nil {
			return host.VMAC{}, false, convErr(in.Pos, "use_vmac", err)
		}
		v.MAC = mac
	}
	if !in.IPv6 {
		for _, a := range in.ExcludedAddresses {
			if a.Address.Addr().Is6() {
				v.KeepIPv6 = true
			}
		}
	}
	if err := v.Validate(); err != nil {
		return host.VMAC{}, false, convErr(in.Pos, "vrrp_instance "+in.Name, err)
	}
	return v, true, nil
}

// filterNeeded reports whether an instance's addresses go in the strict
// mode drop set while it is MASTER: not in accept mode and not the address
// owner (priority 255), as keepalived decides.
func filterNeeded(in *config.VRRPInstance) bool {
	return !in.Accept && in.Priority != 255
}
