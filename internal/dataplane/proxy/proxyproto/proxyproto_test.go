package proxyproto

import (
	"bytes"
	"encoding/hex"
	"errors"
	"net/netip"
	"testing"
)

var (
	src4 = netip.MustParseAddrPort("192.168.0.1:56324")
	dst4 = netip.MustParseAddrPort("192.168.0.11:443")
	src6 = netip.MustParseAddrPort("[2001:db8::1]:56324")
	dst6 = netip.MustParseAddrPort("[2001:db8::11]:443")
)

func unhex(s string) []byte {
	b, err := hex.DecodeString(s)
	if err != nil {
		panic(err)
	}
	return b
}

// golden headers, written out from the specification's layout.
var golden = []struct {
	name string
	h    Header
	want []byte
}{
	{"v1 TCP4", Header{Version: V1, Stream: true, Source: src4, Dest: dst4},
		[]byte("PROXY TCP4 192.168.0.1 192.168.0.11 56324 443\r\n")},
	{"v1 TCP6", Header{Version: V1, Stream: true, Source: src6, Dest: dst6},
		[]byte("PROXY TCP6 2001:db8::1 2001:db8::11 56324 443\r\n")},
	{"v2 TCP4", Header{Version: V2, Stream: true, Source: src4, Dest: dst4},
		unhex("0d0a0d0a000d0a515549540a" + "21" + "11" + "000c" + "c0a80001" + "c0a8000b" + "dc04" + "01bb")},
	{"v2 UDP4", Header{Version: V2, Source: src4, Dest: dst4},
		unhex("0d0a0d0a000d0a515549540a" + "21" + "12" + "000c" + "c0a80001" + "c0a8000b" + "dc04" + "01bb")},
	{"v2 TCP6", Header{Version: V2, Stream: true, Source: src6, Dest: dst6},
		unhex("0d0a0d0a000d0a515549540a" + "21" + "21" + "0024" +
			"20010db8000000000000000000000001" + "20010db8000000000000000000000011" + "dc04" + "01bb")},
	{"v2 LOCAL", Header{Version: V2, Local: true},
		unhex("0d0a0d0a000d0a515549540a" + "20" + "00" + "0000")},
}

func TestAppendGolden(t *testing.T) {
	for _, g := range golden {
		got, err := Append(nil, g.h)
		if err != nil {
			t.Fatalf("%s: %v", g.name, err)
		}
		if !bytes.Equal(got, g.want) {
			t.Errorf("%s:\n got %q\nwant %q", g.name, got, g.want)
		}
		back, n, err := Decode(append(got, "payload"...))
		if err != nil || n != len(got) || back != g.h {
			t.Errorf("%s: decoded %+v, %d, %v", g.name, back, n, err)
		}
	}
}

func TestAppendMixedFamily(t *testing.T) {
	got, err := Append(nil, Header{Version: V1, Stream: true, Source: src4, Dest: dst6})
	if err != nil {
		t.Fatal(err)
	}
	if want := "PROXY TCP6 ::ffff:192.168.0.1 2001:db8::11 56324 443\r\n"; string(got) != want {
		t.Errorf("got %q, want %q", got, want)
	}
	if _, err := Append(nil, Header{Version: V1, Source: src4, Dest: dst4}); err == nil {
		t.Error("v1 UDP encoded")
	}
}

func TestDecodeErrors(t *testing.T) {
	tests := []struct {
		in         string
		incomplete bool
	}{
		{"PROX", true},
		{"PROXY TCP4 1.2.3.4", true},
		{"\r\n\r\n\x00\r\nQU", true},
		{"GET / HTTP/1.1\r\n", false},
		{"PROXY TCP4 1.2.3.4 5.6.7.8 1 2 3\r\n", false},
		{"PROXY TCP4 ::1 5.6.7.8 1 2\r\n", false},
		{"PROXY TCP4 1.2.3.4 5.6.7.8 01 2\r\n", false},
		{"PROXY TCP4 1.2.3.4 5.6.7.8 1 65536\r\n", false},
		{"\r\n\r\n\x00\r\nQUIT\n\x11\x11\x00\x00", false},
		{"\r\n\r\n\x00\r\nQUIT\n\x21\x11\x00\x04abcd", false},
	}
	for _, tt := range tests {
		_, _, err := Decode([]byte(tt.in))
		if err == nil || errors.Is(err, ErrIncomplete) != tt.incomplete {
			t.Errorf("%q: err %v, incomplete want %v", tt.in, err, tt.incomplete)
		}
	}
	h, n, err := Decode([]byte("PROXY UNKNOWN\r\nx"))
	if err != nil || n != 15 || !h.Local {
		t.Errorf("UNKNOWN: %+v %d %v", h, n, err)
	}
}

// FuzzDecode: Decode never panics, never claims more bytes than it got,
// and whatever it decodes with addresses encodes back to something that
// decodes the same.
func FuzzDecode(f *testing.F) {
	for _, g := range golden {
		f.Add(g.want)
	}
	f.Add([]byte("PROXY UNKNOWN\r\n"))
	f.Add([]byte("\r\n\r\n\x00\r\nQUIT\n\x21\x31\x00\x00"))
	f.Fuzz(func(t *testing.T, b []byte) {
		h, n, err := Decode(b)
		if err != nil {
			return
		}
		if n <= 0 || n > len(b) {
			t.Fatalf("length %d of %d bytes", n, len(b))
		}
		if h.Local || (h.Version == V1 && !h.Stream) {
			return
		}
		enc, err := Append(nil, h)
		if err != nil {
			t.Fatalf("re-encode %+v: %v", h, err)
		}
		back, m, err := Decode(enc)
		if err != nil || m != len(enc) || back.Source.Port() != h.Source.Port() || back.Dest.Port() != h.Dest.Port() {
			t.Fatalf("round trip %+v -> %q -> %+v %v", h, enc, back, err)
		}
	})
}
