package vrrp

import (
	"bytes"
	"path/filepath"
	"testing"
)

// FuzzParseAH feeds arbitrary datagrams to ParseAH and VerifyAH. Neither may
// panic; a rejection is a *DropError; whatever ParseAH accepts, sealed again
// from its fields, decodes to the same fields and verifies.
func FuzzParseAH(f *testing.F) {
	files, err := filepath.Glob(filepath.Join("testdata", "ah", "*.hex"))
	if err != nil {
		f.Fatal(err)
	}
	for _, file := range files {
		g := readAHGolden(f, filepath.Base(file))
		f.Add(g.datagram, g.pass, g.unicast)
	}
	f.Add([]byte{}, "", false)
	f.Add(make([]byte, 44), "x", true)
	f.Add([]byte{0x46, 0, 0, 48, 0, 1, 0, 0, 255, 51, 0, 0, 10, 0, 0, 1, 224, 0, 0, 18, 0, 0, 0, 0,
		112, 4, 0, 0, 10, 0, 0, 1, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0}, "opts", false)

	f.Fuzz(func(t *testing.T, b []byte, pass string, unicast bool) {
		d, err := ParseAH(b)
		if err != nil {
			if r, ok := ReasonOf(err); !ok || r != DropLength || d != nil {
				t.Fatalf("ParseAH error %v (%T) with %+v", err, err, d)
			}
			return
		}
		key := AHKey(pass)
		if err := VerifyAH(b, d, key, unicast); err != nil {
			if r, ok := ReasonOf(err); !ok || r != DropAuth {
				t.Fatalf("VerifyAH error %v (%T)", err, err)
			}
		}
		if d.ID == 0 {
			return // SealAH refuses ID 0, which the kernel would overwrite
		}
		sealed, err := SealAH(d.Payload, AHParams{Src: d.Src, Dst: d.Dst, ID: d.ID, Seq: d.Seq, Unicast: unicast}, key)
		if err != nil {
			t.Fatalf("cannot seal the payload of an accepted datagram: %v", err)
		}
		e, err := ParseAH(sealed)
		if err != nil {
			t.Fatalf("cannot parse own sealing %x: %v", sealed, err)
		}
		if e.Src != d.Src || e.Dst != d.Dst || e.ID != d.ID || e.Seq != d.Seq || !bytes.Equal(e.Payload, d.Payload) {
			t.Fatalf("sealing changed the fields:\n%+v\n%+v", d, e)
		}
		if err := VerifyAH(sealed, e, key, unicast); err != nil {
			t.Fatalf("own sealing does not verify: %v", err)
		}
	})
}
