package sched

import (
	"net/netip"
	"testing"

	"vigil/internal/dataplane"
)

// TestSipHash checks the hash under mh against the SipHash-2-4 reference
// vectors (key 00..0f; messages empty and 00..0e), which exercise the same
// rounds, message padding and finalization that hsiphash's 1-3 variant uses.
func TestSipHash(t *testing.T) {
	k := [2]uint64{0x0706050403020100, 0x0f0e0d0c0b0a0908}
	msg := []byte{0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14}
	if got := sipHash(k, nil, 2, 4); got != 0x726fdb47dd0e0e31 {
		t.Errorf("empty: %#x", got)
	}
	if got := sipHash(k, msg, 2, 4); got != 0xa129ca6149be45e5 {
		t.Errorf("15 bytes: %#x", got)
	}
}

func mhReals(weights ...int32) []*Real {
	var out []*Real
	for i, w := range weights {
		out = append(out, &Real{Key: dataplane.DestKey{Addr: netip.AddrFrom4([4]byte{10, 1, 0, byte(i + 1)}), Port: 80}, Weight: w, LastWeight: w})
	}
	return out
}

func mhCounts(s *mh, list []*Real) []int {
	n := make([]int, len(list))
	for _, r := range s.lookup {
		n[indexOf(list, r)]++
	}
	return n
}

// TestMHTurns: destinations fill the 4093 slots in turns of weight/gcd:
// 1:1 alternates (2047, 2046), 1:3 takes 1 then 3 per round (1024, 3069),
// 2:6 is the same as 1:3.
func TestMHTurns(t *testing.T) {
	for _, tt := range []struct {
		weights []int32
		want    []int
	}{
		{[]int32{1, 1}, []int{2047, 2046}},
		{[]int32{1, 3}, []int{1024, 3069}},
		{[]int32{2, 6}, []int{1024, 3069}},
		{[]int32{5, 0}, []int{4093, 0}},
	} {
		list := mhReals(tt.weights...)
		s := &mh{}
		s.Update(list)
		got := mhCounts(s, list)
		if got[0] != tt.want[0] || got[1] != tt.want[1] {
			t.Errorf("weights %v: slots %v, want %v", tt.weights, got, tt.want)
		}
	}
}

// TestMHDisruption: one destination of four leaving moves its own slots and
// few others (Maglev's promise), and a drained one (weight 0, last weight
// kept) keeps its slots, so its clients find nobody without fallback and
// another server with it.
func TestMHDisruption(t *testing.T) {
	list := mhReals(1, 1, 1, 1)
	s := &mh{}
	s.Update(list)
	before := append([]*Real(nil), s.lookup...)
	gone := list[2]
	s.Update([]*Real{list[0], list[1], list[3]})
	moved := 0
	for i, r := range before {
		if r != gone && s.lookup[i] != r {
			moved++
		}
	}
	if moved > mhSize/20 {
		t.Errorf("%d slots of staying servers moved, want under 5%%", moved)
	}

	list = mhReals(1, 1)
	s.Update(list)
	before = append([]*Real(nil), s.lookup...)
	list[0].Weight = 0 // drained: LastWeight stays 1
	s.Update(list)
	for i := range before {
		if before[i] != s.lookup[i] {
			t.Fatal("draining changed the table")
		}
	}
	var client Conn
	for i := range 256 {
		client = Conn{Client: netip.AddrPortFrom(netip.AddrFrom4([4]byte{192, 168, 0, byte(i)}), 1000)}
		if s.lookup[mhKey(fold(client.Client.Addr()), 0, mhKey1, 0)%mhSize] == list[0] {
			break
		}
	}
	if got := s.Pick(list, client); got != nil {
		t.Errorf("drained server's client got %v without fallback", got)
	}
	fb := &mh{fallback: true}
	fb.Update(list)
	if got := fb.Pick(list, client); got != list[1] {
		t.Errorf("with fallback got %v, want the other server", got)
	}
}
