package vrrp

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"net/netip"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// Defaults the daemon applies when keepalived.conf does not set them (the
// zero values of InstanceConfig mean "off", not "default").
const (
	DefaultGarpDelay         = 5 * time.Second // garp_master_delay
	DefaultGarpRepeat        = 5               // garp_master_repeat
	DefaultGarpRefreshRepeat = 1               // garp_master_refresh_repeat
)

// The VRRP multicast groups (RFC 3768 5.2.2, RFC 5798 5.1.2.2), used when
// InstanceConfig.Group is not set.
var (
	MulticastGroup4 = netip.MustParseAddr("224.0.0.18")
	MulticastGroup6 = netip.MustParseAddr("ff02::12")
)

// VIP is one address the master holds, with what the host needs to add it
// as the configuration line asks (the daemon converts the line once; the
// instance only carries it).
type VIP struct {
	Prefix    netip.Prefix
	Dev       string // empty: the instance's interface
	Label     string
	Broadcast netip.Addr // IPv4; brd + and - already resolved
	Scope     string
	NoDAD     bool
	// Peer is the other end of a point-to-point address.
	Peer                                      netip.Prefix
	NoPrefixRoute, Home, MngTmpAddr, AutoJoin bool
	PreferredLft                              string // "forever", seconds, or "" for the default
}

// Sender sends one VRRP payload (the IP header is the transport's, with TTL /
// hop limit 255). An AuthAH instance sends whole IPv4 datagrams instead (its
// own IPv4 header, the AH header, the VRRP payload), since the ICV covers the
// IPv4 header.
type Sender interface {
	Send(payload []byte, src, dst netip.Addr) error
}

// Addresses adds and removes virtual addresses on the host.
type Addresses interface {
	Add(VIP) error
	Remove(VIP) error
}

// Announcer sends one gratuitous ARP (IPv4) or unsolicited neighbour
// advertisement (IPv6) for each address, on interface ifname.
type Announcer interface {
	Announce(ifname string, addrs []netip.Addr) error
}

// Received is one packet the transport received for this instance.
type Received struct {
	Src, Dst netip.Addr
	// TTL is the IPv4 TTL or IPv6 hop limit; negative when unknown.
	TTL     int
	Payload []byte // the VRRP payload, IP header stripped; for AuthAH the whole IPv4 datagram
}

// Deps are the instance's connections to the world. All are required.
type Deps struct {
	Sender    Sender
	Addresses Addresses
	Announcer Announcer
	Clock     Clock
	// Hooks, optional, is what a master holds besides its addresses.
	Hooks MasterHooks
	// Changes, optional, takes the instance's state transitions and its end
	// instead of the Changes channel, which is then closed from the start.
	// A daemon running hundreds of instances hands them all to one reader
	// this way, rather than keep a goroutine and a buffer per instance.
	Changes ChangeSink
}

// ChangeSink receives an instance's state transitions, in order, then
// Finished once, when Done is closed. Its methods are called on the
// instance's loop goroutine and must not block.
type ChangeSink interface {
	Change(StateChange)
	Finished()
}

// closedChanges is Changes for instances with a ChangeSink.
var closedChanges = func() chan StateChange {
	c := make(chan StateChange)
	close(c)
	return c
}()

// MasterHooks is what a master holds besides its addresses: its
// virtual_routes and virtual_rules. Acquire runs right after the addresses
// are added (a route may use a VIP as its source), Release right before
// they are removed. Errors are logged and counted; the role is kept, as
// keepalived keeps it.
type MasterHooks interface {
	Acquire() error
	Release() error
}

// InstanceConfig is what one vrrp_instance needs; the daemon translates the
// configuration model into it and fills in keepalived's defaults.
type InstanceConfig struct {
	Name      string
	Interface string
	VRID      uint8 // 1..255
	Version   uint8 // 2 or 3
	Family    int   // 4 or 6
	Priority  uint8 // 1..255
	// AdvertInterval: whole seconds for v2, centiseconds for v3.
	AdvertInterval time.Duration
	// StartAsMaster is "state MASTER". The daemon also sets it for priority
	// 255 without a state, as keepalived does; only an address owner becomes
	// master at once.
	StartAsMaster bool
	Preempt       bool // false: nopreempt
	PreemptDelay  time.Duration

	LowerPrioNoAdvert    bool
	HigherPrioSendAdvert bool

	AuthType AuthType // v2 only
	AuthPass string   // AuthPass: 1..8 bytes (the config layer truncates longer ones)

	VIPs         []VIP // advertised; of Family
	ExcludedVIPs []VIP // held by the master but not advertised; any family

	Unicast bool
	Peers   []netip.Addr // unicast peers
	// SrcAddr is the source of our adverts (unicast_src_ip / mcast_src_ip or
	// the interface's primary address): it breaks equal-priority ties and
	// identifies our own looped-back packets.
	SrcAddr netip.Addr
	Group   netip.Addr // multicast group; zero: the standard one

	ChecksumAsV2 bool // v3_checksum_as_v2

	GarpDelay         time.Duration // garp_master_delay; 0: no second burst
	GarpRepeat        int           // garp_master_repeat
	GarpRefresh       time.Duration // garp_master_refresh; 0: none
	GarpRefreshRepeat int           // garp_master_refresh_repeat
	// GarpLowerPrioRepeat is garp_lower_prio_repeat: a master hearing a lower
	// priority advert (a peer that believes it is master) sends this many
	// rounds of announcements at once, and again GarpLowerPrioDelay later
	// (garp_lower_prio_delay; 0: no second burst). 0 turns it off. The
	// config layer defaults them to garp_master_repeat / garp_master_delay.
	GarpLowerPrioDelay  time.Duration
	GarpLowerPrioRepeat int
}

// Validate reports the first invalid field of c.
func (c InstanceConfig) Validate() error {
	wrap := func(format string, args ...any) error {
		return fmt.Errorf("vrrp instance %q: "+format, append([]any{c.Name}, args...)...)
	}
	fam := func(a netip.Addr) bool {
		return (c.Family == 4 && a.Is4()) || (c.Family == 6 && a.Is6() && !a.Is4In6())
	}
	switch {
	case c.VRID == 0:
		return wrap("virtual_router_id 0: want 1..255")
	case c.Version != 2 && c.Version != 3:
		return wrap("version %d: want 2 or 3", c.Version)
	case c.Family != 4 && c.Family != 6:
		return wrap("address family %d: want 4 or 6", c.Family)
	case c.Version == 2 && c.Family == 6:
		return wrap("VRRP version 2 is IPv4 only")
	case c.Priority == 0:
		return wrap("priority 0: want 1..255")
	case c.Version == 2 && (c.AdvertInterval < time.Second || c.AdvertInterval > MaxIntervalV2 || c.AdvertInterval%time.Second != 0):
		return wrap("advert_int %v: version 2 needs whole seconds in 1s..%v", c.AdvertInterval, MaxIntervalV2)
	case c.Version == 3 && (c.AdvertInterval < 10*time.Millisecond || c.AdvertInterval > MaxIntervalV3 || c.AdvertInterval%(10*time.Millisecond) != 0):
		return wrap("advert_int %v: version 3 needs whole centiseconds in 10ms..%v", c.AdvertInterval, MaxIntervalV3)
	case c.PreemptDelay < 0:
		return wrap("preempt_delay %v: must not be negative", c.PreemptDelay)
	case c.AuthType > AuthAH:
		return wrap("unknown auth_type %d", c.AuthType)
	case c.Version == 3 && c.AuthType != AuthNone:
		return wrap("VRRP version 3 has no authentication")
	case c.AuthType == AuthPass && (len(c.AuthPass) == 0 || len(c.AuthPass) > 8):
		return wrap("auth_pass must be 1..8 bytes, got %d", len(c.AuthPass))
	case len(c.VIPs) > MaxAddrs:
		return wrap("%d virtual addresses: at most %d fit in an advertisement", len(c.VIPs), MaxAddrs)
	case c.GarpDelay < 0 || c.GarpRefresh < 0 || c.GarpRepeat < 0 || c.GarpRefreshRepeat < 0 ||
		c.GarpLowerPrioDelay < 0 || c.GarpLowerPrioRepeat < 0:
		return wrap("negative gratuitous ARP setting")
	case c.SrcAddr.IsValid() && !fam(c.SrcAddr):
		return wrap("source address %v is not IPv%d", c.SrcAddr, c.Family)
	case c.Group.IsValid() && (!fam(c.Group) || !c.Group.IsMulticast()):
		return wrap("multicast group %v is not an IPv%d multicast address", c.Group, c.Family)
	case c.Unicast && len(c.Peers) == 0:
		return wrap("unicast without any unicast_peer")
	}
	for _, v := range c.VIPs {
		if !v.Prefix.IsValid() {
			return wrap("invalid virtual address %v", v.Prefix)
		}
		if !fam(v.Prefix.Addr()) {
			return wrap("virtual address %v is not IPv%d (use virtual_ipaddress_excluded for the other family)", v.Prefix, c.Family)
		}
	}
	for _, v := range c.ExcludedVIPs {
		if !v.Prefix.IsValid() {
			return wrap("invalid excluded virtual address %v", v.Prefix)
		}
	}
	for _, p := range c.Peers {
		if !fam(p) {
			return wrap("unicast peer %v is not IPv%d", p, c.Family)
		}
		if p == c.SrcAddr {
			return wrap("unicast peer %v is our own source address", p)
		}
	}
	return nil
}

// StateChange is a transition as published on Instance.Changes.
type StateChange struct {
	Instance string
	From, To State
	Reason   string
	At       time.Time
	Priority uint8 // effective priority after the change
}

// Counters are an instance's statistics (keepalived's vrrp stats).
type Counters struct {
	AdvertsRx, AdvertsTx           uint64
	PriorityZeroRx, PriorityZeroTx uint64
	BecomeMaster, ReleaseMaster    uint64
	// AddrListErrors counts adverts whose address list differs from ours
	// (logged, not dropped).
	AddrListErrors uint64
	SendErrors     uint64
	AddressErrors  uint64 // failed Add/Remove of a VIP
	AnnounceErrors uint64
	// ChangesDropped counts state changes not published because nobody
	// read Changes.
	ChangesDropped uint64
}

// Snapshot is a copy of an instance's state for status and metrics.
type Snapshot struct {
	Name              string
	Interface         string
	VRID              uint8
	Version           uint8
	Family            int
	VIPs              []netip.Prefix // advertised addresses, then excluded ones
	State             State
	BasePriority      uint8
	EffectivePriority uint8
	MasterAddr        netip.Addr // invalid if no master has been heard
	MasterPriority    uint8
	LastTransition    time.Time
	LastReason        string
	Counters          Counters
	Drops             map[DropReason]uint64
}

// changesBuffer is how many state changes wait for the daemon before new
// ones are dropped (and counted).
const changesBuffer = 64

// Instance runs one virtual router. A Loop (Loop.Start, or Run for an
// instance of its own) owns its Machine and everything it does; other
// goroutines talk to it through the Set* and Update* methods, which post
// to its mailbox, and read Snapshot and Changes.
type Instance struct {
	// cfg is the configuration the loop runs with; only the loop's
	// goroutine reads or writes it once the instance has started. Others
	// read pubCfg, an immutable copy the loop replaces whole whenever it
	// changes cfg (publishConfig).
	cfg    InstanceConfig
	pubCfg atomic.Pointer[InstanceConfig]
	deps   Deps
	log    *slog.Logger
	m      *Machine

	changes chan StateChange
	done    chan struct{}
	running atomic.Bool

	// The mailbox: events posted by other goroutines, in order, and the
	// loop to tell about them (nil until Start). over is set when the
	// instance has stopped; later mail is dropped.
	boxMu sync.Mutex
	box   []Event
	loop  *Loop
	over  bool
	// queued is guarded by loop.mu: the instance is on the loop's list of
	// instances with mail.
	queued bool

	// Owned by the loop's goroutine.
	advSlot, garpSlot timerSlot
	// waiting: started, but its sync group has not started yet.
	waiting bool
	// live: running on its loop (between Loop.begin and Loop.end).
	live     bool
	garp     garpSchedule
	drops    DropCounters
	counters Counters
	advAddrs []netip.Addr
	authData [8]byte
	// good is the last advert that passed the checks (see goodAdvert).
	good goodAdvert
	// ah is the AuthAH state (key, sequence number, IP ID); nil otherwise.
	ah         *ahSession
	mismatch   bool // the last advert's address list differed from ours
	warned     int  // Machine warnings already logged
	lastChange time.Time
	lastReason string
	// trackDelta is the instance's trackers' weight (SetPriorityDelta),
	// groupDelta its sync group's (SyncGroup.SetPriorityDelta); the machine
	// gets their sum.
	trackDelta, groupDelta int
	// followUps are events that executing an action produced (a sync group
	// granting the master role); handle runs them after the current actions.
	followUps []Event

	// member is set by NewSyncGroup before the instance starts and never
	// changes after.
	member *syncMember
	// syncing is true while handling an event the sync group posted: the
	// transitions it causes are the group's own doing.
	syncing bool

	mu   sync.Mutex
	snap Snapshot
	// What publish reuses between events (owned by the loop's goroutine).
	pubVIPs         []netip.Prefix
	pubVIPsStale    bool
	pubDropsVersion uint64
}

// NewInstance checks cfg and deps and returns an instance ready to start
// (Loop.Start or Run). A nil
// log discards logs.
func NewInstance(cfg InstanceConfig, deps Deps, log *slog.Logger) (*Instance, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if deps.Sender == nil || deps.Addresses == nil || deps.Announcer == nil || deps.Clock == nil {
		return nil, fmt.Errorf("vrrp instance %q: Sender, Addresses, Announcer and Clock are all required", cfg.Name)
	}
	m, err := NewMachine(MachineConfig{
		Interface:            cfg.Interface,
		Version:              cfg.Version,
		Priority:             cfg.Priority,
		AdvertInterval:       cfg.AdvertInterval,
		StartAsMaster:        cfg.StartAsMaster,
		Preempt:              cfg.Preempt,
		PreemptDelay:         cfg.PreemptDelay,
		LowerPrioNoAdvert:    cfg.LowerPrioNoAdvert,
		HigherPrioSendAdvert: cfg.HigherPrioSendAdvert,
		LocalAddr:            cfg.SrcAddr,
	})
	if err != nil {
		return nil, fmt.Errorf("vrrp instance %q: %w", cfg.Name, err)
	}
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	cfg.Peers = slices.Clone(cfg.Peers)
	cfg.VIPs = slices.Clone(cfg.VIPs)
	cfg.ExcludedVIPs = slices.Clone(cfg.ExcludedVIPs)
	if !cfg.Group.IsValid() {
		cfg.Group = MulticastGroup4
		if cfg.Family == 6 {
			cfg.Group = MulticastGroup6
		}
	}
	changes := closedChanges
	if deps.Changes == nil {
		changes = make(chan StateChange, changesBuffer)
	}
	i := &Instance{
		cfg:     cfg,
		deps:    deps,
		log:     log.With("instance", cfg.Name, "vrid", cfg.VRID),
		m:       m,
		changes: changes,
		done:    make(chan struct{}),
		garp: garpSchedule{
			delay: cfg.GarpDelay, repeat: cfg.GarpRepeat,
			refresh: cfg.GarpRefresh, refreshRepeat: cfg.GarpRefreshRepeat,
			lowerDelay: cfg.GarpLowerPrioDelay, lowerRepeat: cfg.GarpLowerPrioRepeat,
		},
	}
	for _, v := range cfg.VIPs {
		i.advAddrs = append(i.advAddrs, v.Prefix.Addr())
	}
	if cfg.AuthType == AuthPass {
		copy(i.authData[:], cfg.AuthPass)
	}
	if cfg.AuthType == AuthAH && cfg.Version == 2 {
		i.ah = newAHSession(cfg.AuthPass, cfg.Unicast)
	}
	i.publishConfig()
	i.publish()
	return i, nil
}

// Config returns a copy of the configuration the instance runs with (with
// the multicast group filled in); the daemon compares it on reload. Safe
// from any goroutine: it reads the copy the loop last published.
func (i *Instance) Config() InstanceConfig {
	c := *i.pubCfg.Load()
	c.Peers = slices.Clone(c.Peers)
	c.VIPs = slices.Clone(c.VIPs)
	c.ExcludedVIPs = slices.Clone(c.ExcludedVIPs)
	return c
}

// publishConfig makes a copy of cfg what Config returns; called by the
// loop after every change to cfg. The copy is never written after.
func (i *Instance) publishConfig() {
	c := i.cfg
	c.Peers = slices.Clone(c.Peers)
	c.VIPs = slices.Clone(c.VIPs)
	c.ExcludedVIPs = slices.Clone(c.ExcludedVIPs)
	i.pubCfg.Store(&c)
}

// SetInterfaceUp reports the state of the instance's interface. It may be
// called before the instance starts (the state is applied first).
func (i *Instance) SetInterfaceUp(up bool) {
	if up {
		i.send(InterfaceUp{})
	} else {
		i.send(InterfaceDown{})
	}
}

// SetFault sets or clears a fault reported by source (a tracker); the
// instance is in FAULT while any source reports one.
func (i *Instance) SetFault(source string, fault bool) {
	if fault {
		i.send(FaultSet{Source: source})
	} else {
		i.send(FaultClear{Source: source})
	}
}

// SetPriorityDelta sets the sum of the trackers' weights; the effective
// priority is the configured one plus delta (plus the sync group's, see
// SyncGroup.SetPriorityDelta), clamped to 1..254.
func (i *Instance) SetPriorityDelta(delta int) { i.send(PriorityChanged{Delta: delta}) }

// send posts ev to the instance's mailbox; it never blocks. Mail for an
// instance that has stopped is dropped.
func (i *Instance) send(ev Event) {
	i.boxMu.Lock()
	if i.over {
		i.boxMu.Unlock()
		return
	}
	i.box = append(i.box, ev)
	i.boxMu.Unlock()
	i.wakeLoop()
}

// wakeLoop tells the instance's loop, if it has one yet, that there is mail
// (a sync group's).
func (i *Instance) wakeLoop() {
	i.boxMu.Lock()
	l := i.loop
	i.boxMu.Unlock()
	if l != nil {
		l.poke(i)
	}
}

// mail handles the instance's mail: its own, then its sync group's.
func (i *Instance) mail() {
	i.boxMu.Lock()
	evs := i.box
	i.box = nil
	i.boxMu.Unlock()
	for _, ev := range evs {
		i.handle(ev)
	}
	if i.member != nil {
		i.syncEvents()
	}
}

// Done is closed when the instance has stopped: it left the MASTER role and
// its addresses are removed.
func (i *Instance) Done() <-chan struct{} { return i.done }

// stopped reports whether Done is closed.
func (i *Instance) stopped() bool {
	select {
	case <-i.done:
		return true
	default:
		return false
	}
}

// finish ends the instance once its loop has stopped it: later mail is
// dropped, Done and Changes are closed, and its sync group hears that it
// left.
func (i *Instance) finish() {
	i.boxMu.Lock()
	i.over = true
	i.box = nil
	i.boxMu.Unlock()
	close(i.done)
	if i.deps.Changes != nil {
		i.deps.Changes.Finished()
	} else {
		close(i.changes)
	}
	if i.member != nil {
		i.member.group.exited(i.member)
	}
}

// Changes delivers every state transition. It is buffered; when the buffer
// is full new changes are dropped and counted, so a slow reader never stalls
// the protocol. It is closed when the instance stops, and from the start
// when Deps.Changes takes the transitions instead.
func (i *Instance) Changes() <-chan StateChange { return i.changes }

// Snapshot returns a copy of the instance's current state.
func (i *Instance) Snapshot() Snapshot {
	i.mu.Lock()
	defer i.mu.Unlock()
	s := i.snap
	s.Drops = maps.Clone(i.snap.Drops)
	s.VIPs = slices.Clone(i.snap.VIPs)
	return s
}

// Run runs the instance on a Loop of its own until ctx is done, then leaves
// the MASTER role cleanly (priority 0 advert, addresses removed) and returns
// nil. in carries the packets the transport received for this instance's
// VRID; if it is closed the instance goes on with its timers alone. Run may
// be called once. A daemon with many instances runs them on one shared Loop
// instead.
func (i *Instance) Run(ctx context.Context, in <-chan Received) error {
	l := NewLoop(i.deps.Clock)
	if _, err := l.Start(ctx, i); err != nil {
		return err
	}
	l.run(ctx, i, in)
	return nil
}

// syncEvents handles what the sync group posted, in order.
func (i *Instance) syncEvents() {
	for _, ev := range i.member.drain() {
		i.syncing = true
		i.handle(ev)
		i.syncing = false
	}
}

// handle runs one event through the machine and executes the actions.
func (i *Instance) handle(ev Event) {
	switch e := ev.(type) {
	case vipUpdate:
		i.applyVIPs(e)
		i.publish()
		return
	case groupStart:
		if i.waiting {
			// The group posted the event, but starting is the member's own
			// doing: the group must act on the transition it causes.
			i.waiting = false
			was := i.syncing
			i.syncing = false
			i.handle(Start{})
			i.syncing = was
		}
		return
	case basePriorityUpdate:
		i.cfg.Priority = e.priority
		i.publishConfig()
		ev = BasePriorityChanged{Priority: e.priority}
		defer close(e.done)
	case lowerPrioGarp:
		if i.m.State() == StateMaster {
			i.announce(i.garp.lower(i.deps.Clock.Now()))
			i.armGarp()
			i.publish()
		}
		return
	case groupDelta:
		i.groupDelta = e.delta
		ev = PriorityChanged{Delta: i.trackDelta + i.groupDelta}
	case PriorityChanged:
		i.trackDelta = e.Delta
		ev = PriorityChanged{Delta: i.trackDelta + i.groupDelta}
	}
	// Bounded: a follow-up is only produced by a grant, and the event
	// handling the grant cannot produce another.
	for queue := []Event{ev}; len(queue) > 0; queue = queue[1:] {
		now := i.deps.Clock.Now()
		for _, a := range i.m.Handle(now, queue[0]) {
			i.execute(now, a)
		}
		queue = append(queue, i.followUps...)
		i.followUps = i.followUps[:0]
	}
	if ws := i.m.warnings; len(ws) > i.warned {
		for _, w := range ws[i.warned:] {
			i.log.Warn(w)
		}
		i.warned = len(ws)
	}
	i.publish()
}

func (i *Instance) execute(now time.Time, a Action) {
	switch a := a.(type) {
	case SendAdvert:
		i.sendAdvert(a.Priority)
	case AddVIPs:
		i.forEachVIP("add", i.deps.Addresses.Add)
		if i.deps.Hooks != nil {
			if err := i.deps.Hooks.Acquire(); err != nil {
				i.counters.AddressErrors++
				i.log.Warn("cannot install virtual routes or rules", "err", err)
			}
		}
	case RemoveVIPs:
		i.garp.stop()
		i.disarmGarp()
		if i.deps.Hooks != nil {
			if err := i.deps.Hooks.Release(); err != nil {
				i.counters.AddressErrors++
				i.log.Warn("cannot remove virtual routes or rules", "err", err)
			}
		}
		i.forEachVIP("remove", i.deps.Addresses.Remove)
	case SendGratuitous:
		i.announce(i.garp.start(now))
		i.armGarp()
	case Transition:
		i.transition(now, a)
	case ResetTimer:
		i.arm(&i.advSlot, a.At)
	case StopTimer:
		i.disarm(&i.advSlot)
	case PriorityUpdated:
		i.log.Info("effective priority changed", "from", a.From, "to", a.To)
	case LowerPriorityAdvert:
		_, eff := i.m.Priority()
		i.log.Info(lowerPriorityMessage(i.cfg.Name, a, eff, i.cfg.LowerPrioNoAdvert), "src", a.Src, "priority", a.Priority)
		i.announce(i.garp.lower(now))
		i.armGarp()
		if i.member != nil {
			i.member.group.lowerPriority(i.member)
		}
	case WantMaster:
		if i.member != nil && i.member.group.want(i.member, a.Want, a.Reason) {
			i.followUps = append(i.followUps, SyncMaster{Reason: a.Reason})
		}
	case OwnFault:
		if i.member != nil {
			i.member.group.ownFault(i.member, a.Fault, a.Reason)
		}
	}
}

func (i *Instance) transition(now time.Time, t Transition) {
	master, masterPrio := i.m.Master()
	_, ours := i.m.Priority()
	for _, msg := range transitionMessages(i.cfg.Name, t, master, masterPrio, ours) {
		i.log.Info(msg, "from", t.From.String(), "to", t.To.String(), "reason", t.Reason)
	}
	i.lastChange, i.lastReason = now, t.Reason
	if t.To == StateMaster {
		i.counters.BecomeMaster++
	}
	if t.From == StateMaster {
		i.counters.ReleaseMaster++
	}
	_, eff := i.m.Priority()
	sc := StateChange{Instance: i.cfg.Name, From: t.From, To: t.To, Reason: t.Reason, At: now, Priority: eff}
	if i.deps.Changes != nil {
		i.deps.Changes.Change(sc)
	} else {
		select {
		case i.changes <- sc:
		default:
			i.counters.ChangesDropped++
			i.log.Warn("state change not published: the reader is not keeping up", "to", t.To.String())
		}
	}
	if i.member != nil {
		i.member.group.transition(i.member, t, i.syncing)
	}
}

// transitionMessages are the log messages of a transition: keepalived's
// texts, which operators grep for and alert on ("(VI_1) Entering MASTER
// STATE"), with the details as attributes of the line. A master that gives
// way to a higher priority one says so first, as keepalived does.
func transitionMessages(name string, t Transition, master netip.Addr, masterPrio, ours uint8) []string {
	var msgs []string
	// Only when the machine gave way to an advert (masterRx's reasons); a
	// sync group moving its member, say, is no advert received.
	yielded := strings.HasPrefix(t.Reason, "higher priority ") || strings.HasPrefix(t.Reason, "equal priority ")
	if t.From == StateMaster && t.To == StateBackup && yielded && master.IsValid() {
		switch {
		case masterPrio > ours:
			msgs = append(msgs, fmt.Sprintf("(%s) Master received advert from %s with higher priority %d, ours %d", name, master, masterPrio, ours))
		case masterPrio == ours:
			msgs = append(msgs, fmt.Sprintf("(%s) Master received advert from %s with same priority %d but higher IP address than ours", name, master, masterPrio))
		}
	}
	entering := fmt.Sprintf("(%s) Entering %s STATE", name, t.To)
	if t.From == StateInit && (t.To == StateBackup || t.To == StateFault) {
		entering += " (init)"
	}
	return append(msgs, entering)
}

// lowerPriorityMessage is keepalived's line for a master that hears a lower
// priority advert.
func lowerPriorityMessage(name string, a LowerPriorityAdvert, ours uint8, noAdvert bool) string {
	msg := fmt.Sprintf("(%s) Received advert from %s with lower priority %d, ours %d", name, a.Src, a.Priority, ours)
	if !noAdvert {
		msg += ", forcing new election"
	}
	return msg
}

func (i *Instance) sendAdvert(prio uint8) {
	pkt := Packet{
		Version:  i.cfg.Version,
		VRID:     i.cfg.VRID,
		Priority: prio,
		Interval: i.cfg.AdvertInterval,
		Addrs:    i.advAddrs,
	}
	if i.cfg.Version == 2 {
		pkt.AuthType, pkt.AuthData = i.cfg.AuthType, i.authData
	}
	dsts := []netip.Addr{i.cfg.Group}
	if i.cfg.Unicast {
		dsts = i.cfg.Peers
	}
	opts := CodecOptions{ChecksumAsV2: i.cfg.ChecksumAsV2}
	if i.ah != nil {
		i.ah.next() // one sequence number per advert, whatever the number of peers
	}
	for _, dst := range dsts {
		b, err := pkt.Marshal(i.cfg.SrcAddr, dst, opts)
		if err == nil && i.ah != nil {
			b, err = i.ah.seal(b, i.cfg.SrcAddr, dst) // the whole IPv4 datagram
		}
		if err == nil {
			err = i.deps.Sender.Send(b, i.cfg.SrcAddr, dst)
		}
		if err != nil {
			i.counters.SendErrors++
			// A priority 0 advert is often sent as the interface goes down:
			// failing then is expected.
			level := slog.LevelWarn
			if prio == priorityStop {
				level = slog.LevelDebug
			}
			i.log.Log(context.Background(), level, "cannot send advert", "dst", dst, "priority", prio, "err", err)
		}
	}
	i.counters.AdvertsTx++
	if prio == priorityStop {
		i.counters.PriorityZeroTx++
	}
}

func (i *Instance) forEachVIP(verb string, f func(VIP) error) {
	for _, list := range [][]VIP{i.cfg.VIPs, i.cfg.ExcludedVIPs} {
		for _, v := range list {
			if err := f(v); err != nil {
				i.counters.AddressErrors++
				i.log.Warn("cannot "+verb+" virtual address", "addr", v.Prefix, "dev", i.vipDev(v), "err", err)
			}
		}
	}
}

func (i *Instance) vipDev(v VIP) string {
	if v.Dev != "" {
		return v.Dev
	}
	return i.cfg.Interface
}

// announce sends burst rounds of announcements for every address, grouped
// by interface.
func (i *Instance) announce(burst int) {
	if burst <= 0 {
		return
	}
	var devs []string
	byDev := map[string][]netip.Addr{}
	for _, list := range [][]VIP{i.cfg.VIPs, i.cfg.ExcludedVIPs} {
		for _, v := range list {
			d := i.vipDev(v)
			if _, ok := byDev[d]; !ok {
				devs = append(devs, d)
			}
			byDev[d] = append(byDev[d], v.Prefix.Addr())
		}
	}
	for n := 0; n < burst; n++ {
		for _, d := range devs {
			if err := i.deps.Announcer.Announce(d, byDev[d]); err != nil {
				i.counters.AnnounceErrors++
				i.log.Warn("cannot announce virtual addresses", "dev", d, "err", err)
			}
		}
	}
}

func (i *Instance) armGarp() {
	next := i.garp.next()
	if next.IsZero() {
		i.disarmGarp()
		return
	}
	i.arm(&i.garpSlot, next)
}

func (i *Instance) disarmGarp() { i.disarm(&i.garpSlot) }

// garpDue sends the announcements due at now and schedules the next ones.
func (i *Instance) garpDue(now time.Time) {
	i.announce(i.garp.due(now))
	i.armGarp()
}

// arm schedules s at at on the instance's loop. Without a loop (tests
// that drive handle directly) the deadline is only recorded.
func (i *Instance) arm(s *timerSlot, at time.Time) {
	s.at = at
	if i.loop != nil && s.inst != nil {
		i.loop.arm(s)
	}
}

func (i *Instance) disarm(s *timerSlot) {
	if i.loop != nil && s.inst != nil {
		i.loop.disarm(s)
	}
}

// goodAdvert is the last advert that passed every check, as it came. A
// master sends the same bytes every interval (VRRPv3 and v2 with PASS or no
// authentication carry nothing that changes), and the checks depend only on
// the bytes, the addresses, the TTL and the instance's configuration: an
// identical advert passes them again, so a backup of hundreds of instances
// skips the parsing, the checksum and the checks for nearly every advert.
type goodAdvert struct {
	valid    bool
	payload  []byte
	src, dst netip.Addr
	ttl      int
	priority uint8
	interval time.Duration
}

// receive validates one packet and feeds it to the machine.
func (i *Instance) receive(r Received) {
	if g := &i.good; g.valid && r.Src == g.src && r.Dst == g.dst && r.TTL == g.ttl && bytes.Equal(r.Payload, g.payload) {
		i.counters.AdvertsRx++
		i.handle(AdvertReceived{Src: r.Src, Priority: g.priority, Interval: g.interval})
		return
	}
	payload := r.Payload
	if i.ah != nil {
		var de *DropError
		var level slog.Level
		if payload, de, level = i.ah.open(r.Payload); de != nil {
			i.drop(de, r.Src, level)
			i.publish()
			return
		}
	}
	p, err := Parse(payload, r.Src, r.Dst, CodecOptions{ChecksumAsV2: i.cfg.ChecksumAsV2})
	if err != nil {
		var de *DropError
		if !errors.As(err, &de) {
			de = &DropError{Reason: DropLength, Detail: err.Error()}
		}
		i.drop(de, r.Src, slog.LevelDebug)
		i.publish()
		return
	}
	if de, level := i.check(r, p); de != nil {
		i.drop(de, r.Src, level)
		i.publish()
		return
	}
	i.checkAddrList(r.Src, p.Addrs)
	i.counters.AdvertsRx++
	if p.Priority == priorityStop {
		i.counters.PriorityZeroRx++
	}
	// Remember it for next time, unless it needs more than the machine:
	// AH (a sequence number in every advert), priority 0 (counted apart), a
	// differing address list (counted and logged).
	i.good.valid = i.ah == nil && p.Priority != priorityStop && !i.mismatch
	if i.good.valid {
		i.good.payload = append(i.good.payload[:0], r.Payload...)
		i.good.src, i.good.dst, i.good.ttl = r.Src, r.Dst, r.TTL
		i.good.priority, i.good.interval = p.Priority, p.Interval
	}
	i.handle(AdvertReceived{Src: r.Src, Priority: p.Priority, Interval: p.Interval})
}

func (i *Instance) drop(de *DropError, src netip.Addr, level slog.Level) {
	i.drops.Add(de.Reason)
	i.log.Log(context.Background(), level, "advert dropped", "reason", string(de.Reason), "src", src, "detail", de.Detail)
}

// check applies the receive checks of RFC 3768 7.1 / RFC 5798 7.1 that need
// the instance's configuration. It returns the drop and the level to log it
// at: configuration mismatches between peers are worth a warning, noise is
// not.
func (i *Instance) check(r Received, p *Packet) (*DropError, slog.Level) {
	c := &i.cfg
	switch {
	case r.Dst.IsMulticast() && r.TTL >= 0 && r.TTL != 255:
		return dropf(DropTTL, "TTL/hop limit %d, want 255", r.TTL), slog.LevelDebug
	case (c.Family == 4) != r.Src.Unmap().Is4():
		return dropf(DropFamily, "source %v on an IPv%d instance", r.Src, c.Family), slog.LevelDebug
	case c.SrcAddr.IsValid() && r.Src.Unmap() == c.SrcAddr:
		return dropf(DropOwnPacket, "our own advert"), slog.LevelDebug
	case p.VRID != c.VRID:
		return dropf(DropUnknownVRID, "VRID %d, this instance is %d", p.VRID, c.VRID), slog.LevelDebug
	case p.Version != c.Version:
		return dropf(DropVersion, "version %d, this instance runs %d", p.Version, c.Version), slog.LevelWarn
	case c.Unicast && !slices.Contains(c.Peers, r.Src.Unmap()):
		return dropf(DropNotPeer, "%v is not a unicast peer", r.Src), slog.LevelDebug
	}
	if c.Version == 2 {
		if p.AuthType != c.AuthType {
			return dropf(DropAuth, "auth type %v, want %v", p.AuthType, c.AuthType), slog.LevelWarn
		}
		if c.AuthType == AuthPass && p.AuthData != i.authData {
			return dropf(DropAuth, "auth_pass mismatch"), slog.LevelWarn
		}
		// RFC 3768 7.1: the interval MUST match, or two masters could run
		// the same VRID at different rates.
		if p.Interval != c.AdvertInterval {
			return dropf(DropInterval, "advert_int %v, ours %v", p.Interval, c.AdvertInterval), slog.LevelWarn
		}
	}
	return nil, 0
}

// checkAddrList counts and logs (once per change) an advert whose address
// list differs from ours, where keepalived counts its addr_list_err: in
// Counters.AddrListErrors and as the addr_list drop reason, the one the
// metrics and docs/OPERATIONS.md tell operators to watch. The advert itself
// is still acted on (see DropAddrList).
func (i *Instance) checkAddrList(src netip.Addr, got []netip.Addr) {
	same := len(got) == len(i.advAddrs)
	if same {
		for _, a := range got {
			if !slices.Contains(i.advAddrs, a.Unmap()) {
				same = false
				break
			}
		}
	}
	if same {
		if i.mismatch {
			i.log.Info("advertised address list matches ours again", "src", src)
		}
		i.mismatch = false
		return
	}
	i.counters.AddrListErrors++
	i.drops.Add(DropAddrList)
	if !i.mismatch {
		i.log.Warn("advertised address list differs from ours", "src", src, "theirs", got, "ours", i.advAddrs)
	}
	i.mismatch = true
}

// publish refreshes the snapshot others read.
func (i *Instance) publish() {
	base, eff := i.m.Priority()
	addr, prio := i.m.Master()
	// publish runs after every event, adverts included: reuse what did
	// not change rather than allocating it again each time.
	if i.pubVIPs == nil || i.pubVIPsStale {
		i.pubVIPs = i.pubVIPs[:0:0]
		for _, list := range [][]VIP{i.cfg.VIPs, i.cfg.ExcludedVIPs} {
			for _, v := range list {
				i.pubVIPs = append(i.pubVIPs, v.Prefix)
			}
		}
		i.pubVIPsStale = false
	}
	drops := i.snap.Drops // only the loop's goroutine writes i.snap
	if drops == nil || i.drops.Version() != i.pubDropsVersion {
		drops = i.drops.Snapshot()
		i.pubDropsVersion = i.drops.Version()
	}
	s := Snapshot{
		Name:              i.cfg.Name,
		Interface:         i.cfg.Interface,
		VRID:              i.cfg.VRID,
		Version:           i.cfg.Version,
		Family:            i.cfg.Family,
		VIPs:              i.pubVIPs,
		State:             i.m.State(),
		BasePriority:      base,
		EffectivePriority: eff,
		MasterAddr:        addr,
		MasterPriority:    prio,
		LastTransition:    i.lastChange,
		LastReason:        i.lastReason,
		Counters:          i.counters,
		Drops:             drops,
	}
	i.mu.Lock()
	i.snap = s
	i.mu.Unlock()
}
