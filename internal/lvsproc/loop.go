package lvsproc

import "time"

// countersShare is the largest share of the LVS process's time that
// reading the plane's counters may take: the counters are for status and
// metrics, and reading IPVS's costs a netlink dump per service.
const countersShare = 20

// countersInterval is how long to wait before reading the counters again
// after a read that took took: countersEvery, or longer for a table so
// large that reading it every countersEvery would take more than
// 1/countersShare of the time (5,000 services take about a second to read
// in an emulated guest).
func countersInterval(took time.Duration) time.Duration {
	return max(countersEvery, countersShare*took)
}
