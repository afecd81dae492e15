package vrrp

import (
	"encoding/binary"
	"errors"
	"fmt"
	"net/netip"
	"time"
)

// IPProtocol is the IP protocol number of VRRP (and the IPv6 next header).
const IPProtocol = 112

// Wire layout constants (RFC 3768 section 5.1, RFC 5798 section 5.1).
const (
	headerLen  = 8 // version/type, VRID, priority, count, v2 auth/interval or v3 interval, checksum
	authLen    = 8 // v2 only: the authentication data that follows the addresses
	typeAdvert = 1

	// MaxAddrs is the largest number of addresses one advertisement carries:
	// the count field is one byte.
	MaxAddrs = 255
	// MaxIntervalV2 is the largest v2 advertisement interval (one byte of seconds).
	MaxIntervalV2 = 255 * time.Second
	// MaxIntervalV3 is the largest v3 advertisement interval (12 bits of centiseconds).
	MaxIntervalV3 = 4095 * 10 * time.Millisecond
)

// AuthType is the VRRPv2 authentication type.
type AuthType uint8

// VRRPv2 authentication types (RFC 2338; RFC 3768 keeps only the field).
const (
	AuthNone AuthType = 0
	AuthPass AuthType = 1
	AuthAH   AuthType = 2
)

// String names the type as keepalived's configuration does.
func (a AuthType) String() string {
	switch a {
	case AuthNone:
		return "NONE"
	case AuthPass:
		return "PASS"
	case AuthAH:
		return "AH"
	}
	return fmt.Sprintf("AuthType(%d)", uint8(a))
}

// Packet is one VRRP advertisement (the VRRP payload, without the IP header).
type Packet struct {
	Version  uint8         // 2 or 3
	VRID     uint8         // virtual router id
	Priority uint8         // 0 (resigning) .. 255 (address owner)
	AuthType AuthType      // v2 only
	Interval time.Duration // v2: whole seconds (1..255); v3: centiseconds (up to 40.95 s)
	Addrs    []netip.Addr  // one family; IPv4 for v2; IPv4 or IPv6 for v3
	AuthData [8]byte       // v2 PASS: password, NUL padded
}

// CodecOptions change encoding details for compatibility.
type CodecOptions struct {
	// ChecksumAsV2: for v3 over IPv4, compute the checksum without the pseudo-header
	// (keepalived's v3_checksum_as_v2). IPv6 always uses the pseudo-header.
	ChecksumAsV2 bool
}

// Marshal encodes p; src and dst are the IP addresses it will be sent from/to (v3 pseudo-header).
//
// For v2, src and dst do not enter the packet and may be the zero Addr; if
// given they must be IPv4, as v2 is defined over IPv4 only. For v3 they must
// be valid, of the same family as the virtual addresses, unless the packet goes
// over IPv4 with ChecksumAsV2. The authentication data is written only for
// AuthPass: any other type sends zeros, so a stale password never leaks.
func (p *Packet) Marshal(src, dst netip.Addr, opts CodecOptions) ([]byte, error) {
	if p == nil {
		return nil, errors.New("vrrp: marshal: nil packet")
	}
	if len(p.Addrs) > MaxAddrs {
		return nil, fmt.Errorf("vrrp: marshal: %d addresses, at most %d fit", len(p.Addrs), MaxAddrs)
	}
	switch p.Version {
	case 2:
		return p.marshalV2(src, dst)
	case 3:
		return p.marshalV3(src, dst, opts)
	}
	return nil, fmt.Errorf("vrrp: marshal: version %d, want 2 or 3", p.Version)
}

func (p *Packet) marshalV2(src, dst netip.Addr) ([]byte, error) {
	if (src.IsValid() && !src.Is4()) || (dst.IsValid() && !dst.Is4()) {
		return nil, fmt.Errorf("vrrp: marshal: v2 is IPv4 only, got %v -> %v", src, dst)
	}
	if p.AuthType > AuthAH {
		return nil, fmt.Errorf("vrrp: marshal: unknown auth type %d", p.AuthType)
	}
	if p.Interval < time.Second || p.Interval > MaxIntervalV2 || p.Interval%time.Second != 0 {
		return nil, fmt.Errorf("vrrp: marshal: v2 interval %v, want whole seconds in 1s..%v", p.Interval, MaxIntervalV2)
	}
	for _, a := range p.Addrs {
		if !a.Is4() {
			return nil, fmt.Errorf("vrrp: marshal: v2 carries IPv4 addresses only, got %v", a)
		}
	}
	b := make([]byte, headerLen+4*len(p.Addrs)+authLen)
	b[0] = 2<<4 | typeAdvert
	b[1] = p.VRID
	b[2] = p.Priority
	b[3] = uint8(len(p.Addrs))
	b[4] = uint8(p.AuthType)
	b[5] = uint8(p.Interval / time.Second)
	off := headerLen
	for _, a := range p.Addrs {
		a4 := a.As4()
		off += copy(b[off:], a4[:])
	}
	if p.AuthType == AuthPass {
		copy(b[off:], p.AuthData[:])
	}
	binary.BigEndian.PutUint16(b[6:], checksum(nil, b))
	return b, nil
}

func (p *Packet) marshalV3(src, dst netip.Addr, opts CodecOptions) ([]byte, error) {
	if p.Interval < 10*time.Millisecond || p.Interval > MaxIntervalV3 || p.Interval%(10*time.Millisecond) != 0 {
		return nil, fmt.Errorf("vrrp: marshal: v3 interval %v, want whole centiseconds in 10ms..%v", p.Interval, MaxIntervalV3)
	}
	is6, err := v3Family(src, dst, opts)
	if err != nil {
		return nil, fmt.Errorf("vrrp: marshal: %w", err)
	}
	size := 4
	if is6 {
		size = 16
	}
	for _, a := range p.Addrs {
		// An IPv4-mapped address is 16 bytes on the wire, so it is an IPv6
		// address here: Parse hands such addresses out, and they must encode.
		if (is6 && !a.Is6()) || (!is6 && !a.Is4()) {
			return nil, fmt.Errorf("vrrp: marshal: address %v is not of the packet's family (%s)", a, familyName(is6))
		}
	}
	b := make([]byte, headerLen+size*len(p.Addrs))
	b[0] = 3<<4 | typeAdvert
	b[1] = p.VRID
	b[2] = p.Priority
	b[3] = uint8(len(p.Addrs))
	// The four high bits of the interval are reserved and sent as zero.
	binary.BigEndian.PutUint16(b[4:], uint16(p.Interval/(10*time.Millisecond)))
	off := headerLen
	for _, a := range p.Addrs {
		off += copy(b[off:], a.AsSlice())
	}
	var ph [40]byte
	binary.BigEndian.PutUint16(b[6:], checksum(pseudoHeader(&ph, src, dst, len(b), is6, opts), b))
	return b, nil
}

// Parse decodes and strictly validates b. Errors are *DropError.
//
// src and dst are the packet's IP source and destination. For v2 they may be
// the zero Addr; if given they must be IPv4. For v3 they decide the address
// family and enter the checksum. Checks done here are those that need nothing
// but the packet: version, type, length against the address count, address
// family, a non-zero interval, the v2 authentication type and the checksum.
// TTL, VRID lookup, authentication data, interval and address-list comparison
// and peer filtering are the caller's, with the matching DropReason.
// AuthData is filled only for AuthPass, the one type that uses the field.
func Parse(b []byte, src, dst netip.Addr, opts CodecOptions) (*Packet, error) {
	if len(b) < headerLen {
		return nil, dropf(DropLength, "%d bytes, the header alone is %d", len(b), headerLen)
	}
	version := b[0] >> 4
	if version != 2 && version != 3 {
		return nil, dropf(DropVersion, "version %d, want 2 or 3", version)
	}
	if t := b[0] & 0x0f; t != typeAdvert {
		return nil, dropf(DropType, "type %d, want %d (advertisement)", t, typeAdvert)
	}
	p := &Packet{Version: version, VRID: b[1], Priority: b[2]}
	count := int(b[3])
	var err error
	if version == 2 {
		err = p.parseV2(b, src, dst, count)
	} else {
		err = p.parseV3(b, src, dst, count, opts)
	}
	if err != nil {
		return nil, err
	}
	return p, nil
}

func (p *Packet) parseV2(b []byte, src, dst netip.Addr, count int) error {
	if (src.IsValid() && !src.Is4()) || (dst.IsValid() && !dst.Is4()) {
		return dropf(DropFamily, "v2 is IPv4 only, got %v -> %v", src, dst)
	}
	if len(b) < headerLen+authLen {
		return dropf(DropLength, "%d bytes, a v2 header with auth data is %d", len(b), headerLen+authLen)
	}
	if want := headerLen + 4*count + authLen; len(b) != want {
		return dropf(DropAddrCount, "%d addresses need %d bytes, got %d", count, want, len(b))
	}
	p.AuthType = AuthType(b[4])
	if p.AuthType > AuthAH {
		return dropf(DropAuth, "unknown auth type %d", b[4])
	}
	if b[5] == 0 {
		return dropf(DropInterval, "advertisement interval 0")
	}
	p.Interval = time.Duration(b[5]) * time.Second
	if sum := checksum(nil, b); sum != 0 {
		return dropf(DropChecksum, "v2 checksum %#04x does not verify", binary.BigEndian.Uint16(b[6:]))
	}
	p.Addrs = parseAddrs(b[headerLen:len(b)-authLen], count, 4)
	if p.AuthType == AuthPass {
		// Only a password means anything here: with no authentication the
		// field is unused, and with AH the digest lives in the AH header.
		copy(p.AuthData[:], b[len(b)-authLen:])
	}
	return nil
}

func (p *Packet) parseV3(b []byte, src, dst netip.Addr, count int, opts CodecOptions) error {
	is6, err := v3Family(src, dst, opts)
	if err != nil {
		return dropf(DropFamily, "%v", err)
	}
	size := 4
	if is6 {
		size = 16
	}
	if want := headerLen + size*count; len(b) != want {
		return dropf(DropAddrCount, "%d %s addresses need %d bytes, got %d", count, familyName(is6), want, len(b))
	}
	centis := binary.BigEndian.Uint16(b[4:]) & 0x0fff // the high 4 bits are reserved: ignored on receipt
	if centis == 0 {
		return dropf(DropInterval, "advertisement interval 0")
	}
	p.Interval = time.Duration(centis) * 10 * time.Millisecond
	var ph [40]byte
	if sum := checksum(pseudoHeader(&ph, src, dst, len(b), is6, opts), b); sum != 0 {
		return dropf(DropChecksum, "v3 checksum %#04x does not verify for %v -> %v", binary.BigEndian.Uint16(b[6:]), src, dst)
	}
	p.Addrs = parseAddrs(b[headerLen:], count, size)
	return nil
}

// v3Family says whether a v3 packet between src and dst is IPv6. Both must be
// valid and of one family, except that v3 over IPv4 without the pseudo-header
// needs neither (one given is still checked).
func v3Family(src, dst netip.Addr, opts CodecOptions) (is6 bool, err error) {
	switch {
	case !src.IsValid() && !dst.IsValid():
		if opts.ChecksumAsV2 {
			return false, nil
		}
		return false, errors.New("v3 needs the source and destination addresses for its checksum")
	case !src.IsValid() || !dst.IsValid():
		one := src
		if !one.IsValid() {
			one = dst
		}
		if opts.ChecksumAsV2 && one.Is4() {
			return false, nil
		}
		return false, fmt.Errorf("v3 needs both source and destination addresses, got %v -> %v", src, dst)
	case src.Is4() != dst.Is4() || src.Is4In6() || dst.Is4In6():
		return false, fmt.Errorf("source %v and destination %v are not of one family", src, dst)
	}
	return src.Is6(), nil
}

// pseudoHeader builds the header the v3 checksum covers in front of the
// message: RFC 5798 section 5.2.8 points at RFC 2460 section 8.1 for IPv6 and,
// as keepalived reads it, the equivalent IPv4 pseudo-header for IPv4. It is
// nil when the checksum covers the message alone.
//
// It is built in buf, which the caller keeps on its stack: this runs for
// every advert sent and received.
func pseudoHeader(buf *[40]byte, src, dst netip.Addr, length int, is6 bool, opts CodecOptions) []byte {
	if is6 {
		ph := buf[:40]
		s, d := src.As16(), dst.As16()
		copy(ph[0:], s[:])
		copy(ph[16:], d[:])
		binary.BigEndian.PutUint32(ph[32:], uint32(length))
		ph[39] = IPProtocol
		return ph
	}
	if opts.ChecksumAsV2 {
		return nil
	}
	ph := buf[:12]
	clear(ph)
	s, d := src.As4(), dst.As4()
	copy(ph[0:], s[:])
	copy(ph[4:], d[:])
	ph[9] = IPProtocol
	binary.BigEndian.PutUint16(ph[10:], uint16(length))
	return ph
}

// checksum is the Internet checksum (RFC 1071) of pseudo followed by msg. Over
// a message whose checksum field holds a correct value it returns 0; over one
// whose field is zero it returns the value to put there. pseudo has an even
// length, so the two can be summed one after the other.
func checksum(pseudo, msg []byte) uint16 {
	var sum uint32
	for _, b := range [][]byte{pseudo, msg} {
		for len(b) >= 2 {
			sum += uint32(b[0])<<8 | uint32(b[1])
			b = b[2:]
		}
		if len(b) == 1 {
			sum += uint32(b[0]) << 8
		}
	}
	for sum > 0xffff {
		sum = sum>>16 + sum&0xffff
	}
	return ^uint16(sum)
}

func parseAddrs(b []byte, count, size int) []netip.Addr {
	if count == 0 {
		return nil
	}
	addrs := make([]netip.Addr, count)
	for i := range addrs {
		a, _ := netip.AddrFromSlice(b[i*size : (i+1)*size]) // size is 4 or 16: always ok
		addrs[i] = a
	}
	return addrs
}

func familyName(is6 bool) string {
	if is6 {
		return "IPv6"
	}
	return "IPv4"
}
