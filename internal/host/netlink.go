package host

import (
	"errors"
	"fmt"
	"net"
	"net/netip"

	"github.com/vishvananda/netlink"
	"golang.org/x/sys/unix"
)

// netlinkOps is the real addrOps. It works in the network namespace of the
// calling thread, like every other function of this package.
type netlinkOps struct{}

func (netlinkOps) add(a Address) error {
	link, na, err := toNetlink(a)
	if err != nil {
		return err
	}
	return netlink.AddrAdd(link, na)
}

func (netlinkOps) del(a Address) error {
	link, na, err := toNetlink(a)
	if err != nil {
		return err
	}
	return netlink.AddrDel(link, na)
}

func (netlinkOps) list(dev string) ([]netip.Prefix, error) {
	link, err := linkByName(dev)
	if err != nil {
		return nil, err
	}
	addrs, err := netlink.AddrList(link, netlink.FAMILY_ALL)
	if err != nil {
		return nil, err
	}
	out := make([]netip.Prefix, 0, len(addrs))
	for _, na := range addrs {
		if p, ok := prefixOf(na.IPNet); ok {
			out = append(out, p)
		}
	}
	return out, nil
}

// linkByName looks an interface up, turning "not found" into ENODEV so
// callers can test for it with errors.Is.
func linkByName(dev string) (netlink.Link, error) {
	link, err := netlink.LinkByName(dev)
	var nf netlink.LinkNotFoundError
	if errors.As(err, &nf) {
		return nil, fmt.Errorf("interface %s: %w", dev, unix.ENODEV)
	}
	if err != nil {
		return nil, fmt.Errorf("interface %s: %w", dev, err)
	}
	return link, nil
}

// toNetlink converts a validated Address into the netlink library's form.
func toNetlink(a Address) (netlink.Link, *netlink.Addr, error) {
	link, err := linkByName(a.Dev)
	if err != nil {
		return nil, nil, err
	}
	scope, err := a.scope()
	if err != nil {
		return nil, nil, err
	}
	ip := a.Prefix.Addr()
	na := &netlink.Addr{
		IPNet: ipNet(ip, a.Prefix.Bits()),
		Label: a.Label,
		Flags: a.flags(),
		Scope: int(scope),
	}
	if a.Peer.IsValid() {
		na.Peer = ipNet(a.Peer.Addr(), a.Peer.Bits())
	}
	if ip.Is4() {
		if a.Broadcast.IsValid() {
			na.Broadcast = net.IP(a.Broadcast.AsSlice())
		} else {
			// The library computes a broadcast address when none is
			// given; the zero address tells it to send none, which is
			// what keepalived does without "brd".
			na.Broadcast = net.IPv4zero
		}
	}
	if lft, set, err := a.preferredLft(); err != nil {
		return nil, nil, err
	} else if set {
		na.PreferedLft = int(lft)
		na.ValidLft = lifetimeForever
	}
	return link, na, nil
}

func ipNet(ip netip.Addr, bits int) *net.IPNet {
	return &net.IPNet{IP: net.IP(ip.AsSlice()), Mask: net.CIDRMask(bits, ip.BitLen())}
}

// prefixOf converts a kernel address to a prefix holding the local address
// and the stored prefix length.
func prefixOf(n *net.IPNet) (netip.Prefix, bool) {
	if n == nil {
		return netip.Prefix{}, false
	}
	ip, ok := netip.AddrFromSlice(n.IP)
	if !ok {
		return netip.Prefix{}, false
	}
	ip = ip.Unmap()
	bits, _ := n.Mask.Size()
	return netip.PrefixFrom(ip, bits), true
}
