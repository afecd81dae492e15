package check

import "time"

// Stamp is a wall-clock time in Unix nanoseconds, 0 for the zero time:
// 8 bytes where a time.Time takes 24. The records kept per check (the
// Runner's, the LVS loop's status list) hold their times so, and the
// status shows the wall clock only, which Time gives back unchanged.
type Stamp int64

// StampOf is t as a Stamp.
func StampOf(t time.Time) Stamp {
	if t.IsZero() {
		return 0
	}
	return Stamp(t.UnixNano())
}

// Time undoes StampOf (in the local zone, without a monotonic reading).
func (s Stamp) Time() time.Time {
	if s == 0 {
		return time.Time{}
	}
	return time.Unix(0, int64(s))
}
