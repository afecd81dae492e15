package lvsproc

import (
	"context"
	"errors"
	"log/slog"
	"net/netip"
	"slices"
	"strings"
	"syscall"
	"time"

	"vigil/internal/check"
	"vigil/internal/config"
	"vigil/internal/dataplane"
	"vigil/internal/lvs"
	"vigil/internal/status"
)

// Notes runs what the LVS side notifies: notify_up/notify_down and
// quorum_up/quorum_down scripts, and lvs_notify_fifo lines. Implementations
// must not block the caller (the LVS loop).
type Notes interface {
	// Script runs s; what names it in logs; stopping marks the
	// notifications of a clean stop (omega).
	Script(s *config.Script, what string, stopping bool)
	// FIFO writes one line (with its newline) to the notify FIFO.
	FIFO(line string)
	// Mail sends an SMTP alert (smtp_alert) with this subject and body.
	Mail(subject, body string)
}

// Side is the LVS side's state and its dealings with the plane: the
// checkers' outputs, held addresses and reloads go in, operations go to
// the plane, events go to notify and to the parent. One goroutine (Run's
// loop) owns it.
type Side struct {
	plane  dataplane.Plane
	log    *slog.Logger
	engine *lvs.Engine
	rec    *lvs.Reconciler
	// keys are the Engine's virtual servers by the checkers' name of
	// them (check.VSName; one name is two virtual servers' only in rare
	// cases, e.g. one fwmark in both families): with the Engine, which
	// knows their real servers (realID), they map the checkers' keys of
	// real servers to the Engine's. A map by real server took 2.3 MB for
	// 10,000.
	keys map[string][]lvs.VSID
	// vsNames are keepalived's names of the virtual servers (FMT_VS) and
	// their protocols, for the FIFO's VS lines and the logs; a reload adds
	// and never removes, so the last events of a removed virtual server
	// still find theirs.
	vsNames map[lvs.VSID]vsName
	notes   Notes
	emit    func(status.Event)
	now     func() time.Time
	// ops counts the operations sent since Start.
	ops int
	// cfg is the running configuration (for global_defs).
	cfg *config.Config
	// origTimeouts are the plane's connection timeouts as they were
	// before lvs_timeouts first changed them (nil while Vigil has not
	// changed them): a clean stop puts them back, so that stopping
	// leaves the host's timeouts as it found them.
	origTimeouts *dataplane.Timeouts
	// vrrp is every VRRP instance's state as the parent last told it;
	// syncd the lvs_sync_daemons running by role, warnedSync whether
	// the plane's lack of one was said.
	vrrp       map[string]string
	syncd      map[dataplane.SyncState]dataplane.SyncDaemon
	warnedSync bool
	// vsLabels caches the status names of the running configuration's
	// virtual servers for Checkers (one per virtual server: a cache by
	// real server held about 140 bytes for each of them, 1.4 MB for
	// 10,000, to save formatting an address when the checks change).
	vsLabels map[lvs.VSID]string
	// noVRRP is SideOptions.NoVRRP; warnedNoVRRP whether the sync daemon
	// it keeps down was said.
	noVRRP, warnedNoVRRP bool
	// mail resolves smtp_alert of the running configuration; oldMail
	// that of the configuration a reload replaces, for the real servers
	// it removes (over the virtual servers it removes or changes).
	mail, oldMail mailPolicy
	// lookupsDone is closed once NewSide's goroutine has built
	// pendingLookups (keys, vsNames, mail, byID); nil once awaitLookups
	// took them.
	lookupsDone    chan struct{}
	pendingLookups lookups
	// byID are the running configuration's virtual servers by id.
	byID map[lvs.VSID]*config.VirtualServer
}

// SideOptions are a Side's dependencies.
type SideOptions struct {
	Log   *slog.Logger
	Notes Notes
	// Emit receives real server and quorum changes, for `vigil events`.
	Emit func(status.Event)
	Now  func() time.Time
	// NoVRRP says that no VRRP side runs (-C): no instance's state will
	// ever come, so an lvs_sync_daemon that names one is not run at all,
	// as keepalived 2.2.7's checker process leaves such a daemon to the
	// VRRP process.
	NoVRRP bool
}

// NewSide returns a Side for cfg (loaded without errors) on plane p.
// Nothing is read or changed until Start.
func NewSide(cfg *config.Config, p dataplane.Plane, o SideOptions) *Side {
	if o.Log == nil {
		o.Log = slog.New(slog.DiscardHandler)
	}
	if o.Emit == nil {
		o.Emit = func(status.Event) {}
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	s := &Side{plane: p, log: o.Log, rec: lvs.NewReconciler(p, o.Log), cfg: cfg,
		notes: o.Notes, emit: o.Emit, now: o.Now, vrrp: map[string]string{},
		syncd: map[dataplane.SyncState]dataplane.SyncDaemon{}, noVRRP: o.NoVRRP}
	// The lookup maps (an entry per real server) serve the checkers'
	// verdicts and the notifications, none of which comes before the
	// first apply: they are built beside the Engine and the start's
	// requests, on another core, and awaited before their first use.
	done := make(chan struct{})
	s.lookupsDone = done
	go func() {
		defer close(done)
		byID := make(map[lvs.VSID]*config.VirtualServer, len(cfg.VirtualServers))
		for _, vs := range cfg.VirtualServers {
			byID[lvs.IDOf(vs)] = vs
		}
		s.pendingLookups = lookups{keys: keysOf(cfg), vsNames: vsNamesOf(cfg, nil), mail: mailPolicyOf(cfg, byID), byID: byID}
	}()
	s.engine = lvs.New(cfg)
	return s
}

// lookups are the Side's maps of the configuration's real servers and
// virtual servers.
type lookups struct {
	keys    map[string][]lvs.VSID
	vsNames map[lvs.VSID]vsName
	mail    mailPolicy
	byID    map[lvs.VSID]*config.VirtualServer
}

// awaitLookups waits for NewSide's lookup maps, once; every method that
// reads or replaces them calls it first.
func (s *Side) awaitLookups() {
	if s.lookupsDone == nil {
		return
	}
	<-s.lookupsDone
	s.keys, s.vsNames, s.mail, s.byID = s.pendingLookups.keys, s.pendingLookups.vsNames, s.pendingLookups.mail, s.pendingLookups.byID
	s.lookupsDone, s.pendingLookups = nil, lookups{}
}

// vsDelta compares two lists of virtual servers by identity (a
// config.Loader hands out the same value for a block that did not
// change): removed are those of old not in next, added those of next not
// in old. A virtual server that changed is in both, its old value and its
// new one.
func vsDelta(old, next []*config.VirtualServer) (removed, added []*config.VirtualServer) {
	// Mostly the lists are the same values in the same order: compare
	// them in step, and look up in a set only where they differ.
	var inOld, inNext map[*config.VirtualServer]bool
	for i, vs := range next {
		if i < len(old) && old[i] == vs {
			continue
		}
		if inOld == nil {
			inOld = make(map[*config.VirtualServer]bool, len(old))
			for _, o := range old {
				inOld[o] = true
			}
		}
		if !inOld[vs] {
			added = append(added, vs)
		}
	}
	for i, vs := range old {
		if i < len(next) && next[i] == vs {
			continue
		}
		if inNext == nil {
			inNext = make(map[*config.VirtualServer]bool, len(next))
			for _, n := range next {
				inNext[n] = true
			}
		}
		if !inNext[vs] {
			removed = append(removed, vs)
		}
	}
	return removed, added
}

// keysOf maps the checkers' names of cfg's virtual servers to the
// Engine's ids (see Side.keys).
func keysOf(cfg *config.Config) map[string][]lvs.VSID {
	m := make(map[string][]lvs.VSID, len(cfg.VirtualServers))
	for _, vs := range cfg.VirtualServers {
		addKey(m, check.VSName(vs), lvs.IDOf(vs))
	}
	return m
}

// addKey adds id under name, once.
func addKey(m map[string][]lvs.VSID, name string, id lvs.VSID) {
	if !slices.Contains(m[name], id) {
		m[name] = append(m[name], id)
	}
}

// realID is the Engine's id of the checkers' real server k, if the
// running configuration has it.
func (s *Side) realID(k check.ServerKey) (lvs.RealID, bool) {
	for _, vid := range s.keys[k.VS] {
		if id := (lvs.RealID{VS: vid, Real: k.RS}); s.engine.Has(id) {
			return id, true
		}
	}
	return lvs.RealID{}, false
}

// realsOf counts cfg's real servers, to size the maps that hold one entry
// each: a map grown entry by entry rehashes itself over and over, which
// was a good part of a large start's time before its first request.
func realsOf(cfg *config.Config) int {
	n := 0
	for _, vs := range cfg.VirtualServers {
		n += len(vs.RealServers)
	}
	return n
}

// vsName is how keepalived names a virtual server (FMT_VS) and the
// protocol it names its real servers with (FMT_RS).
type vsName struct{ name, proto string }

// vsNamesOf adds cfg's virtual servers to names (a new map when nil).
func vsNamesOf(cfg *config.Config, names map[lvs.VSID]vsName) map[lvs.VSID]vsName {
	if names == nil {
		names = make(map[lvs.VSID]vsName, len(cfg.VirtualServers))
	}
	for _, vs := range cfg.VirtualServers {
		names[lvs.IDOf(vs)] = vsName{check.VSName(vs), check.ProtoName(vs)}
	}
	return names
}

// names returns keepalived's names of ev's virtual server and real
// server ("[addr]:proto:port"), as its logs and FIFO lines have them.
func (s *Side) names(ev lvs.Event) (vs, rs string) {
	s.awaitLookups()
	n, ok := s.vsNames[ev.VS]
	if !ok {
		n = vsName{ev.VS.String(), strings.ToLower(ev.VS.Protocol.String())}
	}
	return n.name, check.RSTrio(ev.Real, n.proto)
}

// Start adopts what the plane holds (a restarted LVS process finds its
// predecessor's table: what still matches costs no operation, nothing is
// flushed) and programs the first desired table. It returns the number of
// operations sent; an error is what the plane refused (with the
// configuration's file:line), the rest being applied.
//
// With global_defs lvs_flush the whole table is flushed first, services
// Vigil does not own included, as keepalived does at every start of its
// checker process. That holds for a restart after a crash too: the
// operator who sets lvs_flush trades the adoption (and the connections it
// keeps) for a table that holds nothing but the configuration.
func (s *Side) Start(ctx context.Context) (int, error) {
	if s.cfg.Global.LVSFlush {
		// keepalived runs past a failed flush; so does Vigil, adopting
		// what is left.
		if err := s.plane.Flush(ctx); err != nil {
			s.log.Error("lvs_flush: flushing the table at start", "err", err)
		} else {
			s.log.Info("lvs_flush: the table was flushed at start")
		}
		s.ops++
	}
	if err := s.rec.Sync(ctx); err != nil {
		return 0, err
	}
	s.globals(ctx, nil)
	s.syncDaemon(ctx)
	evs := s.engine.Start()
	n, err := s.rec.Apply(ctx, s.engine.Desired())
	s.engine.Settle() // the whole table was compared: nothing is pending
	s.ops += n
	// The first evaluation's events (a quorum gained by every virtual
	// server: a log line each, quorum_up, the FIFO, the mail) once the
	// table is in the plane, as after every later change; and not before
	// the first request, which a large table's thousands of lines would
	// delay.
	s.events(evs)
	s.awaitLookups()
	return n, s.engine.Explain(err)
}

// Health applies one checker verdict and returns the operations it cost.
func (s *Side) Health(ctx context.Context, h check.Health) (int, error) {
	s.SetHealth(h)
	return s.apply(ctx)
}

// SetHealth records one checker verdict in the Engine (its events are
// logged and emitted at once) without touching the plane; ApplyHealth
// applies every verdict recorded since. Many verdicts at once (the
// initial health of 10,000 real servers) then cost one pass over each
// virtual server they touch, not one per verdict.
func (s *Side) SetHealth(h check.Health) {
	s.awaitLookups()
	id, ok := s.realID(h.Server)
	if !ok {
		// A verdict of a real server a reload removed, still in flight.
		s.log.Debug("health of an unknown real server", "rs", h.Server.String(), "vs", h.Server.VS)
		return
	}
	s.events(s.engine.SetHealth(id, lvs.Health{Up: h.Up, Weight: int64(h.Weight), Dynamic: true}))
}

// ApplyHealth applies the verdicts SetHealth recorded and returns the
// operations they cost.
func (s *Side) ApplyHealth(ctx context.Context) (int, error) { return s.apply(ctx) }

// Notify runs a real server's notify_up/notify_down and writes its FIFO
// line. The checkers' Notify is the one source of these scripts: the
// Engine's RealUp/RealDown events only log and reach `vigil events`.
func (s *Side) Notify(n check.Notify) {
	if s.notes == nil {
		return
	}
	if n.Script != nil {
		what := "notify_down"
		if n.Up {
			what = "notify_up"
		}
		s.notes.Script(n.Script, what+" of "+n.Server.String()+" in VS "+n.Server.VS, n.Stopping)
	}
	s.notes.FIFO(n.FIFOLine())
}

// CheckerChange sends the smtp_alert mail of one checker's change, when
// one is due.
func (s *Side) CheckerChange(c check.CheckerChange) {
	s.awaitLookups()
	id, ok := s.realID(c.Server)
	if !ok || s.notes == nil {
		return
	}
	if subject, body, ok := s.mail.checkerMail(id, c); ok {
		s.notes.Mail(subject, body)
	}
}

// Held feeds ha_suspend: whether addr is configured on this host.
func (s *Side) Held(ctx context.Context, addr netip.Addr, held bool) (int, error) {
	s.events(s.engine.SetHeld(addr, held))
	return s.apply(ctx)
}

// Reload replaces the configuration; an unchanged one sends nothing.
func (s *Side) Reload(ctx context.Context, cfg *config.Config) (int, error) {
	s.awaitLookups()
	// The maps follow what changed: the virtual servers a reload
	// removes or changes leave them, the new values come in.
	removed, added := vsDelta(s.cfg.VirtualServers, cfg.VirtualServers)
	s.globals(ctx, cfg)
	s.syncDaemon(ctx)
	old := make(map[lvs.VSID]*config.VirtualServer, len(removed))
	for _, vs := range removed {
		id, name := lvs.IDOf(vs), check.VSName(vs)
		old[id] = vs
		if s.byID[id] == vs {
			delete(s.byID, id)
		}
		delete(s.vsLabels, id)
		if ids := slices.DeleteFunc(s.keys[name], func(v lvs.VSID) bool { return v == id }); len(ids) > 0 {
			s.keys[name] = ids
		} else {
			delete(s.keys, name)
		}
	}
	for _, vs := range added {
		vid, name := lvs.IDOf(vs), check.VSName(vs)
		s.byID[vid] = vs
		s.vsNames[vid] = vsName{name, check.ProtoName(vs)}
		addKey(s.keys, name, vid)
	}
	s.oldMail, s.mail = s.mail, mailPolicyOf(cfg, s.byID)
	s.oldMail.byID = old
	s.events(s.engine.Reload(cfg))
	s.oldMail = mailPolicy{}
	return s.apply(ctx)
}

// Stop runs the notifications of a clean stop and removes what Vigil put
// in the table, as keepalived's checker process does when it stops, by
// global_defs lvs_flush_on_stop (the running configuration's):
//   - not set: each real server of each service Vigil owns, then the
//     service;
//   - VS: each service Vigil owns, its real servers going with it (fewer
//     operations for a large table);
//   - no argument ("FULL"): the whole table is flushed in one
//     operation, services Vigil does not own included.
func (s *Side) Stop(ctx context.Context) (int, error) {
	s.events(s.engine.Stop())
	for r := range s.syncd {
		s.stopSyncDaemon(ctx, r)
	}
	restored := s.restoreTimeouts(ctx)
	var n int
	var err error
	switch s.cfg.Global.LVSFlushOnStop {
	case "FULL":
		n, err = 1, s.plane.Flush(ctx)
	case "VS":
		n, err = s.rec.RemoveOwned(ctx)
	default:
		n, err = s.rec.RemoveOwnedReals(ctx)
	}
	n += restored
	s.ops += n
	return n, err
}

// globals applies global_defs' lvs_timeouts (at start from the Side's
// configuration, on reload when they changed).
func (s *Side) globals(ctx context.Context, cfg *config.Config) {
	if cfg == nil {
		cfg = s.cfg
	} else {
		old, _ := lvs.TimeoutsOf(s.cfg)
		s.cfg = cfg
		if t, ok := lvs.TimeoutsOf(cfg); !ok || t == old {
			return
		}
	}
	t, ok := lvs.TimeoutsOf(cfg)
	if !ok {
		return
	}
	if !s.plane.Capabilities().Timeouts {
		s.log.Warn("lvs_timeouts not applied: the data plane has no connection timeouts", "dataplane", s.plane.Capabilities().Name)
		return
	}
	if s.origTimeouts == nil {
		orig, err := s.plane.Timeouts(ctx)
		if err != nil {
			// Without them a stop could not put them back: better not
			// to change what cannot be undone.
			s.log.Error("lvs_timeouts not applied: reading the current timeouts", "err", err)
			return
		}
		s.origTimeouts = &orig
	}
	if err := s.plane.SetTimeouts(ctx, t); err != nil {
		s.log.Error("lvs_timeouts not applied", "err", err)
		return
	}
	s.ops++
}

// restoreTimeouts puts back the connection timeouts that were in force
// before lvs_timeouts changed them, if it did, and returns the operations
// it cost.
func (s *Side) restoreTimeouts(ctx context.Context) int {
	if s.origTimeouts == nil {
		return 0
	}
	if err := s.plane.SetTimeouts(ctx, *s.origTimeouts); err != nil {
		s.log.Error("restoring the connection timeouts", "err", err)
		return 1
	}
	s.origTimeouts = nil
	return 1
}

// VRRPState records what the parent says of a VRRP instance and switches
// lvs_sync_daemon's role if that instance is its own. It returns the
// operations it cost.
func (s *Side) VRRPState(ctx context.Context, instance, state string) int {
	s.vrrp[instance] = state
	before := s.ops
	s.syncDaemon(ctx)
	return s.ops - before
}

// syncDaemon runs global_defs lvs_sync_daemon in the roles it asks for,
// as keepalived does: with a VRRP instance named, master while that
// instance is MASTER and backup otherwise (from the parent's first word
// on: the instance's state at the LVS process's start, INIT or BACKUP
// for a new node, as keepalived's VRRP process starts the backup role
// at its init), as keepalived's VRRP process switches it; with none, both
// roles for as long as the LVS side runs, as keepalived's checker process
// does. With an instance named and no VRRP side (-C), none: keepalived's
// checker process leaves that daemon to the VRRP process, which -C does
// not run. A role whose settings changed is stopped and started again; a
// role no longer wanted is stopped first.
func (s *Side) syncDaemon(ctx context.Context) {
	want := map[dataplane.SyncState]dataplane.SyncDaemon{}
	if sd := s.cfg.Global.LVSSyncDaemon; sd != nil && sd.Instance != "" && s.noVRRP {
		if !s.warnedNoVRRP {
			s.warnedNoVRRP = true
			s.log.Warn("lvs_sync_daemon not started: it follows a VRRP instance and no VRRP side runs (-C), as with keepalived", "instance", sd.Instance)
		}
	} else if sd != nil {
		roles := []dataplane.SyncState{dataplane.SyncMaster, dataplane.SyncBackup}
		if sd.Instance != "" {
			switch state, told := s.vrrp[sd.Instance]; {
			case !told:
				// The parent's first word (all states, sent the moment
				// the child starts) is awaited: a child that started
				// the backup role first would run it beside the master
				// daemon its SIGKILLed predecessor left, for nothing.
				roles = nil
			case state == "MASTER":
				roles = []dataplane.SyncState{dataplane.SyncMaster}
			default:
				roles = []dataplane.SyncState{dataplane.SyncBackup}
			}
		}
		for _, r := range roles {
			if d, ok := lvs.SyncDaemonOf(s.cfg, r); ok {
				want[r] = d
			}
		}
	}
	for _, r := range []dataplane.SyncState{dataplane.SyncMaster, dataplane.SyncBackup} {
		// A role not wanted has the zero value: it differs too.
		if have, ok := s.syncd[r]; ok && want[r] != have {
			s.stopSyncDaemon(ctx, r)
		}
	}
	if len(want) > 0 && !s.plane.Capabilities().SyncDaemon {
		if !s.warnedSync {
			s.warnedSync = true
			s.log.Warn("lvs_sync_daemon not started: the data plane has no connection sync", "dataplane", s.plane.Capabilities().Name)
		}
		return
	}
	for _, r := range []dataplane.SyncState{dataplane.SyncMaster, dataplane.SyncBackup} {
		d, ok := want[r]
		if _, running := s.syncd[r]; !ok || running {
			continue
		}
		s.ops++
		err := s.plane.StartSyncDaemon(ctx, d)
		if errors.Is(err, syscall.EEXIST) {
			// A predecessor killed without a clean stop left it running:
			// it is adopted, as its services are, so the sync is not cut.
			err = nil
		}
		if err != nil {
			s.log.Error("lvs_sync_daemon not started", "role", roleName(r), "interface", d.Interface, "err", err)
			continue
		}
		s.syncd[r] = d
		s.log.Info("lvs_sync_daemon started", "role", roleName(r), "interface", d.Interface, "syncid", d.SyncID)
	}
}

// stopSyncDaemon stops the sync daemon of role r the Side runs.
func (s *Side) stopSyncDaemon(ctx context.Context, r dataplane.SyncState) {
	delete(s.syncd, r)
	s.ops++
	if err := s.plane.StopSyncDaemon(ctx, r); err != nil {
		s.log.Error("lvs_sync_daemon not stopped", "role", roleName(r), "err", err)
	}
}

func roleName(r dataplane.SyncState) string {
	if r == dataplane.SyncMaster {
		return "master"
	}
	return "backup"
}

// Operations is the number of operations sent since Start.
func (s *Side) Operations() int { return s.ops }

func (s *Side) apply(ctx context.Context) (int, error) {
	t, scope := s.engine.Changes()
	if len(scope) == 0 {
		return 0, nil
	}
	n, err := s.rec.ApplySome(ctx, t, scope)
	s.ops += n
	return n, s.engine.Explain(err)
}

// events logs the Engine's transitions with keepalived's wording, runs
// the quorum scripts and emits every one for `vigil events`.
func (s *Side) events(evs []lvs.Event) {
	s.awaitLookups()
	for _, ev := range evs {
		vs := ev.VS.String()
		out := status.Event{Time: s.now(), Instance: "VS " + vs, Kind: ev.Kind.String()}
		switch ev.Kind {
		case lvs.RealUp:
			out.RealServer = ev.Real.String()
			kvs, krs := s.names(ev)
			s.log.Info("Adding service "+krs+" to VS "+kvs, "vs", vs, "rs", out.RealServer, "pos", ev.Pos.String())
		case lvs.RealDown:
			out.RealServer = ev.Real.String()
			kvs, krs := s.names(ev)
			s.log.Info("Removing service "+krs+" from VS "+kvs, "vs", vs, "rs", out.RealServer, "pos", ev.Pos.String())
			if ev.Stopping {
				// omega: the checkers' mails end with this one.
				s.sendMail(s.mail.stopMail(ev))
			} else if id := (lvs.RealID{VS: ev.VS, Real: ev.Real}); !s.mail.has(id) && s.oldMail.has(id) {
				// A live real server the reload removed.
				s.sendMail(s.oldMail.removeMail(ev))
			}
		case lvs.QuorumUp, lvs.QuorumDown:
			up := ev.Kind == lvs.QuorumUp
			msg := "Lost quorum"
			if up {
				msg = "Gained quorum"
			}
			out.Reason = msg
			s.log.Info(msg+" for VS "+vs, "vs", vs, "weight_sum", ev.WeightSum, "threshold", ev.Threshold, "init", ev.Init)
			if ev.Script != nil && s.notes != nil {
				what := "quorum_down"
				if up {
					what = "quorum_up"
				}
				s.notes.Script(ev.Script, what+" of VS "+vs, ev.Stopping)
			}
			if s.notes != nil {
				// keepalived writes a VS line for each quorum change,
				// the first evaluation's and omega's at stop included
				// (the Engine reports those only with omega).
				st := "DOWN"
				if up {
					st = "UP"
				}
				name, _ := s.names(ev)
				s.notes.FIFO("VS " + name + " " + st + "\n")
			}
			q, h := s.quorumOf(ev.VS)
			s.sendMail(s.mail.quorumMail(ev, q, h))
		}
		s.emit(out)
	}
}

func (s *Side) sendMail(subject, body string, ok bool) {
	if ok && s.notes != nil {
		s.notes.Mail(subject, body)
	}
}

// quorumOf is a virtual server's quorum and hysteresis as the Engine
// applies them (0, 0 once stopped, when no mail needs them). It is asked
// once per quorum event, that is once per virtual server at start: it
// must not cost a walk over all of them.
func (s *Side) quorumOf(id lvs.VSID) (int64, int64) {
	q, h, _ := s.engine.Quorum(id)
	return q, h
}

// Snapshot returns the virtual servers for status.
func (s *Side) Snapshot() []status.LVSVirtualServerJSON { return s.SnapshotWith(nil) }

// SnapshotWith is Snapshot with the plane's counters of counters (as
// Counters returns them; nil for none): a virtual server's are the sum over
// its services, a real server's the sum over its destinations in them.
func (s *Side) SnapshotWith(counters dataplane.Table) []status.LVSVirtualServerJSON {
	snap := s.engine.Snapshot()
	// Sized once: the daemon keeps the last status, so a slice grown by
	// append would keep its slack for good.
	out := make([]status.LVSVirtualServerJSON, 0, len(snap))
	for _, v := range snap {
		j := status.LVSVirtualServerJSON{Name: v.ID.String(), QuorumUp: v.QuorumUp, WeightSum: v.WeightSum,
			Quorum: v.Quorum, Hysteresis: v.Hysteresis, SorryInUse: v.SorryInUse, Suspended: v.Suspended,
			Reals: make([]status.LVSRealJSON, 0, len(v.Reals))}
		if len(v.Keys) > 0 && v.Keys[0].Fwmark == 0 {
			j.Protocol = v.Keys[0].Protocol.String()
		}
		var vsSum dataplane.Stats
		vsSeen := false
		for _, k := range v.Keys {
			if e, ok := counters[k]; ok {
				vsSum, vsSeen = addStats(vsSum, e.Service.Stats), true
			}
		}
		if vsSeen {
			j.Stats = statsJSON(vsSum)
		}
		for _, r := range v.Reals {
			rj := status.LVSRealJSON{Addr: r.Real.String(), Alive: r.Alive, Weight: r.Weight}
			var sum dataplane.Stats
			seen := false
			for _, k := range v.Keys {
				if d, ok := counters[k].Dests[r.DestKey(k)]; ok {
					sum, seen = addStats(sum, d.Counters()), true
				}
			}
			if seen {
				active, inactive, persistent := sum.ActiveConns, sum.InactConns, sum.PersistConns
				rj.ActiveConns, rj.InactiveConns, rj.PersistentConns = &active, &inactive, &persistent
				rj.Stats = statsJSON(sum)
			}
			j.Reals = append(j.Reals, rj)
		}
		out = append(out, j)
	}
	return out
}

// realName is a checker's real server as the status names it.
func (s *Side) realName(k check.ServerKey) status.LVSCheckerRealJSON {
	s.awaitLookups()
	id, ok := s.realID(k)
	if !ok {
		return status.LVSCheckerRealJSON{VirtualServer: k.VS, Addr: k.RS.String()}
	}
	name, ok := s.vsLabels[id.VS]
	if !ok {
		name = id.VS.String()
		if s.vsLabels == nil {
			s.vsLabels = map[lvs.VSID]string{}
		}
		s.vsLabels[id.VS] = name
	}
	return status.LVSCheckerRealJSON{VirtualServer: name, Addr: id.Real.String()}
}

// Counters reads the plane's table with its traffic counters, for
// SnapshotWith; nil when the plane keeps none or cannot be read (the
// status then shows no counters rather than stale or zero ones).
func (s *Side) Counters(ctx context.Context) dataplane.Table {
	if !s.plane.Capabilities().Stats {
		return nil
	}
	t, err := dataplane.Read(ctx, s.plane)
	if err != nil {
		s.log.Warn("reading the data plane's counters", "err", err)
		return nil
	}
	return t
}

func addStats(a, b dataplane.Stats) dataplane.Stats {
	return dataplane.Stats{
		Conns: a.Conns + b.Conns, InPkts: a.InPkts + b.InPkts, OutPkts: a.OutPkts + b.OutPkts,
		InBytes: a.InBytes + b.InBytes, OutBytes: a.OutBytes + b.OutBytes,
		CPS: a.CPS + b.CPS, InPPS: a.InPPS + b.InPPS, OutPPS: a.OutPPS + b.OutPPS, InBPS: a.InBPS + b.InBPS, OutBPS: a.OutBPS + b.OutBPS,
		ActiveConns: a.ActiveConns + b.ActiveConns, InactConns: a.InactConns + b.InactConns, PersistConns: a.PersistConns + b.PersistConns,
	}
}

func statsJSON(st dataplane.Stats) *status.LVSStatsJSON {
	return &status.LVSStatsJSON{Conns: st.Conns, InPackets: st.InPkts, OutPackets: st.OutPkts, InBytes: st.InBytes, OutBytes: st.OutBytes,
		CPS: st.CPS, InPPS: st.InPPS, OutPPS: st.OutPPS, InBPS: st.InBPS, OutBPS: st.OutBPS}
}
