package nft

import (
	"fmt"
	"net/netip"
	"testing"

	"vigil/internal/dataplane"
)

func dests(weights ...int32) []dataplane.Destination {
	var out []dataplane.Destination
	for i, w := range weights {
		out = append(out, dataplane.Destination{Key: dataplane.DestKey{Addr: netip.AddrFrom4([4]byte{10, 0, 0, byte(i + 1)}), Port: 80}, Weight: w})
	}
	return out
}

func TestWRRSequence(t *testing.T) {
	for _, tc := range []struct {
		weights []int32
		want    string
	}{
		{[]int32{1}, "[0]"},
		{[]int32{3, 1}, "[0 0 0 1]"},
		{[]int32{1, 3}, "[1 1 0 1]"},
		{[]int32{2, 2}, "[0 1]"},
		{[]int32{4, 3, 2}, "[0 0 1 0 1 2 0 1 2]"},
		{[]int32{5, 5, 10}, "[2 0 1 2]"},
		{[]int32{100, 50}, "[0 0 1]"},
	} {
		seq, ok := wrrSequence(dests(tc.weights...))
		if !ok || fmt.Sprint(seq) != tc.want {
			t.Errorf("wrr %v: got %v (ok %v), want %s", tc.weights, seq, ok, tc.want)
		}
	}
	if _, ok := wrrSequence(dests(65535, 65534, 3)); ok {
		t.Error("a cycle of 131072 slots was accepted")
	}
}

// The wrr cycle gives every destination exactly weight/gcd slots, for any
// weights.
func FuzzWRRShares(f *testing.F) {
	f.Add([]byte{3, 1, 7})
	f.Add([]byte{255, 254, 1, 1})
	f.Fuzz(func(t *testing.T, ws []byte) {
		var weights []int32
		for _, w := range ws {
			if w > 0 && len(weights) < 32 {
				weights = append(weights, int32(w))
			}
		}
		if len(weights) == 0 {
			return
		}
		seq, ok := wrrSequence(dests(weights...))
		if !ok {
			t.Fatalf("weights %v refused", weights)
		}
		var g int32
		for _, w := range weights {
			g = gcd(g, w)
		}
		n := make([]int32, len(weights))
		for _, i := range seq {
			n[i]++
		}
		for i, w := range weights {
			if n[i] != w/g {
				t.Fatalf("weights %v: destination %d has %d slots, want %d (sequence %v)", weights, i, n[i], w/g, seq)
			}
		}
	})
}

func TestBucketTable(t *testing.T) {
	tab := bucketTable(dests(2, 1))
	if fmt.Sprint(tab[:7]) != "[0 0 1 0 0 1 0]" {
		t.Fatalf("sh buckets start %v", tab[:7])
	}
	n := [2]int{}
	for _, d := range tab {
		n[d]++
	}
	if n != [2]int{171, 85} {
		t.Fatalf("sh bucket shares %v, want [171 85]", n)
	}
}

func TestMaglev(t *testing.T) {
	all := dests(1, 1, 1, 1, 2)
	full := maglevTable(all, maglevSize)
	share := make([]int, len(all))
	for _, d := range full {
		if d < 0 {
			t.Fatal("a Maglev slot is empty")
		}
		share[d]++
	}
	// Weight 2 takes twice the share of weight 1 (within 5%).
	per := float64(maglevSize) / 6
	for i, d := range all {
		want := per * float64(d.Weight)
		if got := float64(share[i]); got < want*0.95 || got > want*1.05 {
			t.Errorf("destination %d (weight %d) has %d slots, want about %.0f", i, d.Weight, share[i], want)
		}
	}
	// One real server leaves: its slots go to the others, and the others
	// keep nearly all of theirs.
	gone := 2
	rest := append(append([]dataplane.Destination{}, all[:gone]...), all[gone+1:]...)
	after := maglevTable(rest, maglevSize)
	moved := 0
	for s, d := range full {
		a := rest[after[s]].Key
		if d != gone && a != all[d].Key {
			moved++
		}
	}
	if frac := float64(moved) / maglevSize; frac > 0.03 {
		t.Fatalf("%.1f%% of the surviving real servers' slots moved; Maglev should move almost only the leaving one's", 100*frac)
	}
	t.Logf("surviving slots moved: %d of %d", moved, maglevSize)
	if fmt.Sprint(maglevTable(all, maglevSize)) != fmt.Sprint(full) {
		t.Fatal("the Maglev table is not deterministic")
	}
}

func TestFirstByWeight(t *testing.T) {
	if got := firstByWeight(dests(1, 3, 3, 2)); got != 1 {
		t.Fatalf("fo picked %d, want 1", got)
	}
}
