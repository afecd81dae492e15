package rawsyn

import (
	"bytes"
	"encoding/hex"
	"net/netip"
	"strings"
	"testing"
)

func unhex(t testing.TB, s string) []byte {
	t.Helper()
	b, err := hex.DecodeString(strings.Join(strings.Fields(s), ""))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// The SYN, byte for byte (RFC 9293's header, the MSS option; the
// checksums were also accepted by the kernel in TestNamespaceChecks, whose
// listeners answer only SYNs with a right checksum).
func TestEncodeSYNGolden(t *testing.T) {
	for _, c := range []struct {
		src, dst string
		seq      uint32
		want     string
	}{
		{"10.0.0.1:40000", "10.0.0.2:80", 0x01020304,
			"9c40 0050 01020304 00000000 60 02 faf0 CSUM 0000 0204 05b4"},
		{"[fd00::1]:40000", "[fd00::2]:443", 0xfffffffe,
			"9c40 01bb fffffffe 00000000 60 02 faf0 CSUM 0000 0204 05b4"},
	} {
		src, dst := netip.MustParseAddrPort(c.src), netip.MustParseAddrPort(c.dst)
		got := EncodeSYN(make([]byte, 64), src, dst, c.seq)
		// The checksum by the RFC 1071 sum, written out: pseudo-header
		// (addresses, zero, protocol 6, length 24) and the header with a
		// zero checksum.
		zero := unhex(t, strings.Replace(c.want, "CSUM", "0000", 1))
		var pseudo []byte
		pseudo = append(pseudo, src.Addr().AsSlice()...)
		pseudo = append(pseudo, dst.Addr().AsSlice()...)
		pseudo = append(pseudo, 0, 6, 0, 24)
		sum := uint32(0)
		for _, b := range [][]byte{pseudo, zero} {
			for i := 0; i < len(b); i += 2 {
				sum += uint32(b[i])<<8 | uint32(b[i+1])
			}
		}
		for sum > 0xffff {
			sum = sum&0xffff + sum>>16
		}
		csum := ^uint16(sum)
		want := unhex(t, strings.Replace(c.want, "CSUM", hex.EncodeToString([]byte{byte(csum >> 8), byte(csum)}), 1))
		if !bytes.Equal(got, want) {
			t.Errorf("SYN %s → %s:\n got %x\nwant %x", c.src, c.dst, got, want)
		}
		if Checksum(src.Addr(), dst.Addr(), got) != 0 {
			t.Errorf("SYN %s → %s does not sum to zero", c.src, c.dst)
		}
	}
}

// The IPv4 header written in front of a SYN on the IPPROTO_RAW socket,
// byte for byte (RFC 791; identification and checksum left to the
// kernel, which the namespace tests show it fills in: the SYNs are
// answered).
func TestEncodeIPv4HeaderGolden(t *testing.T) {
	b := make([]byte, 20)
	EncodeIPv4Header(b, netip.MustParseAddr("10.0.0.1"), netip.MustParseAddr("192.168.1.2"), synLen, 64)
	want := unhex(t, "45 00 002c 0000 4000 40 06 0000 0a000001 c0a80102")
	if !bytes.Equal(b, want) {
		t.Errorf("header:\n got %x\nwant %x", b, want)
	}
}

// What a raw IPv4 socket hands over for a SYN-ACK (IPv4 header, TCP with
// options) and for a reset; and what the decoder refuses.
func TestDecodeIPv4(t *testing.T) {
	synack := unhex(t, `45 00 0030 0000 4000 40 06 0000 0a000002 0a000001
		0050 9c40 aabbccdd 01020305 70 12 ffff 0000 0000 0204 05b4 01 01 04 02`)
	s, err := DecodeIPv4(synack)
	if err != nil {
		t.Fatal(err)
	}
	want := Segment{Src: netip.MustParseAddrPort("10.0.0.2:80"), Dst: netip.MustParseAddrPort("10.0.0.1:40000"), Seq: 0xaabbccdd, Ack: 0x01020305, Flags: FlagSYN | FlagACK}
	if s != want || !s.SynAck() || s.Reset() {
		t.Errorf("SYN-ACK: %+v, want %+v", s, want)
	}
	rst := unhex(t, `45 00 0028 0000 4000 40 06 0000 0a000002 0a000001
		0050 9c40 00000000 01020305 50 14 0000 0000 0000`)
	if s, err := DecodeIPv4(rst); err != nil || !s.Reset() || s.SynAck() {
		t.Errorf("RST: %+v, %v", s, err)
	}
	// Cut after the TCP header: what a short receive buffer keeps.
	long := append(append([]byte{}, rst...), make([]byte, 100)...)
	long[2], long[3] = 0, byte(len(long))
	if s, err := DecodeIPv4(long[:40]); err != nil || !s.Reset() {
		t.Errorf("RST with data cut off: %+v, %v", s, err)
	}
	bad := func(name string, mod func([]byte) []byte, want error) {
		b := mod(append([]byte{}, synack...))
		if _, err := DecodeIPv4(b); err != want {
			t.Errorf("%s: %v, want %v", name, err, want)
		}
	}
	bad("IPv6", func(b []byte) []byte { b[0] = 0x60; return b }, ErrNotIPv4)
	bad("UDP", func(b []byte) []byte { b[9] = 17; return b }, ErrNotTCP)
	bad("fragment", func(b []byte) []byte { b[7] = 1; return b }, ErrFragment)
	bad("short IP", func(b []byte) []byte { return b[:19] }, ErrShort)
	bad("short TCP", func(b []byte) []byte { return b[:30] }, ErrShort)
	bad("IHL 4", func(b []byte) []byte { b[0] = 0x44; return b }, ErrShort)
	bad("data offset 4", func(b []byte) []byte { b[32] = 0x40; return b }, ErrShort)
}

func TestDecodeIPv6(t *testing.T) {
	seg := unhex(t, `01bb 9c40 aabbccdd ffffffff 50 12 ffff 0000 0000`)
	src := netip.MustParseAddr("fd00::2")
	s, err := DecodeIPv6(src, seg)
	if err != nil || s.Src != netip.AddrPortFrom(src, 443) || s.Dst.Port() != 40000 || s.Ack != 0xffffffff || !s.SynAck() {
		t.Errorf("%+v, %v", s, err)
	}
	if _, err := DecodeIPv6(src, seg[:19]); err != ErrShort {
		t.Errorf("short: %v", err)
	}
}

// The decoders take anything without panicking, and what EncodeSYN makes
// decodes to what was encoded.
func FuzzDecodeIPv4(f *testing.F) {
	f.Add(unhex(f, `45 00 0030 0000 4000 40 06 0000 0a000002 0a000001
		0050 9c40 aabbccdd 01020305 70 12 ffff 0000 0000 0204 05b4 01 01 04 02`))
	f.Add([]byte{0x4f, 0, 0, 0xff})
	f.Fuzz(func(t *testing.T, b []byte) {
		s, err := DecodeIPv4(b)
		if err == nil && (!s.Src.Addr().Is4() || !s.Dst.Addr().Is4()) {
			t.Errorf("decoded %+v from an IPv4 packet", s)
		}
	})
}

func FuzzDecodeIPv6(f *testing.F) {
	f.Add(unhex(f, `01bb 9c40 aabbccdd ffffffff 50 12 ffff 0000 0000`))
	f.Fuzz(func(t *testing.T, b []byte) {
		DecodeIPv6(netip.MustParseAddr("fd00::2"), b)
	})
}

func FuzzEncodeSYN(f *testing.F) {
	f.Add([]byte{10, 0, 0, 1}, []byte{10, 0, 0, 2}, uint16(40000), uint16(80), uint32(1))
	f.Add(make([]byte, 16), make([]byte, 16), uint16(1), uint16(2), uint32(0xffffffff))
	f.Fuzz(func(t *testing.T, sa, da []byte, sp, dp uint16, seq uint32) {
		s, ok1 := netip.AddrFromSlice(sa)
		d, ok2 := netip.AddrFromSlice(da)
		if !ok1 || !ok2 || s.Is4() != d.Is4() {
			return
		}
		seg := EncodeSYN(make([]byte, synLen), netip.AddrPortFrom(s, sp), netip.AddrPortFrom(d, dp), seq)
		if Checksum(s, d, seg) != 0 {
			t.Fatalf("checksum of %x does not verify", seg)
		}
		got, err := decodeTCP(s, d, seg)
		if err != nil || got.Src.Port() != sp || got.Dst.Port() != dp || got.Seq != seq || got.Flags != FlagSYN {
			t.Fatalf("%+v, %v", got, err)
		}
	})
}
