package track

// Status is the state of an up/down tracked object.
type Status int

// Statuses. Pending means no result yet: the object has no effect until its
// first result.
const (
	Pending Status = iota
	Good
	Bad
)

func (s Status) String() string {
	switch s {
	case Good:
		return "OK"
	case Bad:
		return "FAILED"
	default:
		return "PENDING"
	}
}

// RiseFall is keepalived's vrrp_script result counter. The counter runs
// from 0 to rise+fall-1 and the script is good at rise or above: from bad it
// takes rise consecutive successes to become good, from good fall
// consecutive failures to become bad. Before the first result a single
// success is enough (or, with init_fail, the script starts bad and needs
// rise successes); the first failure makes it bad at once.
type RiseFall struct {
	rise, fall int
	result     int
	status     Status
}

// NewRiseFall returns a counter for rise and fall (each at least 1).
func NewRiseFall(rise, fall int, initFail bool) RiseFall {
	rise, fall = max(rise, 1), max(fall, 1)
	r := RiseFall{rise: rise, fall: fall, result: rise - 1, status: Pending}
	if initFail {
		r.result, r.status = 0, Bad
	}
	return r
}

// Status returns the current status.
func (r *RiseFall) Status() Status { return r.status }

// Record adds one run's outcome and reports the status and whether it
// changed.
func (r *RiseFall) Record(ok bool) (Status, bool) {
	before := r.status
	top := r.rise + r.fall - 1
	// While counting up from bad, or down from good, the status holds;
	// a pending counter sits at rise-1, so either outcome settles it.
	if ok {
		if r.result < r.rise-1 {
			r.result++
		} else {
			r.result = top
			r.status = Good
		}
	} else {
		if r.result > r.rise {
			r.result--
		} else {
			r.result = 0
			r.status = Bad
		}
	}
	return r.status, r.status != before
}
