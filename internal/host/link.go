package host

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"slices"
	"sync"

	"github.com/vishvananda/netlink"
	"golang.org/x/sys/unix"
)

// ErrNoAddress is returned by PrimaryAddr when the interface has no usable
// address of the family.
var ErrNoAddress = errors.New("host: no usable address")

// LinkEvent is a change of an interface's usability.
type LinkEvent struct {
	// Name is the interface name.
	Name string
	// Index is the interface index; it identifies the interface even
	// across renames.
	Index int
	// Up is true when the interface is administratively up and has
	// carrier (IFF_UP and IFF_RUNNING), keepalived's test for a usable
	// interface.
	Up bool
	// Deleted is true when the interface went away (Up is then false).
	Deleted bool
}

// isUp is keepalived's definition of a usable interface.
func isUp(flags uint32) bool {
	return flags&unix.IFF_UP != 0 && flags&unix.IFF_RUNNING != 0
}

// WatchLinks reports interface changes in the network namespace of the
// calling thread. It first reports the current state of every interface,
// then one event each time an interface becomes usable or unusable, or is
// deleted; changes that do not affect usability (MTU, statistics) are not
// reported. The channel is closed when ctx is done, or earlier if the
// netlink subscription fails (e.g. the socket overflowed): a caller that sees
// the channel close before ctx is done should re-subscribe.
func WatchLinks(ctx context.Context) (<-chan LinkEvent, error) {
	in := make(chan netlink.LinkUpdate, 64)
	done := make(chan struct{})
	err := netlink.LinkSubscribeWithOptions(in, done, netlink.LinkSubscribeOptions{
		ListExisting: true,
		// A large buffer makes overflow under a burst of link changes
		// (hundreds of VMACs coming up) unlikely.
		ReceiveBufferSize: 1 << 20,
	})
	if err != nil {
		close(done)
		return nil, fmt.Errorf("host: subscribe to link changes: %w", err)
	}
	out := make(chan LinkEvent, 16)
	go func() {
		defer close(out)
		// done closes the subscription socket: on cancel, and also when
		// the subscription ended by itself, so the socket never leaks.
		closeDone := sync.OnceFunc(func() { close(done) })
		defer closeDone()
		stop := context.AfterFunc(ctx, closeDone)
		defer stop()
		last := make(map[int]bool)
		for u := range in {
			ev, ok := linkEvent(u, last)
			if !ok || ctx.Err() != nil {
				// Keep draining: the subscriber goroutine must not
				// block on a send once the socket is closed.
				continue
			}
			select {
			case out <- ev:
			case <-ctx.Done():
			}
		}
	}()
	return out, nil
}

// linkEvent turns a netlink update into an event, or reports false when
// the update does not change the interface's usability as recorded in last.
func linkEvent(u netlink.LinkUpdate, last map[int]bool) (LinkEvent, bool) {
	attrs := u.Link.Attrs()
	ev := LinkEvent{Index: int(u.Index), Name: attrs.Name}
	if u.Header.Type == unix.RTM_DELLINK {
		delete(last, ev.Index)
		ev.Deleted = true
		return ev, true
	}
	ev.Up = isUp(u.Flags)
	if prev, seen := last[ev.Index]; seen && prev == ev.Up {
		return ev, false
	}
	last[ev.Index] = ev.Up
	return ev, true
}

// LinkUp reports whether ifname is administratively up and has carrier.
func LinkUp(ifname string) (bool, error) {
	link, err := linkByName(ifname)
	if err != nil {
		return false, fmt.Errorf("host: %w", err)
	}
	return isUp(link.Attrs().RawFlags), nil
}

// PrimaryAddr returns the address of ifname that keepalived would use as the
// source of adverts: for IPv4 (family unix.AF_INET) the first primary (not
// secondary) address, for IPv6 (unix.AF_INET6) the first link-local address
// that has finished duplicate address detection. Addresses in exclude (our
// own VIPs, see Manager.Owned) are skipped, so that a VIP added first on an
// otherwise empty interface is never taken for the interface's own address.
func PrimaryAddr(ifname string, family int, exclude ...netip.Addr) (netip.Addr, error) {
	if family != unix.AF_INET && family != unix.AF_INET6 {
		return netip.Addr{}, fmt.Errorf("host: primary address: unsupported family %d", family)
	}
	link, err := linkByName(ifname)
	if err != nil {
		return netip.Addr{}, fmt.Errorf("host: %w", err)
	}
	addrs, err := netlink.AddrList(link, family)
	if err != nil {
		return netip.Addr{}, fmt.Errorf("host: addresses of %s: %w", ifname, err)
	}
	if a, ok := pickPrimary(addrs, family, exclude); ok {
		return a, nil
	}
	return netip.Addr{}, fmt.Errorf("%w: %s has no %s address", ErrNoAddress, ifname, familyName(family))
}

// pickPrimary applies PrimaryAddr's rule to a kernel address list.
func pickPrimary(addrs []netlink.Addr, family int, exclude []netip.Addr) (netip.Addr, bool) {
	for _, na := range addrs {
		p, ok := prefixOf(na.IPNet)
		if !ok || slices.Contains(exclude, p.Addr()) {
			continue
		}
		ip := p.Addr()
		switch family {
		case unix.AF_INET:
			if !ip.Is4() || na.Flags&flagSecondary != 0 {
				continue
			}
		case unix.AF_INET6:
			if !ip.Is6() || !ip.IsLinkLocalUnicast() || na.Flags&(flagTentative|flagDADFailed) != 0 {
				continue
			}
		}
		return ip, true
	}
	return netip.Addr{}, false
}

func familyName(family int) string {
	if family == unix.AF_INET6 {
		return "IPv6 link-local"
	}
	return "IPv4"
}

// hardwareAddr returns the interface's index and MAC address. It asks the
// kernel for that one link: net.InterfaceByName lists every interface to
// find one, which, for each gratuitous ARP of hundreds of instances, was
// most of what the daemon allocated (docs/BENCHMARKS.md).
func hardwareAddr(ifname string) (int, net.HardwareAddr, error) {
	l, err := netlink.LinkByName(ifname)
	if err != nil {
		return 0, nil, fmt.Errorf("host: interface %s: %w", ifname, err)
	}
	return l.Attrs().Index, l.Attrs().HardwareAddr, nil
}
