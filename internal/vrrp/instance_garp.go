package vrrp

import "time"

// garpSchedule decides when a master announces its addresses (gratuitous ARP
// for IPv4, unsolicited neighbour advertisements for IPv6), keepalived's way:
// a burst of repeat announcements on becoming master, a second burst
// garp_master_delay later, and bursts of refreshRepeat every
// garp_master_refresh while master. It is pure: the instance owns the timer.
type garpSchedule struct {
	delay         time.Duration // 0: no second burst
	repeat        int
	refresh       time.Duration // 0: no periodic refresh
	refreshRepeat int

	delayedAt time.Time // zero: none pending
	refreshAt time.Time // zero: none pending
}

// start is called on becoming master; it returns the size of the burst to
// send now.
func (g *garpSchedule) start(now time.Time) int {
	g.delayedAt, g.refreshAt = time.Time{}, time.Time{}
	if g.delay > 0 {
		g.delayedAt = now.Add(g.delay)
	}
	if g.refresh > 0 {
		g.refreshAt = now.Add(g.refresh)
	}
	return g.repeat
}

// stop cancels everything pending (leaving master).
func (g *garpSchedule) stop() { g.delayedAt, g.refreshAt = time.Time{}, time.Time{} }

// next returns when due should be called next; zero if nothing is pending.
func (g *garpSchedule) next() time.Time {
	switch {
	case g.delayedAt.IsZero():
		return g.refreshAt
	case g.refreshAt.IsZero() || g.delayedAt.Before(g.refreshAt):
		return g.delayedAt
	}
	return g.refreshAt
}

// due returns the size of the burst to send at now (0 if nothing is due) and
// advances the schedule. When the delayed burst and a refresh coincide, one
// burst of the larger size is sent rather than two.
func (g *garpSchedule) due(now time.Time) int {
	burst := 0
	if !g.delayedAt.IsZero() && !now.Before(g.delayedAt) {
		burst = g.repeat
		g.delayedAt = time.Time{}
	}
	if !g.refreshAt.IsZero() && !now.Before(g.refreshAt) {
		burst = max(burst, g.refreshRepeat)
		// Refreshes keep their period from the previous one; missed slots
		// (a stalled process) are skipped, not sent in a rush.
		next := g.refreshAt.Add(g.refresh)
		if !next.After(now) {
			next = g.refreshAt.Add((now.Sub(g.refreshAt)/g.refresh + 1) * g.refresh)
		}
		g.refreshAt = next
	}
	return burst
}
