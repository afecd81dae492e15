package nft

import (
	"fmt"
	"testing"

	"vigil/internal/dataplane"
)

// TestCCPick checks each scheduler against IPVS's formula on hand-made
// counts.
func TestCCPick(t *testing.T) {
	ds := func(ws ...int32) []dataplane.Destination {
		var out []dataplane.Destination
		for i, w := range ws {
			out = append(out, dst(fmt.Sprintf("10.1.0.%d", i+1), 80, w))
		}
		return out
	}
	for _, tc := range []struct {
		name   string
		sched  string
		ds     []dataplane.Destination
		counts []Conns
		want   int
	}{
		// lc: active*256+inactive, weights ignored.
		{"lc least active", "lc", ds(1, 1, 1), []Conns{{3, 0}, {1, 0}, {2, 0}}, 1},
		{"lc inactive count too", "lc", ds(1, 1, 1), []Conns{{1, 5}, {1, 2}, {1, 9}}, 1},
		{"lc 256 inactive weigh one active", "lc", ds(1, 1), []Conns{{1, 0}, {0, 255}}, 1},
		{"lc 257 inactive outweigh one active", "lc", ds(1, 1), []Conns{{1, 0}, {0, 257}}, 0},
		{"lc ignores weight", "lc", ds(1, 100), []Conns{{1, 0}, {2, 0}}, 0},
		{"lc tie goes to the first", "lc", ds(1, 1, 1), []Conns{{2, 0}, {1, 0}, {1, 0}}, 1},
		// wlc: overhead/weight.
		{"wlc weight", "wlc", ds(1, 3), []Conns{{1, 0}, {2, 0}}, 1},
		{"wlc equal ratio keeps the first", "wlc", ds(1, 2), []Conns{{1, 0}, {2, 0}}, 0},
		{"wlc inactive", "wlc", ds(2, 2), []Conns{{1, 10}, {1, 3}}, 1},
		// sed: (active+1)/weight, inactive ignored.
		{"sed", "sed", ds(1, 3), []Conns{{1, 0}, {2, 0}}, 1},
		{"sed equal keeps the first", "sed", ds(1, 3), []Conns{{0, 0}, {2, 0}}, 0},
		{"sed ignores inactive", "sed", ds(1, 1), []Conns{{1, 0}, {1, 99}}, 0},
		{"sed idle low weight loses", "sed", ds(1, 5), []Conns{{0, 0}, {3, 0}}, 1},
		// nq: an idle server first, else sed.
		{"nq idle first", "nq", ds(1, 5), []Conns{{0, 0}, {3, 0}}, 0},
		{"nq first idle in order", "nq", ds(1, 1, 1), []Conns{{2, 0}, {0, 0}, {0, 0}}, 1},
		{"nq none idle: sed", "nq", ds(1, 3), []Conns{{1, 0}, {2, 0}}, 1},
	} {
		if got := ccPick(tc.sched, tc.ds, tc.counts); got != tc.want {
			t.Errorf("%s: picked %d, want %d", tc.name, got, tc.want)
		}
	}
}

// TestCCSequence: the plan from zero counts spreads as IPVS does over the
// same number of long-lived connections.
func TestCCSequence(t *testing.T) {
	three := []dataplane.Destination{dst("10.1.0.1", 80, 1), dst("10.1.0.2", 80, 2), dst("10.1.0.3", 80, 3)}
	for _, tc := range []struct {
		sched  string
		counts []Conns
		n      int
		want   string
	}{
		{"lc", []Conns{{}, {}, {}}, 6, "[0 1 2 0 1 2]"},
		{"lc", []Conns{{2, 0}, {0, 0}, {2, 0}}, 4, "[1 1 0 1]"},
		// wlc 1:2:3 from idle: shares 2:4:6 over 12.
		{"wlc", []Conns{{}, {}, {}}, 12, "[0 1 2 2 1 2 0 1 2 2 1 2]"},
		{"sed", []Conns{{}, {}, {}}, 6, "[2 1 2 0 1 2]"},
		{"nq", []Conns{{}, {}, {}}, 6, "[0 1 2 2 1 2]"},
	} {
		got, err := ccSequence(tc.sched, three, tc.counts, tc.n)
		if err != nil {
			t.Fatal(err)
		}
		if fmt.Sprint(got) != tc.want {
			t.Errorf("%s from %v: %v, want %s", tc.sched, tc.counts, got, tc.want)
		}
	}
	if _, err := ccSequence("lblc", three, make([]Conns, 3), 4); err == nil {
		t.Error("lblc planned")
	}
}

// TestOnPlan: a plan stays while the counts are the ones it foresaw.
func TestOnPlan(t *testing.T) {
	ds := []dataplane.Destination{dst("10.1.0.1", 80, 1), dst("10.1.0.2", 80, 1)}
	a, b := ds[0].Key, ds[1].Key
	plan := []int{1, 0, 1, 0}
	base := map[dataplane.DestKey]Conns{a: {Active: 1}}
	for _, tc := range []struct {
		name string
		cur  map[dataplane.DestKey]Conns
		want bool
	}{
		{"nothing new", map[dataplane.DestKey]Conns{a: {Active: 1}}, true},
		{"two new as planned", map[dataplane.DestKey]Conns{a: {Active: 2}, b: {Active: 1}}, true},
		{"one new elsewhere", map[dataplane.DestKey]Conns{a: {Active: 2}}, false},
		{"one ended", map[dataplane.DestKey]Conns{}, false},
		{"one went inactive", map[dataplane.DestKey]Conns{a: {Inactive: 1}}, false},
		{"past the plan", map[dataplane.DestKey]Conns{a: {Active: 4}, b: {Active: 2}}, false},
	} {
		if got := onPlan(ds, plan, base, tc.cur); got != tc.want {
			t.Errorf("%s: onPlan %v, want %v", tc.name, got, tc.want)
		}
	}
}
