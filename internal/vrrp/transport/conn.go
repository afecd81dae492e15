// Package transport owns the sockets VRRP speaks through: one raw IP protocol
// 112 socket per interface and address family, bound to the interface, with
// TTL / hop limit 255 on everything it sends, multicast loopback off, and the
// IP-layer facts (source, destination, TTL, interface) of everything it
// receives. A Mux shares one socket among the instances of an interface.
//
// The package moves bytes only: encoding, checksums (IPv6 included) and every
// validation are the codec's and the instance's, in package vrrp.
//
// VRRPv2 with AH authentication has a socket of its own (ListenAH): IP
// protocol 51, on which the caller builds the IPv4 header itself and receives
// it whole, because the AH integrity check covers it.
package transport

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"sync"
	"syscall"
	"time"

	"golang.org/x/net/ipv4"
	"golang.org/x/net/ipv6"
	"golang.org/x/sys/unix"
)

// ipProtocol is VRRP's IP protocol number.
const ipProtocol = 112

// ahProtocol is the IP protocol number of the IPsec Authentication Header,
// which carries VRRPv2 adverts with auth_type AH.
const ahProtocol = 51

// vrrpTTL is the TTL / hop limit VRRP sends with and requires on receipt
// (RFC 3768 5.2.3, RFC 5798 5.1.1.3): 255 proves the sender is on the link.
const vrrpTTL = 255

// tosNetControl is the IPv4 TOS / IPv6 traffic class keepalived uses for
// adverts (DSCP CS6, network control), so that switches queue them first.
const tosNetControl = 0xc0

// Well-known VRRP multicast groups (RFC 5798 5.1.1.2 and 5.1.2.2).
var (
	Group4 = netip.MustParseAddr("224.0.0.18")
	Group6 = netip.MustParseAddr("ff02::12")
)

// ErrTruncated is returned by ReadFrom when the datagram filled the whole
// buffer and so may have been cut short; the bytes are not to be trusted.
var ErrTruncated = errors.New("transport: datagram fills the read buffer, possibly truncated")

// Meta is what the IP layer tells about a received packet.
type Meta struct {
	Src, Dst netip.Addr // without zone; IPv4 addresses are plain 4-byte ones
	TTL      int        // hop limit for v6
	IfIndex  int        // interface the packet came in on
}

// Conn is one raw IP protocol 112 socket for one interface and one family,
// or one IPv4 protocol 51 socket (ListenAH).
// ReadFrom and WriteTo may be called from different goroutines at once;
// ReadFrom itself from one goroutine at a time (the Mux's reader).
type Conn struct {
	family int
	ifi    *net.Interface
	pc     net.PacketConn
	p4     *ipv4.PacketConn // family 4
	p6     *ipv6.PacketConn // family 6
	raw4   *ipv4.RawConn    // AH only: reads the IPv4 header along with the rest

	unicastHop int // IPv6 unicast hop limit, sent in each packet's control message

	raw  syscall.RawConn      // the descriptor, for the receive fast path (recv.go)
	oob  []byte               // its control-message buffer, used by the one reader
	name *unix.RawSockaddrAny // and the sender's address

	// rxMu guards the open Receiver, if any, and the groups joined, which
	// a Receiver mirrors.
	rxMu   sync.Mutex
	rx     *Receiver
	groups map[netip.Addr]bool
}

// Listen opens it on ifname for family 4 or 6, bound to the device, with multicast TTL/hop limit 255,
// multicast loopback off, and outgoing interface set.
//
// For IPv6 the kernel is told to neither compute nor verify the checksum
// (IPV6_CHECKSUM -1): the codec writes it and Parse checks it, so both ends of
// the check are ours and visible in the drop counters. For IPv4 the socket
// receives only groups it joined itself (IP_MULTICAST_ALL off), so a group
// joined by some other socket on the host does not leak in.
func Listen(ifname string, family int) (*Conn, error) {
	return listen(ifname, family, ipProtocol)
}

// ListenAH opens an IPv4 protocol 51 (IPsec AH) socket on ifname for VRRPv2
// instances with auth_type AH, set up as Listen sets up an IPv4 socket (bound
// to the device, TOS, multicast TTL 255 and loopback off, only the groups it
// joins itself). On it, WriteTo sends whole IPv4 datagrams the caller built
// (IP_HDRINCL) and ReadFrom returns whole IPv4 datagrams, header included:
// the AH integrity check covers the IPv4 header, so the codec must build it
// and see it.
func ListenAH(ifname string) (*Conn, error) {
	return listen(ifname, 4, ahProtocol)
}

func listen(ifname string, family, proto int) (*Conn, error) {
	var network, laddr string
	switch family {
	case 4:
		network, laddr = fmt.Sprintf("ip4:%d", proto), "0.0.0.0"
	case 6:
		network, laddr = fmt.Sprintf("ip6:%d", proto), "::"
	default:
		return nil, fmt.Errorf("transport: family %d, want 4 or 6", family)
	}
	ifi, err := net.InterfaceByName(ifname)
	if err != nil {
		return nil, fmt.Errorf("transport: interface %q: %w", ifname, err)
	}
	lc := net.ListenConfig{Control: func(_, _ string, rc syscall.RawConn) error {
		var serr error
		err := rc.Control(func(fd uintptr) {
			// Bound before bind(2), so no packet from another interface is
			// ever queued on this socket.
			if serr = unix.BindToDevice(int(fd), ifname); serr != nil {
				serr = fmt.Errorf("SO_BINDTODEVICE %s: %w", ifname, serr)
				return
			}
			if family == 4 {
				if serr = unix.SetsockoptInt(int(fd), unix.IPPROTO_IP, unix.IP_MULTICAST_ALL, 0); serr != nil {
					serr = fmt.Errorf("IP_MULTICAST_ALL: %w", serr)
				}
			}
		})
		if err != nil {
			return err
		}
		return serr
	}}
	pc, err := lc.ListenPacket(context.Background(), network, laddr)
	if err != nil {
		return nil, fmt.Errorf("transport: open %s on %s: %w", network, ifname, err)
	}
	c := &Conn{family: family, ifi: ifi, pc: pc, unicastHop: vrrpTTL}
	if sc, ok := pc.(syscall.Conn); ok {
		if c.raw, err = sc.SyscallConn(); err != nil {
			pc.Close()
			return nil, fmt.Errorf("transport: %s on %s: %w", network, ifname, err)
		}
	}
	if family == 4 {
		err = c.setup4()
	} else {
		err = c.setup6()
	}
	if err == nil && proto == ahProtocol {
		err = c.setupAH()
	}
	if err != nil {
		pc.Close()
		return nil, fmt.Errorf("transport: set up %s on %s: %w", network, ifname, err)
	}
	return c, nil
}

func (c *Conn) setup4() error {
	c.p4 = ipv4.NewPacketConn(c.pc)
	steps := []struct {
		what string
		err  func() error
	}{
		{"control messages", func() error {
			return c.p4.SetControlMessage(ipv4.FlagTTL|ipv4.FlagDst|ipv4.FlagInterface, true)
		}},
		{"multicast TTL", func() error { return c.p4.SetMulticastTTL(vrrpTTL) }},
		{"unicast TTL", func() error { return c.p4.SetTTL(vrrpTTL) }},
		{"multicast loopback", func() error { return c.p4.SetMulticastLoopback(false) }},
		{"multicast interface", func() error { return c.p4.SetMulticastInterface(c.ifi) }},
		{"TOS", func() error { return c.p4.SetTOS(tosNetControl) }},
	}
	for _, s := range steps {
		if err := s.err(); err != nil {
			return fmt.Errorf("%s: %w", s.what, err)
		}
	}
	return nil
}

// setupAH turns on IP_HDRINCL (ipv4.NewRawConn does) and asks for the
// receiving interface with each datagram; source, destination and TTL come
// from the header itself.
func (c *Conn) setupAH() error {
	raw, err := ipv4.NewRawConn(c.pc)
	if err != nil {
		return fmt.Errorf("IP_HDRINCL: %w", err)
	}
	if err := raw.SetControlMessage(ipv4.FlagInterface, true); err != nil {
		return fmt.Errorf("control messages: %w", err)
	}
	c.raw4 = raw
	return nil
}

func (c *Conn) setup6() error {
	c.p6 = ipv6.NewPacketConn(c.pc)
	steps := []struct {
		what string
		err  func() error
	}{
		{"checksum offload off", func() error { return c.p6.SetChecksum(false, 0) }},
		{"control messages", func() error {
			return c.p6.SetControlMessage(ipv6.FlagHopLimit|ipv6.FlagDst|ipv6.FlagInterface, true)
		}},
		{"multicast hop limit", func() error { return c.p6.SetMulticastHopLimit(vrrpTTL) }},
		{"unicast hop limit", func() error { return c.p6.SetHopLimit(vrrpTTL) }},
		{"multicast loopback", func() error { return c.p6.SetMulticastLoopback(false) }},
		{"multicast interface", func() error { return c.p6.SetMulticastInterface(c.ifi) }},
		{"traffic class", func() error { return c.p6.SetTrafficClass(tosNetControl) }},
	}
	for _, s := range steps {
		if err := s.err(); err != nil {
			return fmt.Errorf("%s: %w", s.what, err)
		}
	}
	return nil
}

// Family returns 4 or 6.
func (c *Conn) Family() int { return c.family }

// AH reports whether c is an AH socket (ListenAH), which reads and writes
// whole IPv4 datagrams.
func (c *Conn) AH() bool { return c.raw4 != nil }

// Interface returns the interface the socket is bound to, as it was when
// Listen ran.
func (c *Conn) Interface() *net.Interface { return c.ifi }

// SetUnicastTTL changes the TTL / hop limit of unicast adverts from the
// default 255 (keepalived's unicast_ttl, for peers more than one hop away).
// Multicast always goes out with 255. On an AH socket the TTL is the one in
// the caller's header, so there it is an error.
func (c *Conn) SetUnicastTTL(ttl int) error {
	if ttl < 1 || ttl > 255 {
		return fmt.Errorf("transport: unicast TTL %d, want 1..255", ttl)
	}
	if c.AH() {
		return errors.New("transport: an AH socket sends the TTL of the caller's IPv4 header")
	}
	if c.family == 4 {
		return c.p4.SetTTL(ttl)
	}
	if err := c.p6.SetHopLimit(ttl); err != nil {
		return err
	}
	c.unicastHop = ttl
	return nil
}

// checkGroup rejects a group that is not multicast or not of the family.
func (c *Conn) checkGroup(group netip.Addr) error {
	if !group.IsMulticast() || c.fits(group) != nil {
		return fmt.Errorf("transport: %v is not an IPv%d multicast group", group, c.family)
	}
	return nil
}

// fits says whether a is a valid address of the socket's family.
func (c *Conn) fits(a netip.Addr) error {
	if !a.IsValid() || (c.family == 4) != a.Is4() || a.Is4In6() {
		return fmt.Errorf("transport: %v is not an IPv%d address", a, c.family)
	}
	return nil
}

// JoinGroup joins group (224.0.0.18 / ff02::12 or vrrp_mcast_group4/6) on the
// socket's interface.
func (c *Conn) JoinGroup(group netip.Addr) error {
	if err := c.checkGroup(group); err != nil {
		return err
	}
	ga := &net.IPAddr{IP: group.AsSlice()}
	var err error
	if c.family == 4 {
		err = c.p4.JoinGroup(c.ifi, ga)
	} else {
		err = c.p6.JoinGroup(c.ifi, ga)
	}
	if err != nil {
		return fmt.Errorf("transport: join %v on %s: %w", group, c.ifi.Name, err)
	}
	c.rxMu.Lock()
	defer c.rxMu.Unlock()
	if c.groups == nil {
		c.groups = map[netip.Addr]bool{}
	}
	c.groups[group] = true
	if c.rx != nil {
		if err := c.rx.membership(group, true); err != nil {
			return fmt.Errorf("transport: join %v on %s (receiver): %w", group, c.ifi.Name, err)
		}
	}
	return nil
}

// LeaveGroup leaves a group joined with JoinGroup.
func (c *Conn) LeaveGroup(group netip.Addr) error {
	if err := c.checkGroup(group); err != nil {
		return err
	}
	ga := &net.IPAddr{IP: group.AsSlice()}
	var err error
	if c.family == 4 {
		err = c.p4.LeaveGroup(c.ifi, ga)
	} else {
		err = c.p6.LeaveGroup(c.ifi, ga)
	}
	if err != nil {
		return fmt.Errorf("transport: leave %v on %s: %w", group, c.ifi.Name, err)
	}
	c.rxMu.Lock()
	defer c.rxMu.Unlock()
	delete(c.groups, group)
	if c.rx != nil {
		if err := c.rx.membership(group, false); err != nil {
			return fmt.Errorf("transport: leave %v on %s (receiver): %w", group, c.ifi.Name, err)
		}
	}
	return nil
}

// ReadFrom returns the VRRP payload (IPv4 header stripped) and its metadata.
// On an AH socket it returns the whole IPv4 datagram (IPv4 header, AH
// header, VRRP payload), and Meta's addresses and TTL are the header's.
//
// b should be large enough for any datagram (64 KiB): a datagram that fills b
// is reported as ErrTruncated, as the socket API does not say whether more was
// cut off.
func (c *Conn) ReadFrom(b []byte) (int, Meta, error) {
	if c.AH() {
		return c.readAH(b)
	}
	if c.raw != nil {
		return c.recvFast(b)
	}
	var (
		n    int
		meta Meta
		src  net.Addr
		err  error
	)
	if c.family == 4 {
		var cm *ipv4.ControlMessage
		n, cm, src, err = c.p4.ReadFrom(b)
		if err == nil && cm != nil {
			meta.Dst = toAddr(cm.Dst)
			meta.TTL = cm.TTL
			meta.IfIndex = cm.IfIndex
		}
	} else {
		var cm *ipv6.ControlMessage
		n, cm, src, err = c.p6.ReadFrom(b)
		if err == nil && cm != nil {
			meta.Dst = toAddr(cm.Dst)
			meta.TTL = cm.HopLimit
			meta.IfIndex = cm.IfIndex
		}
	}
	if err != nil {
		return 0, Meta{}, err
	}
	if ia, ok := src.(*net.IPAddr); ok {
		meta.Src = toAddr(ia.IP)
	}
	if n >= len(b) {
		return n, meta, ErrTruncated
	}
	return n, meta, nil
}

// readAH reads one whole datagram into b.
func (c *Conn) readAH(b []byte) (int, Meta, error) {
	h, p, cm, err := c.raw4.ReadFrom(b)
	if err != nil {
		return 0, Meta{}, err
	}
	// The header and payload are b's first bytes, in that order.
	n := h.Len + len(p)
	meta := Meta{Src: toAddr(h.Src), Dst: toAddr(h.Dst), TTL: h.TTL}
	if cm != nil {
		meta.IfIndex = cm.IfIndex
	}
	if n >= len(b) {
		return n, meta, ErrTruncated
	}
	return n, meta, nil
}

// toAddr converts a net.IP to a zoneless netip.Addr, IPv4 in its 4-byte form.
func toAddr(ip net.IP) netip.Addr {
	a, ok := netip.AddrFromSlice(ip)
	if !ok {
		return netip.Addr{}
	}
	return a.Unmap()
}

// WriteTo sends payload from src to dst with TTL/hop limit 255 (unicast too: keepalived sends 255).
//
// src must be an address of the interface (the kernel refuses others); the
// zero Addr lets the kernel choose. The payload goes out as is: for IPv6 the
// kernel does not touch the checksum the codec put in.
//
// On an AH socket payload is the whole IPv4 datagram, sent as built except
// for the header checksum, which the kernel fills in; its source and
// destination must be src (if valid) and dst.
func (c *Conn) WriteTo(payload []byte, src, dst netip.Addr) error {
	if err := c.fits(dst); err != nil {
		return err
	}
	if src.IsValid() {
		if err := c.fits(src); err != nil {
			return err
		}
	}
	var (
		n   int
		err error
	)
	switch {
	case c.AH():
		if err := checkHeader(payload, src, dst); err != nil {
			return err
		}
		n, err = c.pc.WriteTo(payload, &net.IPAddr{IP: dst.AsSlice()})
	default:
		n, err = c.sendFast(payload, src, dst)
		if errors.Is(err, errSendAgain) {
			n, err = c.sendSlow(payload, src, dst)
		}
	}
	if err != nil {
		return fmt.Errorf("transport: send %v -> %v on %s: %w", src, dst, c.ifi.Name, err)
	}
	if n != len(payload) {
		return fmt.Errorf("transport: send %v -> %v on %s: wrote %d of %d bytes", src, dst, c.ifi.Name, n, len(payload))
	}
	return nil
}

// sendSlow sends through x/net, which waits in the runtime poller when the
// socket buffer is full.
func (c *Conn) sendSlow(payload []byte, src, dst netip.Addr) (int, error) {
	if c.family == 4 {
		cm := &ipv4.ControlMessage{IfIndex: c.ifi.Index}
		if src.IsValid() {
			cm.Src = src.AsSlice()
		}
		return c.p4.WriteTo(payload, cm, &net.IPAddr{IP: dst.AsSlice()})
	}
	cm := &ipv6.ControlMessage{IfIndex: c.ifi.Index, HopLimit: c.unicastHop}
	if dst.IsMulticast() {
		cm.HopLimit = vrrpTTL
	}
	if src.IsValid() {
		cm.Src = src.AsSlice()
	}
	to := &net.IPAddr{IP: dst.AsSlice()}
	if dst.IsLinkLocalUnicast() {
		to.Zone = c.ifi.Name
	}
	return c.p6.WriteTo(payload, cm, to)
}

// checkHeader checks that b starts with an IPv4 header for an AH socket
// from src (if valid) to dst, with its total length right: the kernel takes
// the addresses from the header, not from the call.
func checkHeader(b []byte, src, dst netip.Addr) error {
	h, err := ipv4.ParseHeader(b)
	switch {
	case err != nil:
		return fmt.Errorf("transport: AH datagram: %w", err)
	case h.Version != 4 || h.Protocol != ahProtocol || h.TotalLen != len(b):
		return fmt.Errorf("transport: AH datagram: version %d, protocol %d, total length %d of %d bytes: not an IPv4 AH datagram",
			h.Version, h.Protocol, h.TotalLen, len(b))
	case toAddr(h.Dst) != dst || (src.IsValid() && toAddr(h.Src) != src):
		return fmt.Errorf("transport: AH datagram from %v to %v, sent as %v -> %v", h.Src, h.Dst, src, dst)
	}
	return nil
}

// SetReadDeadline makes a blocked ReadFrom return at t (a time in the past:
// at once); the zero time removes the deadline.
func (c *Conn) SetReadDeadline(t time.Time) error {
	return c.pc.SetReadDeadline(t)
}

// Close closes the socket; a blocked ReadFrom returns an error wrapping
// net.ErrClosed.
func (c *Conn) Close() error {
	c.rxMu.Lock()
	rx := c.rx
	c.rxMu.Unlock()
	if rx != nil {
		rx.Close()
	}
	return c.pc.Close()
}
