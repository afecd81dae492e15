package nft

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"os"

	"github.com/vishvananda/netlink"
	"github.com/vishvananda/netns"
	"golang.org/x/sys/unix"
)

// Link is the interface on which a DR real server is directly reachable:
// the director's frames to it leave there, with the interface's MAC as
// their source, and clients' frames for its virtual services are taken
// there (the ingress chain's device).
type Link struct {
	Index int
	Name  string
	MAC   net.HardwareAddr
}

// NeighEvent is one change of the kernel's neighbour table.
type NeighEvent struct {
	Index int
	Addr  netip.Addr
	// MAC is the entry's link-layer address, nil if it has none.
	MAC net.HardwareAddr
	// State is the entry's NUD state (unix.NUD_*).
	State int
	// Gone is set when the kernel deleted the entry.
	Gone bool
}

// Neighbours is the plane's view of routes and the neighbour table, the
// OS boundary of DR forwarding; tests use a fake.
type Neighbours interface {
	// Route returns the interface addr is directly reachable on; an
	// address reached through a gateway, or a local one, is an error.
	Route(addr netip.Addr) (Link, error)
	// Lookup returns addr's MAC on link index if the kernel's entry holds
	// a usable one (see usable), else nil.
	Lookup(index int, addr netip.Addr) (net.HardwareAddr, error)
	// Resolve asks the kernel to resolve addr on link index (ARP or
	// neighbour solicitation), or to confirm an entry it holds.
	Resolve(index int, addr netip.Addr) error
	// Watch sends every change of the neighbour table to ch until ctx
	// ends.
	Watch(ctx context.Context, ch chan<- NeighEvent) error
}

// usable is whether an entry in this state has a MAC the kernel would
// send to: being confirmed (stale, delay, probe) is not a reason to stop.
func usable(state int) bool {
	return state&(unix.NUD_REACHABLE|unix.NUD_STALE|unix.NUD_DELAY|unix.NUD_PROBE|unix.NUD_PERMANENT|unix.NUD_NOARP) != 0
}

// nextMAC is what the plane makes of a neighbour event for a real server
// whose MAC is cur (nil: unknown): the MAC to use from now on, and whether
// to ask the kernel to resolve the address again. A usable entry gives its
// MAC; a failed resolution makes it unknown (the real server takes no new
// connections until it resolves); an entry being resolved or deleted
// (garbage collected, flushed) keeps the last MAC, since frames to the real
// server bypass the neighbour table and nothing else would refresh it, and
// asks for a new resolution.
func nextMAC(cur net.HardwareAddr, ev NeighEvent) (mac net.HardwareAddr, resolve bool) {
	switch {
	case ev.Gone:
		return cur, true
	case usable(ev.State) && len(ev.MAC) == 6:
		return ev.MAC, false
	case ev.State&unix.NUD_FAILED != 0:
		return nil, false
	}
	return cur, false
}

// kernelNeighbours is Neighbours over rtnetlink in one network namespace.
type kernelNeighbours struct {
	ns *os.File
	h  *netlink.Handle
}

func newKernelNeighbours(ns *os.File) (*kernelNeighbours, error) {
	h, err := netlink.NewHandleAt(netns.NsHandle(int(ns.Fd())))
	if err != nil {
		return nil, fmt.Errorf("rtnetlink: %w", err)
	}
	return &kernelNeighbours{ns: ns, h: h}, nil
}

func (k *kernelNeighbours) Route(addr netip.Addr) (Link, error) {
	rs, err := k.h.RouteGet(net.IP(addr.AsSlice()))
	if err != nil {
		return Link{}, fmt.Errorf("route to %s: %w", addr, err)
	}
	if len(rs) == 0 {
		return Link{}, fmt.Errorf("no route to %s", addr)
	}
	r := rs[0]
	if r.Gw != nil {
		return Link{}, fmt.Errorf("real server %s is reached through the gateway %s: lb_kind DR needs it on a directly connected network", addr, r.Gw)
	}
	if r.Type == unix.RTN_LOCAL {
		return Link{}, fmt.Errorf("real server %s is an address of the director itself", addr)
	}
	l, err := k.h.LinkByIndex(r.LinkIndex)
	if err != nil {
		return Link{}, fmt.Errorf("interface of the route to %s: %w", addr, err)
	}
	a := l.Attrs()
	if len(a.HardwareAddr) != 6 || l.Type() == "loopback" {
		return Link{}, fmt.Errorf("real server %s is reached on %s, which is not an Ethernet interface: lb_kind DR rewrites Ethernet frames", addr, a.Name)
	}
	return Link{Index: a.Index, Name: a.Name, MAC: a.HardwareAddr}, nil
}

func family(addr netip.Addr) int {
	if addr.Is4() {
		return netlink.FAMILY_V4
	}
	return netlink.FAMILY_V6
}

func (k *kernelNeighbours) Lookup(index int, addr netip.Addr) (net.HardwareAddr, error) {
	ns, err := k.h.NeighList(index, family(addr))
	if err != nil {
		return nil, fmt.Errorf("neighbours of interface %d: %w", index, err)
	}
	for _, n := range ns {
		if a, ok := netip.AddrFromSlice(n.IP); ok && a.Unmap() == addr && usable(n.State) && len(n.HardwareAddr) == 6 {
			return n.HardwareAddr, nil
		}
	}
	return nil, nil
}

// Resolve adds the entry with NTF_USE, which makes the kernel start (or
// confirm) its resolution as if a packet were queued to it, without
// sending the real server anything of ours.
func (k *kernelNeighbours) Resolve(index int, addr netip.Addr) error {
	err := k.h.NeighSet(&netlink.Neigh{LinkIndex: index, Family: family(addr), IP: net.IP(addr.AsSlice()), Flags: unix.NTF_USE})
	if err != nil {
		return fmt.Errorf("resolve %s: %w", addr, err)
	}
	return nil
}

func (k *kernelNeighbours) Watch(ctx context.Context, out chan<- NeighEvent) error {
	ns := netns.NsHandle(int(k.ns.Fd()))
	ch := make(chan netlink.NeighUpdate, 256)
	done := make(chan struct{})
	defer close(done)
	errc := make(chan error, 1)
	if err := netlink.NeighSubscribeWithOptions(ch, done, netlink.NeighSubscribeOptions{
		Namespace: &ns,
		ErrorCallback: func(err error) {
			select {
			case errc <- err:
			default:
			}
		},
	}); err != nil {
		return fmt.Errorf("neighbour updates: %w", err)
	}
	for {
		select {
		case <-ctx.Done():
			return nil
		case err := <-errc:
			return fmt.Errorf("neighbour updates: %w", err)
		case u, ok := <-ch:
			if !ok {
				return errors.New("neighbour updates: subscription closed")
			}
			a, ok := netip.AddrFromSlice(u.IP)
			if !ok {
				continue
			}
			ev := NeighEvent{Index: u.LinkIndex, Addr: a.Unmap(), MAC: u.HardwareAddr, State: u.State, Gone: u.Type == unix.RTM_DELNEIGH}
			select {
			case out <- ev:
			case <-ctx.Done():
				return nil
			}
		}
	}
}

func (k *kernelNeighbours) close() { k.h.Close() }
