package check

import "time"

type timerEntry struct {
	// at is the entry's time as an offset from its heap's epoch: an
	// integer compares in one instruction where a time.Time takes
	// several, and the entry is 32 bytes instead of 48.
	at   time.Duration
	ps   *probeState
	gen  uint64
	kind timerKind
}

// timerHeap is the Runner's timers: a 4-ary min-heap of entries by time,
// typed so that pushing and popping an entry allocates nothing
// (container/heap would box each one). With 10,000 checks a second every
// check pushes and pops one entry; four children per node halve the
// heap's depth, and with it the cache lines a pop walks through (the
// four children of a node are two lines). Times are kept as offsets from
// epoch, the first time pushed: the differences of two times that both
// carry the monotonic clock are read from it, as time.Time's own
// comparisons are.
type timerHeap struct {
	epoch time.Time
	s     []timerEntry
}

// timerArity is the number of children of a node.
const timerArity = 4

func (h *timerHeap) len() int { return len(h.s) }

// first is the time of the earliest entry; the heap must not be empty.
func (h *timerHeap) first() time.Time { return h.epoch.Add(h.s[0].at) }

// due reports whether the earliest entry is due at now.
func (h *timerHeap) due(now time.Time) bool {
	return len(h.s) > 0 && h.s[0].at <= now.Sub(h.epoch)
}

// push adds e, due at at.
func (h *timerHeap) push(at time.Time, e timerEntry) {
	if h.epoch.IsZero() {
		h.epoch = at
	}
	e.at = at.Sub(h.epoch)
	h.s = append(h.s, e)
	s := h.s
	i := len(s) - 1
	for i > 0 {
		p := (i - 1) / timerArity
		if s[p].at <= e.at {
			break
		}
		s[i] = s[p]
		i = p
	}
	s[i] = e
}

// pop removes and returns the earliest entry; the heap must not be empty.
func (h *timerHeap) pop() timerEntry {
	s := h.s
	top := s[0]
	n := len(s) - 1
	last := s[n]
	s[n] = timerEntry{} // drop the pointer for the collector
	s = s[:n]
	h.s = s
	if n == 0 {
		return top
	}
	i := 0
	for {
		c := timerArity*i + 1
		if c >= n {
			break
		}
		m := c
		for j := c + 1; j < min(c+timerArity, n); j++ {
			if s[j].at < s[m].at {
				m = j
			}
		}
		if s[m].at >= last.at {
			break
		}
		s[i] = s[m]
		i = m
	}
	s[i] = last
	return top
}
