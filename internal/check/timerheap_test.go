package check

import (
	"math/rand/v2"
	"slices"
	"testing"
	"time"
)

// The timer heap pops its entries in time order whatever the order of the
// pushes, pops interleaved with pushes included, and due tells an entry
// due at now (its time not after now) from one that is not.
func TestTimerHeapOrder(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	base := time.Now()
	for round := range 200 {
		var h timerHeap
		var want []time.Duration // the times still in the heap
		for range rng.IntN(300) + 1 {
			if len(want) > 0 && rng.IntN(3) == 0 {
				slices.Sort(want)
				e := h.pop()
				if e.gen != uint64(want[0]) {
					t.Fatalf("round %d: popped the entry at %v, want the earliest, %v", round, time.Duration(e.gen), want[0])
				}
				want = want[1:]
				continue
			}
			// Times before the first push (the epoch) too, and ties.
			d := time.Duration(rng.IntN(2000)-500) * time.Millisecond
			h.push(base.Add(d), timerEntry{gen: uint64(d)})
			want = append(want, d)
		}
		slices.Sort(want)
		if h.len() != len(want) {
			t.Fatalf("round %d: %d entries, want %d", round, h.len(), len(want))
		}
		if len(want) > 0 {
			if got := h.first(); !got.Equal(base.Add(want[0])) {
				t.Fatalf("round %d: first %v, want %v", round, got.Sub(base), want[0])
			}
			if h.due(base.Add(want[0] - time.Nanosecond)) {
				t.Fatalf("round %d: due a nanosecond before its earliest entry", round)
			}
			if !h.due(base.Add(want[0])) {
				t.Fatalf("round %d: not due at its earliest entry's time", round)
			}
		}
		for _, w := range want {
			if e := h.pop(); e.gen != uint64(w) {
				t.Fatalf("round %d: popped %v, want %v", round, time.Duration(e.gen), w)
			}
		}
		if h.len() != 0 || h.due(base.Add(time.Hour)) {
			t.Fatalf("round %d: entries left after popping them all", round)
		}
	}
}
