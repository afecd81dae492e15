package vrrp

import (
	"bufio"
	"bytes"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"net/netip"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"
)

// golden is one testdata/packets/*.hex file: a VRRP payload with the IP
// addresses it was sent between.
type golden struct {
	src, dst netip.Addr
	opts     CodecOptions
	payload  []byte
}

// readHexFile reads the small format of the testdata .hex files: "#"
// comments, directive lines ("key value", or a bare flag), which it hands to
// directive (that reports whether it knew the line), and hex bytes (spaces
// ignored) on every other line, which it returns decoded.
func readHexFile(t testing.TB, path string, directive func(key, val string) bool) []byte {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var hexText strings.Builder
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		key, val, _ := strings.Cut(line, " ")
		switch {
		case line == "" || strings.HasPrefix(line, "#"):
		case directive(key, val):
		default:
			hexText.WriteString(strings.ReplaceAll(line, " ", ""))
		}
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	b, err := hex.DecodeString(hexText.String())
	if err != nil {
		t.Fatalf("%s: %v", path, err)
	}
	return b
}

// readGolden reads a testdata/packets file: "src ADDR", "dst ADDR" and an
// optional "checksum_as_v2" around the payload.
func readGolden(t testing.TB, path string) golden {
	t.Helper()
	var g golden
	g.payload = readHexFile(t, path, func(key, val string) bool {
		switch key {
		case "src":
			g.src = netip.MustParseAddr(val)
		case "dst":
			g.dst = netip.MustParseAddr(val)
		case "checksum_as_v2":
			g.opts.ChecksumAsV2 = true
		default:
			return false
		}
		return true
	})
	return g
}

func pktAddrs(s ...string) []netip.Addr {
	out := make([]netip.Addr, len(s))
	for i, a := range s {
		out[i] = netip.MustParseAddr(a)
	}
	return out
}

func pktPass(s string) (b [8]byte) {
	copy(b[:], s)
	return b
}

func TestGolden(t *testing.T) {
	tests := []struct {
		file string
		want Packet
		// reencodes is false when the file holds bits Marshal never sets
		// (reserved bits), so only the decoded form can round-trip.
		reencodes bool
	}{
		{"keepalived_v2_pass.hex", Packet{Version: 2, VRID: 51, Priority: 200, AuthType: AuthPass,
			Interval: time.Second, Addrs: pktAddrs("10.77.0.100", "10.77.0.101"), AuthData: pktPass("secret1")}, true},
		{"keepalived_v2_pass_prio0.hex", Packet{Version: 2, VRID: 51, Priority: 0, AuthType: AuthPass,
			Interval: time.Second, Addrs: pktAddrs("10.77.0.100", "10.77.0.101"), AuthData: pktPass("secret1")}, true},
		{"keepalived_v3_ipv4.hex", Packet{Version: 3, VRID: 52, Priority: 150,
			Interval: 500 * time.Millisecond, Addrs: pktAddrs("10.77.0.110")}, true},
		{"keepalived_v3_ipv4_unicast.hex", Packet{Version: 3, VRID: 54, Priority: 200,
			Interval: time.Second, Addrs: pktAddrs("10.77.0.120")}, true},
		{"keepalived_v3_ipv6.hex", Packet{Version: 3, VRID: 53, Priority: 100,
			Interval: 2 * time.Second, Addrs: pktAddrs("fd00:77::110", "fd00:77::111")}, true},
		{"rfc_v2_none.hex", Packet{Version: 2, VRID: 1, Priority: 100, AuthType: AuthNone,
			Interval: time.Second, Addrs: pktAddrs("10.0.0.1")}, true},
		{"rfc_v3_ipv4_as_v2.hex", Packet{Version: 3, VRID: 52, Priority: 150,
			Interval: 500 * time.Millisecond, Addrs: pktAddrs("10.77.0.110")}, true},
		{"rfc_v3_ipv6_unicast.hex", Packet{Version: 3, VRID: 7, Priority: 255,
			Interval: time.Second, Addrs: pktAddrs("fe80::1", "fd00::7")}, true},
		{"rfc_v3_ipv4_reserved_bits.hex", Packet{Version: 3, VRID: 255, Priority: 1,
			Interval: MaxIntervalV3}, false},
	}
	files, err := filepath.Glob(filepath.Join("testdata", "packets", "*.hex"))
	if err != nil {
		t.Fatal(err)
	}
	covered := map[string]bool{}
	for _, tt := range tests {
		covered[tt.file] = true
	}
	for _, f := range files {
		if !covered[filepath.Base(f)] {
			t.Errorf("golden file %s has no expectation in TestGolden", f)
		}
	}
	for _, tt := range tests {
		t.Run(tt.file, func(t *testing.T) {
			g := readGolden(t, filepath.Join("testdata", "packets", tt.file))
			got, err := Parse(g.payload, g.src, g.dst, g.opts)
			if err != nil {
				t.Fatalf("Parse: %v", err)
			}
			if !reflect.DeepEqual(*got, tt.want) {
				t.Fatalf("Parse:\n got %+v\nwant %+v", *got, tt.want)
			}
			enc, err := tt.want.Marshal(g.src, g.dst, g.opts)
			if err != nil {
				t.Fatalf("Marshal: %v", err)
			}
			if tt.reencodes && !bytes.Equal(enc, g.payload) {
				t.Fatalf("Marshal:\n got %x\nwant %x", enc, g.payload)
			}
			if !tt.reencodes && bytes.Equal(enc, g.payload) {
				t.Fatalf("Marshal reproduced bits it should clear: %x", enc)
			}
		})
	}
}

func TestRoundTrip(t *testing.T) {
	v4a, v4b, group4 := netip.MustParseAddr("10.1.2.3"), netip.MustParseAddr("10.1.2.4"), netip.MustParseAddr("224.0.0.18")
	v6a, group6 := netip.MustParseAddr("fe80::1"), netip.MustParseAddr("ff02::12")
	many := make([]netip.Addr, MaxAddrs)
	for i := range many {
		many[i] = netip.AddrFrom4([4]byte{10, 9, byte(i >> 8), byte(i)})
	}
	tests := []struct {
		name     string
		p        Packet
		src, dst netip.Addr
		opts     CodecOptions
		size     int
	}{
		{"v2 none no addresses", Packet{Version: 2, VRID: 1, Priority: 100, Interval: time.Second}, v4a, group4, CodecOptions{}, 16},
		{"v2 pass", Packet{Version: 2, VRID: 9, Priority: 1, AuthType: AuthPass, Interval: 3 * time.Second,
			Addrs: pktAddrs("10.0.0.9"), AuthData: pktPass("12345678")}, v4a, group4, CodecOptions{}, 20},
		{"v2 ah", Packet{Version: 2, VRID: 9, Priority: 255, AuthType: AuthAH, Interval: MaxIntervalV2,
			Addrs: pktAddrs("10.0.0.9")}, v4a, v4b, CodecOptions{}, 20},
		{"v2 without addresses given", Packet{Version: 2, VRID: 2, Priority: 50, Interval: time.Second,
			Addrs: pktAddrs("10.0.0.1")}, netip.Addr{}, netip.Addr{}, CodecOptions{}, 20},
		{"v2 most addresses", Packet{Version: 2, VRID: 3, Priority: 50, Interval: time.Second, Addrs: many}, v4a, group4, CodecOptions{}, 8 + 4*255 + 8},
		{"v3 ipv4 multicast", Packet{Version: 3, VRID: 10, Priority: 100, Interval: 10 * time.Millisecond,
			Addrs: pktAddrs("10.0.0.1", "10.0.0.2")}, v4a, group4, CodecOptions{}, 16},
		{"v3 ipv4 unicast", Packet{Version: 3, VRID: 10, Priority: 100, Interval: MaxIntervalV3,
			Addrs: pktAddrs("10.0.0.1")}, v4a, v4b, CodecOptions{}, 12},
		{"v3 ipv4 checksum as v2", Packet{Version: 3, VRID: 10, Priority: 100, Interval: time.Second,
			Addrs: pktAddrs("10.0.0.1")}, v4a, group4, CodecOptions{ChecksumAsV2: true}, 12},
		{"v3 ipv4 checksum as v2 no addresses given", Packet{Version: 3, VRID: 10, Priority: 100, Interval: time.Second,
			Addrs: pktAddrs("10.0.0.1")}, netip.Addr{}, netip.Addr{}, CodecOptions{ChecksumAsV2: true}, 12},
		{"v3 ipv6", Packet{Version: 3, VRID: 200, Priority: 254, Interval: 1230 * time.Millisecond,
			Addrs: pktAddrs("fe80::10", "fd00::10")}, v6a, group6, CodecOptions{}, 40},
		{"v3 ipv6 ignores checksum as v2", Packet{Version: 3, VRID: 200, Priority: 254, Interval: time.Second,
			Addrs: pktAddrs("fe80::10")}, v6a, group6, CodecOptions{ChecksumAsV2: true}, 24},
		{"v3 ipv6 mapped address", Packet{Version: 3, VRID: 1, Priority: 1, Interval: time.Second,
			Addrs: pktAddrs("::ffff:10.0.0.1")}, v6a, group6, CodecOptions{}, 24},
		{"v3 ipv6 no addresses", Packet{Version: 3, VRID: 1, Priority: 1, Interval: time.Second}, v6a, group6, CodecOptions{}, 8},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			b, err := tt.p.Marshal(tt.src, tt.dst, tt.opts)
			if err != nil {
				t.Fatalf("Marshal: %v", err)
			}
			if len(b) != tt.size {
				t.Fatalf("Marshal: %d bytes, want %d", len(b), tt.size)
			}
			got, err := Parse(b, tt.src, tt.dst, tt.opts)
			if err != nil {
				t.Fatalf("Parse: %v", err)
			}
			if !reflect.DeepEqual(*got, tt.p) {
				t.Fatalf("round trip:\n got %+v\nwant %+v", *got, tt.p)
			}
		})
	}
}

// TestChecksumCoverage checks what each checksum covers: a change to any
// covered byte or address must be caught, one outside must not matter.
func TestChecksumCoverage(t *testing.T) {
	src, group := netip.MustParseAddr("10.77.0.1"), netip.MustParseAddr("224.0.0.18")
	other := netip.MustParseAddr("10.77.0.9")
	v3 := Packet{Version: 3, VRID: 52, Priority: 150, Interval: time.Second, Addrs: pktAddrs("10.77.0.110")}
	withPH, err := v3.Marshal(src, group, CodecOptions{})
	if err != nil {
		t.Fatal(err)
	}
	asV2, err := v3.Marshal(src, group, CodecOptions{ChecksumAsV2: true})
	if err != nil {
		t.Fatal(err)
	}
	if bytes.Equal(withPH, asV2) {
		t.Fatal("pseudo-header and message-only checksums are equal; the test proves nothing")
	}
	tests := []struct {
		name     string
		b        []byte
		src, dst netip.Addr
		opts     CodecOptions
		wantErr  bool
	}{
		{"pseudo-header, same addresses", withPH, src, group, CodecOptions{}, false},
		{"pseudo-header, other source", withPH, other, group, CodecOptions{}, true},
		{"pseudo-header, other destination", withPH, src, other, CodecOptions{}, true},
		{"pseudo-header read as message-only", withPH, src, group, CodecOptions{ChecksumAsV2: true}, true},
		{"message-only read with pseudo-header", asV2, src, group, CodecOptions{}, true},
		{"message-only, other addresses", asV2, other, other, CodecOptions{ChecksumAsV2: true}, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Parse(tt.b, tt.src, tt.dst, tt.opts)
			if tt.wantErr {
				if r, _ := ReasonOf(err); r != DropChecksum {
					t.Fatalf("err = %v, want a %q drop", err, DropChecksum)
				}
			} else if err != nil {
				t.Fatalf("err = %v, want none", err)
			}
		})
	}
	// Every byte of a v2 packet, the auth data included, is covered.
	v2 := Packet{Version: 2, VRID: 1, Priority: 100, AuthType: AuthPass, Interval: time.Second,
		Addrs: pktAddrs("10.0.0.1"), AuthData: pktPass("pw")}
	b, err := v2.Marshal(src, group, CodecOptions{})
	if err != nil {
		t.Fatal(err)
	}
	for i := 8; i < len(b); i++ { // past the fields other checks look at first
		c := bytes.Clone(b)
		c[i] ^= 0x01
		if r, _ := ReasonOf(parseErr(c, src, group)); r != DropChecksum {
			t.Errorf("flipping byte %d: reason %q, want %q", i, r, DropChecksum)
		}
	}
}

func parseErr(b []byte, src, dst netip.Addr) error {
	_, err := Parse(b, src, dst, CodecOptions{})
	return err
}

// mutate returns a copy of b changed by f, with the checksum recomputed when
// fix is set, so that the check under test is the one that fires.
func mutate(b []byte, f func([]byte) []byte, fix bool, src, dst netip.Addr) []byte {
	c := f(bytes.Clone(b))
	if fix && len(c) >= headerLen {
		c[6], c[7] = 0, 0
		var ph []byte
		if c[0]>>4 == 3 {
			var buf [40]byte
			ph = pseudoHeader(&buf, src, dst, len(c), src.Is6(), CodecOptions{})
		}
		binary.BigEndian.PutUint16(c[6:], checksum(ph, c))
	}
	return c
}

func TestParseErrors(t *testing.T) {
	g2 := readGolden(t, filepath.Join("testdata", "packets", "keepalived_v2_pass.hex"))
	g3 := readGolden(t, filepath.Join("testdata", "packets", "keepalived_v3_ipv4.hex"))
	g6 := readGolden(t, filepath.Join("testdata", "packets", "keepalived_v3_ipv6.hex"))
	v6src := netip.MustParseAddr("fe80::1")
	tests := []struct {
		name     string
		g        golden
		f        func([]byte) []byte
		fix      bool
		src, dst *netip.Addr // nil: the golden file's
		want     DropReason
	}{
		{"empty", g2, func(b []byte) []byte { return nil }, false, nil, nil, DropLength},
		{"shorter than the header", g2, func(b []byte) []byte { return b[:7] }, false, nil, nil, DropLength},
		{"v2 without auth data", g2, func(b []byte) []byte { return b[:15] }, false, nil, nil, DropLength},
		{"version 1", g2, func(b []byte) []byte { b[0] = 0x11; return b }, true, nil, nil, DropVersion},
		{"version 4", g3, func(b []byte) []byte { b[0] = 0x41; return b }, true, nil, nil, DropVersion},
		{"version 0", g3, func(b []byte) []byte { b[0] = 0x01; return b }, true, nil, nil, DropVersion},
		{"type 0", g2, func(b []byte) []byte { b[0] = 0x20; return b }, true, nil, nil, DropType},
		{"type 2", g3, func(b []byte) []byte { b[0] = 0x32; return b }, true, nil, nil, DropType},
		{"v2 count above length", g2, func(b []byte) []byte { b[3] = 3; return b }, true, nil, nil, DropAddrCount},
		{"v2 count below length", g2, func(b []byte) []byte { b[3] = 1; return b }, true, nil, nil, DropAddrCount},
		{"v2 trailing byte", g2, func(b []byte) []byte { return append(b, 0) }, false, nil, nil, DropAddrCount},
		{"v2 truncated address", g2, func(b []byte) []byte { return b[:len(b)-2] }, false, nil, nil, DropAddrCount},
		{"v3 count above length", g3, func(b []byte) []byte { b[3] = 2; return b }, true, nil, nil, DropAddrCount},
		{"v3 trailing bytes", g3, func(b []byte) []byte { return append(b, 0, 0, 0, 0) }, true, nil, nil, DropAddrCount},
		{"v3 ipv6 count as ipv4", g6, func(b []byte) []byte { b[3] = 8; return b }, true, nil, nil, DropAddrCount},
		{"v2 auth type 3", g2, func(b []byte) []byte { b[4] = 3; return b }, true, nil, nil, DropAuth},
		{"v2 interval 0", g2, func(b []byte) []byte { b[5] = 0; return b }, true, nil, nil, DropInterval},
		{"v3 interval 0", g3, func(b []byte) []byte { b[4], b[5] = 0, 0; return b }, true, nil, nil, DropInterval},
		{"v3 interval 0 under reserved bits", g3, func(b []byte) []byte { b[4], b[5] = 0xf0, 0; return b }, true, nil, nil, DropInterval},
		{"v2 checksum", g2, func(b []byte) []byte { b[7]++; return b }, false, nil, nil, DropChecksum},
		{"v3 checksum", g3, func(b []byte) []byte { b[2]--; return b }, false, nil, nil, DropChecksum},
		{"v3 ipv6 checksum", g6, func(b []byte) []byte { b[len(b)-1] ^= 0x80; return b }, false, nil, nil, DropChecksum},
		{"v3 ipv6 other source", g6, func(b []byte) []byte { return b }, false, &v6src, nil, DropChecksum},
		{"v2 from ipv6", g2, func(b []byte) []byte { return b }, false, &v6src, &g6.dst, DropFamily},
		{"v3 mixed families", g3, func(b []byte) []byte { return b }, false, &v6src, nil, DropFamily},
		{"v3 no addresses", g3, func(b []byte) []byte { return b }, false, &netip.Addr{}, &netip.Addr{}, DropFamily},
		{"v3 no destination", g3, func(b []byte) []byte { return b }, false, nil, &netip.Addr{}, DropFamily},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			src, dst := tt.g.src, tt.g.dst
			if tt.src != nil {
				src = *tt.src
			}
			if tt.dst != nil {
				dst = *tt.dst
			}
			b := mutate(tt.g.payload, tt.f, tt.fix, tt.g.src, tt.g.dst)
			p, err := Parse(b, src, dst, CodecOptions{})
			if p != nil {
				t.Errorf("Parse returned a packet with the error: %+v", p)
			}
			var de *DropError
			if !errors.As(err, &de) {
				t.Fatalf("err = %v (%T), want *DropError", err, err)
			}
			if de.Reason != tt.want {
				t.Fatalf("reason %q (%v), want %q", de.Reason, err, tt.want)
			}
			if de.Detail == "" {
				t.Error("drop error without detail")
			}
		})
	}
}

func TestMarshalErrors(t *testing.T) {
	v4, group4 := netip.MustParseAddr("10.0.0.1"), netip.MustParseAddr("224.0.0.18")
	v6, group6 := netip.MustParseAddr("fe80::1"), netip.MustParseAddr("ff02::12")
	tooMany := make([]netip.Addr, MaxAddrs+1)
	for i := range tooMany {
		tooMany[i] = v4
	}
	tests := []struct {
		name     string
		p        *Packet
		src, dst netip.Addr
		opts     CodecOptions
		want     string // part of the error message
	}{
		{"nil", nil, v4, group4, CodecOptions{}, "nil packet"},
		{"version 0", &Packet{Interval: time.Second}, v4, group4, CodecOptions{}, "version 0"},
		{"version 4", &Packet{Version: 4, Interval: time.Second}, v4, group4, CodecOptions{}, "version 4"},
		{"too many addresses", &Packet{Version: 2, Interval: time.Second, Addrs: tooMany}, v4, group4, CodecOptions{}, "256 addresses"},
		{"v2 interval 0", &Packet{Version: 2}, v4, group4, CodecOptions{}, "interval"},
		{"v2 fractional interval", &Packet{Version: 2, Interval: 1500 * time.Millisecond}, v4, group4, CodecOptions{}, "interval"},
		{"v2 interval too long", &Packet{Version: 2, Interval: 256 * time.Second}, v4, group4, CodecOptions{}, "interval"},
		{"v2 auth type 3", &Packet{Version: 2, Interval: time.Second, AuthType: 3}, v4, group4, CodecOptions{}, "auth type"},
		{"v2 ipv6 address", &Packet{Version: 2, Interval: time.Second, Addrs: []netip.Addr{v6}}, v4, group4, CodecOptions{}, "IPv4 addresses only"},
		{"v2 over ipv6", &Packet{Version: 2, Interval: time.Second}, v6, group6, CodecOptions{}, "IPv4 only"},
		{"v2 zero address", &Packet{Version: 2, Interval: time.Second, Addrs: []netip.Addr{{}}}, v4, group4, CodecOptions{}, "IPv4 addresses only"},
		{"v3 interval 0", &Packet{Version: 3}, v4, group4, CodecOptions{}, "interval"},
		{"v3 interval not centiseconds", &Packet{Version: 3, Interval: 15 * time.Millisecond}, v4, group4, CodecOptions{}, "interval"},
		{"v3 interval too long", &Packet{Version: 3, Interval: 41 * time.Second}, v4, group4, CodecOptions{}, "interval"},
		{"v3 ipv6 address over ipv4", &Packet{Version: 3, Interval: time.Second, Addrs: []netip.Addr{v6}}, v4, group4, CodecOptions{}, "family"},
		{"v3 ipv4 address over ipv6", &Packet{Version: 3, Interval: time.Second, Addrs: []netip.Addr{v4}}, v6, group6, CodecOptions{}, "family"},
		{"v3 mapped address over ipv4", &Packet{Version: 3, Interval: time.Second,
			Addrs: []netip.Addr{netip.AddrFrom16(v4.As16())}}, v4, group4, CodecOptions{}, "family"},
		{"v3 mapped source", &Packet{Version: 3, Interval: time.Second},
			netip.AddrFrom16(v4.As16()), group6, CodecOptions{}, "one family"},
		{"v3 mixed src and dst", &Packet{Version: 3, Interval: time.Second}, v4, group6, CodecOptions{}, "one family"},
		{"v3 no src", &Packet{Version: 3, Interval: time.Second}, netip.Addr{}, group4, CodecOptions{}, "both"},
		{"v3 no addresses", &Packet{Version: 3, Interval: time.Second}, netip.Addr{}, netip.Addr{}, CodecOptions{}, "checksum"},
		{"v3 ipv6 needs addresses even as v2", &Packet{Version: 3, Interval: time.Second}, v6, netip.Addr{}, CodecOptions{ChecksumAsV2: true}, "both"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			b, err := tt.p.Marshal(tt.src, tt.dst, tt.opts)
			if err == nil {
				t.Fatalf("Marshal = %x, want an error", b)
			}
			if b != nil {
				t.Errorf("Marshal returned bytes with the error: %x", b)
			}
			if !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("err = %q, want it to mention %q", err, tt.want)
			}
		})
	}
}

// TestMarshalAuthData checks the password goes out only with AuthPass.
func TestMarshalAuthData(t *testing.T) {
	for _, at := range []AuthType{AuthNone, AuthPass, AuthAH} {
		p := Packet{Version: 2, VRID: 1, Priority: 1, AuthType: at, Interval: time.Second, AuthData: pktPass("secret")}
		b, err := p.Marshal(netip.Addr{}, netip.Addr{}, CodecOptions{})
		if err != nil {
			t.Fatal(err)
		}
		sent := bytes.Contains(b, []byte("secret"))
		if sent != (at == AuthPass) {
			t.Errorf("%v: password on the wire = %v", at, sent)
		}
	}
}

func TestAuthTypeString(t *testing.T) {
	for at, want := range map[AuthType]string{AuthNone: "NONE", AuthPass: "PASS", AuthAH: "AH", 7: "AuthType(7)"} {
		if got := at.String(); got != want {
			t.Errorf("%d: %q, want %q", uint8(at), got, want)
		}
	}
}
