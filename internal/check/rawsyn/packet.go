// Package rawsyn checks TCP ports with bare handshakes from a raw socket:
// the SYNs of every check due at once leave in one sendmmsg(2), the
// answers (SYN-ACK or RST) come back in batches through recvmmsg(2) behind
// a socket filter, and the host's kernel answers each SYN-ACK with a reset,
// since no socket owns the source port (it is reserved by bound, never
// listening, sockets). The wire sees what a connect with no quick ACK
// followed by a reset shows (SYN, SYN-ACK, RST), without a socket, a
// connect(2) and a disconnect per check.
//
// packet.go is the pure part: the SYN's encoding and the decoding of what
// comes back, with the TCP checksum computed here (a raw socket leaves it
// to its user).
package rawsyn

import (
	"encoding/binary"
	"errors"
	"net/netip"
)

// TCP header flags.
const (
	FlagFIN = 0x01
	FlagSYN = 0x02
	FlagRST = 0x04
	FlagPSH = 0x08
	FlagACK = 0x10
)

// synLen is the SYN's TCP header: 20 bytes and the MSS option.
const synLen = 24

// synMSS is the MSS the SYN announces (Ethernet's): no data ever flows.
const synMSS = 1460

// synWindow is the SYN's receive window.
const synWindow = 64240

// EncodeSYN writes into b (at least 24 bytes) the TCP header of a SYN from
// src to dst with sequence number seq and returns it. src and dst must be
// of the same family: the checksum covers their pseudo-header.
func EncodeSYN(b []byte, src, dst netip.AddrPort, seq uint32) []byte {
	b = b[:synLen]
	binary.BigEndian.PutUint16(b[0:], src.Port())
	binary.BigEndian.PutUint16(b[2:], dst.Port())
	binary.BigEndian.PutUint32(b[4:], seq)
	binary.BigEndian.PutUint32(b[8:], 0)
	b[12] = (synLen / 4) << 4
	b[13] = FlagSYN
	binary.BigEndian.PutUint16(b[14:], synWindow)
	binary.BigEndian.PutUint16(b[16:], 0) // checksum, below
	binary.BigEndian.PutUint16(b[18:], 0) // urgent pointer
	b[20], b[21] = 2, 4                   // MSS, length 4
	binary.BigEndian.PutUint16(b[22:], synMSS)
	binary.BigEndian.PutUint16(b[16:], Checksum(src.Addr(), dst.Addr(), b))
	return b
}

// EncodeIPv4Header writes into b (at least 20 bytes) the IPv4 header, with
// no options, of a TCP segment of n bytes from src to dst, don't fragment,
// with time to live ttl. The identification and the header checksum are
// left zero: on an IPPROTO_RAW socket the kernel fills both in.
func EncodeIPv4Header(b []byte, src, dst netip.Addr, n int, ttl uint8) {
	b = b[:20]
	b[0], b[1] = 0x45, 0 // version 4, 5 words; no TOS
	binary.BigEndian.PutUint16(b[2:], uint16(20+n))
	binary.BigEndian.PutUint32(b[4:], 0x4000) // id 0, DF
	b[8], b[9] = ttl, 6
	binary.BigEndian.PutUint16(b[10:], 0)
	s, d := src.As4(), dst.As4()
	copy(b[12:16], s[:])
	copy(b[16:20], d[:])
}

// Checksum is the TCP checksum of segment seg (its checksum field zero or
// not: a segment whose checksum is right sums to zero) from src to dst.
func Checksum(src, dst netip.Addr, seg []byte) uint16 {
	var sum uint32
	add := func(p []byte) {
		for len(p) >= 2 {
			sum += uint32(binary.BigEndian.Uint16(p))
			p = p[2:]
		}
		if len(p) == 1 {
			sum += uint32(p[0]) << 8
		}
	}
	if src.Is4() {
		s, d := src.As4(), dst.As4()
		add(s[:])
		add(d[:])
	} else {
		s, d := src.As16(), dst.As16()
		add(s[:])
		add(d[:])
	}
	sum += 6 // protocol TCP
	sum += uint32(len(seg))
	add(seg)
	for sum>>16 != 0 {
		sum = sum&0xffff + sum>>16
	}
	return ^uint16(sum)
}

// Segment is what a check needs of a TCP segment that came back.
type Segment struct {
	Src, Dst netip.AddrPort
	Seq, Ack uint32
	Flags    uint8
}

// SynAck is an answer that accepts the handshake.
func (s Segment) SynAck() bool { return s.Flags&(FlagSYN|FlagACK|FlagRST) == FlagSYN|FlagACK }

// Reset is an answer that refuses it.
func (s Segment) Reset() bool { return s.Flags&FlagRST != 0 }

// Errors of the decoders.
var (
	ErrShort    = errors.New("truncated packet")
	ErrNotIPv4  = errors.New("not an IPv4 packet")
	ErrNotTCP   = errors.New("not TCP")
	ErrFragment = errors.New("IPv4 fragment")
)

// DecodeIPv4 decodes what a raw IPv4 TCP socket receives: the IP header
// and the TCP segment. A fragment (other than a whole datagram) is
// refused. The checksum is not verified: a raw socket gets its copy before
// TCP checks it, and a segment the host's own stack made (loopback, a
// local address) still carries a partial checksum the device would have
// finished. A wrong segment matches a check only with the check's random
// acknowledgement number, as a forged one could anyway.
func DecodeIPv4(b []byte) (Segment, error) {
	if len(b) < 20 {
		return Segment{}, ErrShort
	}
	if b[0]>>4 != 4 {
		return Segment{}, ErrNotIPv4
	}
	ihl := int(b[0]&0x0f) * 4
	total := int(binary.BigEndian.Uint16(b[2:]))
	if ihl < 20 || total < ihl || len(b) < ihl {
		return Segment{}, ErrShort
	}
	// A receive buffer holds the headers; data past them (a reset may
	// carry some) is cut off and not needed.
	total = min(total, len(b))
	if b[9] != 6 {
		return Segment{}, ErrNotTCP
	}
	if frag := binary.BigEndian.Uint16(b[6:]); frag&0x3fff != 0 {
		return Segment{}, ErrFragment
	}
	src := netip.AddrFrom4([4]byte(b[12:16]))
	dst := netip.AddrFrom4([4]byte(b[16:20]))
	return decodeTCP(src, dst, b[ihl:total])
}

// DecodeIPv6 decodes what a raw IPv6 TCP socket receives, the TCP segment
// alone, given its source (the address recvmsg gives); the destination
// address is left unspecified (the socket does not say it, and no check
// needs it).
func DecodeIPv6(src netip.Addr, seg []byte) (Segment, error) {
	return decodeTCP(src, netip.IPv6Unspecified(), seg)
}

func decodeTCP(src, dst netip.Addr, seg []byte) (Segment, error) {
	if len(seg) < 20 {
		return Segment{}, ErrShort
	}
	if off := int(seg[12]>>4) * 4; off < 20 {
		return Segment{}, ErrShort
	}
	return Segment{
		Src:   netip.AddrPortFrom(src, binary.BigEndian.Uint16(seg[0:])),
		Dst:   netip.AddrPortFrom(dst, binary.BigEndian.Uint16(seg[2:])),
		Seq:   binary.BigEndian.Uint32(seg[4:]),
		Ack:   binary.BigEndian.Uint32(seg[8:]),
		Flags: seg[13],
	}, nil
}
