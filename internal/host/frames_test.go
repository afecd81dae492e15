package host

import (
	"bytes"
	"encoding/hex"
	"errors"
	"net"
	"net/netip"
	"strings"
	"testing"
)

var testMAC = net.HardwareAddr{0x02, 0x11, 0x22, 0x33, 0x44, 0x55}

// unhex decodes a hex dump with spaces and "|" separators.
func unhex(t testing.TB, s string) []byte {
	t.Helper()
	b, err := hex.DecodeString(strings.NewReplacer(" ", "", "|", "", "\n", "", "\t", "").Replace(s))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// Golden frames, written out field by field from RFC 826 / RFC 4861; the
// ICMPv6 checksums were computed separately over the pseudo-header.
const (
	goldenGARP = `ffffffffffff | 021122334455 | 0806 |
		0001 0800 06 04 0001 | 021122334455 0a00000a | ffffffffffff 0a00000a`
	goldenNA = `333300000001 | 021122334455 | 86dd |
		60000000 0020 3a ff | fd000000000000000000000000000010 | ff020000000000000000000000000001 |
		88 00 f3e4 | 20000000 | fd000000000000000000000000000010 | 02 01 021122334455`
	goldenNARouter = `333300000001 | 021122334455 | 86dd |
		60000000 0020 3a ff | fd000000000000000000000000000010 | ff020000000000000000000000000001 |
		88 00 73e4 | a0000000 | fd000000000000000000000000000010 | 02 01 021122334455`
)

func TestFrameGolden(t *testing.T) {
	vip4, vip6 := netip.MustParseAddr("10.0.0.10"), netip.MustParseAddr("fd00::10")
	tests := []struct {
		name   string
		build  func() ([]byte, error)
		golden string
	}{
		{"garp", func() ([]byte, error) { return garpFrame(testMAC, vip4) }, goldenGARP},
		{"na", func() ([]byte, error) { return naFrame(testMAC, vip6, false) }, goldenNA},
		{"na router", func() ([]byte, error) { return naFrame(testMAC, vip6, true) }, goldenNARouter},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := tc.build()
			if err != nil {
				t.Fatal(err)
			}
			if want := unhex(t, tc.golden); !bytes.Equal(got, want) {
				t.Fatalf("frame\n got %x\nwant %x", got, want)
			}
		})
	}
}

func TestFrameBadInput(t *testing.T) {
	v4, v6 := netip.MustParseAddr("10.0.0.1"), netip.MustParseAddr("fd00::1")
	shortMAC := net.HardwareAddr{1, 2, 3}
	if _, err := garpFrame(testMAC, v6); err == nil {
		t.Error("GARP for IPv6 accepted")
	}
	if _, err := garpFrame(shortMAC, v4); err == nil {
		t.Error("GARP with short MAC accepted")
	}
	if _, err := naFrame(testMAC, v4, false); err == nil {
		t.Error("NA for IPv4 accepted")
	}
	if _, err := naFrame(testMAC, netip.MustParseAddr("::ffff:10.0.0.1"), false); err == nil {
		t.Error("NA for IPv4-mapped accepted")
	}
	if _, err := naFrame(shortMAC, v6, false); err == nil {
		t.Error("NA with short MAC accepted")
	}
}

func TestParseARP(t *testing.T) {
	p, err := ParseARP(unhex(t, goldenGARP))
	if err != nil {
		t.Fatal(err)
	}
	vip := netip.MustParseAddr("10.0.0.10")
	if p.Op != 1 || !p.Gratuitous() || p.SenderIP != vip || p.TargetIP != vip ||
		p.SenderMAC.String() != testMAC.String() || p.EthSrc.String() != testMAC.String() ||
		p.EthDst.String() != "ff:ff:ff:ff:ff:ff" || p.TargetMAC.String() != "ff:ff:ff:ff:ff:ff" {
		t.Fatalf("decoded %+v", p)
	}
	// Padding to the Ethernet minimum is allowed.
	if _, err := ParseARP(append(unhex(t, goldenGARP), make([]byte, 18)...)); err != nil {
		t.Errorf("padded frame: %v", err)
	}
	mutate := func(i int, v byte) []byte {
		b := unhex(t, goldenGARP)
		b[i] = v
		return b
	}
	bad := map[string][]byte{
		"short":     unhex(t, goldenGARP)[:41],
		"ethertype": mutate(13, 0x00),
		"htype":     mutate(15, 6),
		"ptype":     mutate(16, 0x86),
		"hlen":      mutate(18, 8),
		"op":        mutate(21, 9),
		"empty":     nil,
	}
	for name, b := range bad {
		if _, err := ParseARP(b); !errors.Is(err, ErrMalformed) {
			t.Errorf("%s: err = %v, want ErrMalformed", name, err)
		}
	}
}

func TestParseNA(t *testing.T) {
	for _, tc := range []struct {
		golden string
		router bool
	}{{goldenNA, false}, {goldenNARouter, true}} {
		p, err := ParseNA(unhex(t, tc.golden))
		if err != nil {
			t.Fatal(err)
		}
		vip := netip.MustParseAddr("fd00::10")
		if p.Src != vip || p.Dst != allNodes || p.HopLimit != 255 || !p.Override || p.Solicited ||
			p.Router != tc.router || p.Target != vip || p.TargetMAC.String() != testMAC.String() ||
			p.EthDst.String() != "33:33:00:00:00:01" {
			t.Fatalf("decoded %+v", p)
		}
	}
	mutate := func(i int, v byte) []byte {
		b := unhex(t, goldenNA)
		b[i] = v
		return b
	}
	const icmp = ethHeaderLen + ipv6HeaderLen
	bad := map[string][]byte{
		"short":        unhex(t, goldenNA)[:50],
		"ethertype":    mutate(12, 0x08),
		"version":      mutate(ethHeaderLen, 0x40),
		"next header":  mutate(ethHeaderLen+6, 17),
		"payload len":  mutate(ethHeaderLen+5, 0x40),
		"tiny payload": mutate(ethHeaderLen+5, 0x08),
		"type":         mutate(icmp, 135),
		"code":         mutate(icmp+1, 1),
		"checksum":     mutate(icmp+2, 0),
		"bit flip":     mutate(icmp+30, 0x99),
		"option len 0": fixChecksum(t, mutate(icmp+25, 0)),
		"option long":  fixChecksum(t, mutate(icmp+25, 2)),
		"mcast target": fixChecksum(t, mutate(icmp+8, 0xff)),
	}
	for name, b := range bad {
		if _, err := ParseNA(b); !errors.Is(err, ErrMalformed) {
			t.Errorf("%s: err = %v, want ErrMalformed", name, err)
		}
	}
}

// fixChecksum recomputes the ICMPv6 checksum of an NA frame after a change,
// so that the decoder's other checks are what is tested.
func fixChecksum(t *testing.T, b []byte) []byte {
	t.Helper()
	h := b[ethHeaderLen:]
	m := h[ipv6HeaderLen:]
	m[2], m[3] = 0, 0
	c := icmpv6Checksum([16]byte(h[8:24]), [16]byte(h[24:40]), m)
	m[2], m[3] = byte(c>>8), byte(c)
	return b
}

func TestICMPv6ChecksumOddLength(t *testing.T) {
	// An odd-length message is padded with a zero byte for the sum.
	var src, dst [16]byte
	src[15], dst[15] = 1, 2
	odd := []byte{1, 2, 3}
	even := []byte{1, 2, 3, 0}
	// The lengths differ in the pseudo-header by one.
	if got, want := icmpv6Checksum(src, dst, odd), icmpv6Checksum(src, dst, even)+1; got != want {
		t.Errorf("odd checksum %#04x, want %#04x", got, want)
	}
}

func FuzzParseARP(f *testing.F) {
	f.Add(unhex(f, goldenGARP))
	f.Add(unhex(f, goldenGARP)[:30])
	f.Add(unhex(f, goldenNA))
	f.Add([]byte{})
	f.Fuzz(func(t *testing.T, b []byte) {
		p, err := ParseARP(b)
		if err != nil {
			if !errors.Is(err, ErrMalformed) {
				t.Fatalf("error %v does not wrap ErrMalformed", err)
			}
			return
		}
		// A decoded gratuitous request re-encodes to the same bytes.
		if p.Op == 1 && p.Gratuitous() && p.SenderMAC.String() == p.EthSrc.String() &&
			p.EthDst.String() == "ff:ff:ff:ff:ff:ff" && p.TargetMAC.String() == "ff:ff:ff:ff:ff:ff" {
			again, err := garpFrame(p.SenderMAC, p.SenderIP)
			if err != nil || !bytes.Equal(again, b[:len(again)]) {
				t.Fatalf("re-encoding %+v: %x, %v", p, again, err)
			}
		}
	})
}

func FuzzParseNA(f *testing.F) {
	f.Add(unhex(f, goldenNA))
	f.Add(unhex(f, goldenNARouter))
	f.Add(unhex(f, goldenNA)[:70])
	f.Add(unhex(f, goldenGARP))
	f.Fuzz(func(t *testing.T, b []byte) {
		p, err := ParseNA(b)
		if err != nil {
			if !errors.Is(err, ErrMalformed) {
				t.Fatalf("error %v does not wrap ErrMalformed", err)
			}
			return
		}
		if p.Target.IsMulticast() {
			t.Fatalf("accepted multicast target %s", p.Target)
		}
		// What we build for the decoded values decodes to the same values.
		if p.TargetMAC != nil && p.Target.Is6() && !p.Target.Is4In6() {
			frame, err := naFrame(p.TargetMAC, p.Target, p.Router)
			if err != nil {
				t.Fatal(err)
			}
			q, err := ParseNA(frame)
			if err != nil || q.Target != p.Target || q.Router != p.Router || q.TargetMAC.String() != p.TargetMAC.String() {
				t.Fatalf("round trip %+v -> %+v, %v", p, q, err)
			}
		}
	})
}
