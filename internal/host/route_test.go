package host

import (
	"errors"
	"fmt"
	"net"
	"net/netip"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"golang.org/x/sys/unix"
)

func mustPrefix(s string) netip.Prefix { return netip.MustParsePrefix(s) }
func mustAddr(s string) netip.Addr     { return netip.MustParseAddr(s) }

func TestRouteValidate(t *testing.T) {
	tests := []struct {
		name string
		r    Route
		err  string // substring; empty for valid
	}{
		{"device route", Route{Dst: mustPrefix("10.0.0.0/24"), Dev: "eth0"}, ""},
		{"gateway", Route{Dst: mustPrefix("0.0.0.0/0"), Via: mustAddr("10.0.0.1")}, ""},
		{"blackhole", Route{Dst: mustPrefix("10.1.0.0/16"), Type: "blackhole"}, ""},
		{"v6 multipath", Route{Dst: mustPrefix("fd00:1::/64"), Nexthops: []Nexthop{{Via: mustAddr("fd00::1")}, {Dev: "eth1", Weight: 3}}}, ""},
		{"no destination", Route{Dev: "eth0"}, "missing destination"},
		{"host bits", Route{Dst: mustPrefix("10.0.0.1/24"), Dev: "eth0"}, "host bits"},
		{"mixed family", Route{Dst: mustPrefix("10.0.0.0/24"), Via: mustAddr("fd00::1")}, "another family"},
		{"bad type", Route{Dst: mustPrefix("10.0.0.0/24"), Type: "nat", Dev: "eth0"}, "unknown route type"},
		{"blackhole via", Route{Dst: mustPrefix("10.0.0.0/24"), Type: "blackhole", Via: mustAddr("10.0.0.1")}, "no gateway"},
		{"no next hop", Route{Dst: mustPrefix("10.0.0.0/24")}, "needs via, dev or nexthops"},
		{"via and nexthops", Route{Dst: mustPrefix("10.0.0.0/24"), Via: mustAddr("10.0.0.1"), Nexthops: []Nexthop{{Dev: "eth0"}}}, "not both"},
		{"empty nexthop", Route{Dst: mustPrefix("10.0.0.0/24"), Nexthops: []Nexthop{{}}}, "neither via nor dev"},
		{"weight", Route{Dst: mustPrefix("10.0.0.0/24"), Nexthops: []Nexthop{{Dev: "eth0", Weight: 300}}}, "weight"},
		{"v6 tos", Route{Dst: mustPrefix("fd00::/64"), Dev: "eth0", TOS: 4}, "IPv4 routes only"},
		{"bad scope", Route{Dst: mustPrefix("10.0.0.0/24"), Dev: "eth0", Scope: "galaxy"}, "invalid scope"},
		{"bad dev", Route{Dst: mustPrefix("10.0.0.0/24"), Dev: "a/b"}, "invalid interface name"},
		{"onlink without via", Route{Dst: mustPrefix("10.0.0.0/24"), Dev: "eth0", Onlink: true}, "onlink"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := tt.r.Validate()
			if tt.err == "" {
				if err != nil {
					t.Fatalf("Validate: %v", err)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tt.err) {
				t.Fatalf("Validate = %v, want error containing %q", err, tt.err)
			}
		})
	}
}

func TestRouteDefaults(t *testing.T) {
	tests := []struct {
		r            Route
		table        uint32
		scope        uint8
		metric       uint32
		protocol     uint8
		keyDiffersOn func(Route) Route
	}{
		{Route{Dst: mustPrefix("10.0.0.0/24"), Dev: "eth0"}, tableMain, 253, 0, 3, nil},
		{Route{Dst: mustPrefix("10.0.0.0/24"), Via: mustAddr("10.1.0.1")}, tableMain, 0, 0, 3, nil},
		{Route{Dst: mustPrefix("10.0.0.1/32"), Type: "local", Dev: "lo"}, tableLocal, 254, 0, 3, nil},
		{Route{Dst: mustPrefix("fd00::/64"), Dev: "eth0", Table: 7, Protocol: 18}, 7, 0, 1024, 18, nil},
		{Route{Dst: mustPrefix("10.0.0.0/24"), Dev: "eth0", Scope: "host", Metric: 5}, tableMain, 254, 5, 3, nil},
	}
	for _, tt := range tests {
		sc, err := tt.r.scope()
		if err != nil {
			t.Fatal(err)
		}
		if tt.r.table() != tt.table || sc != tt.scope || tt.r.metric() != tt.metric || tt.r.protocol() != tt.protocol {
			t.Errorf("%s: table %d scope %d metric %d proto %d; want %d %d %d %d", tt.r,
				tt.r.table(), sc, tt.r.metric(), tt.r.protocol(), tt.table, tt.scope, tt.metric, tt.protocol)
		}
	}
	// The key is the kernel's: a different gateway is the same route
	// unless appended.
	a := Route{Dst: mustPrefix("10.0.0.0/24"), Via: mustAddr("10.1.0.1")}
	b := Route{Dst: mustPrefix("10.0.0.0/24"), Via: mustAddr("10.1.0.2")}
	if a.key() != b.key() {
		t.Errorf("keys differ for the same destination: %q %q", a.key(), b.key())
	}
	a.Append, b.Append = true, true
	if a.key() == b.key() {
		t.Errorf("appended routes share a key: %q", a.key())
	}
	c := Route{Dst: mustPrefix("10.0.0.0/24"), Via: mustAddr("10.1.0.1"), Metric: 9}
	if c.key() == (Route{Dst: mustPrefix("10.0.0.0/24"), Via: mustAddr("10.1.0.1")}).key() {
		t.Error("metric is not part of the key")
	}
}

func TestRuleValidate(t *testing.T) {
	neg, big := -1, 200
	tests := []struct {
		name string
		r    Rule
		err  string
	}{
		{"table", Rule{Family: 4, From: mustPrefix("10.0.0.0/8"), Action: "table", Table: 100}, ""},
		{"v6 blackhole", Rule{Family: 6, To: mustPrefix("fd00::/8"), Action: "blackhole"}, ""},
		{"goto", Rule{Family: 4, Priority: u32(10), Action: "goto", Goto: 20}, ""},
		{"family", Rule{Family: 5, Action: "nop"}, "family"},
		{"mixed", Rule{Family: 4, From: mustPrefix("fd00::/8"), Action: "nop"}, "not of family 4"},
		{"host bits", Rule{Family: 4, From: mustPrefix("10.0.0.1/8"), Action: "nop"}, "host bits"},
		{"no action", Rule{Family: 4}, "unknown action"},
		{"table without table", Rule{Family: 4, Action: "table"}, "needs a table"},
		{"table with blackhole", Rule{Family: 4, Action: "blackhole", Table: 5}, "only valid with action table"},
		{"goto backwards", Rule{Family: 4, Priority: u32(10), Action: "goto", Goto: 5}, "forward"},
		{"suppress on nop", Rule{Family: 4, Action: "nop", SuppressPrefixLength: &big}, "action table only"},
		{"suppress range", Rule{Family: 4, Action: "table", Table: 5, SuppressPrefixLength: &neg}, "out of range"},
		{"v6 realms", Rule{Family: 6, Action: "nop", Realm: 1}, "IPv4 rules only"},
		{"ports", Rule{Family: 4, Action: "nop", DPort: &Range{90, 80}}, "empty"},
		{"port range", Rule{Family: 4, Action: "nop", SPort: &Range{1, 70000}}, "out of range"},
		{"iif", Rule{Family: 4, Action: "nop", IIF: "bad name"}, "invalid interface"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := tt.r.Validate()
			if tt.err == "" {
				if err != nil {
					t.Fatalf("Validate: %v", err)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tt.err) {
				t.Fatalf("Validate = %v, want error containing %q", err, tt.err)
			}
		})
	}
	// Rules differing in any selector are different rules.
	a := Rule{Family: 4, From: mustPrefix("10.0.0.0/8"), Action: "table", Table: 100}
	b := a
	b.FWMark = 1
	if a.key() == b.key() {
		t.Errorf("same key %q for different rules", a.key())
	}
}

func TestToNetlinkRule(t *testing.T) {
	sp := 8
	r := Rule{Family: 6, Priority: u32(7), Not: true, From: mustPrefix("fd00::/16"), Action: "table", Table: 300, SuppressPrefixLength: &sp}
	if _, err := toNetlinkRule(r); err == nil || !strings.Contains(err.Error(), "above 255") {
		t.Errorf("suppress_prefixlength with table 300: %v, want an error (the library would drop it)", err)
	}
	r.Table = 100
	nr, err := toNetlinkRule(r)
	if err != nil {
		t.Fatal(err)
	}
	if nr.Family != unix.AF_INET6 || nr.Priority != 7 || !nr.Invert || nr.Table != 100 || nr.SuppressPrefixlen != 8 || nr.Src.String() != "fd00::/16" || nr.Goto != -1 {
		t.Errorf("netlink rule %+v", nr)
	}
	bh, err := toNetlinkRule(Rule{Family: 4, Action: "prohibit"})
	if err != nil {
		t.Fatal(err)
	}
	if bh.Type != 8 || bh.Priority != -1 || bh.Table != 0 {
		t.Errorf("prohibit rule %+v", bh)
	}
}

func TestNames(t *testing.T) {
	dir := t.TempDir()
	must := func(err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
	}
	must(os.MkdirAll(filepath.Join(dir, "rt_tables.d"), 0o755))
	must(os.WriteFile(filepath.Join(dir, "rt_tables"), []byte("# comment\n255 local\n100\tisp1 # trailing\nbad line\n"), 0o644))
	must(os.WriteFile(filepath.Join(dir, "rt_tables.d", "x.conf"), []byte("0x200 isp2\n"), 0o644))
	must(os.WriteFile(filepath.Join(dir, "rt_tables.d", "ignored.txt"), []byte("300 isp3\n"), 0o644))
	must(os.WriteFile(filepath.Join(dir, "rt_protos"), []byte("42 babel\n"), 0o644))
	must(os.WriteFile(filepath.Join(dir, "rt_dsfield"), []byte("0x28 AF11\n"), 0o644))
	must(os.WriteFile(filepath.Join(dir, "rt_realms"), []byte("5 cosmos\n"), 0o644))
	old := iproute2Dirs
	iproute2Dirs = []string{dir}
	t.Cleanup(func() { iproute2Dirs = old })

	tables := []struct {
		in   string
		want uint32
		err  bool
	}{
		{"main", 254, false}, {"local", 255, false}, {"default", 253, false}, {"100", 100, false},
		{"isp1", 100, false}, {"isp2", 0x200, false}, {"isp3", 0, true}, {"0", 0, true},
		{"unspec", 0, true}, {"4294967295", 4294967295, false}, {"4294967296", 0, true}, {"", 0, true},
	}
	for _, tt := range tables {
		got, err := ParseTable(tt.in)
		if (err != nil) != tt.err || got != tt.want {
			t.Errorf("ParseTable(%q) = %d, %v; want %d, error %v", tt.in, got, err, tt.want, tt.err)
		}
	}
	if v, err := ParseProtocol("keepalived"); err != nil || v != 18 {
		t.Errorf("ParseProtocol(keepalived) = %d, %v", v, err)
	}
	if v, err := ParseProtocol("babel"); err != nil || v != 42 {
		t.Errorf("ParseProtocol(babel) = %d, %v", v, err)
	}
	if _, err := ParseProtocol("256"); err == nil {
		t.Error("protocol 256 accepted")
	}
	if v, err := ParseDSField("AF11"); err != nil || v != 0x28 {
		t.Errorf("ParseDSField(AF11) = %d, %v", v, err)
	}
	if v, err := ParseRealms("cosmos/7"); err != nil || v != 5<<16|7 {
		t.Errorf("ParseRealms(cosmos/7) = %#x, %v", v, err)
	}
	if v, err := ParseRealms("9"); err != nil || v != 9 {
		t.Errorf("ParseRealms(9) = %d, %v", v, err)
	}
	if _, err := ParseRealms("70000"); err == nil {
		t.Error("realm 70000 accepted")
	}
}

// fakeHost is an in-memory kernel for routes, rules and links, on top of
// fakeKernel's addresses.
type fakeHost struct {
	*fakeKernel
	routes  map[string]Route // by key; the kernel's one route per key
	rules   []Rule
	links   map[string]linkInfo
	sysctls map[string]string
	setups  []string
}

func newFakeHost(devs ...string) *fakeHost {
	n := &fakeHost{fakeKernel: newFakeKernel(devs...), routes: map[string]Route{},
		links: map[string]linkInfo{}, sysctls: map[string]string{}}
	for _, d := range devs {
		n.links[d] = linkInfo{Kind: "veth", MAC: net.HardwareAddr{2, 0, 0, 0, 0, 1}}
		n.sysctls[arpIgnoreKey(d)] = "0"
		n.sysctls[arpFilterKey(d)] = "0"
		n.sysctls[arpAnnounceKey(d)] = "0"
	}
	return n
}

func (n *fakeHost) devOK(devs ...string) error {
	for _, d := range devs {
		if _, ok := n.links[d]; d != "" && !ok {
			return fmt.Errorf("interface %s: %w", d, unix.ENODEV)
		}
	}
	return nil
}

func (n *fakeHost) addRoute(r Route) error {
	n.calls = append(n.calls, "add route "+r.String())
	if err := n.fail["route"]; err != nil {
		return err
	}
	if err := n.devOK(r.Dev); err != nil {
		return err
	}
	if _, ok := n.routes[r.key()]; ok {
		return unix.EEXIST
	}
	n.routes[r.key()] = r
	return nil
}

func (n *fakeHost) delRoute(r Route) error {
	n.calls = append(n.calls, "del route "+r.String())
	if err := n.fail["route"]; err != nil {
		return err
	}
	if err := n.devOK(r.Dev); err != nil {
		return err
	}
	have, ok := n.routes[r.key()]
	if !ok || !sameFakeRoute(have, r) {
		return unix.ESRCH
	}
	delete(n.routes, r.key())
	return nil
}

func sameFakeRoute(a, b Route) bool {
	return a.String() == b.String() && slices.Equal(a.Nexthops, b.Nexthops)
}

func (n *fakeHost) findRoute(r Route) (bool, bool, error) {
	if err := n.devOK(r.Dev); err != nil {
		return false, false, err
	}
	have, ok := n.routes[r.key()]
	return ok, ok && sameFakeRoute(have, r), nil
}

func (n *fakeHost) addRule(r Rule) error {
	n.calls = append(n.calls, "add rule "+r.String())
	if slices.ContainsFunc(n.rules, func(o Rule) bool { return o.key() == r.key() }) {
		return unix.EEXIST
	}
	n.rules = append(n.rules, r)
	return nil
}

func (n *fakeHost) delRule(r Rule) error {
	n.calls = append(n.calls, "del rule "+r.String())
	i := slices.IndexFunc(n.rules, func(o Rule) bool { return o.key() == r.key() })
	if i < 0 {
		return unix.ENOENT
	}
	n.rules = slices.Delete(n.rules, i, i+1)
	return nil
}

func (n *fakeHost) hasRule(r Rule) (bool, error) {
	return slices.ContainsFunc(n.rules, func(o Rule) bool { return o.key() == r.key() }), nil
}

func (n *fakeHost) linkInfo(name string) (linkInfo, error) {
	li, ok := n.links[name]
	if !ok {
		return linkInfo{}, fmt.Errorf("interface %s: %w", name, unix.ENODEV)
	}
	return li, nil
}

func (n *fakeHost) addMacvlan(name, base string, mac net.HardwareAddr) error {
	n.calls = append(n.calls, "add link "+name)
	if _, ok := n.links[name]; ok {
		return unix.EEXIST
	}
	if err := n.devOK(base); err != nil {
		return err
	}
	n.links[name] = linkInfo{Kind: "macvlan", Parent: base, MAC: mac}
	return nil
}

func (n *fakeHost) delLink(name string) error {
	n.calls = append(n.calls, "del link "+name)
	if _, ok := n.links[name]; !ok {
		return fmt.Errorf("interface %s: %w", name, unix.ENODEV)
	}
	delete(n.links, name)
	return nil
}

func (n *fakeHost) setupVMAC(v VMAC) error {
	if err := n.fail["setup"]; err != nil {
		return err
	}
	n.setups = append(n.setups, v.name())
	return nil
}

func (n *fakeHost) readSysctl(key string) (string, error) {
	v, ok := n.sysctls[key]
	if !ok {
		return "", fmt.Errorf("sysctl %s: %w", key, unix.ENOENT)
	}
	return v, nil
}

func (n *fakeHost) writeSysctl(key, value string) error {
	if _, ok := n.sysctls[key]; !ok {
		return fmt.Errorf("sysctl %s: %w", key, unix.ENOENT)
	}
	n.sysctls[key] = value
	return nil
}

func TestManagerRoutes(t *testing.T) {
	state := filepath.Join(t.TempDir(), "s.json")
	k := newFakeHost("eth0")
	m, err := newManager(state, nil, k)
	if err != nil {
		t.Fatal(err)
	}
	r1 := Route{Dst: mustPrefix("10.1.0.0/24"), Via: mustAddr("10.0.0.1"), Dev: "eth0", Protocol: 18}
	r2 := Route{Dst: mustPrefix("10.2.0.0/24"), Type: "blackhole"}
	rule := Rule{Family: 4, Priority: u32(100), From: mustPrefix("10.1.0.0/24"), Action: "table", Table: 100}
	for _, r := range []Route{r1, r2, r1} {
		if err := m.AddRoute(r); err != nil {
			t.Fatalf("AddRoute(%s): %v", r, err)
		}
	}
	if err := errors.Join(m.AddRule(rule), m.AddRule(rule)); err != nil {
		t.Fatal(err)
	}
	st, err := readState(state)
	if err != nil {
		t.Fatal(err)
	}
	if len(st.Routes) != 2 || len(st.Rules) != 1 || !slices.Equal(st.Routes[1].Nexthops, r2.Nexthops) || st.Routes[0].String() != r1.String() {
		t.Fatalf("state: %+v", st)
	}
	// A different route under the same key: an error, nothing recorded.
	other := Route{Dst: mustPrefix("10.1.0.0/24"), Via: mustAddr("10.0.0.2"), Dev: "eth0", Protocol: 18}
	if err := m.AddRoute(other); err == nil || !errors.Is(err, unix.EEXIST) {
		t.Errorf("conflicting AddRoute = %v", err)
	}
	// Someone else's identical route: accepted, never removed by us.
	foreign := Route{Dst: mustPrefix("10.3.0.0/24"), Dev: "eth0"}
	k.routes[foreign.key()] = foreign
	if err := m.AddRoute(foreign); err != nil {
		t.Fatal(err)
	}
	if len(m.OwnedRoutes()) != 2 {
		t.Errorf("owned %v", m.OwnedRoutes())
	}
	// Bad input fails before the kernel is called.
	k.calls = nil
	if err := m.AddRoute(Route{Dst: mustPrefix("10.0.0.1/24"), Dev: "eth0"}); err == nil {
		t.Error("route with host bits accepted")
	}
	if err := m.AddRule(Rule{Family: 4, Action: "table"}); err == nil {
		t.Error("rule without table accepted")
	}
	if len(k.calls) != 0 {
		t.Errorf("kernel called for bad input: %v", k.calls)
	}
	// RemoveAll: rules first, then routes newest first.
	if err := m.RemoveAll(); err != nil {
		t.Fatal(err)
	}
	want := []string{"del rule " + rule.String(), "del route " + r2.String(), "del route " + r1.String()}
	if !slices.Equal(k.calls, want) {
		t.Errorf("calls %v, want %v", k.calls, want)
	}
	if len(k.routes) != 1 || len(k.rules) != 0 {
		t.Errorf("left in kernel: %v %v (want only the foreign route)", k.routes, k.rules)
	}
	st, _ = readState(state)
	if len(st.Routes)+len(st.Rules) != 0 {
		t.Errorf("state after RemoveAll: %+v", st)
	}
}

func TestManagerRouteFailures(t *testing.T) {
	state := filepath.Join(t.TempDir(), "s.json")
	k := newFakeHost("eth0")
	m, _ := newManager(state, nil, k)
	r := Route{Dst: mustPrefix("10.1.0.0/24"), Dev: "eth0"}
	if err := m.AddRoute(r); err != nil {
		t.Fatal(err)
	}
	k.fail["route"] = unix.EPERM
	if err := m.RemoveRoute(r); !errors.Is(err, unix.EPERM) {
		t.Fatalf("RemoveRoute = %v", err)
	}
	if st, _ := readState(state); len(st.Routes) != 1 {
		t.Fatal("failed removal dropped the record")
	}
	delete(k.fail, "route")
	// The state file cannot be written: the route is taken back out.
	dir := filepath.Join(t.TempDir(), "d")
	m2, _ := newManager(filepath.Join(dir, "s.json"), nil, k)
	if err := os.WriteFile(dir, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	r2 := Route{Dst: mustPrefix("10.2.0.0/24"), Dev: "eth0"}
	if err := m2.AddRoute(r2); err == nil {
		t.Fatal("AddRoute without a state file succeeded")
	}
	if _, ok := k.routes[r2.key()]; ok {
		t.Error("route left after rollback")
	}
	// Unknown device.
	if err := m.AddRoute(Route{Dst: mustPrefix("10.4.0.0/24"), Dev: "eth9"}); !errors.Is(err, unix.ENODEV) {
		t.Errorf("AddRoute on a missing device = %v", err)
	}
}

func TestManagerRoutesCleanupStale(t *testing.T) {
	state := filepath.Join(t.TempDir(), "s.json")
	k := newFakeHost("eth0", "eth1")
	crashed, _ := newManager(state, nil, k)
	kept := Route{Dst: mustPrefix("10.1.0.0/24"), Dev: "eth0"}
	stale := Route{Dst: mustPrefix("10.2.0.0/24"), Dev: "eth0"}
	replaced := Route{Dst: mustPrefix("10.3.0.0/24"), Via: mustAddr("10.0.0.1"), Dev: "eth0"}
	devGone := Route{Dst: mustPrefix("10.4.0.0/24"), Dev: "eth1"}
	rule := Rule{Family: 4, Priority: u32(5), Action: "blackhole"}
	for _, r := range []Route{kept, stale, replaced, devGone} {
		if err := crashed.AddRoute(r); err != nil {
			t.Fatal(err)
		}
	}
	if err := crashed.AddRule(rule); err != nil {
		t.Fatal(err)
	}
	// Since then an operator replaced one route, and eth1 vanished.
	mine := replaced
	mine.Via = mustAddr("10.0.0.9")
	k.routes[replaced.key()] = mine
	delete(k.links, "eth1")

	next, err := newManager(state, nil, k)
	if err != nil {
		t.Fatal(err)
	}
	if err := next.AddRoute(kept); err != nil {
		t.Fatal(err)
	}
	if _, err := next.CleanupStale(); err != nil {
		t.Fatal(err)
	}
	if _, ok := k.routes[stale.key()]; ok {
		t.Error("stale route not removed")
	}
	if got := k.routes[replaced.key()]; got.Via != mine.Via {
		t.Error("the operator's replacement route was removed")
	}
	if _, ok := k.routes[kept.key()]; !ok {
		t.Error("route adopted by this run was removed")
	}
	if len(k.rules) != 0 {
		t.Error("stale rule not removed")
	}
	st, _ := readState(state)
	if len(st.Routes) != 1 || st.Routes[0].String() != kept.String() || len(st.Rules) != 0 {
		t.Errorf("state after cleanup: %+v", st)
	}
}

// FuzzReadState feeds arbitrary state files to readState: it must never
// panic, and whatever it accepts must survive a write and read back.
func FuzzReadState(f *testing.F) {
	f.Add(`{"version":1,"addresses":[{"prefix":"10.0.0.1/24","dev":"eth0"}]}`)
	f.Add(`{"version":1,"addresses":[],"routes":[{"to":"10.1.0.0/24","dev":"eth0","table":100,"nexthops":[{"via":"10.0.0.1"}]}],` +
		`"rules":[{"family":4,"preference":5,"from":"10.0.0.0/8","action":"table","table":7,"sport":{"start":1,"end":2}}],` +
		`"vmacs":[{"name":"vrrp.1","base":"eth0","vrid":1,"mac":"00:00:5e:00:01:01"}],"base_conf":[{"dev":"eth0","arp_ignore":"0","arp_filter":"0"}]}`)
	f.Add(`{"version":1,"routes":[{"to":"10.1.0.1/24"}]}`)
	f.Add(`{"version":2}`)
	f.Add(`not json`)
	f.Fuzz(func(t *testing.T, data string) {
		path := filepath.Join(t.TempDir(), "s.json")
		if err := os.WriteFile(path, []byte(data), 0o644); err != nil {
			t.Fatal(err)
		}
		st, err := readState(path)
		if err != nil {
			return
		}
		if err := writeState(path, st); err != nil {
			t.Fatal(err)
		}
		again, err := readState(path)
		if err != nil {
			t.Fatalf("accepted state does not read back: %v", err)
		}
		if len(again.Routes) != len(st.Routes) || len(again.Rules) != len(st.Rules) || len(again.VMACs) != len(st.VMACs) {
			t.Fatalf("round trip changed the state: %+v -> %+v", st, again)
		}
	})
}
