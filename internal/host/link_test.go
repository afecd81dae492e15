package host

import (
	"net"
	"net/netip"
	"testing"

	"github.com/vishvananda/netlink"
	"github.com/vishvananda/netlink/nl"
	"golang.org/x/sys/unix"
)

func update(typ uint16, index int32, name string, flags uint32) netlink.LinkUpdate {
	u := netlink.LinkUpdate{Link: &netlink.Dummy{LinkAttrs: netlink.LinkAttrs{Name: name, Index: int(index)}}}
	u.Header.Type = typ
	u.IfInfomsg = nl.IfInfomsg{IfInfomsg: unix.IfInfomsg{Index: index, Flags: flags}}
	return u
}

func TestLinkEvent(t *testing.T) {
	const up = unix.IFF_UP | unix.IFF_RUNNING | unix.IFF_BROADCAST
	steps := []struct {
		u      netlink.LinkUpdate
		want   LinkEvent
		report bool
	}{
		{update(unix.RTM_NEWLINK, 2, "eth0", up), LinkEvent{Name: "eth0", Index: 2, Up: true}, true},
		{update(unix.RTM_NEWLINK, 3, "eth1", unix.IFF_UP), LinkEvent{Name: "eth1", Index: 3}, true},      // no carrier
		{update(unix.RTM_NEWLINK, 2, "eth0", up|unix.IFF_PROMISC), LinkEvent{}, false},                   // no change in usability
		{update(unix.RTM_NEWLINK, 2, "eth0", unix.IFF_RUNNING), LinkEvent{Name: "eth0", Index: 2}, true}, // admin down
		{update(unix.RTM_NEWLINK, 2, "eth0", unix.IFF_RUNNING), LinkEvent{}, false},
		{update(unix.RTM_NEWLINK, 3, "eth1", up), LinkEvent{Name: "eth1", Index: 3, Up: true}, true},
		{update(unix.RTM_DELLINK, 3, "eth1", up), LinkEvent{Name: "eth1", Index: 3, Deleted: true}, true},
		// A new interface reusing the index is reported afresh.
		{update(unix.RTM_NEWLINK, 3, "eth1", up), LinkEvent{Name: "eth1", Index: 3, Up: true}, true},
	}
	last := make(map[int]bool)
	for i, s := range steps {
		got, ok := linkEvent(s.u, last)
		if ok != s.report {
			t.Fatalf("step %d: reported %v, want %v", i, ok, s.report)
		}
		if ok && got != s.want {
			t.Fatalf("step %d: event %+v, want %+v", i, got, s.want)
		}
	}
}

func TestPickPrimary(t *testing.T) {
	mk := func(cidr string, flags int) netlink.Addr {
		ip, n, _ := net.ParseCIDR(cidr)
		n.IP = ip
		return netlink.Addr{IPNet: n, Flags: flags}
	}
	list := []netlink.Addr{
		mk("192.168.1.10/24", 0),
		mk("192.168.1.100/24", flagSecondary),
		mk("10.9.0.1/32", 0), // a VIP in another subnet is primary too
		mk("fd00::5/64", 0),
		mk("fe80::1/64", flagTentative),
		mk("fe80::2/64", 0),
	}
	ex := func(s ...string) []netip.Addr {
		var a []netip.Addr
		for _, x := range s {
			a = append(a, netip.MustParseAddr(x))
		}
		return a
	}
	tests := []struct {
		name    string
		addrs   []netlink.Addr
		family  int
		exclude []netip.Addr
		want    string // empty: none
	}{
		{"v4 first primary", list, unix.AF_INET, nil, "192.168.1.10"},
		{"v4 skip excluded and secondary", list, unix.AF_INET, ex("192.168.1.10"), "10.9.0.1"},
		{"v4 none left", list, unix.AF_INET, ex("192.168.1.10", "10.9.0.1"), ""},
		{"v6 link-local, not tentative", list, unix.AF_INET6, nil, "fe80::2"},
		{"v6 excluded", list, unix.AF_INET6, ex("fe80::2"), ""},
		{"empty", nil, unix.AF_INET, nil, ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, ok := pickPrimary(tc.addrs, tc.family, tc.exclude)
			if tc.want == "" {
				if ok {
					t.Fatalf("got %s, want none", got)
				}
				return
			}
			if !ok || got != netip.MustParseAddr(tc.want) {
				t.Fatalf("got %s,%v, want %s", got, ok, tc.want)
			}
		})
	}
}
