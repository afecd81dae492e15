package config

import (
	"reflect"
	"strings"
	"testing"
	"time"
)

func TestSplitCommand(t *testing.T) {
	tests := []struct {
		in      string
		want    []string
		wantErr bool
	}{
		{in: "/bin/true", want: []string{"/bin/true"}},
		{in: "/bin/check  a\tb", want: []string{"/bin/check", "a", "b"}},
		{in: "/bin/sh -c 'test -e /run/ok'", want: []string{"/bin/sh", "-c", "test -e /run/ok"}},
		{in: `/bin/x "a b" c`, want: []string{"/bin/x", "a b", "c"}},
		{in: `/bin/x a\ b`, want: []string{"/bin/x", "a b"}},
		{in: `/bin/x \x41\101\t`, want: []string{"/bin/x", "AA\t"}},
		{in: `/bin/x ''`, want: []string{"/bin/x", ""}},
		{in: `/bin/x 'open`, wantErr: true},
		{in: "   ", want: nil},
	}
	for _, tt := range tests {
		got, err := splitCommand(tt.in)
		if (err != nil) != tt.wantErr {
			t.Errorf("splitCommand(%q) error = %v, want error %v", tt.in, err, tt.wantErr)
			continue
		}
		if !tt.wantErr && !reflect.DeepEqual(got, tt.want) {
			t.Errorf("splitCommand(%q) = %q, want %q", tt.in, got, tt.want)
		}
	}
}

// node builds a Node tree for parser tests without going through the lexer.
func node(line int, name string, args ...string) *Node {
	return &Node{Pos: Pos{File: "t.conf", Line: line}, Name: name, Args: args}
}

func block(n *Node, children ...*Node) *Node {
	n.HasBlock, n.Block = true, children
	return n
}

func TestParseNodeTree(t *testing.T) {
	nodes := []*Node{
		block(node(1, "global_defs"), node(2, "vrrp_version", "3"), node(3, "vrrp_garp_master_delay", "2")),
		block(node(5, "vrrp_instance", "VI_1"),
			node(6, "interface", "eth0"),
			node(7, "virtual_router_id", "9"),
			node(8, "advert_int", "0.5"),
			node(9, "garp_master_repeat", "3"),
			block(node(10, "virtual_ipaddress"), node(11, "10.0.0.1/24", "dev", "eth0")),
		),
	}
	cfg, diags := Parse(nodes, LoadOptions{})
	if len(diags) != 0 {
		t.Fatalf("unexpected diagnostics:\n%s", diags)
	}
	vi := cfg.Instances[0]
	if vi.Version != 3 || vi.AdvertInt != 500*time.Millisecond || vi.State != StateBackup || vi.Priority != 100 {
		t.Errorf("instance = version %d advert %s state %s priority %d", vi.Version, vi.AdvertInt, vi.State, vi.Priority)
	}
	// garp: master_delay inherited, repeat explicit, lower-prio ones follow.
	want := Garp{MasterDelay: 2 * time.Second, MasterRepeat: 3, LowerPrioDelay: 2 * time.Second, LowerPrioRepeat: 3, MasterRefreshRepeat: 1}
	if vi.Garp != want {
		t.Errorf("garp = %+v, want %+v", vi.Garp, want)
	}
	if got := vi.VirtualAddresses[0]; got.Address.String() != "10.0.0.1/24" || got.Dev != "eth0" || got.Pos.Line != 11 {
		t.Errorf("vip = %+v", got)
	}
}

func TestValidateMessages(t *testing.T) {
	vip := func(l int) *Node { return block(node(l, "virtual_ipaddress"), node(l+1, "10.0.0.1")) }
	tests := []struct {
		name  string
		nodes []*Node
		want  []string // substrings, one per expected error, in order
	}{
		{
			name:  "missing vrid and interface",
			nodes: []*Node{block(node(1, "vrrp_instance", "A"), vip(2))},
			want:  []string{"t.conf:1: error: vrrp_instance A: virtual_router_id is required", "t.conf:1: error: vrrp_instance A: interface is required"},
		},
		{
			name: "v2 fractional advert",
			nodes: []*Node{block(node(1, "vrrp_instance", "A"), node(2, "interface", "eth0"),
				node(3, "virtual_router_id", "1"), node(4, "advert_int", "1.5"), vip(5))},
			want: []string{"advert_int 1.5s must be a whole number of seconds with VRRPv2"},
		},
		{
			name: "nopreempt with MASTER",
			nodes: []*Node{block(node(1, "vrrp_instance", "A"), node(2, "state", "MASTER"), node(3, "nopreempt"),
				node(4, "interface", "eth0"), node(5, "virtual_router_id", "1"), vip(6))},
			want: []string{"nopreempt does not work with state MASTER"},
		},
		{
			name: "instance in two sync groups",
			nodes: []*Node{
				block(node(1, "vrrp_sync_group", "G1"), block(node(2, "group"), node(3, "A"))),
				block(node(5, "vrrp_sync_group", "G2"), block(node(6, "group"), node(7, "A"))),
				block(node(9, "vrrp_instance", "A"), node(10, "interface", "eth0"), node(11, "virtual_router_id", "1"), vip(12)),
			},
			want: []string{"t.conf:5: error: vrrp_sync_group G2: vrrp_instance A is already in vrrp_sync_group G1"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, diags := Parse(tt.nodes, LoadOptions{})
			errs := diags.Errors()
			if len(errs) != len(tt.want) {
				t.Fatalf("got %d errors, want %d:\n%s", len(errs), len(tt.want), diags)
			}
			for i, w := range tt.want {
				if !strings.Contains(errs[i].String(), w) {
					t.Errorf("error %d = %q, want it to contain %q", i, errs[i], w)
				}
			}
		})
	}
}

func TestHostChecks(t *testing.T) {
	conf := []byte("vrrp_instance A {\n interface vigil-nosuch0\n virtual_router_id 1\n virtual_ipaddress {\n  10.0.0.1 dev lo\n }\n}\n")
	_, off := LoadBytes("k.conf", conf, LoadOptions{})
	if len(off) != 0 {
		t.Fatalf("without HostChecks: unexpected diagnostics:\n%s", off)
	}
	_, on := LoadBytes("k.conf", conf, LoadOptions{HostChecks: true})
	if on.HasErrors() || len(on) != 1 || on[0].Pos.Line != 1 || !strings.Contains(on[0].Msg, "vigil-nosuch0") {
		t.Fatalf("with HostChecks: want one warning about vigil-nosuch0 at line 1, got:\n%s", on)
	}
}

func TestParseRouteLine(t *testing.T) {
	r, warns, err := parseRouteLine(strings.Fields("192.168.1.0/24 via 10.0.0.1 dev eth0 table 5 metric 7 mtu lock 1400"), false)
	if err != nil {
		t.Fatal(err)
	}
	if len(warns) != 0 || r.Dst.String() != "192.168.1.0/24" || r.Via.String() != "10.0.0.1" || r.Table != "5" ||
		*r.Metric != 7 || r.Metrics["mtu"] != "1400" || !reflect.DeepEqual(r.Locked, []string{"mtu"}) || r.Protocol != "keepalived" {
		t.Errorf("route = %+v warns %q", r, warns)
	}
}

// FuzzParseText feeds arbitrary text through the front end and the parser:
// whatever the input, Load must not panic and must return a Config.
func FuzzParseText(f *testing.F) {
	for _, s := range []string{
		"vrrp_instance A {\n interface eth0\n virtual_router_id 1\n virtual_ipaddress {\n 10.0.0.1/24 dev eth0 brd + label eth0:1\n }\n}\n",
		"global_defs {\n router_id x\n notification_email {\n a@b\n }\n}\n",
		"vrrp_instance A {\n virtual_routes {\n src 1.2.3.4 to 10.0.0.0/8 via 1.1.1.1 nexthop via 2.2.2.2 weight 2\n }\n virtual_rules {\n from all table 5 sport 1-2\n }\n}\n",
		"vrrp_script s {\n script \"/bin/sh -c 'x y'\"\n weight -2 reverse\n}\nvrrp_sync_group g {\n group {\n A\n }\n}\n",
		"vrrp_track_process p {\n process a b\n}\ntrack_file f {\n file /x\n init_file 3 overwrite\n}\n",
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		cfg, _ := LoadBytes("fuzz.conf", data, LoadOptions{})
		if cfg == nil {
			t.Fatal("nil Config")
		}
	})
}
