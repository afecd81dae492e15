package nft

import (
	"fmt"

	"vigil/internal/dataplane"
)

// Conns are a real server's connection counts as IPVS keeps them: active
// are TCP connections in ESTABLISHED, inactive every other one (other TCP
// states, UDP).
type Conns struct{ Active, Inactive uint32 }

// ccSchedulers are the connection-count schedulers the plane runs: each is
// a numgen over ccWindow slots, recomputed from conntrack's counts every
// ccEvery. lblc and lblcr (per-destination-address assignment that moves
// when a real server is overloaded) and ovf are not among them.
var ccSchedulers = []string{"lc", "wlc", "sed", "nq"}

// ccWindow is how many new connections one scheduler map plans for: the
// choices IPVS would make for the next ccWindow connections if none ended
// meanwhile (each new one counted active, as it is once established).
// Between two refreshes the connections take the slots in order; more than
// ccWindow of them wrap around.
const ccWindow = 64

// overhead is the load IPVS compares for sched: lc and wlc weigh an
// active connection as 256 inactive ones; sed and nq count active
// connections plus the one being scheduled.
func overhead(sched string, c Conns) int64 {
	switch sched {
	case "sed", "nq":
		return int64(c.Active) + 1
	}
	return int64(c.Active)<<8 + int64(c.Inactive)
}

// ccPick is IPVS's choice among ds (all of weight > 0, in IPVS's list
// order: the last added first) given their counts: lc the least overhead; wlc and sed the least
// overhead per weight (compared as products, as IPVS does); nq the first
// real server without active connections, else as sed. Ties go to the
// first, as IPVS keeps the first least it finds.
func ccPick(sched string, ds []dataplane.Destination, counts []Conns) int {
	least := -1
	for i, d := range ds {
		if sched == "nq" && counts[i].Active == 0 {
			return i
		}
		if least < 0 {
			least = i
			continue
		}
		lo, do := overhead(sched, counts[least]), overhead(sched, counts[i])
		if sched == "lc" {
			if do < lo {
				least = i
			}
			continue
		}
		if lo*int64(d.Weight) > do*int64(ds[least].Weight) {
			least = i
		}
	}
	return least
}

// ccSequence plans the next n choices of sched over ds from counts: each
// choice is ccPick's, and counts one more active connection on the real
// server chosen.
func ccSequence(sched string, ds []dataplane.Destination, counts []Conns, n int) ([]int, error) {
	switch sched {
	case "lc", "wlc", "sed", "nq":
	default:
		return nil, fmt.Errorf("%w: scheduler %s is not a connection-count scheduler", dataplane.ErrUnsupported, sched)
	}
	c := append([]Conns(nil), counts...)
	out := make([]int, 0, n)
	for range n {
		i := ccPick(sched, ds, c)
		out = append(out, i)
		c[i].Active++
	}
	return out, nil
}

// Plan is the plan the plane loads for a connection-count scheduler:
// ccSequence over real servers of the given weights (all > 0) and counts,
// both in IPVS's list order (the last real server added first; the plane
// takes its real servers in reverse address order, as Vigil adds them in
// address order). The result indexes the same order. It is exported for
// the comparison with IPVS's own choices in the VM lab (test/vmlab).
func Plan(sched string, weights []int32, counts []Conns, n int) ([]int, error) {
	ds := make([]dataplane.Destination, len(weights))
	for i, w := range weights {
		ds[i].Weight = w
	}
	return ccSequence(sched, ds, counts, n)
}
