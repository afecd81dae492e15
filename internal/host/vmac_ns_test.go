package host

import (
	"context"
	"errors"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"vigil/internal/netlab"
)

// sysctlIn reads a sysctl inside h.
func sysctlIn(t *testing.T, h *netlab.Host, key string) string {
	t.Helper()
	var v string
	if err := h.Do(func() (err error) { v, err = netlinkOps{}.readSysctl(key); return err }); err != nil {
		t.Fatal(err)
	}
	return v
}

func TestNSVMAC(t *testing.T) {
	lab := netlab.New(t)
	a := lab.AddHost("a", "10.88.0.2/24", "fd00:88::2/64")
	b := lab.AddHost("b", "10.88.0.3/24")
	state := filepath.Join(t.TempDir(), "state.json")
	var m *Manager
	if err := a.Do(func() (err error) { m, err = NewManager(state, nil); return err }); err != nil {
		t.Fatal(err)
	}
	var name4, name6 string
	err := a.Do(func() error {
		n, mac, err := m.EnsureVMAC(VMAC{Base: "eth0", VRID: 42})
		if err != nil {
			return err
		}
		if n != "vrrp.42" || mac.String() != "00:00:5e:00:01:2a" {
			t.Errorf("IPv4 VMAC %s %s", n, mac)
		}
		name4 = n
		if n2, _, err := m.EnsureVMAC(VMAC{Base: "eth0", VRID: 42}); err != nil || n2 != n {
			return errors.Join(errors.New("second EnsureVMAC"), err)
		}
		n, mac, err = m.EnsureVMAC(VMAC{Base: "eth0", VRID: 43, IPv6: true, Name: "vip6"})
		if err != nil {
			return err
		}
		if n != "vip6" || mac.String() != "00:00:5e:00:02:2b" {
			t.Errorf("IPv6 VMAC %s %s", n, mac)
		}
		name6 = n
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	links := ipJSON(t, a, "-d", "link", "show", name4)
	if len(links) != 1 {
		t.Fatalf("link %s: %v", name4, links)
	}
	info, _ := links[0]["linkinfo"].(map[string]any)
	data, _ := info["info_data"].(map[string]any)
	if info["info_kind"] != "macvlan" || data["mode"] != "private" || links[0]["address"] != "00:00:5e:00:01:2a" ||
		links[0]["link"] != "eth0" || links[0]["operstate"] == "DOWN" {
		t.Errorf("VMAC link: %v", links[0])
	}
	for key, want := range map[string]string{
		"net/ipv4/conf/vrrp.42/arp_ignore":   "1",
		"net/ipv4/conf/vrrp.42/accept_local": "1",
		"net/ipv4/conf/vrrp.42/rp_filter":    "0",
		"net/ipv6/conf/vrrp.42/disable_ipv6": "1",
		"net/ipv4/conf/eth0/arp_ignore":      "1",
		"net/ipv4/conf/eth0/arp_filter":      "1",
		"net/ipv4/conf/eth0/arp_announce":    "2",
		"net/ipv6/conf/vip6/addr_gen_mode":   "1",
	} {
		if got := sysctlIn(t, a, key); got != want {
			t.Errorf("%s = %s, want %s", key, got, want)
		}
	}
	// The IPv6 VMAC sends from the base's link-local address, and has no
	// address made from the shared MAC.
	addrs := ipText(t, a, "-6", "addr", "show", "dev", name6)
	if !strings.Contains(addrs, "fe80::") || strings.Contains(addrs, "fe80::200:5eff:fe00:22b") {
		t.Errorf("IPv6 VMAC addresses:\n%s", addrs)
	}

	// A VIP on the VMAC is answered from the virtual MAC. a knows b
	// already, so that its own ARP request (sent from eth0 with the VIP
	// as sender when it answers) does not overwrite b's entry.
	ipText(t, a, "neigh", "replace", "10.88.0.3", "lladdr", macOf(t, b, "eth0").String(), "dev", "eth0", "nud", "permanent")
	ipText(t, a, "addr", "add", "10.88.0.10/24", "dev", name4)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if _, err := b.Exec(ctx, "ping", "-c", "1", "-W", "2", "10.88.0.10"); err != nil {
		t.Fatal(err)
	}
	if got := neighMAC(t, b, mustAddr("10.88.0.10")); got != "00:00:5e:00:01:2a" {
		t.Errorf("b resolved the VIP to %q, want the virtual MAC", got)
	}

	// A missing base is a clear error and leaves the VMAC alone.
	err = a.Do(func() error { _, _, err := m.EnsureVMAC(VMAC{Base: "nonesuch", VRID: 42}); return err })
	if !errors.Is(err, unix.ENODEV) {
		t.Errorf("EnsureVMAC on a missing base = %v, want ENODEV", err)
	}
	if out := ipText(t, a, "-br", "link"); !strings.Contains(out, "vrrp.42@eth0") {
		t.Errorf("VMAC gone after a failed EnsureVMAC:\n%s", out)
	}
	// Not ours: an interface with the name that is not a matching VMAC.
	err = a.Do(func() error { _, _, err := m.EnsureVMAC(VMAC{Base: "eth0", VRID: 1, Name: "eth0x"}); return err })
	if err != nil {
		t.Fatal(err)
	}
	ipText(t, a, "link", "add", "vrrp.7", "link", "eth0", "type", "macvlan", "mode", "bridge")
	err = a.Do(func() error { _, _, err := m.EnsureVMAC(VMAC{Base: "eth0", VRID: 7}); return err })
	if err == nil || !strings.Contains(err.Error(), "not touching it") {
		t.Errorf("EnsureVMAC over a foreign interface: %v", err)
	}

	if err := a.Do(m.RemoveAll); err != nil {
		t.Fatal(err)
	}
	out := ipText(t, a, "-br", "link")
	for _, n := range []string{name4, name6, "eth0x"} {
		if strings.Contains(out, n+"@") {
			t.Errorf("%s left after RemoveAll:\n%s", n, out)
		}
	}
	if !strings.Contains(out, "vrrp.7@") {
		t.Errorf("the foreign vrrp.7 was removed:\n%s", out)
	}
	for _, key := range []string{"net/ipv4/conf/eth0/arp_ignore", "net/ipv4/conf/eth0/arp_filter", "net/ipv4/conf/eth0/arp_announce"} {
		if got := sysctlIn(t, a, key); got != "0" {
			t.Errorf("%s = %s after RemoveAll, want the original 0", key, got)
		}
	}
}

func TestNSVMACCleanupStale(t *testing.T) {
	lab := netlab.New(t)
	a := lab.AddHost("a", "10.87.0.2/24")
	state := filepath.Join(t.TempDir(), "state.json")
	ipText(t, a, "link", "set", "eth0", "up")
	if err := a.Do(func() error { return netlinkOps{}.writeSysctl("net/ipv4/conf/eth0/arp_filter", "0") }); err != nil {
		t.Fatal(err)
	}
	err := a.Do(func() error {
		crashed, err := NewManager(state, nil)
		if err != nil {
			return err
		}
		_, _, err = crashed.EnsureVMAC(VMAC{Base: "eth0", VRID: 9})
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	err = a.Do(func() error {
		next, err := NewManager(state, nil)
		if err != nil {
			return err
		}
		_, err = next.CleanupStale()
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	if out := ipText(t, a, "-br", "link"); strings.Contains(out, "vrrp.9") {
		t.Errorf("stale VMAC left:\n%s", out)
	}
	if got := sysctlIn(t, a, "net/ipv4/conf/eth0/arp_ignore"); got != "0" {
		t.Errorf("arp_ignore = %s after cleanup, want 0", got)
	}
}
