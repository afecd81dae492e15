package host

import (
	"slices"
	"strings"
	"sync"
	"time"
)

// PacingGroup is a set of interfaces whose announcements share one pacing:
// keepalived's garp_group. With several interfaces the intervals hold
// across all of them together (they share one upstream switch).
type PacingGroup struct {
	// Interfaces are the interface names; a macvlan (VMAC) is paced with
	// its lower interface, so list the physical ones.
	Interfaces []string
	// GARP is the least time between two gratuitous ARPs; 0 sends at once.
	GARP time.Duration
	// GNA is the least time between two unsolicited neighbour
	// advertisements; 0 sends at once.
	GNA time.Duration
}

// AnnouncerStats counts what happened to paced announcements.
type AnnouncerStats struct {
	// Dropped is the number of announcements dropped because their
	// interface's queue was full.
	Dropped uint64
	// SendErrors is the number of queued announcements whose send failed
	// (errors of announcements sent at once are returned to the caller).
	SendErrors uint64
}

// lane is one running pacing group: its pacer, and the goroutine that
// sends what the pacer lets through.
type lane struct {
	key      string // the sorted member names, joined by ","; "" for a default lane
	name     string // for logs
	explicit bool   // set by a PacingGroup, not created from the default

	mu       sync.Mutex
	p        *pacer
	retired  bool // no more messages are accepted
	drainOut bool // on retirement, send what is queued rather than drop it
	overflow bool // a drop was logged and the queue has not emptied since

	kick chan struct{} // capacity 1: something changed, look again
	quit chan struct{}
	once sync.Once
}

func newLane(key, name string, explicit bool, garp, gna time.Duration) *lane {
	return &lane{
		key: key, name: name, explicit: explicit,
		p:    newPacer(garp, gna),
		kick: make(chan struct{}, 1),
		quit: make(chan struct{}),
	}
}

func (l *lane) wakeUp() {
	select {
	case l.kick <- struct{}{}:
	default:
	}
}

func (l *lane) setIntervals(garp, gna time.Duration) {
	l.mu.Lock()
	l.p.setIntervals(garp, gna)
	l.mu.Unlock()
	l.wakeUp()
}

// retire stops the lane; drain says whether its queued messages still leave
// (at once) or are discarded.
func (l *lane) retire(drain bool) {
	l.mu.Lock()
	if !l.retired {
		l.retired, l.drainOut = true, drain
	}
	l.mu.Unlock()
	l.once.Do(func() { close(l.quit) })
}

// offerResult is what became of a message offered to a lane.
type offerResult int

const (
	offerSendNow offerResult = iota // its turn had come: the caller sends it
	offerQueued
	offerDropped // the queue was full
	offerRetired // the lane is gone: the caller sends it as if unpaced
)

// offer hands m to l's pacer at the current time.
func (a *Announcer) offer(l *lane, m pacedMsg) offerResult {
	l.mu.Lock()
	if l.retired {
		l.mu.Unlock()
		return offerRetired
	}
	sendNow, ok := l.p.offer(time.Now(), m)
	first := !ok && !l.overflow
	if !ok {
		l.overflow = true
	}
	l.mu.Unlock()
	switch {
	case sendNow:
		return offerSendNow
	case !ok:
		a.dropped.Add(1)
		if first {
			a.log.Warn("announcement queue full; dropping announcements until it drains",
				"dev", l.name, "kind", m.kind.String(), "limit", paceQueueLimit)
		}
		return offerDropped
	}
	l.wakeUp()
	return offerQueued
}

// runLane is the goroutine of one lane: it sends each message when the
// pacer says it is due and sleeps in between. The timing decisions are the
// pacer's; this loop only reads the clock and waits.
func (a *Announcer) runLane(l *lane) {
	defer a.paceWG.Done()
	timer := time.NewTimer(time.Hour)
	timer.Stop()
	defer timer.Stop()
	for {
		l.mu.Lock()
		msgs := l.p.due(time.Now())
		at, waiting := l.p.wake()
		if l.p.pending() == 0 {
			l.overflow = false
		}
		l.mu.Unlock()
		for _, m := range msgs {
			a.sendQueued(m)
		}
		var fire <-chan time.Time
		if waiting {
			timer.Reset(time.Until(at))
			fire = timer.C
		}
		select {
		case <-l.kick:
		case <-fire:
		case <-l.quit:
			l.mu.Lock()
			rest := l.p.drain()
			drain := l.drainOut
			l.mu.Unlock()
			if drain {
				for _, m := range rest {
					a.sendQueued(m)
				}
			}
			return
		}
	}
}

// sendQueued sends a message from a lane; its errors have no caller to
// return to, so they are counted and logged.
func (a *Announcer) sendQueued(m pacedMsg) {
	if err := a.write(m.key, m.conn, m.frame); err != nil {
		a.sendErrors.Add(1)
		a.log.Warn("cannot send a paced announcement", "addr", m.addr.String(), "dev", m.ifname, "kind", m.kind.String(), "err", err)
		return
	}
	a.log.Debug("address announced", "addr", m.addr.String(), "dev", m.ifname)
}

// paceSpec is one explicit setting, as given.
type paceSpec struct {
	ifnames []string
	garp    time.Duration
	gna     time.Duration
}

// SetDefaultPacing sets the intervals of every interface without a setting
// of its own (keepalived's vrrp_garp_interval and vrrp_gna_interval); each
// such interface is paced on its own. Zero for both sends at once.
func (a *Announcer) SetDefaultPacing(garp, gna time.Duration) {
	a.pmu.Lock()
	defer a.pmu.Unlock()
	a.paceDef = [numKinds]time.Duration{max(garp, 0), max(gna, 0)}
	a.reconfigureLocked()
}

// SetPacing gives ifname intervals of its own, replacing any earlier setting
// that named it. Zero for both removes the setting: the interface then
// follows the default, as keepalived does with a garp_group that sets no
// interval. A zero for one kind alone sends that kind at once.
func (a *Announcer) SetPacing(ifname string, garp, gna time.Duration) {
	a.SetGroupPacing(PacingGroup{Interfaces: []string{ifname}, GARP: garp, GNA: gna})
}

// SetGroupPacing is SetPacing for a group of interfaces sharing one pacing.
func (a *Announcer) SetGroupPacing(g PacingGroup) {
	a.pmu.Lock()
	defer a.pmu.Unlock()
	specs := a.paceSpecs[:0:0]
	for _, s := range a.paceSpecs {
		s.ifnames = slices.DeleteFunc(slices.Clone(s.ifnames), func(n string) bool { return slices.Contains(g.Interfaces, n) })
		if len(s.ifnames) > 0 {
			specs = append(specs, s)
		}
	}
	if g.GARP > 0 || g.GNA > 0 {
		specs = append(specs, paceSpec{ifnames: slices.Clone(g.Interfaces), garp: g.GARP, gna: g.GNA})
	}
	a.paceSpecs = specs
	a.reconfigureLocked()
}

// ConfigurePacing replaces the whole pacing configuration: the default
// intervals and the groups. An interface named by several groups belongs
// to the first; a group without any interval is ignored, so its interfaces
// follow the default. Groups that did not change keep their queues and
// timing; messages queued for a group that went away leave at once.
func (a *Announcer) ConfigurePacing(garp, gna time.Duration, groups []PacingGroup) {
	a.pmu.Lock()
	defer a.pmu.Unlock()
	a.paceDef = [numKinds]time.Duration{max(garp, 0), max(gna, 0)}
	a.paceSpecs = nil
	for _, g := range groups {
		a.paceSpecs = append(a.paceSpecs, paceSpec{ifnames: slices.Clone(g.Interfaces), garp: g.GARP, gna: g.GNA})
	}
	a.reconfigureLocked()
}

// Stats returns the counters of paced announcements.
func (a *Announcer) Stats() AnnouncerStats {
	return AnnouncerStats{Dropped: a.dropped.Load(), SendErrors: a.sendErrors.Load()}
}

func (a *Announcer) hasDefault() bool { return a.paceDef[kindARP] > 0 || a.paceDef[kindNA] > 0 }

// resolve returns the groups in effect for specs: an interface belongs to
// the first group naming it, and a group without any interval (or left
// without interfaces) is dropped, its interfaces following the default.
func resolve(specs []paceSpec) []paceSpec {
	var out []paceSpec
	taken := map[string]bool{}
	for _, s := range specs {
		if s.garp <= 0 && s.gna <= 0 {
			continue
		}
		var members []string
		for _, n := range s.ifnames {
			if n != "" && !taken[n] {
				taken[n] = true
				members = append(members, n)
			}
		}
		if len(members) > 0 {
			out = append(out, paceSpec{ifnames: members, garp: max(s.garp, 0), gna: max(s.gna, 0)})
		}
	}
	return out
}

// PacingOf returns the pacing in effect for ifname: its group (with every
// interface sharing it) or, failing that, the default for ifname alone.
// Zero intervals mean the kind is sent at once.
func (a *Announcer) PacingOf(ifname string) PacingGroup {
	a.pmu.Lock()
	defer a.pmu.Unlock()
	for _, s := range resolve(a.paceSpecs) {
		if slices.Contains(s.ifnames, ifname) {
			return PacingGroup{Interfaces: slices.Clone(s.ifnames), GARP: s.garp, GNA: s.gna}
		}
	}
	return PacingGroup{Interfaces: []string{ifname}, GARP: a.paceDef[kindARP], GNA: a.paceDef[kindNA]}
}

// reconfigureLocked brings the running lanes in line with paceDef and
// paceSpecs, reusing every lane whose membership did not change.
func (a *Announcer) reconfigureLocked() {
	if a.closed {
		return
	}
	lanes := map[string]*lane{}
	for _, s := range resolve(a.paceSpecs) {
		key := strings.Join(slices.Sorted(slices.Values(s.ifnames)), ",")
		l := a.lanes[s.ifnames[0]]
		if l != nil && l.explicit && l.key == key {
			l.setIntervals(s.garp, s.gna)
		} else {
			l = a.startLane(key, key, true, s.garp, s.gna)
		}
		for _, n := range s.ifnames {
			lanes[n] = l
		}
	}
	// Default lanes stay while the default is set and nothing explicit
	// claimed their interface.
	if a.hasDefault() {
		for n, l := range a.lanes {
			if !l.explicit && lanes[n] == nil {
				l.setIntervals(a.paceDef[kindARP], a.paceDef[kindNA])
				lanes[n] = l
			}
		}
	}
	kept := map[*lane]bool{}
	for _, l := range lanes {
		kept[l] = true
	}
	for _, l := range a.lanes {
		if !kept[l] {
			l.retire(true)
		}
	}
	a.lanes = lanes
}

// startLane creates a lane and its goroutine; a.pmu is held.
func (a *Announcer) startLane(key, name string, explicit bool, garp, gna time.Duration) *lane {
	l := newLane(key, name, explicit, garp, gna)
	a.paceWG.Add(1)
	go a.runLane(l)
	return l
}

// laneFor returns the lane pacing announcements on ifname, creating one
// from the default when needed, or nil when ifname is not paced.
func (a *Announcer) laneFor(ifname string) *lane {
	a.pmu.Lock()
	paced := !a.closed && (len(a.lanes) > 0 || a.hasDefault())
	a.pmu.Unlock()
	if !paced {
		return nil
	}
	// keepalived paces a VMAC with its lower interface: both put the
	// frames on the same wire. The lookup runs in the caller's namespace.
	key := a.base(ifname)
	a.pmu.Lock()
	defer a.pmu.Unlock()
	if a.closed {
		return nil
	}
	if l := a.lanes[key]; l != nil {
		return l
	}
	if !a.hasDefault() {
		return nil
	}
	l := a.startLane("", key, false, a.paceDef[kindARP], a.paceDef[kindNA])
	a.lanes[key] = l
	return l
}

// stopPacing retires every lane, dropping what is queued, and waits for
// the goroutines; later announcements are sent at once.
func (a *Announcer) stopPacing() {
	a.pmu.Lock()
	a.closed = true
	lanes := a.lanes
	a.lanes = nil
	a.pmu.Unlock()
	for _, l := range lanes {
		l.retire(false)
	}
	a.paceWG.Wait()
}

// baseInterface returns the lower interface of a macvlan or ipvlan, and
// ifname itself for anything else.
func baseInterface(ifname string) string {
	info, err := (netlinkOps{}).linkInfo(ifname)
	if err != nil || info.Parent == "" {
		return ifname
	}
	switch info.Kind {
	case "macvlan", "macvtap", "ipvlan", "ipvtap":
		return info.Parent
	}
	return ifname
}
