package track

import "time"

// Quorum is the up/down state of a vrrp_track_process: up while the number
// of matching processes is within [min, max], with keepalived's fork_delay
// (wait before believing a gained quorum) and terminate_delay (wait before
// believing a lost one) so that a restart does not bounce the instance.
type Quorum struct {
	min, max       int // max < 0: no upper bound
	forkDelay      time.Duration
	terminateDelay time.Duration
	up, started    bool
	pending        bool
	pendingSince   time.Time
}

// NewQuorum returns the quorum state for [min, max] (max < 0 for none).
func NewQuorum(min, max int, forkDelay, terminateDelay time.Duration) *Quorum {
	return &Quorum{min: min, max: max, forkDelay: forkDelay, terminateDelay: terminateDelay}
}

// Up reports the current state.
func (q *Quorum) Up() bool { return q.up }

// Observe records the number of matching processes at now. It reports the
// state, whether it changed, and, when a delay is running, how long until
// Observe should be called again to settle it (0 otherwise). The first
// observation sets the state at once, as keepalived does at start up.
func (q *Quorum) Observe(now time.Time, count int) (up, changed bool, wait time.Duration) {
	have := count >= q.min && (q.max < 0 || count <= q.max)
	if !q.started {
		q.started, q.up = true, have
		return q.up, true, 0
	}
	if have == q.up {
		q.pending = false
		return q.up, false, 0
	}
	delay := q.terminateDelay
	if have {
		delay = q.forkDelay
	}
	if delay > 0 {
		if !q.pending {
			q.pending, q.pendingSince = true, now
		}
		if left := q.pendingSince.Add(delay).Sub(now); left > 0 {
			return q.up, false, left
		}
	}
	q.pending, q.up = false, have
	return q.up, true, 0
}
