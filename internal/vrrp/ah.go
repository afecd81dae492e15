package vrrp

import (
	"crypto/hmac"
	"crypto/md5"
	"crypto/subtle"
	"encoding/binary"
	"fmt"
	"log/slog"
	"net/netip"
)

// VRRPv2 "auth_type AH" as keepalived speaks it (RFC 2338 5.3.6.3, which
// points at the IP Authentication Header of RFC 2402): the advertisement is
// carried in an IPsec AH header, IP protocol 51, whose next header is VRRP.
// There is no security association: the key is auth_pass, the SPI is the
// sender's IPv4 address, and the integrity check value (ICV) is HMAC-MD5
// truncated to 96 bits. Because the ICV covers the IPv4 header, the sender
// builds that header itself and the receiver needs it whole.

// ProtocolAH is the IP protocol number of the IPsec Authentication Header.
const ProtocolAH = 51

// Wire layout of what AH adds.
const (
	ipv4HeaderLen = 20 // without options
	// AHHeaderLen is the length of the AH header keepalived uses: next
	// header, payload length, reserved, SPI, sequence number, 96-bit ICV.
	AHHeaderLen = 24
	// ahPayloadLen is the AH "payload length" field: the header length in
	// 32-bit words minus 2 (RFC 2402 2.2).
	ahPayloadLen = AHHeaderLen/4 - 2
	icvLen       = 12 // HMAC-MD5-96 (RFC 2403)
	ahKeyLen     = 8  // auth_pass, NUL padded: the VRRPv2 authentication field

	// ahTOS and ahTTL are the IPv4 TOS and TTL of the adverts Vigil builds
	// itself, those keepalived uses: DSCP CS6 and the TTL VRRP requires.
	ahTOS = 0xc0
	ahTTL = 255
	// maxAHSeq is the last sequence number a sender moves on from: like
	// keepalived, the counter sticks there rather than wrap to numbers every
	// receiver has already seen (at one advert a second it takes 136 years).
	maxAHSeq = 0xfffffffd
)

// AHKey is the HMAC-MD5 key for auth_pass: its first 8 bytes, NUL padded,
// exactly the bytes keepalived keys with (so a longer password is only as
// strong as its first 8 bytes, on both sides).
func AHKey(pass string) [ahKeyLen]byte {
	var k [ahKeyLen]byte
	copy(k[:], pass)
	return k
}

// AHDatagram is one decoded IPv4 datagram carrying AH and VRRP. Payload is a
// sub-slice of the bytes it was parsed from.
type AHDatagram struct {
	Src, Dst   netip.Addr
	TTL        uint8
	ID         uint16 // IPv4 identification: covered by the ICV
	NextHeader uint8
	SPI        uint32
	Seq        uint32
	ICV        [icvLen]byte
	Payload    []byte // the VRRP payload
	headerLen  int    // IPv4 header length (options included)
}

// AHParams is what SealAH needs besides the VRRP payload and the key.
type AHParams struct {
	Src, Dst netip.Addr // IPv4; Src is also the SPI
	ID       uint16     // non-zero: with zero the kernel would pick one after the ICV was computed
	Seq      uint32
	// Unicast leaves the TTL out of the ICV, as keepalived does for
	// instances with unicast peers (a unicast advert may cross routers).
	Unicast bool
}

// ParseAH decodes the structure of datagram b: an IPv4 header, an AH header
// of keepalived's shape whose next header is VRRP, and the VRRP payload. It
// checks no key; errors are *DropError with reason DropLength.
func ParseAH(b []byte) (*AHDatagram, error) {
	if len(b) < ipv4HeaderLen {
		return nil, dropf(DropLength, "%d bytes, an IPv4 header alone is %d", len(b), ipv4HeaderLen)
	}
	if v := b[0] >> 4; v != 4 {
		return nil, dropf(DropLength, "IP version %d in front of AH, want 4", v)
	}
	ihl := int(b[0]&0x0f) * 4
	if ihl < ipv4HeaderLen {
		return nil, dropf(DropLength, "IPv4 header length %d, at least %d", ihl, ipv4HeaderLen)
	}
	if len(b) < ihl+AHHeaderLen {
		return nil, dropf(DropLength, "%d bytes, IPv4 and AH headers need %d", len(b), ihl+AHHeaderLen)
	}
	if tot := int(binary.BigEndian.Uint16(b[2:])); tot != len(b) {
		return nil, dropf(DropLength, "IPv4 total length %d, datagram is %d bytes", tot, len(b))
	}
	if b[9] != ProtocolAH {
		return nil, dropf(DropLength, "IP protocol %d, want %d (AH)", b[9], ProtocolAH)
	}
	ah := b[ihl:]
	if ah[1] != ahPayloadLen {
		return nil, dropf(DropLength, "AH payload length %d, want %d (a 96-bit ICV)", ah[1], ahPayloadLen)
	}
	if ah[0] != IPProtocol {
		return nil, dropf(DropLength, "AH next header %d, want %d (VRRP)", ah[0], IPProtocol)
	}
	d := &AHDatagram{
		Src:        netip.AddrFrom4([4]byte(b[12:16])),
		Dst:        netip.AddrFrom4([4]byte(b[16:20])),
		TTL:        b[8],
		ID:         binary.BigEndian.Uint16(b[4:]),
		NextHeader: ah[0],
		SPI:        binary.BigEndian.Uint32(ah[4:]),
		Seq:        binary.BigEndian.Uint32(ah[8:]),
		Payload:    b[ihl+AHHeaderLen:],
		headerLen:  ihl,
	}
	copy(d.ICV[:], ah[12:AHHeaderLen])
	return d, nil
}

// ahICV computes the ICV of datagram b (IPv4 header, AH header, payload) the
// way keepalived does: over the whole datagram with the IPv4 TOS, fragment
// field and checksum zeroed (and the TTL, for unicast), and the AH ICV field
// zeroed. b itself is not changed.
func ahICV(b []byte, ihl int, key [ahKeyLen]byte, unicast bool) [icvLen]byte {
	hdr := make([]byte, ihl+AHHeaderLen)
	copy(hdr, b)
	hdr[1] = 0              // TOS
	hdr[6], hdr[7] = 0, 0   // flags and fragment offset
	hdr[10], hdr[11] = 0, 0 // header checksum
	clear(hdr[ihl+12:])     // the ICV itself
	if unicast {
		hdr[8] = 0 // TTL
	}
	m := hmac.New(md5.New, key[:])
	m.Write(hdr)
	m.Write(b[ihl+AHHeaderLen:])
	var icv [icvLen]byte
	copy(icv[:], m.Sum(nil))
	return icv
}

// SealAH wraps the VRRP payload in an IPv4 header and an AH header and
// returns the complete datagram, header checksum included, ready for a
// socket that sends the caller's IPv4 header as is.
func SealAH(payload []byte, p AHParams, key [ahKeyLen]byte) ([]byte, error) {
	if !p.Src.Is4() || !p.Dst.Is4() {
		return nil, fmt.Errorf("vrrp: AH: source %v and destination %v must be IPv4", p.Src, p.Dst)
	}
	if p.ID == 0 {
		return nil, fmt.Errorf("vrrp: AH: IP ID 0 would be replaced by the kernel after the ICV is computed")
	}
	total := ipv4HeaderLen + AHHeaderLen + len(payload)
	if total > 0xffff {
		return nil, fmt.Errorf("vrrp: AH: %d byte payload does not fit in an IPv4 datagram", len(payload))
	}
	b := make([]byte, total)
	b[0] = 4<<4 | ipv4HeaderLen/4
	b[1] = ahTOS
	binary.BigEndian.PutUint16(b[2:], uint16(total))
	binary.BigEndian.PutUint16(b[4:], p.ID)
	b[8] = ahTTL
	b[9] = ProtocolAH
	src, dst := p.Src.As4(), p.Dst.As4()
	copy(b[12:], src[:])
	copy(b[16:], dst[:])
	ah := b[ipv4HeaderLen:]
	ah[0] = IPProtocol
	ah[1] = ahPayloadLen
	copy(ah[4:], src[:]) // the SPI is the sender's address
	binary.BigEndian.PutUint32(ah[8:], p.Seq)
	copy(b[ipv4HeaderLen+AHHeaderLen:], payload)
	icv := ahICV(b, ipv4HeaderLen, key, p.Unicast)
	copy(ah[12:], icv[:])
	// The kernel fills the header checksum in anyway; computing it here
	// makes the datagram complete on its own, byte for byte what goes out.
	binary.BigEndian.PutUint16(b[10:], checksum(nil, b[:ipv4HeaderLen]))
	return b, nil
}

// VerifyAH checks datagram b, as decoded into d by ParseAH, against key: the
// ICV, then that the SPI is the source address, as keepalived does. Errors
// are *DropError with reason DropAuth.
func VerifyAH(b []byte, d *AHDatagram, key [ahKeyLen]byte, unicast bool) error {
	icv := ahICV(b, d.headerLen, key, unicast)
	if subtle.ConstantTimeCompare(icv[:], d.ICV[:]) != 1 {
		return dropf(DropAuth, "AH ICV does not verify: another auth_pass, or the packet was changed")
	}
	if src := d.Src.As4(); d.SPI != binary.BigEndian.Uint32(src[:]) {
		return dropf(DropAuth, "AH SPI %#08x is not the source address %v", d.SPI, d.Src)
	}
	return nil
}

// ahSession is one instance's AH state, owned by the instance's goroutine.
// Like keepalived it keeps a single sequence number for what it sends and
// what it receives: a received advert must carry a number above it and
// raises it, and our next advert carries one more. So after a peer restarts
// from 1, the two agree again as soon as either accepts the other's adverts
// (the restarted one does at once; the other after it takes over).
type ahSession struct {
	key     [ahKeyLen]byte
	unicast bool
	seq     uint32
	id      uint16
}

func newAHSession(pass string, unicast bool) *ahSession {
	return &ahSession{key: AHKey(pass), unicast: unicast}
}

// next starts a new advert: one sequence number and one IP ID serve every
// destination it goes to.
func (s *ahSession) next() {
	if s.seq <= maxAHSeq {
		s.seq++
	}
	s.id++
	if s.id == 0 {
		s.id = 1
	}
}

// seal wraps one VRRP payload for dst with the current sequence number and
// IP ID; next must have run first.
func (s *ahSession) seal(payload []byte, src, dst netip.Addr) ([]byte, error) {
	return SealAH(payload, AHParams{Src: src, Dst: dst, ID: s.id, Seq: s.seq, Unicast: s.unicast}, s.key)
}

// open checks one received datagram and returns its VRRP payload, or the
// drop and the level to log it at. Only an advert that verifies moves the
// sequence number on.
func (s *ahSession) open(b []byte) ([]byte, *DropError, slog.Level) {
	d, err := ParseAH(b)
	if err != nil {
		return nil, err.(*DropError), slog.LevelDebug
	}
	if err := VerifyAH(b, d, s.key, s.unicast); err != nil {
		// A peer with another key is a configuration mismatch worth a warning.
		return nil, err.(*DropError), slog.LevelWarn
	}
	if d.Seq <= s.seq {
		return nil, dropf(DropAuth, "AH sequence number %d already seen (ours %d): a replay, or the peer restarted", d.Seq, s.seq), slog.LevelInfo
	}
	s.seq = d.Seq
	return d.Payload, nil, 0
}
