package vrrp

import (
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"sort"
	"sync"
	"time"
)

// SyncGroupConfig is what a vrrp_sync_group needs.
type SyncGroupConfig struct {
	Name string
	// TrackingWeight is sync_group_tracking_weight. Like keepalived, a sync
	// group ignores the weights of its members' (and its own) weighted
	// trackers unless it is set: a tracker of a member should then be
	// configured, or treated by the daemon, as weight 0 (a fault), since
	// members whose priorities drift apart cannot win elections together.
	// The group does not act on it; the daemon reads it to decide between
	// SetPriorityDelta and SetFault, and warns.
	TrackingWeight bool
}

// GroupChange is a transition of a sync group as a whole, as published on
// SyncGroup.Changes (keepalived's "GROUP name state" notifications).
type GroupChange struct {
	Group    string
	From, To State
	Reason   string
	At       time.Time
}

// GroupMember is one member's state as the group last heard it.
type GroupMember struct {
	Name       string
	State      State
	Fault      bool // a fault of its own (not the group's)
	WantMaster bool // ready to be master, waiting for the others
}

// GroupSnapshot is a copy of a sync group's state for status and metrics.
type GroupSnapshot struct {
	Name           string
	State          State
	TrackingWeight bool
	Members        []GroupMember
	Faults         []string // the group's own trackers reporting a fault
	LastTransition time.Time
	LastReason     string
	// ChangesDropped counts group changes not published because nobody
	// read Changes.
	ChangesDropped uint64
}

// SyncGroup is a vrrp_sync_group: its members take the master role only
// together, follow one another to BACKUP, and share faults (keepalived
// 2.2.7 semantics):
//
//   - A member whose master down timer expires does not become master on
//     its own: it reports that it wants to, and stays BACKUP until every
//     other member wants to as well. The last one to get ready takes the
//     role and drives the others to MASTER at once. A member that hears a
//     master it accepts withdraws its wish, so a group facing a complete
//     peer group stays BACKUP rather than thrash.
//   - When one master member goes BACKUP (a higher priority peer), the
//     others release the role too.
//   - A fault of one member, or of the group's own trackers (SetFault), puts
//     every member in FAULT; they leave it together, when no member and no
//     group tracker reports a fault. A master member releasing the role
//     with priority 0 (FAULT, shutdown) thus takes the others with it.
//
// The group has no goroutine: it is a coordinator called synchronously from
// its members' loops as their machines change, under its own mutex.
// It never calls back into an instance; it posts events to each member's
// mailbox, which the member's loop drains in order. So one member's
// decision and the group state change atomically, members cannot end in
// different states once their mailboxes are drained, and transitions that
// the group itself caused are recorded but never acted upon again, so they
// cannot bounce back.
type SyncGroup struct {
	cfg     SyncGroupConfig
	log     *slog.Logger
	clock   Clock
	changes chan GroupChange

	mu         sync.Mutex
	members    []*syncMember
	state      State
	faults     map[string]bool // group trackers
	lastChange time.Time
	lastReason string
	dropped    uint64
	live       int // members that have not stopped
	closed     bool
	// ready counts the members that applied their events queued before they
	// started; when all
	// have, each is posted groupStart and starts the protocol.
	ready int
}

// syncMember links one instance to its group.
type syncMember struct {
	group *SyncGroup
	name  string
	inst  *Instance // told when there is mail

	boxMu sync.Mutex
	box   []Event

	// Guarded by group.mu.
	ready  bool
	state  State
	want   bool
	fault  bool
	exited bool
}

// The events a group posts that the instance handles itself, not its machine.
type (
	// lowerPrioGarp: another member heard a lower priority advert.
	lowerPrioGarp struct{}
	// groupDelta: the group's trackers' weight changed.
	groupDelta struct{ delta int }
	// groupStart: every member has started; the protocol may begin.
	groupStart struct{}
)

func (lowerPrioGarp) isEvent() {}
func (groupDelta) isEvent()    {}
func (groupStart) isEvent()    {}

func (m *syncMember) post(ev Event) {
	m.boxMu.Lock()
	m.box = append(m.box, ev)
	m.boxMu.Unlock()
	m.inst.wakeLoop()
}

func (m *syncMember) drain() []Event {
	m.boxMu.Lock()
	defer m.boxMu.Unlock()
	evs := m.box
	m.box = nil
	return evs
}

// attachMu serialises NewSyncGroup, which holds several instances' locks at
// once.
var attachMu sync.Mutex

// NewSyncGroup makes the instances members of a new sync group. It must be
// called before any member starts; an instance belongs to one group at most.
// A member waits, before it starts the protocol, until every member has
// started (on any loops): the daemon starts them all.
// On error nothing is changed. A group of one member is allowed (keepalived
// warns that it is probably not what was meant; so does the log). A nil log
// discards logs.
func NewSyncGroup(cfg SyncGroupConfig, members []*Instance, log *slog.Logger) (*SyncGroup, error) {
	if cfg.Name == "" {
		return nil, errors.New("vrrp sync group: empty name")
	}
	wrap := func(format string, args ...any) error {
		return fmt.Errorf("vrrp sync group %q: "+format, append([]any{cfg.Name}, args...)...)
	}
	if len(members) == 0 {
		return nil, wrap("no member instances")
	}
	for n, i := range members {
		if i == nil {
			return nil, wrap("member %d is nil", n)
		}
		if slices.Index(members, i) != n {
			return nil, wrap("instance %q listed twice", i.cfg.Name)
		}
	}
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	g := &SyncGroup{
		cfg:     cfg,
		log:     log.With("sync_group", cfg.Name),
		clock:   members[0].deps.Clock,
		changes: make(chan GroupChange, changesBuffer),
		faults:  map[string]bool{},
		live:    len(members),
	}

	attachMu.Lock()
	defer attachMu.Unlock()
	for _, i := range members {
		i.mu.Lock()
		defer i.mu.Unlock()
	}
	for _, i := range members {
		switch {
		case i.running.Load():
			return nil, wrap("instance %q is already running", i.cfg.Name)
		case i.member != nil:
			return nil, wrap("instance %q is already in sync group %q", i.cfg.Name, i.member.group.cfg.Name)
		}
	}
	for _, i := range members {
		m := &syncMember{group: g, name: i.cfg.Name, inst: i, state: StateInit}
		g.members = append(g.members, m)
		i.member = m
		i.m.cfg.Synced = true
	}
	if len(members) == 1 {
		g.log.Warn("sync group has only one member: this is probably not what was meant", "member", members[0].cfg.Name)
	}
	return g, nil
}

// Name returns the group's name.
func (g *SyncGroup) Name() string { return g.cfg.Name }

// Config returns the group's configuration.
func (g *SyncGroup) Config() SyncGroupConfig { return g.cfg }

// Changes delivers every transition of the group as a whole. It is buffered;
// when the buffer is full new changes are dropped and counted. It is closed
// once every member has stopped.
func (g *SyncGroup) Changes() <-chan GroupChange { return g.changes }

// SetFault sets or clears a fault reported by one of the group's own
// trackers (track_interface, track_script... on the vrrp_sync_group): while
// any is set, every member is in FAULT.
func (g *SyncGroup) SetFault(source string, fault bool) {
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.faults[source] == fault {
		return
	}
	reason := "fault: " + source
	if fault {
		g.faults[source] = true
	} else {
		delete(g.faults, source)
		reason = "fault cleared: " + source
	}
	g.reconcileFault(reason)
}

// SetPriorityDelta sets the sum of the weights of the group's own weighted
// trackers; it is added to every member's priority on top of the member's
// own trackers (see SyncGroupConfig.TrackingWeight).
func (g *SyncGroup) SetPriorityDelta(delta int) {
	g.mu.Lock()
	defer g.mu.Unlock()
	for _, m := range g.members {
		g.postTo(m, groupDelta{delta: delta})
	}
}

// Snapshot returns a copy of the group's current state.
func (g *SyncGroup) Snapshot() GroupSnapshot {
	g.mu.Lock()
	defer g.mu.Unlock()
	s := GroupSnapshot{
		Name:           g.cfg.Name,
		State:          g.state,
		TrackingWeight: g.cfg.TrackingWeight,
		LastTransition: g.lastChange,
		LastReason:     g.lastReason,
		ChangesDropped: g.dropped,
	}
	for _, m := range g.members {
		s.Members = append(s.Members, GroupMember{Name: m.name, State: m.state, Fault: m.fault, WantMaster: m.want})
	}
	for f := range g.faults {
		s.Faults = append(s.Faults, f)
	}
	sort.Strings(s.Faults)
	return s
}

// postTo posts ev to a member that is still running. Called with g.mu held.
func (g *SyncGroup) postTo(m *syncMember, ev Event) {
	if !m.exited {
		m.post(ev)
	}
}

// groupMessage is the log message of a group's state change: keepalived's
// text for the states it logs, which operators grep for.
func groupMessage(name string, to State) string {
	switch to {
	case StateMaster, StateBackup, StateFault:
		return fmt.Sprintf("VRRP_Group(%s) Syncing instances to %s state", name, to)
	}
	return fmt.Sprintf("VRRP_Group(%s) entering %s state", name, to)
}

// setState changes and publishes the group state. Called with g.mu held.
func (g *SyncGroup) setState(to State, reason string) {
	if to == g.state {
		return
	}
	from := g.state
	now := g.clock.Now()
	g.state, g.lastChange, g.lastReason = to, now, reason
	g.log.Info(groupMessage(g.cfg.Name, to), "from", from.String(), "to", to.String(), "reason", reason)
	if g.closed {
		return
	}
	select {
	case g.changes <- GroupChange{Group: g.cfg.Name, From: from, To: to, Reason: reason, At: now}:
	default:
		g.dropped++
		g.log.Warn("sync group change not published: the reader is not keeping up", "to", to.String())
	}
}

// memberReason is the transition reason of the members the group drives.
func (g *SyncGroup) memberReason(reason string) string {
	return "sync group " + g.cfg.Name + ": " + reason
}

// want records that member m is (or no longer is) ready to be master, and
// reports whether it may become master now. When it may and the group was
// not master, the group becomes master and the other members are driven to
// MASTER. Called from m's loop.
func (g *SyncGroup) want(m *syncMember, want bool, reason string) bool {
	g.mu.Lock()
	defer g.mu.Unlock()
	m.want = want
	if !want {
		return false
	}
	switch g.state {
	case StateMaster:
		return true
	case StateFault, StateStop:
		return false
	}
	for _, o := range g.members {
		if o != m && !o.want {
			g.log.Debug("member ready to be master, waiting for the others", "member", m.name, "waiting_for", o.name)
			return false
		}
	}
	why := fmt.Sprintf("member %s went MASTER: %s", m.name, reason)
	g.setState(StateMaster, why)
	for _, o := range g.members {
		if o != m {
			g.postTo(o, SyncMaster{Reason: g.memberReason(why)})
		}
	}
	return true
}

// transition records a member's transition and, unless the group caused it
// (forced), makes the others follow. Called from m's loop.
func (g *SyncGroup) transition(m *syncMember, t Transition, forced bool) {
	g.mu.Lock()
	defer g.mu.Unlock()
	m.state = t.To
	if t.To == StateMaster || t.To == StateStop {
		m.want = false
	}
	switch {
	case t.To == StateStop:
		// A member stops when its group does (shutdown, or a reload that
		// forms the group anew), so the group is stopping from the first
		// member's stop on: keepalived reports GROUP STOP straight from
		// the group's state, with no BACKUP in between. Half a group must
		// not stay master meanwhile: the others release.
		if g.state != StateStop {
			wasMaster := g.state == StateMaster
			why := fmt.Sprintf("member %s stopped", m.name)
			g.setState(StateStop, why)
			if wasMaster {
				g.driveBackup(m, why)
			}
		}
	case forced || g.state == StateFault || g.state == StateStop:
		// The group's own doing (or FAULT, which only faults decide):
		// record it, never act on it again.
	case t.To == StateMaster && g.state != StateMaster:
		// Only the group makes a synced member master, so this is not
		// expected; follow it rather than leave the group split.
		why := fmt.Sprintf("member %s went MASTER: %s", m.name, t.Reason)
		g.setState(StateMaster, why)
		for _, o := range g.members {
			if o != m {
				g.postTo(o, SyncMaster{Reason: g.memberReason(why)})
			}
		}
	case t.To == StateBackup && t.From == StateMaster && g.state == StateMaster:
		why := fmt.Sprintf("member %s went BACKUP: %s", m.name, t.Reason)
		g.setState(StateBackup, why)
		g.driveBackup(m, why)
	case t.To == StateBackup && g.state == StateInit:
		g.setState(StateBackup, fmt.Sprintf("member %s: %s", m.name, t.Reason))
	}
}

// driveBackup makes every member but m release the master role.
func (g *SyncGroup) driveBackup(m *syncMember, why string) {
	for _, o := range g.members {
		if o != m {
			g.postTo(o, SyncBackup{Reason: g.memberReason(why)})
		}
	}
}

// ownFault records a change of member m's own faults. Called from m's loop.
func (g *SyncGroup) ownFault(m *syncMember, fault bool, reason string) {
	g.mu.Lock()
	defer g.mu.Unlock()
	m.fault = fault
	why := fmt.Sprintf("member %s went FAULT: %s", m.name, reason)
	if !fault {
		why = fmt.Sprintf("member %s recovered: %s", m.name, reason)
	}
	g.reconcileFault(why)
}

// reconcileFault puts the group in FAULT when a member or a group tracker
// reports a fault, and takes it out when none does. Every member, the faulty
// ones included, is held in FAULT by the group, so that they all leave it
// at the same moment. Called with g.mu held.
func (g *SyncGroup) reconcileFault(why string) {
	if g.state == StateStop {
		return
	}
	faulty := len(g.faults) > 0
	for _, m := range g.members {
		faulty = faulty || m.fault
	}
	switch {
	case faulty && g.state != StateFault:
		g.setState(StateFault, why)
		for _, m := range g.members {
			m.want = false
			g.postTo(m, SyncFault{Fault: true, Reason: g.memberReason(why)})
		}
	case !faulty && g.state == StateFault:
		g.setState(StateBackup, why)
		for _, m := range g.members {
			g.postTo(m, SyncFault{Fault: false, Reason: g.memberReason(why)})
		}
	}
}

// lowerPriority makes the other members repeat their gratuitous ARPs, as
// keepalived does when one member's master hears a lower priority advert:
// the peer that believed it was master may have taken all the group's
// addresses. Called from m's loop.
func (g *SyncGroup) lowerPriority(m *syncMember) {
	g.mu.Lock()
	defer g.mu.Unlock()
	for _, o := range g.members {
		if o != m {
			g.postTo(o, lowerPrioGarp{})
		}
	}
}

// prepared records that m applied the events queued before it started (and so
// reported its initial faults); the last member releases them all.
func (g *SyncGroup) prepared(m *syncMember) {
	g.mu.Lock()
	defer g.mu.Unlock()
	if m.ready {
		return
	}
	m.ready = true
	g.ready++
	if g.ready == len(g.members) {
		for _, o := range g.members {
			g.postTo(o, groupStart{})
		}
	}
}

// exited records that m stopped; the last one closes Changes.
func (g *SyncGroup) exited(m *syncMember) {
	g.mu.Lock()
	defer g.mu.Unlock()
	m.exited = true
	g.live--
	if g.live == 0 && !g.closed {
		g.closed = true
		close(g.changes)
	}
}
