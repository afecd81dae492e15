package vrrp

import "time"

// garpSchedule decides when a master announces its addresses (gratuitous ARP
// for IPv4, unsolicited neighbour advertisements for IPv6), keepalived's way:
// a burst of repeat announcements on becoming master, a second burst
// garp_master_delay later, and bursts of refreshRepeat every
// garp_master_refresh while master; and, when the master hears a lower
// priority advert, a burst of lowerRepeat at once and another lowerDelay later
// (garp_lower_prio_repeat / garp_lower_prio_delay). It is pure: the instance
// owns the timer.
type garpSchedule struct {
	delay         time.Duration // 0: no second burst
	repeat        int
	refresh       time.Duration // 0: no periodic refresh
	refreshRepeat int
	lowerDelay    time.Duration // 0: no delayed burst after a lower priority advert
	lowerRepeat   int           // 0: lower priority adverts trigger nothing

	delayedAt time.Time // zero: none pending
	refreshAt time.Time // zero: none pending
	lowerAt   time.Time // zero: none pending
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

// lower is called when the master receives a lower priority advert; it
// returns the size of the burst to send now. A delayed burst already pending
// is kept, not pushed back, so that a peer advertising every second cannot
// postpone it for ever.
func (g *garpSchedule) lower(now time.Time) int {
	if g.lowerRepeat <= 0 {
		return 0
	}
	if g.lowerDelay > 0 && g.lowerAt.IsZero() {
		g.lowerAt = now.Add(g.lowerDelay)
	}
	return g.lowerRepeat
}

// stop cancels everything pending (leaving master).
func (g *garpSchedule) stop() {
	g.delayedAt, g.refreshAt, g.lowerAt = time.Time{}, time.Time{}, time.Time{}
}

// next returns when due should be called next; zero if nothing is pending.
func (g *garpSchedule) next() time.Time {
	var next time.Time
	for _, t := range []time.Time{g.delayedAt, g.refreshAt, g.lowerAt} {
		if !t.IsZero() && (next.IsZero() || t.Before(next)) {
			next = t
		}
	}
	return next
}

// due returns the size of the burst to send at now (0 if nothing is due) and
// advances the schedule. When bursts coincide, one burst of the largest size
// is sent rather than several.
func (g *garpSchedule) due(now time.Time) int {
	burst := 0
	if !g.delayedAt.IsZero() && !now.Before(g.delayedAt) {
		burst = g.repeat
		g.delayedAt = time.Time{}
	}
	if !g.lowerAt.IsZero() && !now.Before(g.lowerAt) {
		burst = max(burst, g.lowerRepeat)
		g.lowerAt = time.Time{}
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
