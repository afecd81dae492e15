// Package proxyproto encodes the PROXY protocol header (versions 1 and 2,
// as HAProxy's proxy-protocol.txt specifies them) that the userspace proxy
// may send to a real server ahead of a client's bytes, so the server learns
// the client's address. Decode is the inverse, used by tests and by anyone
// who must read such a header.
package proxyproto

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"net/netip"
	"strconv"
	"strings"
)

// Version selects the header format.
type Version uint8

// Versions. None sends no header.
const (
	None Version = 0
	V1   Version = 1
	V2   Version = 2
)

// Header is what a PROXY header carries: the protocol and both ends of the
// client's connection. Local (v2 only) says the connection is the proxy's
// own (a health check) and carries no addresses.
type Header struct {
	Version Version
	// Stream is TCP; otherwise UDP (v2 only).
	Stream bool
	Local  bool
	Source netip.AddrPort
	Dest   netip.AddrPort
}

// Signature is the 12 bytes that start a version 2 header.
var Signature = []byte("\r\n\r\n\x00\r\nQUIT\n")

// Append appends h's header to b. Addresses of mixed families are sent as
// IPv6 (an IPv4 one mapped), as the specification asks.
func Append(b []byte, h Header) ([]byte, error) {
	src, dst := h.Source.Addr(), h.Dest.Addr()
	v4 := src.Unmap().Is4() && dst.Unmap().Is4()
	if v4 {
		src, dst = src.Unmap(), dst.Unmap()
	} else {
		src, dst = as6(src), as6(dst)
	}
	switch h.Version {
	case V1:
		if !h.Stream || h.Local {
			return b, errors.New("proxy protocol v1 carries only TCP connections")
		}
		fam := "TCP6"
		if v4 {
			fam = "TCP4"
		}
		return fmt.Appendf(b, "PROXY %s %s %s %d %d\r\n", fam, src, dst, h.Source.Port(), h.Dest.Port()), nil
	case V2:
		b = append(b, Signature...)
		if h.Local {
			return append(b, 0x20, 0x00, 0, 0), nil
		}
		proto := byte(0x2) // DGRAM
		if h.Stream {
			proto = 0x1
		}
		if v4 {
			b = append(b, 0x21, 0x10|proto, 0, 12)
			s, d := src.As4(), dst.As4()
			b = append(append(b, s[:]...), d[:]...)
		} else {
			b = append(b, 0x21, 0x20|proto, 0, 36)
			s, d := src.As16(), dst.As16()
			b = append(append(b, s[:]...), d[:]...)
		}
		b = binary.BigEndian.AppendUint16(b, h.Source.Port())
		return binary.BigEndian.AppendUint16(b, h.Dest.Port()), nil
	}
	return b, fmt.Errorf("proxy protocol version %d", h.Version)
}

func as6(a netip.Addr) netip.Addr {
	if a.Is4() {
		return netip.AddrFrom16(a.As16())
	}
	return a
}

// ErrIncomplete means b holds the start of a header but not all of it.
var ErrIncomplete = errors.New("incomplete PROXY header")

// Decode parses the header at the start of b and returns it with its
// length. v2 TLVs are skipped; UNKNOWN (v1) and unspecified families (v2)
// decode as Local.
func Decode(b []byte) (Header, int, error) {
	if len(b) >= len(Signature) && bytes.Equal(b[:len(Signature)], Signature) {
		return decodeV2(b)
	}
	if len(b) < 6 {
		if bytes.HasPrefix([]byte("PROXY "), b) || bytes.HasPrefix(Signature, b) {
			return Header{}, 0, ErrIncomplete
		}
	}
	if bytes.HasPrefix(b, []byte("PROXY ")) {
		return decodeV1(b)
	}
	if bytes.HasPrefix(Signature, b) {
		return Header{}, 0, ErrIncomplete
	}
	return Header{}, 0, errors.New("no PROXY header")
}

func decodeV1(b []byte) (Header, int, error) {
	const maxV1 = 107
	end := bytes.Index(b, []byte("\r\n"))
	if end < 0 {
		if len(b) >= maxV1 {
			return Header{}, 0, errors.New("PROXY v1 line longer than 107 bytes")
		}
		return Header{}, 0, ErrIncomplete
	}
	if end+2 > maxV1 {
		return Header{}, 0, errors.New("PROXY v1 line longer than 107 bytes")
	}
	f := strings.Split(string(b[:end]), " ")
	h := Header{Version: V1, Stream: true}
	if len(f) >= 2 && f[1] == "UNKNOWN" {
		h.Local = true
		return h, end + 2, nil
	}
	if len(f) != 6 || (f[1] != "TCP4" && f[1] != "TCP6") {
		return Header{}, 0, fmt.Errorf("bad PROXY v1 line %q", b[:end])
	}
	src, err1 := netip.ParseAddr(f[2])
	dst, err2 := netip.ParseAddr(f[3])
	sp, err3 := port(f[4])
	dp, err4 := port(f[5])
	if err := errors.Join(err1, err2, err3, err4); err != nil {
		return Header{}, 0, fmt.Errorf("bad PROXY v1 line: %w", err)
	}
	if want4 := f[1] == "TCP4"; src.Is4() != want4 || dst.Is4() != want4 {
		return Header{}, 0, fmt.Errorf("PROXY v1 addresses are not %s", f[1])
	}
	h.Source, h.Dest = netip.AddrPortFrom(src, sp), netip.AddrPortFrom(dst, dp)
	return h, end + 2, nil
}

// port parses a decimal port without sign or leading zeros.
func port(s string) (uint16, error) {
	if s == "" || (len(s) > 1 && s[0] == '0') || s[0] == '+' || s[0] == '-' {
		return 0, fmt.Errorf("bad port %q", s)
	}
	n, err := strconv.ParseUint(s, 10, 16)
	return uint16(n), err
}

func decodeV2(b []byte) (Header, int, error) {
	if len(b) < 16 {
		return Header{}, 0, ErrIncomplete
	}
	verCmd, famProto := b[12], b[13]
	n := 16 + int(binary.BigEndian.Uint16(b[14:16]))
	if verCmd>>4 != 2 {
		return Header{}, 0, fmt.Errorf("PROXY v2 header of version %d", verCmd>>4)
	}
	if len(b) < n {
		return Header{}, 0, ErrIncomplete
	}
	h := Header{Version: V2}
	switch verCmd & 0xf {
	case 0:
		h.Local = true
		return h, n, nil
	case 1:
	default:
		return Header{}, 0, fmt.Errorf("PROXY v2 command %d", verCmd&0xf)
	}
	switch famProto & 0xf {
	case 1:
		h.Stream = true
	case 2:
	default:
		h.Local = true // unspecified transport: addresses are to be ignored
		return h, n, nil
	}
	body := b[16:n]
	switch famProto >> 4 {
	case 1:
		if len(body) < 12 {
			return Header{}, 0, errors.New("PROXY v2 IPv4 block too short")
		}
		h.Source = netip.AddrPortFrom(netip.AddrFrom4([4]byte(body[0:4])), binary.BigEndian.Uint16(body[8:10]))
		h.Dest = netip.AddrPortFrom(netip.AddrFrom4([4]byte(body[4:8])), binary.BigEndian.Uint16(body[10:12]))
	case 2:
		if len(body) < 36 {
			return Header{}, 0, errors.New("PROXY v2 IPv6 block too short")
		}
		h.Source = netip.AddrPortFrom(netip.AddrFrom16([16]byte(body[0:16])), binary.BigEndian.Uint16(body[32:34]))
		h.Dest = netip.AddrPortFrom(netip.AddrFrom16([16]byte(body[16:32])), binary.BigEndian.Uint16(body[34:36]))
	default:
		h.Local = true // AF_UNSPEC or AF_UNIX: nothing the proxy forwards
	}
	return h, n, nil
}
