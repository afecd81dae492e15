package host

import (
	"encoding/binary"
	"errors"
	"fmt"
	"net"
	"net/netip"
)

// Ethernet and protocol numbers used by the announcement frames.
const (
	etherTypeARP  = 0x0806
	etherTypeIPv6 = 0x86dd
	ethHeaderLen  = 14
	arpLen        = 28
	ipv6HeaderLen = 40
	naLen         = 24 // ICMPv6 header, flags and target
	optTargetLL   = 2  // ND option: target link-layer address
	protoICMPv6   = 58
	icmpNA        = 136
	ndHopLimit    = 255 // RFC 4861: ND messages must carry hop limit 255

	naFlagRouter    = 0x80000000
	naFlagSolicited = 0x40000000
	naFlagOverride  = 0x20000000
)

// ErrMalformed is wrapped by every error of ParseARP and ParseNA.
var ErrMalformed = errors.New("malformed frame")

var (
	broadcastMAC = net.HardwareAddr{0xff, 0xff, 0xff, 0xff, 0xff, 0xff}
	// allNodesMAC is ff02::1 mapped to Ethernet (RFC 2464 section 7).
	allNodesMAC = net.HardwareAddr{0x33, 0x33, 0, 0, 0, 1}
	allNodes    = netip.MustParseAddr("ff02::1")
)

// garpFrame builds the gratuitous ARP keepalived sends: an ARP request,
// broadcast, whose sender and target protocol addresses are both ip and
// whose target hardware address is the broadcast address. The request form
// (rather than a reply) is the one every stack updates its cache from.
func garpFrame(mac net.HardwareAddr, ip netip.Addr) ([]byte, error) {
	if len(mac) != 6 {
		return nil, fmt.Errorf("host: gratuitous ARP needs a 6-byte MAC, got %q", mac)
	}
	if !ip.Is4() {
		return nil, fmt.Errorf("host: gratuitous ARP for non-IPv4 address %s", ip)
	}
	b := make([]byte, ethHeaderLen+arpLen)
	copy(b[0:6], broadcastMAC)
	copy(b[6:12], mac)
	binary.BigEndian.PutUint16(b[12:14], etherTypeARP)
	a := b[ethHeaderLen:]
	binary.BigEndian.PutUint16(a[0:2], 1)      // hardware type: Ethernet
	binary.BigEndian.PutUint16(a[2:4], 0x0800) // protocol type: IPv4
	a[4], a[5] = 6, 4
	binary.BigEndian.PutUint16(a[6:8], 1) // request
	ip4 := ip.As4()
	copy(a[8:14], mac)
	copy(a[14:18], ip4[:])
	copy(a[18:24], broadcastMAC)
	copy(a[24:28], ip4[:])
	return b, nil
}

// naFrame builds an unsolicited neighbour advertisement (RFC 4861 section
// 7.2.6) for ip at mac, from ip to all nodes, with the Override flag so that
// receivers replace a cached entry, and the Router flag when the interface
// forwards (as keepalived does).
func naFrame(mac net.HardwareAddr, ip netip.Addr, router bool) ([]byte, error) {
	if len(mac) != 6 {
		return nil, fmt.Errorf("host: neighbour advertisement needs a 6-byte MAC, got %q", mac)
	}
	if !ip.Is6() || ip.Is4In6() {
		return nil, fmt.Errorf("host: neighbour advertisement for non-IPv6 address %s", ip)
	}
	const icmpLen = naLen + 8 // plus the target link-layer address option
	b := make([]byte, ethHeaderLen+ipv6HeaderLen+icmpLen)
	copy(b[0:6], allNodesMAC)
	copy(b[6:12], mac)
	binary.BigEndian.PutUint16(b[12:14], etherTypeIPv6)

	h := b[ethHeaderLen:]
	h[0] = 6 << 4
	binary.BigEndian.PutUint16(h[4:6], icmpLen)
	h[6] = protoICMPv6
	h[7] = ndHopLimit
	src, dst := ip.As16(), allNodes.As16()
	copy(h[8:24], src[:])
	copy(h[24:40], dst[:])

	m := h[ipv6HeaderLen:]
	m[0] = icmpNA
	flags := uint32(naFlagOverride)
	if router {
		flags |= naFlagRouter
	}
	binary.BigEndian.PutUint32(m[4:8], flags)
	copy(m[8:24], src[:])
	m[24] = optTargetLL
	m[25] = 1 // length in units of 8 bytes
	copy(m[26:32], mac)
	binary.BigEndian.PutUint16(m[2:4], icmpv6Checksum(src, dst, m))
	return b, nil
}

// icmpv6Checksum computes the ICMPv6 checksum of msg (with its checksum field
// zero, or set: a correct message sums to zero) over the IPv6 pseudo-header.
func icmpv6Checksum(src, dst [16]byte, msg []byte) uint16 {
	var sum uint32
	add := func(b []byte) {
		for i := 0; i+1 < len(b); i += 2 {
			sum += uint32(b[i])<<8 | uint32(b[i+1])
		}
		if len(b)%2 == 1 {
			sum += uint32(b[len(b)-1]) << 8
		}
	}
	add(src[:])
	add(dst[:])
	sum += uint32(len(msg)>>16) + uint32(len(msg)&0xffff)
	sum += protoICMPv6
	add(msg)
	for sum > 0xffff {
		sum = sum&0xffff + sum>>16
	}
	return ^uint16(sum)
}

// ARPPacket is a decoded Ethernet ARP frame for IPv4.
type ARPPacket struct {
	EthDst, EthSrc       net.HardwareAddr
	Op                   uint16 // 1 request, 2 reply
	SenderMAC, TargetMAC net.HardwareAddr
	SenderIP, TargetIP   netip.Addr
}

// Gratuitous reports whether the packet announces its sender address
// (sender and target protocol address equal).
func (p ARPPacket) Gratuitous() bool { return p.SenderIP == p.TargetIP }

// ParseARP decodes an Ethernet frame carrying an IPv4-over-Ethernet ARP
// packet. Trailing padding is allowed.
func ParseARP(frame []byte) (ARPPacket, error) {
	if len(frame) < ethHeaderLen+arpLen {
		return ARPPacket{}, fmt.Errorf("%w: ARP frame of %d bytes", ErrMalformed, len(frame))
	}
	if et := binary.BigEndian.Uint16(frame[12:14]); et != etherTypeARP {
		return ARPPacket{}, fmt.Errorf("%w: ethertype %#04x is not ARP", ErrMalformed, et)
	}
	a := frame[ethHeaderLen:]
	if binary.BigEndian.Uint16(a[0:2]) != 1 || binary.BigEndian.Uint16(a[2:4]) != 0x0800 || a[4] != 6 || a[5] != 4 {
		return ARPPacket{}, fmt.Errorf("%w: ARP is not IPv4 over Ethernet", ErrMalformed)
	}
	p := ARPPacket{
		EthDst:    cloneMAC(frame[0:6]),
		EthSrc:    cloneMAC(frame[6:12]),
		Op:        binary.BigEndian.Uint16(a[6:8]),
		SenderMAC: cloneMAC(a[8:14]),
		SenderIP:  netip.AddrFrom4([4]byte(a[14:18])),
		TargetMAC: cloneMAC(a[18:24]),
		TargetIP:  netip.AddrFrom4([4]byte(a[24:28])),
	}
	if p.Op != 1 && p.Op != 2 {
		return ARPPacket{}, fmt.Errorf("%w: ARP operation %d", ErrMalformed, p.Op)
	}
	return p, nil
}

// NAPacket is a decoded Ethernet frame carrying an ICMPv6 neighbour
// advertisement.
type NAPacket struct {
	EthDst, EthSrc              net.HardwareAddr
	Src, Dst                    netip.Addr
	HopLimit                    uint8
	Router, Solicited, Override bool
	Target                      netip.Addr
	TargetMAC                   net.HardwareAddr // from the option; nil when absent
}

// ParseNA decodes an Ethernet frame carrying an IPv6 neighbour advertisement
// with no extension headers. It checks the lengths, the ICMPv6 checksum and
// the option encoding, and rejects anything else.
func ParseNA(frame []byte) (NAPacket, error) {
	if len(frame) < ethHeaderLen+ipv6HeaderLen {
		return NAPacket{}, fmt.Errorf("%w: IPv6 frame of %d bytes", ErrMalformed, len(frame))
	}
	if et := binary.BigEndian.Uint16(frame[12:14]); et != etherTypeIPv6 {
		return NAPacket{}, fmt.Errorf("%w: ethertype %#04x is not IPv6", ErrMalformed, et)
	}
	h := frame[ethHeaderLen:]
	if h[0]>>4 != 6 {
		return NAPacket{}, fmt.Errorf("%w: IP version %d", ErrMalformed, h[0]>>4)
	}
	if h[6] != protoICMPv6 {
		return NAPacket{}, fmt.Errorf("%w: next header %d is not ICMPv6", ErrMalformed, h[6])
	}
	plen := int(binary.BigEndian.Uint16(h[4:6]))
	if plen < naLen || ipv6HeaderLen+plen > len(h) {
		return NAPacket{}, fmt.Errorf("%w: payload length %d with %d bytes present", ErrMalformed, plen, len(h)-ipv6HeaderLen)
	}
	src, dst := [16]byte(h[8:24]), [16]byte(h[24:40])
	m := h[ipv6HeaderLen : ipv6HeaderLen+plen]
	if m[0] != icmpNA || m[1] != 0 {
		return NAPacket{}, fmt.Errorf("%w: ICMPv6 type %d code %d is not a neighbour advertisement", ErrMalformed, m[0], m[1])
	}
	if icmpv6Checksum(src, dst, m) != 0 {
		return NAPacket{}, fmt.Errorf("%w: bad ICMPv6 checksum", ErrMalformed)
	}
	flags := binary.BigEndian.Uint32(m[4:8])
	p := NAPacket{
		EthDst:    cloneMAC(frame[0:6]),
		EthSrc:    cloneMAC(frame[6:12]),
		Src:       netip.AddrFrom16(src),
		Dst:       netip.AddrFrom16(dst),
		HopLimit:  h[7],
		Router:    flags&naFlagRouter != 0,
		Solicited: flags&naFlagSolicited != 0,
		Override:  flags&naFlagOverride != 0,
		Target:    netip.AddrFrom16([16]byte(m[8:24])),
	}
	if p.Target.IsMulticast() {
		return NAPacket{}, fmt.Errorf("%w: multicast target %s", ErrMalformed, p.Target)
	}
	for opts := m[naLen:]; len(opts) > 0; {
		if len(opts) < 8 || opts[1] == 0 || int(opts[1])*8 > len(opts) {
			return NAPacket{}, fmt.Errorf("%w: bad ND option encoding", ErrMalformed)
		}
		n := int(opts[1]) * 8
		if opts[0] == optTargetLL && n == 8 {
			p.TargetMAC = cloneMAC(opts[2:8])
		}
		opts = opts[n:]
	}
	return p, nil
}

func cloneMAC(b []byte) net.HardwareAddr {
	return net.HardwareAddr(append([]byte(nil), b...))
}
