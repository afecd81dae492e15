package host

import (
	"errors"
	"fmt"
	"net/netip"
	"strconv"
	"strings"
)

// Route is one route Vigil installs: a virtual_routes line of an instance
// (present while it is MASTER) or a static_routes line (present while Vigil
// runs). Names from keepalived.conf (tables, protocols, realms, TOS) are
// already resolved to numbers, so that the state file means the same thing
// to a later run even if /etc/iproute2 changed in between.
type Route struct {
	// Dst is the destination prefix, masked (0.0.0.0/0 or ::/0 for a
	// default route).
	Dst netip.Prefix `json:"to"`
	// Type is the route type: empty (unicast), local, broadcast, anycast,
	// multicast, blackhole, unreachable, prohibit or throw.
	Type string `json:"type,omitempty"`
	// Src is the preferred source address ("src").
	Src netip.Addr `json:"src,omitzero"`
	// Via is the gateway.
	Via netip.Addr `json:"via,omitzero"`
	// Dev is the output interface.
	Dev string `json:"dev,omitempty"`
	// Scope is a scope name or number as for Address; empty lets it follow
	// from the route the way "ip route add" chooses it.
	Scope string `json:"scope,omitempty"`
	// Table is the routing table; 0 means main (local for the local,
	// broadcast and anycast types), as "ip route" does.
	Table uint32 `json:"table,omitempty"`
	// Metric is the route priority; 0 is the kernel's default (1024 for
	// IPv6).
	Metric uint32 `json:"metric,omitempty"`
	// Protocol is the rtnetlink protocol; 0 means boot, as "ip route".
	// keepalived marks the routes it tracks with 18 (keepalived).
	Protocol uint8 `json:"protocol,omitempty"`
	// TOS is the type of service (IPv4 only).
	TOS uint8 `json:"tos,omitempty"`
	// Onlink makes the kernel take the gateway as directly reachable.
	Onlink bool `json:"onlink,omitempty"`
	// Realm is the realms value (FROM<<16 | TO), IPv4 only.
	Realm uint32 `json:"realm,omitempty"`
	// Metrics are the per-route TCP metrics.
	Metrics RouteMetrics `json:"metrics,omitzero"`
	// Nexthops makes a multipath route; Via and Dev are then empty.
	Nexthops []Nexthop `json:"nexthops,omitempty"`
	// Append adds the route next to an existing one with the same key
	// (IPv4: a second route that is used on failover; IPv6: an extra
	// multipath leg) instead of failing.
	Append bool `json:"append,omitempty"`
}

// RouteMetrics are the RTAX_* route attributes, in kernel units; 0 means
// not set.
type RouteMetrics struct {
	MTU              uint32 `json:"mtu,omitempty"`
	MTULock          bool   `json:"mtu_lock,omitempty"`
	AdvMSS           uint32 `json:"advmss,omitempty"`
	Window           uint32 `json:"window,omitempty"`
	RTT              uint32 `json:"rtt,omitempty"`
	RTTVar           uint32 `json:"rttvar,omitempty"`
	Ssthresh         uint32 `json:"ssthresh,omitempty"`
	Cwnd             uint32 `json:"cwnd,omitempty"`
	Reordering       uint32 `json:"reordering,omitempty"`
	Hoplimit         uint32 `json:"hoplimit,omitempty"`
	InitCwnd         uint32 `json:"initcwnd,omitempty"`
	InitRwnd         uint32 `json:"initrwnd,omitempty"`
	QuickACK         uint32 `json:"quickack,omitempty"`
	FastOpenNoCookie uint32 `json:"fastopen_no_cookie,omitempty"`
	RTOMin           uint32 `json:"rto_min,omitempty"`
	RTOMinLock       bool   `json:"rto_min_lock,omitempty"`
	// ECN is "features ecn".
	ECN     bool   `json:"ecn,omitempty"`
	CongCtl string `json:"congctl,omitempty"`
}

// Nexthop is one leg of a multipath route.
type Nexthop struct {
	Via netip.Addr `json:"via,omitzero"`
	Dev string     `json:"dev,omitempty"`
	// Weight is 1-256; 0 means 1.
	Weight int  `json:"weight,omitempty"`
	Onlink bool `json:"onlink,omitempty"`
}

// Route types (linux/rtnetlink.h, RTN_*).
var routeTypes = map[string]uint8{
	"": 1, "unicast": 1, "local": 2, "broadcast": 3, "anycast": 4, "multicast": 5,
	"blackhole": 6, "unreachable": 7, "prohibit": 8, "throw": 9,
}

// Well-known table numbers.
const (
	tableDefault = 253
	tableMain    = 254
	tableLocal   = 255
)

// is6 reports whether this is an IPv6 route.
func (r Route) is6() bool { return r.Dst.Addr().Is6() }

// typeNum returns the RTN_* value.
func (r Route) typeNum() uint8 { return routeTypes[r.Type] }

// isUnicast reports whether the route forwards (has next hops).
func (r Route) isUnicast() bool { return r.Type == "" || r.Type == "unicast" }

// noNexthop reports whether the type takes no gateway or device.
func (r Route) noNexthop() bool {
	switch r.Type {
	case "blackhole", "unreachable", "prohibit", "throw":
		return true
	}
	return false
}

// table returns the table the route goes in, applying "ip route"'s default.
func (r Route) table() uint32 {
	if r.Table != 0 {
		return r.Table
	}
	switch r.Type {
	case "local", "broadcast", "anycast":
		return tableLocal
	}
	return tableMain
}

// metric returns the priority the kernel stores.
func (r Route) metric() uint32 {
	if r.Metric == 0 && r.is6() {
		return 1024
	}
	return r.Metric
}

// protocol returns the rtnetlink protocol the kernel stores.
func (r Route) protocol() uint8 {
	if r.Protocol == 0 {
		return 3 // RTPROT_BOOT, what "ip route add" sets
	}
	return r.Protocol
}

// scope returns the rtnetlink scope, choosing it as "ip route add" does
// when none is given.
func (r Route) scope() (uint8, error) {
	if r.Scope != "" {
		s := strings.ToLower(r.Scope)
		if v, ok := scopeNames[s]; ok {
			return v, nil
		}
		n, err := strconv.ParseUint(s, 0, 8)
		if err != nil {
			return 0, fmt.Errorf("host: route %s: invalid scope %q (want global, site, link, host, nowhere or 0-255)", r.Dst, r.Scope)
		}
		return uint8(n), nil
	}
	switch {
	case r.is6():
		return scopeNames["global"], nil
	case r.Type == "local":
		return scopeNames["host"], nil
	case r.Type == "broadcast" || r.Type == "multicast" || r.Type == "anycast":
		return scopeNames["link"], nil
	case r.isUnicast() && !r.Via.IsValid() && len(r.Nexthops) == 0:
		return scopeNames["link"], nil
	}
	return scopeNames["global"], nil
}

// key identifies the route the way the kernel does: by table, destination,
// TOS and metric. Appended routes share that key with another route, so
// theirs includes the next hop too.
func (r Route) key() string {
	k := fmt.Sprintf("%d|%s|tos %d|metric %d", r.table(), r.Dst, r.TOS, r.metric())
	if r.Append {
		k += "|via " + r.Via.String() + " dev " + r.Dev
		for _, nh := range r.Nexthops {
			k += "|nh " + nh.Via.String() + " " + nh.Dev
		}
	}
	return k
}

// String renders the route like an "ip route" line, for logs and errors.
func (r Route) String() string {
	var b strings.Builder
	if r.Type != "" && r.Type != "unicast" {
		b.WriteString(r.Type + " ")
	}
	b.WriteString(r.Dst.String())
	if r.Via.IsValid() {
		b.WriteString(" via " + r.Via.String())
	}
	if r.Dev != "" {
		b.WriteString(" dev " + r.Dev)
	}
	for _, nh := range r.Nexthops {
		b.WriteString(" nexthop")
		if nh.Via.IsValid() {
			b.WriteString(" via " + nh.Via.String())
		}
		if nh.Dev != "" {
			b.WriteString(" dev " + nh.Dev)
		}
		if nh.Weight > 1 {
			b.WriteString(" weight " + strconv.Itoa(nh.Weight))
		}
	}
	if r.Src.IsValid() {
		b.WriteString(" src " + r.Src.String())
	}
	if t := r.table(); t != tableMain {
		b.WriteString(" table " + strconv.FormatUint(uint64(t), 10))
	}
	if r.Metric != 0 {
		b.WriteString(" metric " + strconv.FormatUint(uint64(r.Metric), 10))
	}
	if r.TOS != 0 {
		b.WriteString(" tos " + strconv.Itoa(int(r.TOS)))
	}
	if r.Protocol != 0 {
		b.WriteString(" proto " + strconv.Itoa(int(r.Protocol)))
	}
	return b.String()
}

// Validate checks the route for anything the kernel would reject or that
// makes no sense, so bad configuration fails before any change is made.
func (r Route) Validate() error {
	if !r.Dst.IsValid() {
		return errors.New("host: route: invalid or missing destination")
	}
	fail := func(format string, a ...any) error {
		return fmt.Errorf("host: route %s: %s", r.Dst, fmt.Sprintf(format, a...))
	}
	if r.Dst.Addr().Is4In6() {
		return fail("IPv4-mapped IPv6 destinations are not allowed")
	}
	if r.Dst != r.Dst.Masked() {
		return fail("destination has host bits set (want %s)", r.Dst.Masked())
	}
	if _, ok := routeTypes[r.Type]; !ok {
		return fail("unknown route type %q", r.Type)
	}
	v6 := r.is6()
	sameFamily := func(a netip.Addr, what string) error {
		if a.IsValid() && a.Is6() != v6 {
			return fail("%s %s is of another family than the destination", what, a)
		}
		return nil
	}
	if err := sameFamily(r.Src, "src"); err != nil {
		return err
	}
	if err := sameFamily(r.Via, "via"); err != nil {
		return err
	}
	if r.Dev != "" {
		if err := checkDevName(r.Dev); err != nil {
			return fail("%v", err)
		}
	}
	if r.noNexthop() && (r.Via.IsValid() || len(r.Nexthops) > 0) {
		return fail("a %s route takes no gateway or nexthops", r.Type)
	}
	if len(r.Nexthops) > 0 && (r.Via.IsValid() || r.Dev != "") {
		return fail("give either via/dev or nexthops, not both")
	}
	if r.isUnicast() && !r.Via.IsValid() && r.Dev == "" && len(r.Nexthops) == 0 {
		return fail("a unicast route needs via, dev or nexthops")
	}
	if r.Onlink && !r.Via.IsValid() {
		return fail("onlink needs a gateway (via)")
	}
	for i, nh := range r.Nexthops {
		if !nh.Via.IsValid() && nh.Dev == "" {
			return fail("nexthop %d has neither via nor dev", i+1)
		}
		if err := sameFamily(nh.Via, "nexthop via"); err != nil {
			return err
		}
		if nh.Dev != "" {
			if err := checkDevName(nh.Dev); err != nil {
				return fail("nexthop %d: %v", i+1, err)
			}
		}
		if nh.Weight < 0 || nh.Weight > 256 {
			return fail("nexthop %d: weight %d out of range (1-256)", i+1, nh.Weight)
		}
		if nh.Onlink && !nh.Via.IsValid() {
			return fail("nexthop %d: onlink needs a gateway (via)", i+1)
		}
	}
	if v6 && r.TOS != 0 {
		return fail("tos applies to IPv4 routes only")
	}
	if v6 && r.Realm != 0 {
		return fail("realms apply to IPv4 routes only")
	}
	if _, err := r.scope(); err != nil {
		return err
	}
	return nil
}

// checkDevName rejects names the kernel cannot have.
func checkDevName(dev string) error {
	if dev == "" || len(dev) > 15 || strings.ContainsAny(dev, "/ \t\n:") || dev == "." || dev == ".." {
		return fmt.Errorf("invalid interface name %q", dev)
	}
	return nil
}
