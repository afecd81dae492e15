package lvs

import (
	"net/netip"
	"slices"

	"vigil/internal/config"
	"vigil/internal/dataplane"
)

// Health is what the checkers say of one real server. internal/check's
// Health{Server, Up, Weight} carries the effective weight always: pass it
// as Health{Up: h.Up, Weight: int64(h.Weight), Dynamic: true}, keyed by
// RealIDOf for the virtual and real server its ServerKey names.
type Health struct {
	// Weight replaces the configured weight when Dynamic is set
	// (MISC_CHECK misc_dynamic, FILE_CHECK weights). It may be out of
	// IPVS's range: below 0 counts as 0, above 2^31-1 as 2^31-1.
	Weight int64
	// Up is whether every checker of the real server passes.
	Up      bool
	Dynamic bool
}

// EventKind is the kind of an Event.
type EventKind uint8

// Event kinds.
const (
	// QuorumUp: the live weight of a virtual server reached its quorum
	// (plus hysteresis); its quorum_up script should run.
	QuorumUp EventKind = iota + 1
	// QuorumDown: the live weight fell below quorum (minus hysteresis), or
	// the server starts without quorum and has a sorry server, or Vigil
	// stops a virtual server with omega.
	QuorumDown
	// RealUp: a real server joined its pool; its notify_up should run.
	RealUp
	// RealDown: a real server left its pool; its notify_down should run.
	RealDown
)

// String names the kind.
func (k EventKind) String() string {
	switch k {
	case QuorumUp:
		return "quorum-up"
	case QuorumDown:
		return "quorum-down"
	case RealUp:
		return "real-up"
	case RealDown:
		return "real-down"
	}
	return "unknown"
}

// Event is a transition that notify acts on. The Engine returns events in
// the order keepalived runs their notifications.
//
// Quorum events exist only here. RealUp and RealDown follow from the health
// the Engine is given, so they repeat what internal/check's Notify outputs
// already say for the same real server (first verdicts and omega included);
// the wiring must run each notify_up/notify_down script from one of the two
// sources only. The Engine's also cover a real server a reload removes while
// it is up, which keepalived notifies as down.
type Event struct {
	Kind EventKind
	VS   VSID
	// Real is the real server of RealUp and RealDown.
	Real netip.AddrPort
	// Pos is where the virtual (or real) server is configured.
	Pos config.Pos
	// Script is the quorum_up/quorum_down or notify_up/notify_down to run;
	// nil when none is configured.
	Script *config.Script
	// Init marks the transitions of a virtual server's first evaluation
	// ("Starting with quorum up"); Stopping those of a clean stop.
	Init, Stopping bool
	// WeightSum and Threshold explain quorum events: the live weight and
	// the threshold it was compared with.
	WeightSum, Threshold int64
}

// vsState is the Engine's state of one virtual server.
type vsState struct {
	v        *virtual
	started  bool
	quorumUp bool
	// held counts the watched addresses present on this node (ha_suspend).
	held int
	// dirty: changed since the last Changes (and in the Engine's
	// dirtyList).
	dirty bool
	// index is the virtual server's place in the configuration.
	index int
	// sorryIn: the sorry server is in the pool. Set by quorum evaluations
	// and carried over a reload when the sorry server stays the same, so
	// that a reload reports quorum down only for a sorry server it adds.
	sorryIn bool
	reals   []rsState // in v.reals order; one block per virtual server
	// src and grp are what v was compiled from: a reload that finds the
	// same virtual server (and group) again, by identity, keeps this
	// state as it is (config.Loader hands out the same value for a block
	// whose text did not change).
	src *config.VirtualServer
	grp *config.VirtualServerGroup
	// kept is the number of the last reload that kept this state.
	kept uint64
}

// rsState is the state of one real server.
type rsState struct {
	r      *real
	weight int64 // effective weight: configured, or the checker's
	// latest is the last health reported (when hasLatest), applied
	// unless suspended. Held in place: one per real server.
	latest    Health
	hasLatest bool
	alive     bool
	// reported: a health report has been applied since the server
	// started (keepalived notifies the first verdict of an alpha
	// server even when it changes nothing).
	reported bool
}

func (rs *rsState) realWeight() int32 { return clampWeight(rs.weight) }

// Engine holds every virtual server's state: which real servers are in the
// pool, at what weight, and whether quorum is held. It is pure: it changes
// only through its methods, which return the resulting events, and it does
// no I/O. It is not safe for concurrent use: one goroutine owns it.
type Engine struct {
	// initNotifies is rs_init_notifies: real servers that join at start
	// report RealUp.
	initNotifies bool
	vss          []*vsState
	byID         map[VSID]*vsState
	// held is the set of addresses this node holds, for ha_suspend.
	held map[netip.Addr]bool
	// origin maps each service key to where its virtual server is
	// configured, to report a service the plane refuses.
	origin map[dataplane.ServiceKey]config.Pos
	// gone are service keys a reload removed, not yet reported by Changes.
	gone []dataplane.ServiceKey
	// dirtyList holds the virtual servers marked dirty since the last
	// Changes, so that Changes costs what changed rather than a walk
	// over every virtual server: at start the checkers report every real
	// server once, and a walk per report made that n² (minutes for 5,000
	// virtual servers of 4 real servers in the IPVS lab).
	dirtyList []*vsState
	// reloads counts Reload calls (vsState.kept); compiled counts the
	// virtual servers compiled, at New and by reloads: what a reload
	// costs is proportional to what it changed.
	reloads  uint64
	compiled int
}

// markDirty marks st changed since the last Changes.
func (e *Engine) markDirty(st *vsState) {
	if !st.dirty {
		st.dirty = true
		e.dirtyList = append(e.dirtyList, st)
	}
}

// New compiles cfg (which must have loaded without errors) into an Engine.
// Nothing is evaluated until Start.
func New(cfg *config.Config) *Engine {
	e := &Engine{held: map[netip.Addr]bool{}, initNotifies: cfg.Global.RSInitNotifies,
		byID: make(map[VSID]*vsState, len(cfg.VirtualServers)), origin: make(map[dataplane.ServiceKey]config.Pos, len(cfg.VirtualServers))}
	groups := groupsOf(cfg)
	e.vss = make([]*vsState, 0, len(cfg.VirtualServers))
	for _, vs := range cfg.VirtualServers {
		g := groups[vs.Group]
		st := e.newState(compileOne(vs, g), vs, g, nil)
		e.compiled++
		st.index = len(e.vss)
		e.vss = append(e.vss, st)
		e.byID[st.v.id] = st
		for _, k := range st.v.keys {
			e.origin[k] = st.v.pos
		}
	}
	return e
}

// newState returns the state of virtual server v, compiled from src (of
// group grp), carrying prev's (the running state of the same VSID, nil
// for none): real servers matched by address and port.
func (e *Engine) newState(v *virtual, src *config.VirtualServer, grp *config.VirtualServerGroup, prev *vsState) *vsState {
	st := &vsState{v: v, src: src, grp: grp}
	var prevReals map[netip.AddrPort]*rsState
	if prev != nil {
		st.started, st.quorumUp = prev.started, prev.quorumUp
		st.sorryIn = prev.sorryIn && v.sorry != nil && prev.v.sorry != nil && v.sorry.dest.Key == prev.v.sorry.dest.Key
		prevReals = make(map[netip.AddrPort]*rsState, len(prev.reals))
		for i := range prev.reals {
			prevReals[prev.reals[i].r.addr()] = &prev.reals[i]
		}
	}
	st.reals = make([]rsState, 0, len(v.reals))
	for _, r := range v.reals {
		rs := rsState{r: r, weight: int64(r.dest.Weight)}
		if p := prevReals[r.addr()]; p != nil {
			rs.alive, rs.latest, rs.hasLatest, rs.reported = p.alive, p.latest, p.hasLatest, p.reported
			if p.hasLatest && p.latest.Dynamic {
				rs.weight = p.latest.Weight
			}
		} else if st.started {
			// A real server added by a reload to a running virtual
			// server joins at once unless alpha holds it back, as
			// at start (and, as keepalived without
			// rs_init_notifies, without a notification).
			rs.alive = !r.startDown
		}
		st.reals = append(st.reals, rs)
	}
	for _, a := range v.addrs {
		if e.held[a] {
			st.held++
		}
	}
	return st
}

// Start evaluates every virtual server for the first time, as keepalived
// does at start: real servers without alpha checkers join their pool, and
// quorum is computed. It returns the start-up events.
func (e *Engine) Start() []Event {
	var evs []Event
	for _, st := range e.vss {
		evs = e.startOne(st, evs)
	}
	return evs
}

// startOne brings a virtual server that has never been evaluated into the
// pool. keepalived computes its initial quorum state before any real server
// is alive, so a server that reaches quorum at start reports QuorumUp, and
// one that does not reports QuorumDown only when it has a sorry server to
// put in.
func (e *Engine) startOne(st *vsState, evs []Event) []Event {
	if st.started {
		return evs
	}
	st.started = true
	e.markDirty(st)
	st.quorumUp = st.v.quorum+st.v.hysteresis <= 0
	for i := range st.reals {
		rs := &st.reals[i]
		if rs.hasLatest && !e.suspended(st) {
			rs.alive, rs.reported = rs.latest.Up, true
			if rs.latest.Dynamic {
				rs.weight = rs.latest.Weight
			}
		} else if !rs.hasLatest {
			rs.alive = !rs.r.startDown
		}
		if rs.alive && e.initNotifies {
			evs = append(evs, Event{Kind: RealUp, VS: st.v.id, Real: rs.r.addr(), Pos: rs.r.pos, Script: rs.r.notifyUp, Init: true})
		}
	}
	return e.quorum(st, true, evs)
}

// weightSum is the live weight of a virtual server: what quorum compares.
func (st *vsState) weightSum() int64 {
	var sum int64
	for i := range st.reals {
		rs := &st.reals[i]
		if rs.alive {
			sum += int64(rs.realWeight())
		}
	}
	return sum
}

// quorum re-evaluates the quorum state with keepalived's hysteresis: quorum
// is gained at quorum+hysteresis and lost below quorum-hysteresis (or when
// no weight is left at all).
func (e *Engine) quorum(st *vsState, init bool, evs []Event) []Event {
	v := st.v
	sum := st.weightSum()
	threshold := v.quorum + v.hysteresis
	if st.quorumUp {
		threshold = v.quorum - v.hysteresis
	}
	switch {
	case !st.quorumUp && sum >= threshold:
		st.quorumUp = true
		evs = append(evs, Event{Kind: QuorumUp, VS: v.id, Pos: v.pos, Script: v.quorumUp, Init: init, WeightSum: sum, Threshold: threshold})
	case st.quorumUp && (sum == 0 || sum < threshold):
		st.quorumUp = false
		evs = append(evs, Event{Kind: QuorumDown, VS: v.id, Pos: v.pos, Script: v.quorumDown, Init: init, WeightSum: sum, Threshold: threshold})
	case init && !st.quorumUp && v.sorry != nil && !st.sorryIn:
		evs = append(evs, Event{Kind: QuorumDown, VS: v.id, Pos: v.pos, Script: v.quorumDown, Init: true, WeightSum: sum, Threshold: threshold})
	}
	st.sorryIn = v.sorry != nil && !st.quorumUp
	return evs
}

// suspended reports whether an ha_suspend virtual server's addresses are all
// absent from this node, so health reports are held back.
func (e *Engine) suspended(st *vsState) bool {
	return st.v.haSuspend && st.held == 0
}

// SetHealth records a checker verdict for a real server and applies it
// unless its virtual server is suspended (ha_suspend without its address),
// in which case it is applied when the address returns. Unknown ids are
// ignored: a report may race with a reload that removed the server.
func (e *Engine) SetHealth(id RealID, h Health) []Event {
	st, rs := e.find(id)
	if rs == nil {
		return nil
	}
	rs.latest, rs.hasLatest = h, true
	if !st.started || e.suspended(st) {
		return nil
	}
	e.markDirty(st)
	return e.applyHealth(st, rs, nil)
}

// applyHealth moves a real server to its latest health: a weight change,
// then an up or down transition, each followed by a quorum evaluation, as
// keepalived's checker callbacks do.
func (e *Engine) applyHealth(st *vsState, rs *rsState, evs []Event) []Event {
	if !rs.hasLatest {
		return evs
	}
	h := &rs.latest
	w := int64(rs.r.dest.Weight)
	if h.Dynamic {
		w = h.Weight
	}
	if w != rs.weight {
		old := rs.realWeight()
		rs.weight = w
		if rs.realWeight() != old {
			evs = e.quorum(st, false, evs)
		}
	}
	first := !rs.reported
	rs.reported = true
	if h.Up == rs.alive && first && (rs.r.startDown || !h.Up) {
		// The first verdict on a server is notified even without a
		// change when the server is alpha or found down, as
		// keepalived does.
		kind, script := RealDown, rs.r.notifyDown
		if h.Up {
			kind, script = RealUp, rs.r.notifyUp
		}
		evs = append(evs, Event{Kind: kind, VS: st.v.id, Real: rs.r.addr(), Pos: rs.r.pos, Script: script})
	}
	if h.Up != rs.alive {
		rs.alive = h.Up
		kind, script := RealDown, rs.r.notifyDown
		if h.Up {
			kind, script = RealUp, rs.r.notifyUp
		}
		evs = append(evs, Event{Kind: kind, VS: st.v.id, Real: rs.r.addr(), Pos: rs.r.pos, Script: script})
		evs = e.quorum(st, false, evs)
	}
	return evs
}

// SetHeld tells the Engine whether addr is configured on this host.
// keepalived's checker process watches the host's addresses itself (any
// interface, whoever added them; in practice the VRRP virtual addresses),
// so the caller should feed it from an address watch, not only from VRRP
// transitions. ha_suspend virtual servers whose addresses are all absent
// keep their service but freeze their real servers' states (keepalived
// suspends their checkers); when one comes back, the health reported
// meanwhile is applied.
func (e *Engine) SetHeld(addr netip.Addr, held bool) []Event {
	if e.held[addr] == held {
		return nil
	}
	if held {
		e.held[addr] = true
	} else {
		delete(e.held, addr)
	}
	var evs []Event
	for _, st := range e.vss {
		n := 0
		for _, a := range st.v.addrs {
			if a == addr {
				n++
			}
		}
		if n == 0 {
			continue
		}
		was := e.suspended(st)
		if held {
			st.held += n
		} else {
			st.held -= n
		}
		if was && !e.suspended(st) && st.started {
			e.markDirty(st)
			for i := range st.reals {
				rs := &st.reals[i]
				evs = e.applyHealth(st, rs, evs)
			}
		}
	}
	return evs
}

// Reload replaces the configuration. Virtual servers and real servers that
// exist in both keep their state (no transition, no event); new ones start
// as at start-up; real servers that left while in the pool report RealDown.
// Quorum is re-evaluated for every virtual server, since quorum settings
// may have changed.
//
// A virtual server of cfg that is the very value the running one was
// compiled from (and whose group, if any, is too) is unchanged: its state
// is kept as it is, not compiled again, and it is not reported by Changes
// unless its quorum evaluation changes something. With config.Loader,
// which reuses the values of unchanged blocks, a reload then costs what it
// changed; a configuration loaded afresh compiles every virtual server, as
// a start does.
func (e *Engine) Reload(cfg *config.Config) []Event {
	e.reloads++
	gen := e.reloads
	groups := groupsOf(cfg)
	oldVSS := e.vss
	next := make([]*vsState, len(cfg.VirtualServers))
	var bySrc map[*config.VirtualServer]*vsState
	for i, vs := range cfg.VirtualServers {
		g := groups[vs.Group]
		var st *vsState
		if i < len(oldVSS) && oldVSS[i].src == vs {
			st = oldVSS[i]
		} else {
			if bySrc == nil {
				bySrc = make(map[*config.VirtualServer]*vsState, len(oldVSS))
				for _, o := range oldVSS {
					bySrc[o.src] = o
				}
			}
			st = bySrc[vs]
		}
		if st != nil && st.grp == g && st.kept != gen {
			st.kept = gen
			next[i] = st
		}
	}
	// The virtual servers that changed, compiled, by id.
	fresh := map[VSID]*virtual{}
	compiled := make([]*virtual, len(next))
	for i, vs := range cfg.VirtualServers {
		if next[i] == nil {
			v := compileOne(vs, groups[vs.Group])
			e.compiled++
			compiled[i] = v
			fresh[v.id] = v
		}
	}
	var evs []Event
	var removed []*vsState
	for _, st := range oldVSS {
		if st.kept == gen {
			continue
		}
		removed = append(removed, st)
		nv := fresh[st.v.id]
		if nv == nil {
			if k := e.byID[st.v.id]; k != nil && k != st && k.kept == gen {
				nv = k.v
			}
		}
		keep := map[netip.AddrPort]bool{}
		if nv != nil {
			for _, r := range nv.reals {
				keep[r.addr()] = true
			}
		}
		for i := range st.reals {
			rs := &st.reals[i]
			if rs.alive && !keep[rs.r.addr()] {
				evs = append(evs, Event{Kind: RealDown, VS: st.v.id, Real: rs.r.addr(), Pos: rs.r.pos, Script: rs.r.notifyDown})
			}
		}
	}
	// The states of changed virtual servers carry those of the running
	// ones with their ids.
	old := e.byID
	for i, v := range compiled {
		if v != nil {
			vs := cfg.VirtualServers[i]
			next[i] = e.newState(v, vs, groups[vs.Group], old[v.id])
		}
	}
	// The maps follow: removed states out, changed ones in.
	var goneKeys []dataplane.ServiceKey
	for _, st := range removed {
		if e.byID[st.v.id] == st {
			delete(e.byID, st.v.id)
		}
		for _, k := range st.v.keys {
			delete(e.origin, k)
			goneKeys = append(goneKeys, k)
		}
	}
	for i, st := range next {
		st.index = i
		if compiled[i] != nil {
			e.byID[st.v.id] = st
			for _, k := range st.v.keys {
				e.origin[k] = st.v.pos
			}
		}
	}
	for _, k := range goneKeys {
		if _, ok := e.origin[k]; !ok {
			e.gone = append(e.gone, k)
		}
	}
	e.vss = next
	// What is still pending of a kept state stays so; a removed state's
	// is dropped (its keys are in gone), a new state is marked below.
	e.dirtyList = e.dirtyList[:0]
	for _, st := range next {
		if st.dirty {
			e.dirtyList = append(e.dirtyList, st)
		}
	}
	for i, st := range next {
		if !st.started {
			evs = e.startOne(st, evs)
			continue
		}
		// keepalived re-evaluates a reloaded virtual server as at start
		// (its quorum settings may have changed, a sorry server may
		// have been added), so its events are marked Init too. A kept
		// one finds its state as its last evaluation left it: it is
		// reported only if that evaluation changes something.
		n, up, sorry := len(evs), st.quorumUp, st.sorryIn
		evs = e.quorum(st, true, evs)
		if compiled[i] != nil || len(evs) != n || st.quorumUp != up || st.sorryIn != sorry {
			e.markDirty(st)
		}
	}
	return evs
}

// groupsOf maps cfg's virtual server groups by name.
func groupsOf(cfg *config.Config) map[string]*config.VirtualServerGroup {
	groups := make(map[string]*config.VirtualServerGroup, len(cfg.VirtualServerGroups))
	for _, g := range cfg.VirtualServerGroups {
		groups[g.Name] = g
	}
	return groups
}

// Changes returns what changed since the last call: the desired entries of
// every virtual server whose state or configuration may have changed, and
// the service keys they cover, including keys a reload removed (absent from
// the table, so the reconciler deletes them). Give both to
// Reconciler.ApplySome: a health change then costs one virtual server's
// services, not the whole table. After Start or Reload it covers
// everything.
func (e *Engine) Changes() (dataplane.Table, []dataplane.ServiceKey) {
	t := dataplane.Table{}
	keys := e.gone
	e.gone = nil
	// In configuration order, as a walk over every virtual server gives
	// them (only the order of marking is known here).
	slices.SortFunc(e.dirtyList, func(a, b *vsState) int { return a.index - b.index })
	var later []*vsState
	for _, st := range e.dirtyList {
		if !st.started {
			// Reported once it starts; it stays marked.
			later = append(later, st)
			continue
		}
		st.dirty = false
		e.fill(t, st)
		keys = append(keys, st.v.keys...)
	}
	e.dirtyList = later
	return t, keys
}

// Settle forgets what changed, as Changes does, without building the
// entries: for a caller that has just applied the whole Desired table
// (a start), where Changes would build every entry again only for it to
// be dropped. A virtual server not started yet stays marked, as with
// Changes.
func (e *Engine) Settle() {
	e.gone = nil
	var later []*vsState
	for _, st := range e.dirtyList {
		if !st.started {
			later = append(later, st)
			continue
		}
		st.dirty = false
	}
	e.dirtyList = later
}

// Stop returns the events of a clean stop: with omega, every real server in
// the pool reports RealDown and every virtual server QuorumDown, as
// keepalived runs those notifications on its way out; without omega, none.
// The Engine is not usable afterwards.
func (e *Engine) Stop() []Event {
	var evs []Event
	for _, st := range e.vss {
		if !st.v.omega || !st.started {
			continue
		}
		for i := range st.reals {
			rs := &st.reals[i]
			if rs.alive {
				evs = append(evs, Event{Kind: RealDown, VS: st.v.id, Real: rs.r.addr(), Pos: rs.r.pos, Script: rs.r.notifyDown, Stopping: true})
			}
		}
		evs = append(evs, Event{Kind: QuorumDown, VS: st.v.id, Pos: st.v.pos, Script: st.v.quorumDown, Stopping: true,
			WeightSum: st.weightSum(), Threshold: st.v.quorum - st.v.hysteresis})
	}
	e.vss, e.byID, e.dirtyList = nil, map[VSID]*vsState{}, nil
	return evs
}

// Origin returns where the virtual server that programs key is configured,
// so a service the plane refuses is reported with file:line.
func (e *Engine) Origin(key dataplane.ServiceKey) (config.Pos, bool) {
	p, ok := e.origin[key]
	return p, ok
}

// Desired returns the table the plane should hold now. Per virtual server:
//   - with quorum, or without a sorry server: every live real server at its
//     weight; a down one at weight 0 if inhibit_on_failure, else absent;
//   - without quorum and with a sorry server: the sorry server at weight 1
//     instead of the real servers, which stay at weight 0 if inhibited;
//   - a sorry server with sorry_server_inhibit stays at weight 0 while not
//     in use.
//
// A virtual server not yet started contributes nothing.
func (e *Engine) Desired() dataplane.Table {
	t := dataplane.Table{}
	for _, st := range e.vss {
		if st.started {
			e.fill(t, st)
		}
	}
	return t
}

// Configured returns every service with every real server and sorry
// server of the configuration at its configured weight, whatever their
// health: what a plane must be able to express at some point, for a
// configuration test to judge against a plane (vigil -t --dataplane).
func (e *Engine) Configured() dataplane.Table {
	t := dataplane.Table{}
	for _, st := range e.vss {
		all := *st
		all.reals = slices.Clone(st.reals)
		for i := range all.reals {
			all.reals[i].alive = true
		}
		all.quorumUp = true
		e.fill(t, &all)
		if s := st.v.sorry; s != nil {
			for _, k := range st.v.keys {
				if ent, ok := t[k]; ok {
					d := s.dest
					if d.Forwarding.Method != dataplane.NAT {
						d.Key.Port = k.Port
					}
					if _, dup := ent.Dests[d.Key]; !dup {
						ent.Dests[d.Key] = d
					}
				}
			}
		}
	}
	return t
}

// fill adds the entries of one virtual server to t.
func (e *Engine) fill(t dataplane.Table, st *vsState) {
	dests := e.dests(st)
	for _, k := range st.v.keys {
		if _, dup := t[k]; dup {
			continue // validation rejects duplicates; first one wins
		}
		ds := make(map[dataplane.DestKey]dataplane.Destination, len(dests))
		for _, d := range dests {
			if d.Forwarding.Method != dataplane.NAT {
				// Only NAT can change the port. A packet matched by
				// mark keeps its own, so keepalived programs such a
				// real server of a group's fwmark entry without port
				// (as the parser does for a fwmark virtual server);
				// one of an address entry gets that entry's port,
				// whatever port the real server was written with.
				// (For a single virtual server the parser has already
				// made them equal.)
				d.Key.Port = k.Port
			}
			ds[d.Key] = d
		}
		t[k] = dataplane.Entry{Service: st.v.service(k), Dests: ds}
	}
}

// dests returns the destinations of one virtual server, the same for each
// of its service keys.
func (e *Engine) dests(st *vsState) []dataplane.Destination {
	v := st.v
	sorryInUse := v.sorry != nil && !st.quorumUp
	var out []dataplane.Destination
	idx := map[dataplane.DestKey]int{}
	put := func(d dataplane.Destination, override bool) {
		if i, ok := idx[d.Key]; ok {
			if override {
				out[i] = d
			}
			return
		}
		idx[d.Key] = len(out)
		out = append(out, d)
	}
	for i := range st.reals {
		rs := &st.reals[i]
		d := rs.r.dest
		switch {
		case rs.alive && !sorryInUse:
			d.Weight = rs.realWeight()
		case rs.r.inhibit:
			d.Weight = 0
		default:
			continue
		}
		put(d, false)
	}
	if s := v.sorry; s != nil {
		d := s.dest
		switch {
		case sorryInUse:
			put(d, true)
		case s.inhibit:
			d.Weight = 0
			put(d, false)
		}
	}
	return out
}

// QuorumUp reports whether the virtual server id holds quorum.
func (e *Engine) QuorumUp(id VSID) bool {
	st := e.byID[id]
	return st != nil && st.quorumUp
}

// Has reports whether id is a real server of the running configuration.
func (e *Engine) Has(id RealID) bool {
	_, rs := e.find(id)
	return rs != nil
}

// find returns the virtual server and the state of the real server id, or
// nil for a real server the running configuration does not have. The
// states are one block per virtual server, so this is a scan of that
// virtual server's real servers (a handful, as configs go).
func (e *Engine) find(id RealID) (*vsState, *rsState) {
	st := e.byID[id.VS]
	if st == nil {
		return nil, nil
	}
	for i := range st.reals {
		if st.reals[i].r.addr() == id.Real {
			return st, &st.reals[i]
		}
	}
	return st, nil
}

// Alive reports whether a real server is in its pool (by health, whatever
// the quorum).
func (e *Engine) Alive(id RealID) bool {
	_, rs := e.find(id)
	return rs != nil && rs.alive
}
