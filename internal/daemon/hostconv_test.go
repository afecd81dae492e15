package daemon

import (
	"net/netip"
	"reflect"
	"slices"
	"strings"
	"testing"

	"vigil/internal/config"
	"vigil/internal/host"
)

// loadHostConf parses a keepalived.conf and fails the test on errors.
func loadHostConf(t *testing.T, text string) *config.Config {
	t.Helper()
	cfg, diags := config.LoadBytes("test.conf", []byte(text), config.LoadOptions{})
	if diags.HasErrors() {
		t.Fatalf("config errors:\n%s", diags)
	}
	return cfg
}

func u32p(v uint32) *uint32 { return &v }

func TestHostRoute(t *testing.T) {
	cfg := loadHostConf(t, `
static_routes {
	10.1.0.0/16 via 10.0.0.1 dev eth0 metric 5 table 100 no_track
	blackhole 10.2.0.0/16 no_track
	fd00:1::/64 via fd00::1 dev eth0 mtu lock 1400 rtt 10ms rttvar 3 advmss 1360 no_track
	10.3.0.0/24 dev eth0 src 10.0.0.2 scope link tos 0x10 protocol static realms 1/2 no_track
	10.4.0.0/24 dev eth0
	10.5.0.0/24 no_track nexthop via 10.0.0.1 dev eth0 weight 2 nexthop via 10.0.0.3 dev eth1 onlink
	0.0.0.0/0 via 10.0.0.1 table main no_track
}
`)
	p, a := netip.MustParsePrefix, netip.MustParseAddr
	want := []host.Route{
		{Dst: p("10.1.0.0/16"), Via: a("10.0.0.1"), Dev: "eth0", Metric: 5, Table: 100},
		{Dst: p("10.2.0.0/16"), Type: "blackhole"},
		{Dst: p("fd00:1::/64"), Via: a("fd00::1"), Dev: "eth0",
			Metrics: host.RouteMetrics{MTU: 1400, MTULock: true, RTT: 80, RTTVar: 3, AdvMSS: 1360}},
		{Dst: p("10.3.0.0/24"), Dev: "eth0", Src: a("10.0.0.2"), Scope: "link", TOS: 0x10, Protocol: 4, Realm: 1<<16 | 2},
		{Dst: p("10.4.0.0/24"), Dev: "eth0", Protocol: 18}, // tracked: protocol keepalived
		{Dst: p("10.5.0.0/24"), Nexthops: []host.Nexthop{
			{Via: a("10.0.0.1"), Dev: "eth0", Weight: 2}, {Via: a("10.0.0.3"), Dev: "eth1", Onlink: true}}},
		{Dst: p("0.0.0.0/0"), Via: a("10.0.0.1"), Table: 254},
	}
	if len(cfg.StaticRoutes) != len(want) {
		t.Fatalf("%d routes parsed, want %d", len(cfg.StaticRoutes), len(want))
	}
	for i, r := range cfg.StaticRoutes {
		got, err := hostRoute(r)
		if err != nil {
			t.Errorf("route %d: %v", i, err)
			continue
		}
		if !reflect.DeepEqual(got, want[i]) {
			t.Errorf("route %d:\n got %+v\nwant %+v", i, got, want[i])
		}
	}
}

func TestHostRouteUnsupported(t *testing.T) {
	tests := []struct {
		r   config.Route
		err string
	}{
		{config.Route{Dst: netip.MustParsePrefix("fd00::/64"), Family: config.FamilyIPv6, Dev: "eth0", From: netip.MustParsePrefix("fd01::/64")}, "from"},
		{config.Route{Dst: netip.MustParsePrefix("fd00::/64"), Family: config.FamilyIPv6, Dev: "eth0", Pref: "high"}, "pref"},
		{config.Route{Dst: netip.MustParsePrefix("10.0.0.0/8"), Family: config.FamilyIPv4, Dev: "eth0", Encap: []string{"mpls", "100"}}, "encap"},
		{config.Route{Dst: netip.MustParsePrefix("10.0.0.0/8"), Family: config.FamilyIPv4, Dev: "eth0", VRF: "blue"}, "vrf"},
		{config.Route{Dst: netip.MustParsePrefix("10.0.0.0/8"), Family: config.FamilyIPv4, Dev: "eth0", Locked: []string{"cwnd"}, Metrics: map[string]string{"cwnd": "10"}}, "lock on cwnd"},
		{config.Route{Dst: netip.MustParsePrefix("10.0.0.0/8"), Family: config.FamilyIPv4, Dev: "eth0", Table: "nonesuch"}, "table"},
		{config.Route{Dst: netip.MustParsePrefix("10.0.0.0/8"), Family: config.FamilyIPv4, Dev: "eth0", Metrics: map[string]string{"rtt": "1.5"}}, "whole number"},
		{config.Route{Dst: netip.MustParsePrefix("10.0.0.0/8"), Family: config.FamilyIPv4, Nexthops: []config.Nexthop{{Dev: "eth0", Realms: "3"}}}, "realms on a nexthop"},
		{config.Route{Dst: netip.MustParsePrefix("10.0.0.0/8"), Family: config.FamilyIPv4}, "needs via, dev or nexthops"},
		{config.Route{Dst: netip.MustParsePrefix("10.0.0.0/8"), Family: config.FamilyIPv4, Type: "nat", Dev: "eth0"}, "unknown route type"},
	}
	for _, tt := range tests {
		tt.r.Pos = config.Pos{File: "k.conf", Line: 7}
		_, err := hostRoute(&tt.r)
		if err == nil || !strings.Contains(err.Error(), tt.err) || !strings.HasPrefix(err.Error(), "k.conf:7: ") {
			t.Errorf("hostRoute(%+v) = %v, want an error at k.conf:7 about %q", tt.r, err, tt.err)
		}
	}
}

func TestRTTValue(t *testing.T) {
	tests := []struct {
		in    string
		scale uint32
		want  uint32
		err   bool
	}{
		{"10", 8, 10, false}, {"10ms", 8, 80, false}, {"2s", 4, 8000, false}, {"500us", 8, 4, false},
		{"1.5", 8, 0, true}, {"x", 1, 0, true}, {"-1ms", 1, 0, true}, {"5000000s", 8, 0, true},
	}
	for _, tt := range tests {
		got, err := rttValue(tt.in, tt.scale)
		if (err != nil) != tt.err || got != tt.want {
			t.Errorf("rttValue(%q, %d) = %d, %v", tt.in, tt.scale, got, err)
		}
	}
}

func TestHostRule(t *testing.T) {
	cfg := loadHostConf(t, `
static_rules {
	from 10.1.0.0/16 table 100 preference 100
	to fd00::/16 blackhole preference 101
	fwmark 0x10/0xff lookup main preference 102
	fwmark 0 table 5 preference 103
	not iif eth0 oif eth1 goto 200 preference 104
	ipproto tcp sport 1000-2000 dport 80-80 uidrange 10-20 table 7 preference 105
	from 10.2.0.0/16 table 7 suppress_prefixlength 0 suppress_ifgroup default protocol static tos 0x04 realms 3 preference 106
}
`)
	p := netip.MustParsePrefix
	zero, allOnes, ff := 0, ^uint32(0), uint32(0xff)
	want := []host.Rule{
		{Family: 4, Priority: u32p(100), From: p("10.1.0.0/16"), Action: "table", Table: 100},
		{Family: 6, Priority: u32p(101), To: p("fd00::/16"), Action: "blackhole"},
		{Family: 4, Priority: u32p(102), FWMark: 0x10, FWMask: &ff, Action: "table", Table: 254},
		{Family: 4, Priority: u32p(103), FWMask: &allOnes, Action: "table", Table: 5},
		{Family: 4, Priority: u32p(104), Not: true, IIF: "eth0", OIF: "eth1", Action: "goto", Goto: 200},
		{Family: 4, Priority: u32p(105), IPProto: 6, SPort: &host.Range{Start: 1000, End: 2000}, DPort: &host.Range{Start: 80, End: 80},
			UIDRange: &host.Range{Start: 10, End: 20}, Action: "table", Table: 7},
		{Family: 4, Priority: u32p(106), From: p("10.2.0.0/16"), Action: "table", Table: 7, SuppressPrefixLength: &zero,
			SuppressIfGroup: u32p(0), Protocol: 4, TOS: 4, Realm: 3},
	}
	if len(cfg.StaticRules) != len(want) {
		t.Fatalf("%d rules parsed, want %d", len(cfg.StaticRules), len(want))
	}
	for i, r := range cfg.StaticRules {
		got, err := hostRule(r)
		if err != nil {
			t.Errorf("rule %d: %v", i, err)
			continue
		}
		if got.String() != want[i].String() || !reflect.DeepEqual(got, want[i]) {
			t.Errorf("rule %d:\n got %s %+v\nwant %s %+v", i, got, got, want[i], want[i])
		}
	}
	bad := []struct {
		r   config.Rule
		err string
	}{
		{config.Rule{Family: config.FamilyIPv4, Action: "table", Table: "1", TunnelID: func() *uint64 { v := uint64(1); return &v }()}, "tunnel-id"},
		{config.Rule{Family: config.FamilyIPv4, Action: "table", L3MDev: true}, "l3mdev"},
		{config.Rule{Family: config.FamilyIPv4, Action: "table", Table: "1", IPProto: "bogus"}, "ipproto"},
		{config.Rule{Family: config.FamilyIPv4, Action: "table", Table: "1", FWMark: "x"}, "fwmark"},
		{config.Rule{Family: config.FamilyIPv4, Action: "table", Table: "1", SuppressIfGroup: "admins"}, "suppress_ifgroup"},
		{config.Rule{Family: config.FamilyIPv4, Action: "goto", Goto: u32p(5), Priority: u32p(10)}, "forward"},
	}
	for _, tt := range bad {
		if _, err := hostRule(&tt.r); err == nil || !strings.Contains(err.Error(), tt.err) {
			t.Errorf("hostRule(%+v) = %v, want error about %q", tt.r, err, tt.err)
		}
	}
}

func TestHostStaticAddress(t *testing.T) {
	cfg := loadHostConf(t, `
static_ipaddress {
	10.0.0.5/24 dev eth0 brd + label eth0:s scope link
	10.0.1.5/24 dev eth0 brd -
	10.0.2.5/32 dev eth0 peer 10.0.2.6
	fd00::5/64 dev eth0 -nodad preferred_lft forever
}
`)
	want := []host.Address{
		{Prefix: netip.MustParsePrefix("10.0.0.5/24"), Dev: "eth0", Broadcast: netip.MustParseAddr("10.0.0.255"), Label: "eth0:s", Scope: "link"},
		{Prefix: netip.MustParsePrefix("10.0.1.5/24"), Dev: "eth0", Broadcast: netip.MustParseAddr("10.0.1.0")},
		{Prefix: netip.MustParsePrefix("10.0.2.5/32"), Dev: "eth0", Peer: netip.MustParsePrefix("10.0.2.6/32")},
		{Prefix: netip.MustParsePrefix("fd00::5/64"), Dev: "eth0", NoDAD: true, PreferredLft: "forever"},
	}
	if len(cfg.StaticAddresses) != len(want) {
		t.Fatalf("%d addresses parsed", len(cfg.StaticAddresses))
	}
	for i, a := range cfg.StaticAddresses {
		got, err := hostStaticAddress(a)
		if err != nil || got != want[i] {
			t.Errorf("address %d: %+v, %v; want %+v", i, got, err, want[i])
		}
	}
	if _, err := hostStaticAddress(&config.VirtualAddress{Address: netip.MustParsePrefix("10.0.0.1/24")}); err == nil || !strings.Contains(err.Error(), "needs dev") {
		t.Errorf("static address without dev: %v", err)
	}
}

func TestHostVMAC(t *testing.T) {
	cfg := loadHostConf(t, `
vrrp_instance A {
	interface eth0
	virtual_router_id 42
	priority 100
	use_vmac
	virtual_ipaddress { 10.0.0.10/24 }
	virtual_ipaddress_excluded { fd00::10/64 }
}
vrrp_instance B {
	interface eth0
	virtual_router_id 43
	priority 100
	use_vmac vip6 02:11:22:33:44
	virtual_ipaddress { fd00::11/64 }
}
vrrp_instance C {
	interface eth0
	virtual_router_id 44
	priority 100
	virtual_ipaddress { 10.0.0.12/24 }
}
`)
	byName := map[string]*config.VRRPInstance{}
	for _, in := range cfg.Instances {
		byName[in.Name] = in
	}
	v, ok, err := hostVMAC(byName["A"], "")
	if err != nil || !ok || v.Base != "eth0" || v.VRID != 42 || v.IPv6 || !v.KeepIPv6 || v.Name != "" || v.MAC != nil {
		t.Errorf("A: %+v %v %v", v, ok, err)
	}
	if v, _, _ := hostVMAC(byName["A"], "vm"); v.Name != "vm42" {
		t.Errorf("vmac_prefix: name %q", v.Name)
	}
	v, ok, err = hostVMAC(byName["B"], "")
	if err != nil || !ok || v.Name != "vip6" || !v.IPv6 || v.MAC.String() != "02:11:22:33:44:2b" {
		t.Errorf("B: %+v %v %v", v, ok, err)
	}
	if _, ok, err := hostVMAC(byName["C"], ""); ok || err != nil {
		t.Errorf("C without use_vmac: %v %v", ok, err)
	}
}

// TestVIPAddress: a virtual address line reaches the host as it was
// written, brd + and - resolved as keepalived resolves them (the address
// with its host bits set, or clear), through the same conversion as a
// static address.
func TestVIPAddress(t *testing.T) {
	cfg := loadHostConf(t, `
vrrp_instance A {
	interface eth0
	virtual_router_id 42
	priority 100
	virtual_ipaddress {
		10.1.0.100/24 brd +
		10.1.0.101/24 brd -
		10.1.0.102/24 brd 10.1.0.127 label eth0:v
		10.1.2.103/30 brd +
		10.1.0.104/24 dev eth1 noprefixroute
		10.1.0.105/32 peer 10.1.0.205
	}
	virtual_ipaddress_excluded {
		10.2.0.100/16 brd +
		fd00::100/64 preferred_lft forever
	}
}
`)
	in := cfg.Instances[0]
	ic, err := instanceConfig(in, fakePrimary)
	if err != nil {
		t.Fatal(err)
	}
	want := []host.Address{
		{Prefix: netip.MustParsePrefix("10.1.0.100/24"), Dev: "vrrp.42", Broadcast: netip.MustParseAddr("10.1.0.255")},
		{Prefix: netip.MustParsePrefix("10.1.0.101/24"), Dev: "vrrp.42", Broadcast: netip.MustParseAddr("10.1.0.0")},
		{Prefix: netip.MustParsePrefix("10.1.0.102/24"), Dev: "vrrp.42", Broadcast: netip.MustParseAddr("10.1.0.127"), Label: "eth0:v"},
		{Prefix: netip.MustParsePrefix("10.1.2.103/30"), Dev: "vrrp.42", Broadcast: netip.MustParseAddr("10.1.2.103")},
		{Prefix: netip.MustParsePrefix("10.1.0.104/24"), Dev: "eth1", NoPrefixRoute: true},
		{Prefix: netip.MustParsePrefix("10.1.0.105/32"), Dev: "vrrp.42", Peer: netip.MustParsePrefix("10.1.0.205/32")},
		{Prefix: netip.MustParsePrefix("10.2.0.100/16"), Dev: "vrrp.42", Broadcast: netip.MustParseAddr("10.2.255.255")},
		{Prefix: netip.MustParsePrefix("fd00::100/64"), Dev: "vrrp.42", NoDAD: true, PreferredLft: "forever"},
	}
	got := slices.Concat(ic.VIPs, ic.ExcludedVIPs)
	if len(got) != len(want) {
		t.Fatalf("%d VIPs, want %d", len(got), len(want))
	}
	lines := slices.Concat(in.VirtualAddresses, in.ExcludedAddresses)
	for i, v := range got {
		// The instance's VIPs go on its VMAC when it has one: the device
		// is filled in only when the address is added.
		h := hostAddress(v, "vrrp.42")
		if h != want[i] {
			t.Errorf("VIP %d: host gets %+v, want %+v", i, h, want[i])
		}
		// One conversion: the same line as a static address (with the
		// device given) comes out the same, but for the IPv6 NoDAD a VIP
		// always has.
		s, err := hostAddressOf(lines[i], "vrrp.42")
		s.NoDAD = s.NoDAD || s.Prefix.Addr().Is6()
		if err != nil || s != h {
			t.Errorf("VIP %d: hostAddressOf = %+v, %v; the VIP path gave %+v", i, s, err, h)
		}
	}
}

// TestVIPAddressErrors: what keepalived refuses or ignores with an error
// is an error naming the line, not an address added without its broadcast.
func TestVIPAddressErrors(t *testing.T) {
	for _, tc := range []struct{ line, err string }{
		{"10.1.0.100/31 brd +", "test.conf:7: address 10.1.0.100/31: brd +: prefix length /31 too long"},
		{"10.1.0.100/32 brd -", "test.conf:7: address 10.1.0.100/32: brd -: prefix length /32 too long"},
		{"10.1.0.100/32 brd 10.1.0.255 peer 10.1.0.200", "test.conf:7: address 10.1.0.100/32: brd and peer cannot both be given"},
	} {
		cfg := loadHostConf(t, `
vrrp_instance A {
	interface eth0
	virtual_router_id 42
	priority 100
	virtual_ipaddress {
		`+tc.line+`
	}
}
`)
		_, _, err := translateWith(cfg, fakePrimary)
		if err == nil || !strings.HasPrefix(err.Error(), tc.err) {
			t.Errorf("%s: %v, want an error starting %q", tc.line, err, tc.err)
		}
	}
}
