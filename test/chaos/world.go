// Package chaos is a randomized, seeded, reproducible campaign against
// Vigil in network namespaces: two Vigil nodes and one keepalived node share
// VRRP instances on one bridge while a generator, driven by a seed, cuts
// links, kills and restarts daemons, reloads them with and without changes,
// loads the CPU and sprays malformed VRRP packets. After every event the
// campaign waits (bounded, polling) for the network to settle and checks
// that it ended where VRRP says it must.
//
// The pure parts are here and unit-tested without root: World (what the
// campaign believes the network is), the event generator, the expected
// masters of an instance and the invariant checker. The namespace run is in
// chaos_test.go; it needs root and keepalived, and skips without them.
package chaos

import (
	"fmt"
	"net/netip"
	"slices"
	"strings"
	"time"
)

// Kind is the implementation running on a node.
type Kind int

// The implementations on the segment.
const (
	Vigil Kind = iota
	Keepalived
)

func (k Kind) String() string {
	if k == Keepalived {
		return "keepalived"
	}
	return "vigil"
}

// Node is one VRRP node of the campaign.
type Node struct {
	Name string
	Kind Kind
	Addr netip.Addr // primary address on eth0; VRRP breaks priority ties with it
}

// InstanceSpec is what never changes about an instance during a run.
type InstanceSpec struct {
	Name      string
	VRID      int
	Version   int
	AdvertInt time.Duration
	Pass      string         // PASS authentication (VRRPv2 only); "" for none
	BaseVIP   netip.Prefix   // always configured
	ExtraVIPs []netip.Prefix // the pool VIP additions draw from
	// Route, when valid, is a virtual_routes entry "Route dev eth0": on
	// the masters only, like the addresses.
	Route netip.Prefix
	// RuleTable, when not zero, is a virtual_rules entry "from BaseVIP
	// table RuleTable preference RuleTable". Off in Default, as VMAC is.
	RuleTable int
	// VMAC puts use_vmac on the instance. Off in Default: an unchanged
	// reload restarts such an instance, and one with a rule with a
	// preference, today (issue 11); WithKnownDefects turns both on.
	VMAC bool
}

// Instance is an instance as configured at one moment of a run.
type Instance struct {
	Spec    InstanceSpec
	Present bool           // configured on every node
	Extra   []netip.Prefix // extra VIPs configured, a subset of Spec.ExtraVIPs, in pool order
	Prio    []int          // base priority per node, indexed like World.Nodes
}

// VIPs is every address the instance carries: the base one and the extras.
func (in Instance) VIPs() []netip.Prefix {
	return append([]netip.Prefix{in.Spec.BaseVIP}, in.Extra...)
}

// FaultKind is a way the network between nodes can break.
type FaultKind int

// The network faults. Wire is the only one a node notices (carrier loss);
// the others drop frames in the bridge while every link stays up.
const (
	Wire      FaultKind = iota // node A's cable pulled: carrier down
	Isolate                    // nothing to or from node A
	Egress                     // nothing from node A reaches the others
	Ingress                    // nothing from the others reaches node A
	Partition                  // nodes A and B do not hear each other; both hear the third
)

var faultNames = [...]string{"wire", "isolate", "egress", "ingress", "partition"}

func (k FaultKind) String() string { return faultNames[k] }

// Fault is one network fault in place.
type Fault struct {
	Kind FaultKind
	A, B int // nodes; B only for Partition
}

// blocks reports whether the fault stops frames from node from reaching node to.
func (f Fault) blocks(from, to int) bool {
	switch f.Kind {
	case Wire, Isolate:
		return from == f.A || to == f.A
	case Egress:
		return from == f.A
	case Ingress:
		return to == f.A
	case Partition:
		return (from == f.A && to == f.B) || (from == f.B && to == f.A)
	}
	return false
}

// World is what the campaign believes the network is: the nodes, the
// instances as configured, which daemons run and which faults are in place.
// Events change it through Apply; the checker compares it with what is
// observed.
type World struct {
	Nodes     []Node
	Instances []Instance // every instance that may exist, Present or not
	Running   []bool     // daemon running, per node
	Faults    []Fault
}

// Clone returns a deep copy.
func (w *World) Clone() *World {
	c := &World{
		Nodes:   slices.Clone(w.Nodes),
		Running: slices.Clone(w.Running),
		Faults:  slices.Clone(w.Faults),
	}
	for _, in := range w.Instances {
		in.Extra = slices.Clone(in.Extra)
		in.Prio = slices.Clone(in.Prio)
		c.Instances = append(c.Instances, in)
	}
	return c
}

// Reach reports whether adverts from node from arrive at node to.
func (w *World) Reach(from, to int) bool {
	for _, f := range w.Faults {
		if f.blocks(from, to) {
			return false
		}
	}
	return true
}

// CarrierDown reports whether node n has lost its carrier (a Wire fault):
// its instances are in FAULT and hold nothing.
func (w *World) CarrierDown(n int) bool {
	for _, f := range w.Faults {
		if f.Kind == Wire && f.A == n {
			return true
		}
	}
	return false
}

// Live reports whether node n takes part in VRRP: its daemon runs and it
// has carrier.
func (w *World) Live(n int) bool { return w.Running[n] && !w.CarrierDown(n) }

// Instance returns the instance named name, or nil.
func (w *World) Instance(name string) *Instance {
	for i := range w.Instances {
		if w.Instances[i].Spec.Name == name {
			return &w.Instances[i]
		}
	}
	return nil
}

// Masters returns the nodes that must be master of in once the network has
// settled, in node order. VRRP with preemption (the campaign never sets
// nopreempt) converges to this: going from the highest (priority, address)
// down, a live node is master unless a master above it reaches it with its
// adverts. A node that hears no better master takes over; one that hears a
// lower one keeps the role, so under partial faults several nodes may
// rightly be master at once.
func (w *World) Masters(in *Instance) []int {
	if !in.Present {
		return nil
	}
	var order []int
	for n := range w.Nodes {
		if w.Live(n) {
			order = append(order, n)
		}
	}
	slices.SortFunc(order, func(a, b int) int {
		if in.Prio[a] != in.Prio[b] {
			return in.Prio[b] - in.Prio[a]
		}
		return w.Nodes[b].Addr.Compare(w.Nodes[a].Addr)
	})
	var masters []int
	for _, n := range order {
		beaten := false
		for _, m := range masters {
			if w.Reach(m, n) {
				beaten = true
				break
			}
		}
		if !beaten {
			masters = append(masters, n)
		}
	}
	slices.Sort(masters)
	return masters
}

// Expected is what each node must carry, by item (see Items): for every
// present instance, its VIPs, route and rule on each of its masters.
func (w *World) Expected() map[string][]int {
	out := make(map[string][]int)
	for i := range w.Instances {
		in := &w.Instances[i]
		if !in.Present {
			continue
		}
		ms := w.Masters(in)
		for _, it := range in.Spec.items(in.VIPs()) {
			out[it] = slices.Clone(ms)
		}
	}
	return out
}

// Items is every item an instance may ever put on a node in this run, in a
// stable order: the checker flags any of them found where it does not
// belong. An item is "VIP <address>", "route <prefix>" or
// "rule from <address> table <n>".
func (w *World) Items() []string {
	var out []string
	for _, in := range w.Instances {
		out = append(out, in.Spec.items(append([]netip.Prefix{in.Spec.BaseVIP}, in.Spec.ExtraVIPs...))...)
	}
	return out
}

func (s InstanceSpec) items(vips []netip.Prefix) []string {
	var out []string
	for _, v := range vips {
		out = append(out, VIPItem(v.Addr()))
	}
	if s.Route.IsValid() {
		out = append(out, RouteItem(s.Route))
	}
	if s.RuleTable != 0 {
		out = append(out, RuleItem(s.BaseVIP.Addr(), s.RuleTable))
	}
	return out
}

// VIPItem, RouteItem and RuleItem name the items of Items.
func VIPItem(a netip.Addr) string            { return "VIP " + a.String() }
func RouteItem(p netip.Prefix) string        { return "route " + p.String() }
func RuleItem(from netip.Addr, t int) string { return fmt.Sprintf("rule from %s table %d", from, t) }

// MaxAdvert is the longest advert interval of the present instances.
func (w *World) MaxAdvert() time.Duration {
	var d time.Duration
	for _, in := range w.Instances {
		if in.Present && in.Spec.AdvertInt > d {
			d = in.Spec.AdvertInt
		}
	}
	return d
}

// SettleBound is how long the network may take to settle after an event:
// one master-down interval (3 × the longest advert interval plus the skew
// time, below one interval) per takeover in the chain the event can set
// off, plus a second for processes to start and packets to travel.
//
// While every live node hears every other, a chain has one link: whoever
// must become master waits out its master-down timer and the rest hear it
// at once. When two live nodes do not hear each other (a partition), a
// takeover can silence a master that only the second node heard, and
// that node then waits out its own timer: seed 1796228469122865170 starts
// a beside b under a partition a|b, a preempts keepalived after its
// master-down interval, and only then does b's timer start. Each link
// adds a node, so a chain has at most one link fewer than the live nodes.
func (w *World) SettleBound() time.Duration {
	return time.Duration(w.chainLinks())*4*w.MaxAdvert() + time.Second
}

// chainLinks is the longest chain of takeovers an event can set off: one
// while the live nodes all hear one another, else one per live node but
// the first.
func (w *World) chainLinks() int {
	var live []int
	for n := range w.Nodes {
		if w.Live(n) {
			live = append(live, n)
		}
	}
	for _, a := range live {
		for _, b := range live {
			if a != b && !w.Reach(a, b) {
				return max(len(live)-1, 1)
			}
		}
	}
	return 1
}

// Conf renders node n's keepalived.conf. Every node gets the same
// instances, VIPs and authentication; only priorities differ. All start as
// BACKUP, so priorities alone decide, and nothing uses a VMAC (see
// docs/BENCHMARKS.md, chaos campaign).
func (w *World) Conf(n int) string {
	var b strings.Builder
	fmt.Fprintf(&b, "global_defs {\n    router_id %s\n}\n", w.Nodes[n].Name)
	for _, in := range w.Instances {
		if !in.Present {
			continue
		}
		s := in.Spec
		fmt.Fprintf(&b, "vrrp_instance %s {\n", s.Name)
		b.WriteString("    state BACKUP\n    interface eth0\n")
		fmt.Fprintf(&b, "    virtual_router_id %d\n", s.VRID)
		fmt.Fprintf(&b, "    priority %d\n", in.Prio[n])
		fmt.Fprintf(&b, "    advert_int %s\n", seconds(s.AdvertInt))
		fmt.Fprintf(&b, "    version %d\n", s.Version)
		if s.VMAC {
			b.WriteString("    use_vmac\n")
		}
		if s.Pass != "" {
			fmt.Fprintf(&b, "    authentication {\n        auth_type PASS\n        auth_pass %s\n    }\n", s.Pass)
		}
		b.WriteString("    virtual_ipaddress {\n")
		for _, v := range in.VIPs() {
			fmt.Fprintf(&b, "        %s\n", v)
		}
		b.WriteString("    }\n")
		if s.Route.IsValid() {
			fmt.Fprintf(&b, "    virtual_routes {\n        %s dev eth0\n    }\n", s.Route)
		}
		if s.RuleTable != 0 {
			fmt.Fprintf(&b, "    virtual_rules {\n        from %s table %d preference %d\n    }\n", s.BaseVIP.Addr(), s.RuleTable, s.RuleTable)
		}
		b.WriteString("}\n")
	}
	return b.String()
}

// seconds writes d as keepalived.conf writes intervals: seconds, with a
// fraction only when needed.
func seconds(d time.Duration) string {
	if d%time.Second == 0 {
		return fmt.Sprint(int64(d / time.Second))
	}
	return strings.TrimRight(fmt.Sprintf("%.3f", d.Seconds()), "0")
}

// Default is the campaign's starting world: vigil nodes a and b, keepalived
// node k, and three instances: VI_1 (VRRPv2, PASS, 1 s adverts, the
// shortest VRRPv2 allows), VI_2 (VRRPv3, 10 ms) and VI_3 (VRRPv3, 100 ms),
// the last one removed and added again by reload events. Priorities are
// spread so that each node is master of something.
func Default() *World {
	p := netip.MustParsePrefix
	a := netip.MustParseAddr
	extras := func(base int) []netip.Prefix {
		var out []netip.Prefix
		for i := 1; i <= 4; i++ {
			out = append(out, p(fmt.Sprintf("10.77.0.%d/24", base+i)))
		}
		return out
	}
	return &World{
		Nodes: []Node{
			{Name: "a", Kind: Vigil, Addr: a("10.77.0.2")},
			{Name: "b", Kind: Vigil, Addr: a("10.77.0.3")},
			{Name: "k", Kind: Keepalived, Addr: a("10.77.0.4")},
		},
		Instances: []Instance{
			{Spec: InstanceSpec{Name: "VI_1", VRID: 51, Version: 2, AdvertInt: time.Second, Pass: "chaos1",
				BaseVIP: p("10.77.0.101/24"), ExtraVIPs: extras(110), Route: p("10.78.1.0/24")}, Present: true, Prio: []int{150, 100, 120}},
			{Spec: InstanceSpec{Name: "VI_2", VRID: 52, Version: 3, AdvertInt: 10 * time.Millisecond,
				BaseVIP: p("10.77.0.102/24"), ExtraVIPs: extras(120)}, Present: true, Prio: []int{100, 150, 120}},
			{Spec: InstanceSpec{Name: "VI_3", VRID: 53, Version: 3, AdvertInt: 100 * time.Millisecond,
				BaseVIP: p("10.77.0.103/24"), ExtraVIPs: extras(130), Route: p("10.78.3.0/24")}, Present: true, Prio: []int{110, 90, 130}},
		},
		Running: []bool{true, true, true},
	}
}

// WithKnownDefects adds to w what the reload of today restarts although
// the file did not change (issue 11): use_vmac on VI_3 and a virtual_rules
// entry with a preference on VI_1. The campaign runs with them when asked
// (-chaos.known), to show that it catches the defect, and by default once
// it is fixed.
func WithKnownDefects(w *World) *World {
	if in := w.Instance("VI_1"); in != nil {
		in.Spec.RuleTable = 101
	}
	if in := w.Instance("VI_3"); in != nil {
		in.Spec.VMAC = true
	}
	return w
}
