package track

import (
	"testing"
	"time"
)

func TestQuorum(t *testing.T) {
	type step struct {
		at      time.Duration
		count   int
		up      bool
		changed bool
		wait    time.Duration
	}
	tests := []struct {
		name       string
		min, max   int
		fork, term time.Duration
		steps      []step
	}{
		{"first observation sets the state", 1, -1, time.Second, time.Second, []step{
			{0, 1, true, true, 0},
		}},
		{"no delay follows the count", 2, -1, 0, 0, []step{
			{0, 0, false, true, 0},
			{1 * time.Second, 2, true, true, 0},
			{2 * time.Second, 5, true, false, 0},
			{3 * time.Second, 1, false, true, 0},
		}},
		{"quorum_max", 1, 1, 0, 0, []step{
			{0, 1, true, true, 0},
			{time.Second, 2, false, true, 0},
			{2 * time.Second, 0, false, false, 0},
		}},
		{"quorum_max 0 means must not run", 0, 0, 0, 0, []step{
			{0, 0, true, true, 0},
			{time.Second, 1, false, true, 0},
		}},
		{"terminate delay rides out a restart", 1, -1, 0, 3 * time.Second, []step{
			{0, 1, true, true, 0},
			{1 * time.Second, 0, true, false, 3 * time.Second},
			{2 * time.Second, 0, true, false, 2 * time.Second},
			{3 * time.Second, 1, true, false, 0},
			{5 * time.Second, 0, true, false, 3 * time.Second},
			{8 * time.Second, 0, false, true, 0},
		}},
		{"fork delay waits before up", 1, -1, 2 * time.Second, 0, []step{
			{0, 0, false, true, 0},
			{1 * time.Second, 1, false, false, 2 * time.Second},
			{2 * time.Second, 0, false, false, 0},
			{3 * time.Second, 1, false, false, 2 * time.Second},
			{5 * time.Second, 1, true, true, 0},
		}},
	}
	base := time.Date(2024, 1, 1, 0, 0, 0, 0, time.UTC)
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			q := NewQuorum(tc.min, tc.max, tc.fork, tc.term)
			for i, s := range tc.steps {
				up, changed, wait := q.Observe(base.Add(s.at), s.count)
				if up != s.up || changed != s.changed || wait != s.wait {
					t.Fatalf("step %d (t=%v count=%d): got up=%v changed=%v wait=%v, want %v %v %v", i, s.at, s.count, up, changed, wait, s.up, s.changed, s.wait)
				}
				if q.Up() != up {
					t.Fatalf("Up() = %v after Observe returned %v", q.Up(), up)
				}
			}
		})
	}
}
