package vrrp

import (
	"net/netip"
	"path/filepath"
	"reflect"
	"testing"
)

// FuzzParse feeds arbitrary payloads to Parse. Whatever it accepts must encode
// again and decode to the same packet; whatever it rejects must be a
// *DropError. It must never panic.
func FuzzParse(f *testing.F) {
	files, err := filepath.Glob(filepath.Join("testdata", "packets", "*.hex"))
	if err != nil {
		f.Fatal(err)
	}
	for _, file := range files {
		g := readGolden(f, file)
		f.Add(g.payload, g.src.Is6(), g.opts.ChecksumAsV2, g.dst.IsMulticast())
	}
	f.Add([]byte{}, false, false, true)
	f.Add([]byte{0x21, 1, 100, 0, 0, 1, 0, 0}, false, false, true)
	f.Add([]byte{0x31, 1, 100, 255, 0, 1, 0, 0}, true, false, true)

	f.Fuzz(func(t *testing.T, b []byte, v6, asV2, multicast bool) {
		src, dst := netip.MustParseAddr("10.77.0.1"), netip.MustParseAddr("10.77.0.2")
		if multicast {
			dst = netip.MustParseAddr("224.0.0.18")
		}
		if v6 {
			src, dst = netip.MustParseAddr("fe80::b030:4cff:fe73:8af0"), netip.MustParseAddr("fd00:77::2")
			if multicast {
				dst = netip.MustParseAddr("ff02::12")
			}
		}
		opts := CodecOptions{ChecksumAsV2: asV2}
		p, err := Parse(b, src, dst, opts)
		if err != nil {
			if _, ok := ReasonOf(err); !ok || p != nil {
				t.Fatalf("Parse error %v (%T) with packet %v", err, err, p)
			}
			return
		}
		enc, err := p.Marshal(src, dst, opts)
		if err != nil {
			t.Fatalf("accepted %x but cannot encode %+v: %v", b, p, err)
		}
		if len(enc) != len(b) {
			t.Fatalf("re-encoded length %d, accepted %d", len(enc), len(b))
		}
		q, err := Parse(enc, src, dst, opts)
		if err != nil {
			t.Fatalf("cannot parse own encoding %x of %+v: %v", enc, p, err)
		}
		if !reflect.DeepEqual(p, q) {
			t.Fatalf("round trip changed the packet:\n%+v\n%+v", p, q)
		}
	})
}
