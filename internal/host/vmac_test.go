package host

import (
	"errors"
	"net"
	"net/netip"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"golang.org/x/sys/unix"
)

func TestVMACValidate(t *testing.T) {
	tests := []struct {
		v    VMAC
		name string
		mac  string
		err  string
	}{
		{VMAC{Base: "eth0", VRID: 42}, "vrrp.42", "00:00:5e:00:01:2a", ""},
		{VMAC{Base: "eth0", VRID: 255, IPv6: true}, "vrrp.255", "00:00:5e:00:02:ff", ""},
		{VMAC{Base: "eth0", VRID: 1, Name: "vmac1", MAC: net.HardwareAddr{2, 0, 0, 0, 0, 9}}, "vmac1", "02:00:00:00:00:09", ""},
		{VMAC{Base: "eth0"}, "", "", "VRID 0"},
		{VMAC{VRID: 1}, "", "", "base"},
		{VMAC{Base: "eth0", VRID: 1, Name: "eth0"}, "", "", "its own base"},
		{VMAC{Base: "eth0", VRID: 1, Name: "a-name-much-too-long"}, "", "", "invalid interface name"},
		{VMAC{Base: "eth0", VRID: 1, MAC: net.HardwareAddr{1, 0, 0, 0, 0, 1}}, "", "", "unicast"},
	}
	for _, tt := range tests {
		err := tt.v.Validate()
		if tt.err != "" {
			if err == nil || !strings.Contains(err.Error(), tt.err) {
				t.Errorf("Validate(%+v) = %v, want %q", tt.v, err, tt.err)
			}
			continue
		}
		if err != nil || tt.v.name() != tt.name || tt.v.mac().String() != tt.mac {
			t.Errorf("%+v: %v, name %s, mac %s", tt.v, err, tt.v.name(), tt.v.mac())
		}
	}
}

func TestManagerVMAC(t *testing.T) {
	state := filepath.Join(t.TempDir(), "s.json")
	k := newFakeHost("eth0", "eth1")
	k.sysctls[arpFilterKey("eth0")] = "2"
	m, err := newManager(state, nil, k)
	if err != nil {
		t.Fatal(err)
	}
	n1, mac, err := m.EnsureVMAC(VMAC{Base: "eth0", VRID: 1})
	if err != nil || n1 != "vrrp.1" || mac.String() != "00:00:5e:00:01:01" {
		t.Fatalf("EnsureVMAC = %s %s %v", n1, mac, err)
	}
	if _, _, err := m.EnsureVMAC(VMAC{Base: "eth0", VRID: 2}); err != nil {
		t.Fatal(err)
	}
	if _, _, err := m.EnsureVMAC(VMAC{Base: "eth0", VRID: 1}); err != nil {
		t.Fatalf("EnsureVMAC again: %v", err)
	}
	if k.sysctls[arpIgnoreKey("eth0")] != "1" || k.sysctls[arpFilterKey("eth0")] != "1" || k.sysctls[arpAnnounceKey("eth0")] != "2" {
		t.Errorf("base sysctls %v", k.sysctls)
	}
	st, _ := readState(state)
	if len(st.VMACs) != 2 || len(st.BaseConf) != 1 || st.BaseConf[0] != (baseConf{Dev: "eth0", ARPIgnore: "0", ARPFilter: "2", ARPAnnounce: "0"}) {
		t.Fatalf("state %+v", st)
	}
	// The base keeps its settings while another VMAC uses it.
	if err := m.RemoveVMAC("vrrp.1"); err != nil {
		t.Fatal(err)
	}
	if _, ok := k.links["vrrp.1"]; ok || k.sysctls[arpFilterKey("eth0")] != "1" {
		t.Errorf("after removing one of two: links %v sysctls %v", k.links, k.sysctls)
	}
	if err := m.RemoveVMAC("vrrp.2"); err != nil {
		t.Fatal(err)
	}
	if k.sysctls[arpIgnoreKey("eth0")] != "0" || k.sysctls[arpFilterKey("eth0")] != "2" || k.sysctls[arpAnnounceKey("eth0")] != "0" {
		t.Errorf("base not restored: %v", k.sysctls)
	}
	if err := m.RemoveVMAC("vrrp.2"); err != nil {
		t.Errorf("second RemoveVMAC: %v", err)
	}
	// Someone else's interface of the name is left alone.
	k.links["vrrp.3"] = linkInfo{Kind: "veth"}
	k.calls = nil
	if _, _, err := m.EnsureVMAC(VMAC{Base: "eth0", VRID: 3}); err == nil || !strings.Contains(err.Error(), "not touching") {
		t.Errorf("EnsureVMAC over a foreign interface: %v", err)
	}
	if len(k.calls) != 0 {
		t.Errorf("calls %v", k.calls)
	}
	// Setup failure: nothing half-made stays.
	k.fail["setup"] = unix.EPERM
	if _, _, err := m.EnsureVMAC(VMAC{Base: "eth1", VRID: 4}); !errors.Is(err, unix.EPERM) {
		t.Errorf("EnsureVMAC with failing setup = %v", err)
	}
	if _, ok := k.links["vrrp.4"]; ok || len(m.OwnedVMACs()) != 0 || k.sysctls[arpIgnoreKey("eth1")] != "0" {
		t.Errorf("left after failed setup: links %v owned %v sysctls %v", k.links, m.OwnedVMACs(), k.sysctls)
	}
}

func TestManagerVMACCleanupStale(t *testing.T) {
	state := filepath.Join(t.TempDir(), "s.json")
	k := newFakeHost("eth0")
	crashed, _ := newManager(state, nil, k)
	for _, id := range []uint8{1, 2, 3} {
		if _, _, err := crashed.EnsureVMAC(VMAC{Base: "eth0", VRID: id}); err != nil {
			t.Fatal(err)
		}
	}
	// vrrp.3 was replaced by someone else's interface in the meantime.
	k.links["vrrp.3"] = linkInfo{Kind: "bridge"}
	next, err := newManager(state, nil, k)
	if err != nil {
		t.Fatal(err)
	}
	// This run uses vrrp.2 again before cleaning up: adopted, and the
	// base's values from before the crashed run are kept.
	if _, _, err := next.EnsureVMAC(VMAC{Base: "eth0", VRID: 2}); err != nil {
		t.Fatal(err)
	}
	if _, err := next.CleanupStale(); err != nil {
		t.Fatal(err)
	}
	var names []string
	for n := range k.links {
		names = append(names, n)
	}
	slices.Sort(names)
	if !slices.Equal(names, []string{"eth0", "vrrp.2", "vrrp.3"}) {
		t.Errorf("links %v", names)
	}
	if err := next.RemoveAll(); err != nil {
		t.Fatal(err)
	}
	if k.sysctls[arpIgnoreKey("eth0")] != "0" {
		t.Errorf("base arp_ignore %s, want the value from before the crashed run", k.sysctls[arpIgnoreKey("eth0")])
	}
}

// TestManagerVMACOldStateArpAnnounce: a state file from a version that did
// not touch arp_announce records no value for it; the base's current value
// is then the one from before Vigil, and is what a stop puts back.
func TestManagerVMACOldStateArpAnnounce(t *testing.T) {
	state := filepath.Join(t.TempDir(), "s.json")
	old := `{"version":1,"vmacs":[{"name":"vrrp.1","base":"eth0","vrid":1}],` +
		`"base_conf":[{"dev":"eth0","arp_ignore":"0","arp_filter":"0"}]}`
	if err := os.WriteFile(state, []byte(old), 0o644); err != nil {
		t.Fatal(err)
	}
	k := newFakeHost("eth0")
	// What the crashed run left, and an administrator's arp_announce.
	k.sysctls[arpIgnoreKey("eth0")] = "1"
	k.sysctls[arpFilterKey("eth0")] = "1"
	k.sysctls[arpAnnounceKey("eth0")] = "1"
	m, err := newManager(state, nil, k)
	if err != nil {
		t.Fatal(err)
	}
	if _, _, err := m.EnsureVMAC(VMAC{Base: "eth0", VRID: 1}); err != nil {
		t.Fatal(err)
	}
	if got := k.sysctls[arpAnnounceKey("eth0")]; got != "2" {
		t.Errorf("arp_announce with a VMAC = %s, want 2", got)
	}
	if err := m.RemoveAll(); err != nil {
		t.Fatal(err)
	}
	for key, want := range map[string]string{arpIgnoreKey("eth0"): "0", arpFilterKey("eth0"): "0", arpAnnounceKey("eth0"): "1"} {
		if got := k.sysctls[key]; got != want {
			t.Errorf("%s = %s after stop, want %s", key, got, want)
		}
	}
}

func TestFilterAddrCheck(t *testing.T) {
	for _, a := range []string{"10.0.0.1", "fd00::1", "2001:db8::1"} {
		if err := checkFilterAddr(netip.MustParseAddr(a)); err != nil {
			t.Errorf("%s: %v", a, err)
		}
	}
	for _, a := range []netip.Addr{{}, netip.MustParseAddr("::ffff:10.0.0.1"), netip.MustParseAddr("fe80::1"), netip.MustParseAddr("fd00::1%eth0")} {
		if err := checkFilterAddr(a); err == nil {
			t.Errorf("%v accepted", a)
		}
	}
}
