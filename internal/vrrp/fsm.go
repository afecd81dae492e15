package vrrp

import (
	"errors"
	"fmt"
	"net/netip"
	"sort"
	"strings"
	"time"
)

// State is the protocol state of one virtual router.
type State uint8

// The states. INIT is the state before Start; STOP is terminal (after
// Shutdown), it exists so that the last transition can be reported.
const (
	StateInit State = iota
	StateBackup
	StateMaster
	StateFault
	StateStop
)

// String returns the state name as keepalived prints it.
func (s State) String() string {
	switch s {
	case StateInit:
		return "INIT"
	case StateBackup:
		return "BACKUP"
	case StateMaster:
		return "MASTER"
	case StateFault:
		return "FAULT"
	case StateStop:
		return "STOP"
	}
	return fmt.Sprintf("State(%d)", uint8(s))
}

// PriorityOwner is the priority of the address owner (RFC 3768 5.3.4): it
// takes over at once and its priority is never changed by trackers.
const PriorityOwner = 255

// priorityStop is the priority a master sends when it gives up the role.
const priorityStop = 0

// MachineConfig is what the state machine needs from a vrrp_instance.
type MachineConfig struct {
	// Interface names the interface in transition reasons.
	Interface string
	// Version is 2 or 3; it selects the skew-time formula and whether the
	// master's advertisement interval is adopted.
	Version uint8
	// Priority is the configured (base) priority, 1..255.
	Priority uint8
	// AdvertInterval is our own advertisement interval.
	AdvertInterval time.Duration
	// StartAsMaster is "state MASTER". Like keepalived, it only makes an
	// address owner (priority 255) master at once; anyone else starts as
	// BACKUP and waits for the master down timer.
	StartAsMaster bool
	// Preempt is keepalived's default; false is "nopreempt".
	Preempt bool
	// PreemptDelay is preempt_delay: a higher priority backup keeps
	// accepting a lower priority master for this long after startup, or
	// after first seeing that master, before it preempts.
	PreemptDelay time.Duration
	// LowerPrioNoAdvert: a master receiving a lower priority advert does not
	// answer it with an advert of its own (RFC behaviour).
	LowerPrioNoAdvert bool
	// HigherPrioSendAdvert: a master receiving a higher priority advert sends
	// one more advert before it becomes backup.
	HigherPrioSendAdvert bool
	// LocalAddr is the source address of our adverts; it breaks ties between
	// masters of equal priority (the higher address wins).
	LocalAddr netip.Addr
	// Synced makes the machine a member of a vrrp_sync_group: it never takes
	// the master role on its own. When it would (master down timer, address
	// owner starting or leaving FAULT) it reports WantMaster and waits for a
	// SyncMaster event; it reports changes of its own faults with OwnFault.
	Synced bool
}

// Validate reports the first invalid field.
func (c MachineConfig) Validate() error {
	switch {
	case c.Version != 2 && c.Version != 3:
		return fmt.Errorf("vrrp: version %d: want 2 or 3", c.Version)
	case c.Priority == 0:
		return errors.New("vrrp: priority 0 is reserved for a master that stops; want 1..255")
	case c.AdvertInterval <= 0:
		return fmt.Errorf("vrrp: advert interval %v: must be positive", c.AdvertInterval)
	case c.PreemptDelay < 0:
		return fmt.Errorf("vrrp: preempt delay %v: must not be negative", c.PreemptDelay)
	}
	return nil
}

// Event is an input of Machine.Handle. The concrete types are below.
type Event interface{ isEvent() }

// Start leaves INIT: to FAULT if a fault is pending, to MASTER for an address
// owner configured as MASTER, to BACKUP otherwise.
type Start struct{}

// TimerExpired is delivered when the deadline of the last ResetTimer has
// passed: the master down timer in BACKUP, the advert timer in MASTER.
type TimerExpired struct{}

// AdvertReceived is a valid advertisement (the instance has already checked
// TTL, authentication, version, VRID and, for v2, the interval).
type AdvertReceived struct {
	Src      netip.Addr
	Priority uint8
	// Interval is the sender's advertisement interval (v3 backups adopt it).
	Interval time.Duration
}

// InterfaceUp reports that the instance's interface came up.
type InterfaceUp struct{}

// InterfaceDown reports that the instance's interface went down.
type InterfaceDown struct{}

// FaultSet reports a fault from a tracker (track_script weight 0,
// track_interface, track_file...). Source names it; faults from different
// sources add up, and the instance stays in FAULT until all are cleared.
type FaultSet struct{ Source string }

// FaultClear withdraws the fault reported by Source.
type FaultClear struct{ Source string }

// PriorityChanged sets the sum of the trackers' weights: the effective
// priority becomes Priority+Delta, clamped to 1..254 (keepalived). An
// address owner's priority never changes.
type PriorityChanged struct{ Delta int }

// BasePriorityChanged replaces the configured priority (a reload that
// changed only "priority"), keeping the state, as keepalived does: a master
// advertises the new priority from its next advert on, and the election
// follows the usual rules from there. Changes to or from the address
// owner's 255 are not accepted here (the instance must be restarted).
type BasePriorityChanged struct{ Priority uint8 }

// Shutdown stops the machine: a master sends priority 0 and removes its
// addresses. The machine then ignores every event.
type Shutdown struct{}

func (Start) isEvent()               {}
func (TimerExpired) isEvent()        {}
func (AdvertReceived) isEvent()      {}
func (InterfaceUp) isEvent()         {}
func (InterfaceDown) isEvent()       {}
func (FaultSet) isEvent()            {}
func (FaultClear) isEvent()          {}
func (PriorityChanged) isEvent()     {}
func (BasePriorityChanged) isEvent() {}
func (Shutdown) isEvent()            {}

// Action is an output of Machine.Handle, to be executed in order.
type Action interface{ isAction() }

// SendAdvert sends one advertisement with the given priority (0 when giving
// up the master role).
type SendAdvert struct{ Priority uint8 }

// AddVIPs adds the virtual (and excluded) addresses.
type AddVIPs struct{}

// RemoveVIPs removes them, and cancels any pending gratuitous ARP / NA.
type RemoveVIPs struct{}

// SendGratuitous starts announcing the addresses (gratuitous ARP, unsolicited
// NA): a burst now, a second burst after garp_master_delay, and periodic
// refreshes, as configured on the instance.
type SendGratuitous struct{}

// Transition reports a state change and why it happened.
type Transition struct {
	From, To State
	Reason   string
}

// ResetTimer arms the instance's single timer to fire at At.
type ResetTimer struct{ At time.Time }

// StopTimer disarms the timer (FAULT and STOP have none).
type StopTimer struct{}

// PriorityUpdated reports a change of the effective priority.
type PriorityUpdated struct{ From, To uint8 }

func (SendAdvert) isAction()      {}
func (AddVIPs) isAction()         {}
func (RemoveVIPs) isAction()      {}
func (SendGratuitous) isAction()  {}
func (Transition) isAction()      {}
func (ResetTimer) isAction()      {}
func (StopTimer) isAction()       {}
func (PriorityUpdated) isAction() {}

// Machine is the VRRP state machine of one virtual router, following RFC 3768
// / RFC 5798 as keepalived implements them. It is deterministic and not safe
// for concurrent use: one goroutine (the Instance's loop) owns it.
type Machine struct {
	cfg      MachineConfig
	warnings []string

	state State
	base  uint8 // configured priority (lowered to 254 on an owner conflict)
	delta int   // the trackers' last delta, for a change of base priority
	eff   uint8 // effective priority

	// masterAdverInt is the interval the master down timer is based on: our
	// own, or for v3 the one advertised by the current master.
	masterAdverInt time.Duration
	deadline       time.Time // zero when the timer is disarmed

	ifDown bool
	faults map[string]bool

	// preemptUntil is when a pending preempt delay ends (zero: none).
	preemptUntil time.Time

	masterAddr netip.Addr
	masterPrio uint8

	// Why the master down timer will expire, for the transition reason.
	prioZeroFrom netip.Addr // a backup heard priority 0 from this master
	preempting   bool       // a backup is ignoring a lower priority master

	// Sync group membership (cfg.Synced).
	syncFault       bool   // the group holds us in FAULT
	syncFaultReason string // why, for a transition at Start
	wantMaster      bool   // reported WantMaster{Want: true}, not withdrawn
}

// NewMachine checks cfg and returns a machine in INIT. Like keepalived it
// clears nopreempt for an address owner, and nopreempt and preempt_delay for
// "state MASTER"; Warnings lists what it changed.
func NewMachine(cfg MachineConfig) (*Machine, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	m := &Machine{cfg: cfg, faults: map[string]bool{}}
	if cfg.Priority == PriorityOwner && !cfg.Preempt {
		m.warnings = append(m.warnings, "nopreempt is incompatible with priority 255 (address owner): ignoring nopreempt")
		m.cfg.Preempt = true
	}
	if cfg.StartAsMaster && !m.cfg.Preempt {
		m.warnings = append(m.warnings, "nopreempt does not work with initial state MASTER: ignoring nopreempt")
		m.cfg.Preempt = true
	}
	if cfg.StartAsMaster && cfg.PreemptDelay > 0 {
		m.warnings = append(m.warnings, "preempt_delay does not work with initial state MASTER: ignoring preempt_delay")
		m.cfg.PreemptDelay = 0
	}
	if !m.cfg.Preempt && m.cfg.PreemptDelay > 0 {
		m.warnings = append(m.warnings, "preempt_delay is incompatible with nopreempt: ignoring preempt_delay")
		m.cfg.PreemptDelay = 0
	}
	m.base, m.eff = cfg.Priority, cfg.Priority
	m.masterAdverInt = cfg.AdvertInterval
	return m, nil
}

// Warnings lists the configuration adjustments NewMachine made.
func (m *Machine) Warnings() []string { return append([]string(nil), m.warnings...) }

// State returns the current state.
func (m *Machine) State() State { return m.state }

// Priority returns the base and the effective priority.
func (m *Machine) Priority() (base, effective uint8) { return m.base, m.eff }

// Master returns the address and priority of the last master heard from
// (invalid address if none; our own address while we are master).
func (m *Machine) Master() (netip.Addr, uint8) {
	if m.state == StateMaster {
		return m.cfg.LocalAddr, m.eff
	}
	return m.masterAddr, m.masterPrio
}

// Deadline returns when the timer fires; zero if it is disarmed.
func (m *Machine) Deadline() time.Time { return m.deadline }

// MasterAdvertInterval returns the interval the master down timer uses.
func (m *Machine) MasterAdvertInterval() time.Duration { return m.masterAdverInt }

// SkewTime is (256-priority)/256 s for v2 and (256-priority)*interval/256 for
// v3, with the effective priority and the master's interval.
func (m *Machine) SkewTime() time.Duration {
	if m.cfg.Version == 3 {
		return time.Duration(256-int(m.eff)) * m.masterAdverInt / 256
	}
	return time.Duration(256-int(m.eff)) * time.Second / 256
}

// MasterDownInterval is 3 * master advert interval + skew time.
func (m *Machine) MasterDownInterval() time.Duration {
	return 3*m.masterAdverInt + m.SkewTime()
}

// Handle feeds one event at time now and returns the actions to execute, in
// order. It never blocks and never fails: an event that does not apply in
// the current state is ignored.
func (m *Machine) Handle(now time.Time, ev Event) []Action {
	if m.state == StateStop {
		return nil
	}
	if !m.cfg.Synced {
		return m.handle(now, ev)
	}
	// A sync group must hear of every change of what it decides on: our own
	// faults and our readiness to be master. Both are compared around the
	// event rather than reported at each place that changes them.
	ownBefore, wantBefore := m.ownFaulty(), m.wantMaster
	acts := m.handle(now, ev)
	if own := m.ownFaulty(); own != ownBefore {
		reason := m.ownFaultReason()
		if !own {
			reason = clearReason(m.cfg.Interface, ev)
		}
		acts = append(acts, OwnFault{Fault: own, Reason: reason})
	}
	if wantBefore && !m.wantMaster {
		acts = append(acts, WantMaster{Want: false})
	}
	return acts
}

func (m *Machine) handle(now time.Time, ev Event) []Action {
	switch ev := ev.(type) {
	case Start:
		return m.start(now)
	case TimerExpired:
		return m.timer(now)
	case AdvertReceived:
		switch m.state {
		case StateBackup:
			return m.backupRx(now, ev)
		case StateMaster:
			return m.masterRx(now, ev)
		}
		// INIT and FAULT ignore adverts, as keepalived does.
		return nil
	case InterfaceDown:
		m.ifDown = true
		return m.enterFault(fmt.Sprintf("interface %s down", m.cfg.Interface))
	case InterfaceUp:
		m.ifDown = false
		return m.leaveFault(now, fmt.Sprintf("interface %s up", m.cfg.Interface))
	case FaultSet:
		m.faults[ev.Source] = true
		return m.enterFault("fault: " + ev.Source)
	case FaultClear:
		delete(m.faults, ev.Source)
		return m.leaveFault(now, "fault cleared: "+ev.Source)
	case PriorityChanged:
		return m.priorityChanged(now, ev.Delta)
	case BasePriorityChanged:
		if m.owner() || ev.Priority == PriorityOwner || ev.Priority == 0 || ev.Priority == m.base {
			return nil
		}
		m.base = ev.Priority
		// The effective priority follows from the new base and the
		// trackers' last delta, exactly as if the delta had just been
		// reported (priorityChanged does nothing if it ends up equal).
		return m.priorityChanged(now, m.delta)
	case Shutdown:
		return m.shutdown()
	case SyncMaster:
		return m.syncMaster(now, ev)
	case SyncBackup:
		return m.syncBackup(now, ev)
	case SyncFault:
		return m.syncFaultEvent(now, ev)
	}
	return nil
}

// ownFaulty reports the faults of the instance itself, not the group's.
func (m *Machine) ownFaulty() bool { return m.ifDown || len(m.faults) > 0 }

func (m *Machine) faulty() bool { return m.ownFaulty() || m.syncFault }

// faultReason describes the pending faults (for a transition at Start).
func (m *Machine) faultReason() string {
	r := m.ownFaultReason()
	if m.syncFault {
		if r != "" {
			r += ", "
		}
		r += m.syncFaultReason
	}
	return r
}

// ownFaultReason describes the instance's own pending faults.
func (m *Machine) ownFaultReason() string {
	var parts []string
	if m.ifDown {
		parts = append(parts, fmt.Sprintf("interface %s down", m.cfg.Interface))
	}
	srcs := make([]string, 0, len(m.faults))
	for s := range m.faults {
		srcs = append(srcs, s)
	}
	sort.Strings(srcs)
	for _, s := range srcs {
		parts = append(parts, "fault: "+s)
	}
	return strings.Join(parts, ", ")
}

func (m *Machine) transition(to State, reason string) Action {
	t := Transition{From: m.state, To: to, Reason: reason}
	m.state = to
	return t
}

func (m *Machine) owner() bool { return m.base == PriorityOwner }

func (m *Machine) start(now time.Time) []Action {
	if m.state != StateInit {
		return nil
	}
	if m.faulty() {
		m.deadline = time.Time{}
		return []Action{m.transition(StateFault, m.faultReason()), StopTimer{}}
	}
	if m.cfg.PreemptDelay > 0 {
		m.preemptUntil = now.Add(m.cfg.PreemptDelay)
	}
	if m.cfg.StartAsMaster && m.owner() {
		return m.ownerMaster(now, "initial state MASTER, address owner (priority 255)")
	}
	reason := "initial state BACKUP"
	if m.cfg.StartAsMaster {
		reason = fmt.Sprintf("initial state MASTER but priority %d is not the address owner: waiting for the master down timer", m.base)
	}
	return m.enterBackup(now, reason)
}

// enterBackup moves to BACKUP with a fresh master down timer.
func (m *Machine) enterBackup(now time.Time, reason string) []Action {
	m.wantMaster = false
	m.prioZeroFrom = netip.Addr{}
	m.preempting = false
	m.deadline = now.Add(m.MasterDownInterval())
	return []Action{m.transition(StateBackup, reason), ResetTimer{At: m.deadline}}
}

// becomeMaster takes the master role: addresses, announcements, first advert.
func (m *Machine) becomeMaster(now time.Time, reason string) []Action {
	// A master advertises, and bases nothing on, its own interval.
	m.masterAdverInt = m.cfg.AdvertInterval
	m.prioZeroFrom = netip.Addr{}
	m.preempting = false
	m.wantMaster = false
	m.deadline = m.nextAdvert(now)
	return []Action{
		m.transition(StateMaster, reason),
		AddVIPs{},
		SendGratuitous{},
		SendAdvert{Priority: m.eff},
		ResetTimer{At: m.deadline},
	}
}

// nextAdvert is when a master sends its next advert: the last point of a
// grid of its advert interval, anchored at the Unix epoch of the wall
// clock, that is at most one interval after now. Every master with the same
// interval sends on the same grid, so a daemon running hundreds of
// instances wakes once per interval for all their adverts rather than once
// per instance, and the backups across the link receive them in one burst.
// The interval between two adverts is never longer than the configured one;
// only the first after taking the role may be shorter. The deadline keeps
// now's monotonic reading, so a step of the wall clock only moves the
// phase, never the length of an interval.
func (m *Machine) nextAdvert(now time.Time) time.Time {
	iv := m.cfg.AdvertInterval
	t := now.Add(iv)
	return t.Add(-time.Duration(t.UnixNano() % int64(iv)))
}

func (m *Machine) timer(now time.Time) []Action {
	switch m.state {
	case StateBackup, StateMaster:
	default:
		return nil
	}
	if m.deadline.IsZero() {
		return nil
	}
	if now.Before(m.deadline) {
		// A timer that fires early (or a stale tick) must not shorten the
		// protocol's timers: re-arm for the real deadline.
		return []Action{ResetTimer{At: m.deadline}}
	}
	if m.state == StateMaster {
		// The next slot of the shared grid (see nextAdvert): the period
		// does not drift by the processing latency, and a master more than
		// one interval late skips the missed slots instead of sending a
		// burst.
		m.deadline = m.nextAdvert(now)
		return []Action{SendAdvert{Priority: m.eff}, ResetTimer{At: m.deadline}}
	}
	var reason string
	switch {
	case m.prioZeroFrom.IsValid():
		reason = fmt.Sprintf("master %s sent priority 0", m.prioZeroFrom)
	case m.preempting:
		reason = fmt.Sprintf("preempting lower priority %d master %s", m.masterPrio, m.masterAddr)
	default:
		reason = "master down timer expired"
	}
	if m.cfg.Synced {
		// Stay BACKUP until the whole group is ready (keepalived prefers
		// backup to thrashing). The timer keeps running so that a group
		// that never agrees still re-asks, and so that a master heard
		// meanwhile withdraws the request.
		m.wantMaster = true
		m.prioZeroFrom = netip.Addr{}
		m.deadline = now.Add(m.MasterDownInterval())
		return []Action{ResetTimer{At: m.deadline}, WantMaster{Want: true, Reason: reason}}
	}
	return m.becomeMaster(now, reason)
}

// backupRx is RFC 3768 6.4.2 / RFC 5798 6.4.2 with keepalived's preemption:
// a lower priority advert is ignored (the master down timer keeps running)
// when we may preempt, so we take over when it expires.
func (m *Machine) backupRx(now time.Time, ad AdvertReceived) []Action {
	if ad.Priority == priorityStop {
		// The master is leaving: take over after the skew time only, so the
		// highest priority backup wins.
		m.prioZeroFrom = ad.Src
		m.preempting = false
		m.deadline = now.Add(m.SkewTime())
		return []Action{ResetTimer{At: m.deadline}}
	}
	delaying := m.cfg.PreemptDelay > 0 && (m.preemptUntil.IsZero() || now.Before(m.preemptUntil))
	if !m.cfg.Preempt || ad.Priority >= m.eff || delaying {
		if m.cfg.Version == 3 && ad.Interval > 0 {
			m.masterAdverInt = ad.Interval
		}
		m.masterAddr, m.masterPrio = ad.Src, ad.Priority
		m.prioZeroFrom = netip.Addr{}
		m.preempting = false
		// A master we accept: we no longer want the role, whatever the
		// timer said before.
		m.wantMaster = false
		if m.cfg.PreemptDelay > 0 {
			if ad.Priority >= m.eff {
				m.preemptUntil = time.Time{}
			} else if m.preemptUntil.IsZero() {
				m.preemptUntil = now.Add(m.cfg.PreemptDelay)
			}
		}
		m.deadline = now.Add(m.MasterDownInterval())
		return []Action{ResetTimer{At: m.deadline}}
	}
	// Lower priority master and we may preempt: ignore the advert.
	m.masterAddr, m.masterPrio = ad.Src, ad.Priority
	m.preempting = true
	return nil
}

// masterRx is RFC 3768 6.4.3 / RFC 5798 6.4.3 as keepalived does it.
func (m *Machine) masterRx(now time.Time, ad AdvertReceived) []Action {
	cmp := ad.Src.Compare(m.cfg.LocalAddr)
	higher := ad.Priority > m.eff || (ad.Priority == m.eff && cmp > 0)
	var acts []Action

	if ad.Priority == priorityStop || (m.cfg.HigherPrioSendAdvert && higher) {
		acts = append(acts, SendAdvert{Priority: m.eff})
		if ad.Priority == priorityStop {
			if !m.cfg.LowerPrioNoAdvert {
				m.deadline = m.nextAdvert(now)
				acts = append(acts, ResetTimer{At: m.deadline})
			}
			return acts
		}
	}

	if ad.Priority == m.eff && cmp != 0 && m.eff == PriorityOwner {
		// Two address owners: a configuration error. keepalived lowers its
		// own priority so that the election can converge.
		m.warnings = append(m.warnings, fmt.Sprintf("both we and %s are configured as address owner (priority 255): lowering our priority to 254", ad.Src))
		m.base, m.eff = PriorityOwner-1, PriorityOwner-1
		acts = append(acts, PriorityUpdated{From: PriorityOwner, To: m.eff})
		higher = true
	}

	switch {
	case ad.Priority < m.eff || (ad.Priority == m.eff && cmp < 0):
		// A lower priority router thinks it is master: re-assert ourselves
		// unless told to stay RFC-quiet.
		if !m.cfg.LowerPrioNoAdvert {
			m.deadline = m.nextAdvert(now)
			acts = append(acts, SendAdvert{Priority: m.eff}, ResetTimer{At: m.deadline})
		}
		return append(acts, LowerPriorityAdvert{Src: ad.Src, Priority: ad.Priority})
	case higher:
		reason := fmt.Sprintf("higher priority %d from %s", ad.Priority, ad.Src)
		if ad.Priority == m.eff {
			reason = fmt.Sprintf("equal priority %d from higher address %s", ad.Priority, ad.Src)
		}
		if m.cfg.Version == 3 && ad.Interval > 0 {
			m.masterAdverInt = ad.Interval
		}
		m.masterAddr, m.masterPrio = ad.Src, ad.Priority
		m.preemptUntil = time.Time{}
		m.prioZeroFrom = netip.Addr{}
		m.preempting = false
		m.deadline = now.Add(m.MasterDownInterval())
		return append(acts,
			m.transition(StateBackup, reason),
			RemoveVIPs{},
			ResetTimer{At: m.deadline})
	}
	// Equal priority from our own address: a looped or spoofed packet.
	return acts
}

func (m *Machine) enterFault(reason string) []Action {
	m.wantMaster = false
	switch m.state {
	case StateBackup:
		m.deadline = time.Time{}
		return []Action{m.transition(StateFault, reason), StopTimer{}}
	case StateMaster:
		m.deadline = time.Time{}
		return []Action{
			SendAdvert{Priority: priorityStop},
			m.transition(StateFault, reason),
			RemoveVIPs{},
			StopTimer{},
		}
	}
	// INIT records the fault for Start; FAULT is already there.
	return nil
}

func (m *Machine) leaveFault(now time.Time, reason string) []Action {
	if m.state != StateFault || m.faulty() {
		return nil
	}
	m.masterAdverInt = m.cfg.AdvertInterval
	m.preemptUntil = time.Time{}
	if m.cfg.StartAsMaster && m.owner() {
		return m.ownerMaster(now, reason+", address owner")
	}
	return m.enterBackup(now, reason)
}

// ownerMaster makes an address owner master at once; in a sync group it
// becomes BACKUP and asks the group instead, since members only become
// master together.
func (m *Machine) ownerMaster(now time.Time, reason string) []Action {
	if !m.cfg.Synced {
		return m.becomeMaster(now, reason)
	}
	acts := m.enterBackup(now, reason+": waiting for the sync group")
	m.wantMaster = true
	return append(acts, WantMaster{Want: true, Reason: reason})
}

func (m *Machine) priorityChanged(now time.Time, delta int) []Action {
	if m.owner() {
		return nil
	}
	m.delta = delta
	p := int(m.base) + delta
	p = max(1, min(p, PriorityOwner-1))
	if uint8(p) == m.eff {
		return nil
	}
	old := m.eff
	oldDown := m.MasterDownInterval()
	m.eff = uint8(p)
	acts := []Action{PriorityUpdated{From: old, To: m.eff}}
	if m.state == StateBackup && !m.deadline.IsZero() {
		// Keep deadline == last advert + master down interval: the new skew
		// moves it (earlier when our priority rose).
		// A deadline that moves into the past expires now.
		m.deadline = m.deadline.Add(m.MasterDownInterval() - oldDown)
		if m.deadline.Before(now) {
			m.deadline = now
		}
		acts = append(acts, ResetTimer{At: m.deadline})
	}
	return acts
}

func (m *Machine) shutdown() []Action {
	m.wantMaster = false
	var acts []Action
	wasMaster := m.state == StateMaster
	if wasMaster {
		acts = append(acts, SendAdvert{Priority: priorityStop})
	}
	acts = append(acts, m.transition(StateStop, "shutdown"))
	if wasMaster {
		acts = append(acts, RemoveVIPs{})
	}
	m.deadline = time.Time{}
	return append(acts, StopTimer{})
}
