package host

import (
	"net/netip"
	"strings"
	"testing"
)

func TestAddressValidate(t *testing.T) {
	p := netip.MustParsePrefix
	a := netip.MustParseAddr
	tests := []struct {
		name    string
		addr    Address
		wantErr string // substring; empty means valid
	}{
		{"v4 plain", Address{Prefix: p("10.0.0.1/24"), Dev: "eth0"}, ""},
		{"v4 full", Address{Prefix: p("10.0.0.1/24"), Dev: "eth0", Label: "eth0:1", Broadcast: a("10.0.0.255"), Scope: "link"}, ""},
		{"v4 numeric scope", Address{Prefix: p("10.0.0.1/32"), Dev: "eth0", Scope: "200"}, ""},
		{"v6 nodad", Address{Prefix: p("fd00::1/64"), Dev: "eth0", NoDAD: true}, ""},
		{"v6 global scope", Address{Prefix: p("fd00::1/64"), Dev: "eth0", Scope: "global"}, ""},
		{"v6 lft", Address{Prefix: p("fd00::1/128"), Dev: "eth0", PreferredLft: "forever"}, ""},
		{"v4 peer", Address{Prefix: p("10.0.0.1/32"), Peer: p("10.0.0.2/32"), Dev: "eth0"}, ""},
		{"no prefix", Address{Dev: "eth0"}, "missing prefix"},
		{"no dev", Address{Prefix: p("10.0.0.1/24")}, "no device"},
		{"long dev", Address{Prefix: p("10.0.0.1/24"), Dev: "abcdefghijklmnop"}, "invalid device"},
		{"unspecified", Address{Prefix: p("0.0.0.0/0"), Dev: "eth0"}, "unspecified"},
		{"mapped", Address{Prefix: p("::ffff:10.0.0.1/128"), Dev: "eth0"}, "IPv4-mapped"},
		{"v6 label", Address{Prefix: p("fd00::1/64"), Dev: "eth0", Label: "eth0:1"}, "no label"},
		{"long label", Address{Prefix: p("10.0.0.1/24"), Dev: "eth0", Label: "eth0:0123456789ab"}, "longer than 15"},
		{"v6 brd", Address{Prefix: p("fd00::1/64"), Dev: "eth0", Broadcast: a("10.0.0.255")}, "no broadcast"},
		{"v6 brd addr", Address{Prefix: p("10.0.0.1/24"), Dev: "eth0", Broadcast: a("fd00::ff")}, "not IPv4"},
		{"bad scope", Address{Prefix: p("10.0.0.1/24"), Dev: "eth0", Scope: "galaxy"}, "invalid scope"},
		{"scope too big", Address{Prefix: p("10.0.0.1/24"), Dev: "eth0", Scope: "256"}, "invalid scope"},
		{"v6 link scope", Address{Prefix: p("fd00::1/64"), Dev: "eth0", Scope: "link"}, "scope"},
		{"peer family", Address{Prefix: p("10.0.0.1/32"), Dev: "eth0", Peer: p("fd00::2/128")}, "another family"},
		{"v4 lft", Address{Prefix: p("10.0.0.1/32"), Dev: "eth0", PreferredLft: "0"}, "IPv6 only"},
		{"bad lft", Address{Prefix: p("fd00::1/128"), Dev: "eth0", PreferredLft: "soon"}, "preferred_lft"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			err := tc.addr.Validate()
			switch {
			case tc.wantErr == "" && err != nil:
				t.Fatalf("Validate() = %v, want nil", err)
			case tc.wantErr != "" && (err == nil || !strings.Contains(err.Error(), tc.wantErr)):
				t.Fatalf("Validate() = %v, want error containing %q", err, tc.wantErr)
			}
		})
	}
}

func TestAddressKernelFields(t *testing.T) {
	p := netip.MustParsePrefix
	tests := []struct {
		name      string
		addr      Address
		scope     uint8
		flags     int
		lft       uint32
		lftSet    bool
		kernelKey string
	}{
		{"v4 defaults", Address{Prefix: p("10.0.0.1/24"), Dev: "eth0", NoDAD: true, Home: true}, 0, 0, 0, false, "eth0|10.0.0.1/24"},
		{"v4 host scope noprefixroute", Address{Prefix: p("10.0.0.1/24"), Dev: "eth0", Scope: "host", NoPrefixRoute: true}, 254, flagNoPrefixRoute, 0, false, "eth0|10.0.0.1/24"},
		{"v4 nowhere", Address{Prefix: p("10.0.0.1/24"), Dev: "eth0", Scope: "NOWHERE"}, 255, 0, 0, false, "eth0|10.0.0.1/24"},
		{"v4 site", Address{Prefix: p("10.0.0.1/24"), Dev: "eth0", Scope: "site"}, 200, 0, 0, false, "eth0|10.0.0.1/24"},
		{"v4 peer takes peer bits", Address{Prefix: p("10.0.0.1/32"), Peer: p("10.0.0.0/30"), Dev: "eth0"}, 0, 0, 0, false, "eth0|10.0.0.1/30"},
		{"v6 /64 forever by default", Address{Prefix: p("fd00::1/64"), Dev: "eth1", NoDAD: true}, 0, flagNoDAD, 0, false, "eth1|fd00::1/64"},
		{"v6 /128 deprecated by default", Address{Prefix: p("fd00::1/128"), Dev: "eth1"}, 0, 0, 0, true, "eth1|fd00::1/128"},
		{"v6 /128 forever", Address{Prefix: p("fd00::1/128"), Dev: "eth1", PreferredLft: "forever"}, 0, 0, lifetimeForever, true, "eth1|fd00::1/128"},
		{"v6 seconds, all flags", Address{Prefix: p("fd00::1/64"), Dev: "eth1", PreferredLft: "30", NoDAD: true, Home: true, MngTmpAddr: true, NoPrefixRoute: true, AutoJoin: true},
			0, flagNoDAD | flagHomeAddress | flagManageTmpAddr | flagNoPrefixRoute | flagMcAutoJoin, 30, true, "eth1|fd00::1/64"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if err := tc.addr.Validate(); err != nil {
				t.Fatal(err)
			}
			if s, _ := tc.addr.scope(); s != tc.scope {
				t.Errorf("scope = %d, want %d", s, tc.scope)
			}
			if f := tc.addr.flags(); f != tc.flags {
				t.Errorf("flags = %#x, want %#x", f, tc.flags)
			}
			lft, set, _ := tc.addr.preferredLft()
			if lft != tc.lft || set != tc.lftSet {
				t.Errorf("preferredLft = %d,%v, want %d,%v", lft, set, tc.lft, tc.lftSet)
			}
			if k := tc.addr.key(); k != tc.kernelKey {
				t.Errorf("key = %q, want %q", k, tc.kernelKey)
			}
		})
	}
}

func TestAddressString(t *testing.T) {
	a := Address{
		Prefix: netip.MustParsePrefix("10.0.0.1/24"), Dev: "eth0", Label: "eth0:1",
		Broadcast: netip.MustParseAddr("10.0.0.255"), Scope: "link",
	}
	want := "10.0.0.1/24 brd 10.0.0.255 dev eth0 label eth0:1 scope link"
	if got := a.String(); got != want {
		t.Errorf("String() = %q, want %q", got, want)
	}
}
