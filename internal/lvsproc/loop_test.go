package lvsproc

import (
	"testing"
	"time"
)

// TestCountersInterval checks that reading the counters takes at most
// 1/countersShare of the time, and that small tables are read every
// countersEvery.
func TestCountersInterval(t *testing.T) {
	for _, tc := range []struct{ took, want time.Duration }{
		{0, countersEvery},
		{10 * time.Millisecond, countersEvery},
		{countersEvery / countersShare, countersEvery},
		{time.Second, countersShare * time.Second},
	} {
		if got := countersInterval(tc.took); got != tc.want {
			t.Errorf("countersInterval(%v) = %v, want %v", tc.took, got, tc.want)
		}
	}
}
