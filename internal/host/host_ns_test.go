package host

// Namespace tests: the real netlink and packet-socket paths, in namespaces
// built by netlab. They need root and skip without it.

import (
	"context"
	"errors"
	"net"
	"net/netip"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/mdlayher/packet"
	"github.com/vishvananda/netlink"
	"golang.org/x/sys/unix"

	"vigil/internal/netlab"
)

// kernelAddr returns the kernel's view of ip on dev inside h.
func kernelAddr(t *testing.T, h *netlab.Host, dev string, ip netip.Addr) (netlink.Addr, bool) {
	t.Helper()
	var found netlink.Addr
	var ok bool
	err := h.Do(func() error {
		link, err := netlink.LinkByName(dev)
		if err != nil {
			return err
		}
		addrs, err := netlink.AddrList(link, netlink.FAMILY_ALL)
		if err != nil {
			return err
		}
		for _, a := range addrs {
			if p, _ := prefixOf(a.IPNet); p.Addr() == ip {
				found, ok = a, true
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return found, ok
}

func TestNSManagerAddRemove(t *testing.T) {
	lab := netlab.New(t)
	h := lab.AddHost("a", "10.90.0.2/24", "fd00:90::2/64")
	state := filepath.Join(t.TempDir(), "vigil", "addrs.json")
	var m *Manager
	if err := h.Do(func() (err error) { m, err = NewManager(state, nil); return err }); err != nil {
		t.Fatal(err)
	}
	p := netip.MustParsePrefix
	addrs := []Address{
		{Prefix: p("10.90.0.10/24"), Dev: "eth0", Label: "eth0:vip", Broadcast: netip.MustParseAddr("10.90.0.255")},
		{Prefix: p("10.91.0.10/32"), Dev: "eth0", Scope: "host"},
		{Prefix: p("fd00:90::10/64"), Dev: "eth0", NoDAD: true, NoPrefixRoute: true},
		{Prefix: p("fd00:91::10/128"), Dev: "eth0", NoDAD: true},
		{Prefix: p("10.97.0.10/24"), Dev: "eth0", Scope: "link"},
	}
	for _, a := range addrs {
		if err := h.Do(func() error { return m.Add(a) }); err != nil {
			t.Fatalf("Add(%s): %v", a, err)
		}
		// Idempotent against the real kernel too.
		if err := h.Do(func() error { return m.Add(a) }); err != nil {
			t.Fatalf("second Add(%s): %v", a, err)
		}
	}

	got, ok := kernelAddr(t, h, "eth0", addrs[0].Prefix.Addr())
	if !ok || got.Label != "eth0:vip" || !got.Broadcast.Equal(net.ParseIP("10.90.0.255")) || got.Scope != unix.RT_SCOPE_UNIVERSE {
		t.Errorf("v4 VIP in kernel: %+v (present %v)", got, ok)
	}
	if ones, _ := got.Mask.Size(); ones != 24 || got.Flags&flagSecondary == 0 {
		t.Errorf("v4 VIP: prefix /%d flags %#x, want /24 secondary", ones, got.Flags)
	}
	got, ok = kernelAddr(t, h, "eth0", addrs[1].Prefix.Addr())
	if !ok || got.Scope != unix.RT_SCOPE_HOST || got.Broadcast != nil {
		t.Errorf("host-scope VIP in kernel: %+v (present %v), want no broadcast", got, ok)
	}
	got, ok = kernelAddr(t, h, "eth0", addrs[4].Prefix.Addr())
	if !ok || got.Scope != unix.RT_SCOPE_LINK || got.Broadcast != nil {
		t.Errorf("link-scope VIP in kernel: %+v (present %v)", got, ok)
	}
	// The kernel wants an address in the subnet of another to share its
	// scope; the error says so.
	err := h.Do(func() error { return m.Add(Address{Prefix: p("10.97.0.11/24"), Dev: "eth0", Scope: "host"}) })
	if err == nil || !strings.Contains(err.Error(), "scope") {
		t.Errorf("Add with a scope clashing with the subnet's: %v", err)
	}
	got, ok = kernelAddr(t, h, "eth0", addrs[2].Prefix.Addr())
	if !ok || got.Flags&flagNoDAD == 0 || got.Flags&flagNoPrefixRoute == 0 || got.Flags&flagTentative != 0 {
		t.Errorf("v6 VIP flags %#x (present %v), want nodad|noprefixroute, not tentative", got.Flags, ok)
	}
	if ok && got.PreferedLft == 0 {
		t.Errorf("v6 /64 VIP deprecated, want preferred forever")
	}
	got, ok = kernelAddr(t, h, "eth0", addrs[3].Prefix.Addr())
	if !ok || got.PreferedLft != 0 || got.Flags&unix.IFA_F_DEPRECATED == 0 {
		t.Errorf("v6 /128 VIP: preferred %d flags %#x (present %v), want deprecated like keepalived", got.PreferedLft, got.Flags, ok)
	}
	// noprefixroute: no route for fd00:90::/64 beyond eth0's own.
	var routes []netlink.Route
	if err := h.Do(func() (err error) {
		routes, err = netlink.RouteListFiltered(netlink.FAMILY_V6, &netlink.Route{Table: unix.RT_TABLE_MAIN}, netlink.RT_FILTER_TABLE)
		return err
	}); err != nil {
		t.Fatal(err)
	}
	n := 0
	for _, r := range routes {
		if r.Dst != nil && r.Dst.String() == "fd00:90::/64" {
			n++
		}
	}
	if n != 1 {
		t.Errorf("%d routes for fd00:90::/64, want 1 (the VIP must not add its own)", n)
	}

	// Via netlab's view as well, then remove everything.
	prefixes, err := h.Addrs("eth0")
	if err != nil {
		t.Fatal(err)
	}
	for _, a := range addrs {
		if !slices.Contains(prefixes, a.Prefix) {
			t.Errorf("%s missing from %v", a.Prefix, prefixes)
		}
	}
	if err := h.Do(m.RemoveAll); err != nil {
		t.Fatal(err)
	}
	prefixes, err = h.Addrs("eth0")
	if err != nil {
		t.Fatal(err)
	}
	for _, a := range addrs {
		if slices.Contains(prefixes, a.Prefix) {
			t.Errorf("%s still present after RemoveAll", a.Prefix)
		}
	}
	for _, keep := range []string{"10.90.0.2/24", "fd00:90::2/64"} {
		if !slices.Contains(prefixes, netip.MustParsePrefix(keep)) {
			t.Errorf("interface address %s was removed", keep)
		}
	}
	// Removing again and an unknown device are fine / clear errors.
	if err := h.Do(func() error { return m.Remove(addrs[0]) }); err != nil {
		t.Errorf("Remove after RemoveAll: %v", err)
	}
	err = h.Do(func() error { return m.Add(Address{Prefix: p("10.90.0.11/24"), Dev: "nonesuch"}) })
	if !errors.Is(err, unix.ENODEV) {
		t.Errorf("Add on a missing device = %v, want ENODEV", err)
	}
}

func TestNSCleanupStale(t *testing.T) {
	lab := netlab.New(t)
	h := lab.AddHost("a", "10.92.0.2/24")
	state := filepath.Join(t.TempDir(), "addrs.json")
	p := netip.MustParsePrefix
	a1 := Address{Prefix: p("10.92.0.10/24"), Dev: "eth0"}
	a2 := Address{Prefix: p("fd00:92::10/64"), Dev: "eth0", NoDAD: true}
	a3 := Address{Prefix: p("10.92.0.11/24"), Dev: "eth0"}
	err := h.Do(func() error {
		crashed, err := NewManager(state, nil)
		if err != nil {
			return err
		}
		for _, a := range []Address{a1, a2, a3} {
			if err := crashed.Add(a); err != nil {
				return err
			}
		}
		// The run "crashes": it never calls RemoveAll. An operator
		// removes one address by hand in the meantime.
		return netlinkOps{}.del(a3)
	})
	if err != nil {
		t.Fatal(err)
	}
	var removed []Address
	err = h.Do(func() error {
		next, err := NewManager(state, nil)
		if err != nil {
			return err
		}
		removed, err = next.CleanupStale()
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(removed, []Address{a1, a2}) {
		t.Errorf("removed %v, want %v and %v", removed, a1, a2)
	}
	prefixes, err := h.Addrs("eth0")
	if err != nil {
		t.Fatal(err)
	}
	for _, a := range []Address{a1, a2} {
		if slices.Contains(prefixes, a.Prefix) {
			t.Errorf("stale %s still present", a.Prefix)
		}
	}
	if !slices.Contains(prefixes, p("10.92.0.2/24")) {
		t.Error("the interface's own address was removed")
	}
}

// capture opens a packet socket for ethertype on ifname inside h.
func capture(t *testing.T, h *netlab.Host, ifname string, ethertype int) *packet.Conn {
	t.Helper()
	var c *packet.Conn
	err := h.Do(func() error {
		ifi, err := net.InterfaceByName(ifname)
		if err != nil {
			return err
		}
		c, err = packet.Listen(ifi, packet.Raw, ethertype, nil)
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

// readUntil reads frames until match accepts one or the deadline passes.
func readUntil(t *testing.T, c *packet.Conn, match func([]byte) bool) {
	t.Helper()
	if err := c.SetReadDeadline(time.Now().Add(3 * time.Second)); err != nil {
		t.Fatal(err)
	}
	buf := make([]byte, 1500)
	for range 1000 {
		n, _, err := c.ReadFrom(buf)
		if err != nil {
			t.Fatalf("no matching frame: %v", err)
		}
		if match(buf[:n]) {
			return
		}
	}
	t.Fatal("no matching frame among 1000")
}

func macOf(t *testing.T, h *netlab.Host, ifname string) net.HardwareAddr {
	t.Helper()
	var mac net.HardwareAddr
	if err := h.Do(func() error {
		ifi, err := net.InterfaceByName(ifname)
		if err == nil {
			mac = ifi.HardwareAddr
		}
		return err
	}); err != nil {
		t.Fatal(err)
	}
	return mac
}

// neighMAC returns the neighbour-table MAC of ip on h's eth0.
func neighMAC(t *testing.T, h *netlab.Host, ip netip.Addr) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	out, err := h.Exec(ctx, "ip", "neigh", "show", ip.String(), "dev", "eth0")
	if err != nil {
		t.Fatal(err)
	}
	f := strings.Fields(string(out))
	if i := slices.Index(f, "lladdr"); i >= 0 && i+1 < len(f) {
		return f[i+1]
	}
	return ""
}

func TestNSAnnounce(t *testing.T) {
	lab := netlab.New(t)
	a := lab.AddHost("a", "10.93.0.2/24", "fd00:93::2/64")
	b := lab.AddHost("b", "10.93.0.3/24", "fd00:93::3/64")
	vip4, vip6 := netip.MustParseAddr("10.93.0.10"), netip.MustParseAddr("fd00:93::10")
	amac := macOf(t, a, "eth0")

	// b holds stale entries for the VIPs pointing elsewhere, as after a
	// failover; the announcements must make its kernel switch to a.
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	for _, ip := range []netip.Addr{vip4, vip6} {
		if _, err := b.Exec(ctx, "ip", "neigh", "replace", ip.String(), "lladdr", "02:00:00:00:00:99", "dev", "eth0", "nud", "stale"); err != nil {
			t.Fatal(err)
		}
	}
	arpc := capture(t, b, "eth0", etherTypeARP)
	v6c := capture(t, b, "eth0", etherTypeIPv6)

	ann := NewAnnouncer(nil)
	defer ann.Close()
	if err := a.Do(func() error { return ann.Announce("eth0", []netip.Addr{vip4, vip6}) }); err != nil {
		t.Fatal(err)
	}
	readUntil(t, arpc, func(f []byte) bool {
		p, err := ParseARP(f)
		return err == nil && p.Op == 1 && p.Gratuitous() && p.SenderIP == vip4 &&
			p.SenderMAC.String() == amac.String() && p.EthDst.String() == "ff:ff:ff:ff:ff:ff"
	})
	readUntil(t, v6c, func(f []byte) bool {
		p, err := ParseNA(f)
		return err == nil && p.Target == vip6 && p.Src == vip6 && p.Dst == allNodes && p.HopLimit == 255 &&
			p.Override && !p.Solicited && p.TargetMAC.String() == amac.String()
	})
	for _, ip := range []netip.Addr{vip4, vip6} {
		if got := neighMAC(t, b, ip); got != amac.String() {
			t.Errorf("b's neighbour entry for %s = %q, want %s (announcement not accepted)", ip, got, amac)
		}
	}

	// Sent again from the cached sockets, this time from a VMAC.
	vmac := net.HardwareAddr{0x00, 0x00, 0x5e, 0x00, 0x01, 0x2a}
	if err := a.Do(func() error { return ann.AnnounceFrom("eth0", vmac, []netip.Addr{vip4}) }); err != nil {
		t.Fatal(err)
	}
	readUntil(t, arpc, func(f []byte) bool {
		p, err := ParseARP(f)
		return err == nil && p.SenderIP == vip4 && p.SenderMAC.String() == vmac.String()
	})

	// An interface that is down: a clear error.
	if err := a.SetLink("eth0", false); err != nil {
		t.Fatal(err)
	}
	if err := a.Do(func() error { return ann.Announce("eth0", []netip.Addr{vip4}) }); err == nil {
		t.Error("announce on a down interface: no error")
	}
	// The one-shot form, once the link is back.
	if err := a.SetLink("eth0", true); err != nil {
		t.Fatal(err)
	}
	if err := a.Do(func() error { return Announce("eth0", []netip.Addr{vip4}) }); err != nil {
		t.Fatal(err)
	}
	readUntil(t, arpc, func(f []byte) bool {
		p, err := ParseARP(f)
		return err == nil && p.SenderIP == vip4 && p.SenderMAC.String() == amac.String()
	})
}

func TestNSWatchLinks(t *testing.T) {
	lab := netlab.New(t)
	a := lab.AddHost("a", "10.94.0.2/24")
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var events <-chan LinkEvent
	if err := a.Do(func() (err error) { events, err = WatchLinks(ctx); return err }); err != nil {
		t.Fatal(err)
	}
	// next waits for the next event for eth0.
	next := func() LinkEvent {
		t.Helper()
		timeout := time.After(5 * time.Second)
		for {
			select {
			case ev, ok := <-events:
				if !ok {
					t.Fatal("event channel closed")
				}
				if ev.Name == "eth0" {
					return ev
				}
			case <-timeout:
				t.Fatal("no event for eth0")
			}
		}
	}
	if ev := next(); !ev.Up {
		t.Fatalf("initial state %+v, want up (netlab waits for carrier)", ev)
	}
	upNow := func() bool {
		var up bool
		if err := a.Do(func() (err error) { up, err = LinkUp("eth0"); return err }); err != nil {
			t.Fatal(err)
		}
		return up
	}
	steps := []struct {
		name   string
		change func() error
		up     bool
	}{
		{"admin down", func() error { return a.SetLink("eth0", false) }, false},
		{"admin up", func() error { return a.SetLink("eth0", true) }, true},
		{"cable cut", func() error { return a.CutWire("eth0", true) }, false},
		{"cable back", func() error { return a.CutWire("eth0", false) }, true},
	}
	for _, s := range steps {
		if err := s.change(); err != nil {
			t.Fatal(err)
		}
		if ev := next(); ev.Up != s.up || ev.Deleted {
			t.Fatalf("%s: event %+v, want up=%v", s.name, ev, s.up)
		}
		if got := upNow(); got != s.up {
			t.Fatalf("%s: LinkUp = %v, want %v", s.name, got, s.up)
		}
	}
	cancel()
	deadline := time.After(5 * time.Second)
	for {
		select {
		case _, ok := <-events:
			if !ok {
				return
			}
		case <-deadline:
			t.Fatal("event channel not closed after cancel")
		}
	}
}

func TestNSPrimaryAddr(t *testing.T) {
	lab := netlab.New(t)
	a := lab.AddHost("a", "10.95.0.2/24", "fd00:95::2/64")
	var m *Manager
	state := filepath.Join(t.TempDir(), "s.json")
	vips := []Address{
		{Prefix: netip.MustParsePrefix("10.95.0.10/24"), Dev: "eth0"}, // secondary
		{Prefix: netip.MustParsePrefix("10.96.0.10/24"), Dev: "eth0"}, // primary of its own subnet
	}
	err := a.Do(func() (err error) {
		if m, err = NewManager(state, nil); err != nil {
			return err
		}
		for _, v := range vips {
			if err := m.Add(v); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	var v4, v6 netip.Addr
	err = a.Do(func() (err error) {
		var ex []netip.Addr
		for _, o := range m.Owned() {
			ex = append(ex, o.Prefix.Addr())
		}
		if v4, err = PrimaryAddr("eth0", unix.AF_INET, ex...); err != nil {
			return err
		}
		v6, err = PrimaryAddr("eth0", unix.AF_INET6, ex...)
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	if v4 != netip.MustParseAddr("10.95.0.2") {
		t.Errorf("IPv4 primary = %s, want 10.95.0.2", v4)
	}
	if !v6.IsLinkLocalUnicast() {
		t.Errorf("IPv6 primary = %s, want the link-local address", v6)
	}
	err = a.Do(func() error {
		_, err := PrimaryAddr("lo", unix.AF_INET6)
		return err
	})
	if !errors.Is(err, ErrNoAddress) {
		t.Errorf("PrimaryAddr(lo, v6) = %v, want ErrNoAddress", err)
	}
	err = a.Do(func() error {
		_, err := PrimaryAddr("nonesuch", unix.AF_INET)
		return err
	})
	if !errors.Is(err, unix.ENODEV) {
		t.Errorf("PrimaryAddr on a missing interface = %v, want ENODEV", err)
	}
	if err := a.Do(m.RemoveAll); err != nil {
		t.Fatal(err)
	}
}
