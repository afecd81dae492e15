package daemon

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/netip"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"golang.org/x/sys/unix"

	"vigil/internal/config"
	"vigil/internal/host"
	"vigil/internal/notify"
	"vigil/internal/status"
	"vigil/internal/track"
	"vigil/internal/vrrp"
	"vigil/internal/vrrp/transport"
)

// vrrpRunner owns the running VRRP side: one goroutine per instance, one
// socket (and reader) per interface and family, the host address manager.
// Its methods are called from the daemon's one event loop (start, reload,
// stop), never concurrently; mu only guards the instance map and trk against the
// link watcher and status readers.
type vrrpRunner struct {
	log *slog.Logger
	mgr *host.Manager
	ann *host.Announcer

	instCtx context.Context // parent of every instance's context
	cancel  context.CancelFunc
	// loop runs every instance on one goroutine, until instCtx is done;
	// loopDone is closed when it has returned.
	loop     *vrrp.Loop
	loopDone chan struct{}
	watchWG  sync.WaitGroup

	conns     map[connKey]*sharedConn
	muxCtx    context.Context
	muxCancel context.CancelFunc
	muxWG     sync.WaitGroup

	mu      sync.Mutex
	running map[instKey]*runningInstance
	order   []instKey // start order, for stable listings

	// targets are the trackers' view of the instances, by name; they
	// outlive instance restarts (see trackTarget).
	groupWG  sync.WaitGroup // the sync groups' change readers
	targets  map[string]*trackTarget
	trk      *trackers
	static   staticSet    // static_ipaddress, static_routes, static_rules in place
	filter   *host.Filter // strict mode's drop set; nil until an instance needs it
	notifier atomic.Pointer[notify.Notifier]
	hub      *status.Hub // where transitions are published; never nil
	// feed publishes every instance's transitions (hub, notifier) on one
	// goroutine.
	feed *changeFeed
}

// instKey identifies an instance across reloads the way keepalived matches
// them: VRID, family, interface, and unicast versus multicast.
type instKey struct {
	vrid    uint8
	family  int
	ifname  string
	unicast bool
}

func keyOf(ic vrrp.InstanceConfig) instKey {
	return instKey{ic.VRID, ic.Family, ic.Interface, ic.Unicast}
}

// runningInstance is one started instance and how to stop it.
type runningInstance struct {
	inst   *vrrp.Instance
	cancel context.CancelFunc
	done   chan struct{} // closed when the instance has ended and its transitions are published
	target *trackTarget
	// groupKey is the groupSpec key of the instance's sync group; "" for none.
	groupKey string
	conn     connKey // the socket it sends and receives on
	// extras are its routes, rules, VMAC and filtering; a change restarts
	// the instance on reload.
	extras    instExtras
	vmac      string // the macvlan made for this instance, if any
	dontTrack bool   // dont_track_primary
}

type connKey struct {
	ifname string
	family int
	ah     bool // IPv4 protocol 51, for the instances with auth_type AH
}

// sharedConn is one socket shared by every instance on an interface and
// family, with the multicast groups it has joined.
type sharedConn struct {
	conn   *transport.Conn
	mux    *transport.Mux
	joined map[netip.Addr]bool
	// looped: the instance loop reads the socket (src, a loop Source),
	// rather than a reader goroutine of its own.
	looped bool
	src    muxSource
}

// muxSource is a shared socket as the instance loop reads it: through the
// socket's Receiver, dispatched by its Mux.
type muxSource struct {
	mux *transport.Mux
	rx  *transport.Receiver
}

func (s muxSource) Fd() int                      { return s.rx.Fd() }
func (s muxSource) Drain(limit int) (int, error) { return s.mux.Drain(s.rx, limit) }
func (s muxSource) Coalesce() bool               { return s.mux.VRIDs() > 1 }

// connSender adapts a transport.Conn to what an instance sends through.
type connSender struct{ c *transport.Conn }

func (s connSender) Send(payload []byte, src, dst netip.Addr) error {
	return s.c.WriteTo(payload, src, dst)
}

// translate turns every instance of cfg into what the vrrp package runs,
// collecting every problem. It touches nothing.
func translate(cfg *config.Config) ([]vrrp.InstanceConfig, map[string]*instExtras, error) {
	return translateWith(cfg, primaryAddr)
}

// translateWith is translate with the source of interfaces' primary
// addresses given (tests give a fake).
func translateWith(cfg *config.Config, primary func(string, int, ...netip.Addr) (netip.Addr, error)) ([]vrrp.InstanceConfig, map[string]*instExtras, error) {
	var icfgs []vrrp.InstanceConfig
	extras := map[string]*instExtras{}
	var errs []error
	for _, in := range cfg.Instances {
		ic, err := instanceConfig(in, primary)
		if le := (*lineError)(nil); errors.As(err, &le) {
			errs = append(errs, err) // names the address line itself
			continue
		} else if err != nil {
			errs = append(errs, fmt.Errorf("%s: %w", in.Pos, err))
			continue
		}
		ex, err := extrasOf(in, cfg.Global)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		extras[ic.Name] = ex
		if !ic.Group.IsValid() {
			ic.Group = vrrp.MulticastGroup4
			if ic.Family == 6 {
				ic.Group = vrrp.MulticastGroup6
			}
		}
		icfgs = append(icfgs, ic)
	}
	return icfgs, extras, errors.Join(errs...)
}

// startVRRP translates every instance, then opens sockets and starts them.
// Translation comes first so that a config that cannot run (no address to
// send from, say) fails before any socket is opened or address is added.
func startVRRP(ctx context.Context, cfg *config.Config, stateFile string, hub *status.Hub, log *slog.Logger) (*vrrpRunner, error) {
	icfgs, extras, err := translate(cfg)
	if err != nil {
		return nil, err
	}
	static, err := staticOf(cfg)
	if err != nil {
		return nil, err
	}
	mgr, err := host.NewManager(stateFile, log)
	if err != nil {
		return nil, err
	}
	removed, err := mgr.CleanupStale()
	for _, a := range removed {
		log.Warn("removed an address left behind by an earlier run", "address", a.String())
	}
	if err != nil {
		return nil, fmt.Errorf("cleaning up after an earlier run: %w", err)
	}

	r := &vrrpRunner{
		log:     log,
		mgr:     mgr,
		ann:     host.NewAnnouncer(log),
		conns:   map[connKey]*sharedConn{},
		running: map[instKey]*runningInstance{},
		targets: map[string]*trackTarget{},
		hub:     hub,
		feed:    newChangeFeed(),
	}
	go r.feed.run(r.publish)
	// Pacing first, so the first announcements are paced too.
	applyGarpPacing(r.ann, cfg)
	r.muxCtx, r.muxCancel = context.WithCancel(context.Background())
	r.instCtx, r.cancel = context.WithCancel(ctx)
	r.loop, r.loopDone = vrrp.NewLoop(vrrp.SystemClock()), make(chan struct{})
	go func() {
		defer close(r.loopDone)
		r.loop.Run(r.instCtx)
	}()
	if err := r.ensureFilter(extras); err != nil {
		r.stop()
		return nil, err
	}
	if err := applyStatic(mgr, staticSet{}, static, log); err != nil {
		r.stop()
		return nil, fmt.Errorf("static addresses, routes and rules: %w", err)
	}
	r.static = static

	links, err := host.WatchLinks(r.instCtx)
	if err != nil {
		r.stop()
		return nil, fmt.Errorf("watching links: %w", err)
	}
	r.watchWG.Add(1)
	go func() {
		defer r.watchWG.Done()
		for ev := range links {
			r.mu.Lock()
			for _, ri := range r.running {
				if !ri.dontTrack && ri.inst.Config().Interface == ev.Name {
					ri.inst.SetInterfaceUp(ev.Up && !ev.Deleted)
				}
			}
			trk := r.trk
			r.mu.Unlock()
			if trk != nil {
				trk.set.SetInterface(ev.Name, ev.Up && !ev.Deleted)
			}
		}
	}()

	n, err := notify.New(cfg, notify.Options{Log: log})
	if err != nil {
		r.stop()
		return nil, err
	}
	r.notifier.Store(n)
	trk, err := newTrackers(cfg, r.trackTargets(cfg), log)
	if err != nil {
		r.stop()
		return nil, err
	}
	// Under mu: the link watcher, started above, reads it.
	r.mu.Lock()
	r.trk = trk
	r.mu.Unlock()
	// Trackers first, so each instance starts with its tracked state
	// (a failed script already counted) rather than learning it a moment
	// after it has taken a role.
	trk.start(r.instCtx, log)
	if err := r.startInstances(icfgs, extras, syncGroups(cfg)); err != nil {
		r.stop()
		return nil, err
	}
	return r, nil
}

// dropVMAC removes an instance's macvlan, closing the sockets bound to it
// first, so a VMAC made again later under the same name gets a fresh socket.
func (r *vrrpRunner) dropVMAC(name string) {
	if name == "" {
		return
	}
	for k := range r.conns {
		if k.ifname == name {
			r.closeConn(k)
		}
	}
	if err := r.mgr.RemoveVMAC(name); err != nil {
		r.log.Warn("reload: removing a VMAC", "vmac", name, "err", err)
	}
}

// closeConn closes a shared socket: the loop lets go of it first
// (RemoveSource returns once the loop can no longer read it or re-arm it),
// so that a socket opened later with the same descriptor number is never
// read on this one's behalf. Its reader goroutine, if it has one, ends on
// the close.
func (r *vrrpRunner) closeConn(k connKey) {
	sc := r.conns[k]
	if sc == nil {
		return
	}
	if sc.looped {
		r.loop.RemoveSource(sc.src)
	}
	sc.conn.Close() // its Receiver too
	delete(r.conns, k)
}

// closeUnusedConns closes the sockets no running instance uses any more,
// after a reload removed or moved the last instances of an interface.
func (r *vrrpRunner) closeUnusedConns() {
	used := map[connKey]bool{}
	r.mu.Lock()
	for _, ri := range r.running {
		used[ri.conn] = true
	}
	r.mu.Unlock()
	for k := range r.conns {
		if !used[k] {
			r.log.Info("reload: socket no longer used; closed", "interface", k.ifname, "family", k.family, "ah", k.ah)
			r.closeConn(k)
		}
	}
}

// ensureFilter creates the strict-mode filter when some instance needs it
// and there is none yet. It is kept once made (an empty one drops nothing)
// and removed on stop.
func (r *vrrpRunner) ensureFilter(extras map[string]*instExtras) error {
	if r.filter != nil {
		return nil
	}
	for _, ex := range extras {
		if ex.Filter {
			f, err := host.NewFilter(r.log)
			if err != nil {
				return fmt.Errorf("strict mode filter: %w", err)
			}
			r.filter = f
			return nil
		}
	}
	return nil
}

// trackTargets returns the targets of cfg's instances, keeping the existing
// ones (and their remembered state) for names that are still there.
func (r *vrrpRunner) trackTargets(cfg *config.Config) map[string]track.Target {
	r.mu.Lock()
	defer r.mu.Unlock()
	out := map[string]track.Target{}
	for _, in := range cfg.Instances {
		t, ok := r.targets[in.Name]
		if !ok {
			t = &trackTarget{}
			r.targets[in.Name] = t
		}
		out[in.Name] = t
	}
	return out
}

// target returns the tracker target of an instance name.
func (r *vrrpRunner) target(name string) *trackTarget {
	r.mu.Lock()
	defer r.mu.Unlock()
	t, ok := r.targets[name]
	if !ok {
		t = &trackTarget{}
		r.targets[name] = t
	}
	return t
}

// pendingInstance is an instance created but not yet running: sync groups
// bind their members between the two steps.
type pendingInstance struct {
	ic        vrrp.InstanceConfig
	inst      *vrrp.Instance
	sink      *instanceSink
	sc        *sharedConn
	conn      connKey
	tgt       *trackTarget
	extras    instExtras
	vmac      string
	dontTrack bool
}

// prepareInstance opens (or shares) the socket, joins the multicast group
// and creates one instance, without running it.
func (r *vrrpRunner) prepareInstance(ic vrrp.InstanceConfig, ex *instExtras) (*pendingInstance, error) {
	if ex == nil {
		ex = &instExtras{}
	}
	// With a VMAC, the VIPs live on the macvlan and adverts leave from it
	// (so their source MAC is the virtual one) unless vmac_xmit_base says
	// the base interface; the instance still follows the base's link.
	vipDev, sockDev, vmacName := ic.Interface, ic.Interface, ""
	var ann vrrp.Announcer = r.ann
	if ex.VMAC != nil {
		name, mac, err := r.mgr.EnsureVMAC(*ex.VMAC)
		if err != nil {
			return nil, fmt.Errorf("vrrp_instance %s: use_vmac: %w", ic.Name, err)
		}
		vipDev = name
		vmacName = name
		if !ex.XmitBase {
			sockDev = name
		}
		ann = vmacAnnouncer{ann: r.ann, mac: mac}
	}
	var hooks vrrp.MasterHooks
	if len(ex.Routes)+len(ex.Rules) > 0 {
		hooks = masterHooks{mgr: r.mgr, routes: ex.Routes, rules: ex.Rules}
	}
	addrs := hostAddresses{mgr: r.mgr, dev: vipDev}
	if ex.Filter {
		addrs.filter = r.filter
	}
	ck := connKey{sockDev, ic.Family, ic.AuthType == vrrp.AuthAH}
	sc, err := r.conn(ck.ifname, ck.family, ck.ah)
	if err != nil {
		return nil, fmt.Errorf("vrrp_instance %s: %w", ic.Name, err)
	}
	if !ic.Unicast && !sc.joined[ic.Group] {
		if err := sc.conn.JoinGroup(ic.Group); err != nil {
			return nil, fmt.Errorf("vrrp_instance %s: joining %s on %s: %w", ic.Name, ic.Group, ic.Interface, err)
		}
		sc.joined[ic.Group] = true
	}
	sink := &instanceSink{feed: r.feed}
	inst, err := vrrp.NewInstance(ic, vrrp.Deps{
		Sender:    connSender{sc.conn},
		Addresses: addrs,
		Announcer: ann,
		Clock:     vrrp.SystemClock(),
		Hooks:     hooks,
		Changes:   sink,
	}, r.log) // the instance adds its own name and VRID to its log lines
	if err != nil {
		return nil, fmt.Errorf("vrrp_instance %s: %w", ic.Name, err)
	}
	// Start from the interface's state now; the link watcher follows it,
	// unless dont_track_primary says to ignore the interface's faults.
	if ex.DontTrackPrimary {
		r.log.Info("dont_track_primary: the state of the instance's interface is not tracked", "instance", ic.Name, "interface", ic.Interface)
	} else if up, err := host.LinkUp(ic.Interface); err != nil {
		r.log.Warn("cannot read link state; assuming up", "instance", ic.Name, "interface", ic.Interface, "err", err)
	} else {
		inst.SetInterfaceUp(up)
	}
	tgt := r.target(ic.Name)
	tgt.attach(inst)
	return &pendingInstance{ic: ic, inst: inst, sink: sink, sc: sc, conn: ck, tgt: tgt, extras: *ex, vmac: vmacName, dontTrack: ex.DontTrackPrimary}, nil
}

// runInstance starts a prepared instance and subscribes it to its socket.
// Its transitions and its end go through the runner's feed (no goroutine
// per instance).
func (r *vrrpRunner) runInstance(p *pendingInstance, groupKey string) {
	ic, inst := p.ic, p.inst
	ctx, cancel := context.WithCancel(r.instCtx)
	ri := &runningInstance{inst: inst, cancel: cancel, done: make(chan struct{}), target: p.tgt, groupKey: groupKey, conn: p.conn, extras: p.extras, vmac: p.vmac, dontTrack: p.dontTrack}
	p.sink.mu.Lock()
	p.sink.done = ri.done
	p.sink.mu.Unlock()
	// The socket reader hands packets straight to the loop's queue: no
	// goroutine in between, which matters with hundreds of instances. A
	// loop that is behind drops the newest packet, as a full socket buffer
	// would, and never blocks the reader.
	deliver, err := r.loop.Start(ctx, inst)
	if err != nil {
		// Only when the daemon is stopping: the instance is over already.
		r.log.Error("instance not started", "instance", ic.Name, "err", err)
	}
	if deliver != nil && p.sc.looped {
		// The loop reads this socket itself: hand packets over in place.
		deliver = r.loop.OnLoop(inst)
	}
	if deliver != nil {
		p.sink.setUnsub(p.sc.mux.SubscribeFunc(ic.VRID, func(p transport.Received) bool {
			return deliver(vrrp.Received{Src: p.Src, Dst: p.Dst, TTL: p.TTL, Payload: p.Payload})
		}))
	}

	k := keyOf(ic)
	r.mu.Lock()
	r.running[k] = ri
	r.order = append(r.order, k)
	r.mu.Unlock()
}

// publish hands one transition to the status subscribers and the notify
// scripts, FIFOs and mail (the instance has logged it already). It runs on
// the feed's goroutine.
func (r *vrrpRunner) publish(ch vrrp.StateChange) {
	r.hub.Publish(status.EventFromVRRP(ch))
	if ev, ok := notifyEvent(ch); ok {
		if n := r.notifier.Load(); n != nil {
			n.Notify(ev)
		}
	}
}

// startInstances creates every instance of ics, binds the members of each
// sync group (all of a group's members are in ics, or none), then runs them
// all. An instance that cannot be created is reported and left out; a group
// that lost a member that way is not formed, and its other members are left
// out too, since keepalived would not run half a group either.
func (r *vrrpRunner) startInstances(ics []vrrp.InstanceConfig, extras map[string]*instExtras, groups map[string]*groupSpec) error {
	var errs []error
	prepared := map[string]*pendingInstance{}
	var order []*pendingInstance
	for _, ic := range ics {
		p, err := r.prepareInstance(ic, extras[ic.Name])
		if err != nil {
			errs = append(errs, err)
			continue
		}
		prepared[ic.Name] = p
		order = append(order, p)
	}
	formed := map[string]bool{}
	for _, p := range order {
		spec := groups[p.ic.Name]
		if spec == nil || formed[spec.cfg.Name] {
			continue
		}
		formed[spec.cfg.Name] = true
		var members []*vrrp.Instance
		for _, m := range spec.members {
			if mp := prepared[m]; mp != nil {
				members = append(members, mp.inst)
			}
		}
		if len(members) != len(spec.members) {
			errs = append(errs, fmt.Errorf("vrrp_sync_group %s: not every member could be created; the group does not run", spec.cfg.Name))
			for _, m := range spec.members {
				if mp := prepared[m]; mp != nil {
					mp.tgt.detach(mp.inst)
					delete(prepared, m)
				}
			}
			continue
		}
		g, err := vrrp.NewSyncGroup(spec.cfg, members, r.log)
		if err != nil {
			errs = append(errs, fmt.Errorf("vrrp_sync_group %s: %w", spec.cfg.Name, err))
			for _, m := range spec.members {
				prepared[m].tgt.detach(prepared[m].inst)
				delete(prepared, m)
			}
			continue
		}
		r.groupWG.Add(1)
		go r.groupChanges(g)
	}
	for _, p := range order {
		if prepared[p.ic.Name] == nil {
			continue
		}
		key := ""
		if spec := groups[p.ic.Name]; spec != nil {
			key = spec.key
		}
		r.runInstance(p, key)
	}
	return errors.Join(errs...)
}

// groupChanges sends a sync group's transitions to the GROUP notify
// scripts, STOP included, as keepalived 2.2.7 does.
func (r *vrrpRunner) groupChanges(g *vrrp.SyncGroup) {
	defer r.groupWG.Done()
	for gc := range g.Changes() {
		st := gc.To.String()
		switch st {
		case notify.StateMaster, notify.StateBackup, notify.StateFault, notify.StateStop:
		default:
			continue
		}
		if n := r.notifier.Load(); n != nil {
			n.Notify(notify.Event{Kind: notify.KindGroup, Name: gc.Group, State: st})
		}
	}
}

// groupSpec is a sync group as the daemon runs it.
type groupSpec struct {
	cfg     vrrp.SyncGroupConfig
	members []string // instance names, in configuration order
	// key changes whenever the group's name, members or settings do;
	// members of a group whose key changed are restarted together.
	key string
}

// syncGroups maps each instance name that belongs to a sync group to its group.
func syncGroups(cfg *config.Config) map[string]*groupSpec {
	out := map[string]*groupSpec{}
	for _, g := range cfg.SyncGroups {
		spec := &groupSpec{
			cfg:     vrrp.SyncGroupConfig{Name: g.Name, TrackingWeight: g.SyncGroupTrackingWeight},
			members: append([]string(nil), g.Group...),
		}
		// NUL cannot occur in a name: the parts cannot run into each other.
		spec.key = strings.Join(append([]string{g.Name, strconv.FormatBool(g.SyncGroupTrackingWeight)}, spec.members...), "\x00")
		for _, m := range g.Group {
			out[m] = spec
		}
	}
	return out
}

// stopInstance stops one instance (priority 0 if master, VIPs removed) and
// waits for it.
func (r *vrrpRunner) stopInstance(k instKey) {
	r.mu.Lock()
	ri := r.running[k]
	delete(r.running, k)
	for i, o := range r.order {
		if o == k {
			r.order = append(r.order[:i], r.order[i+1:]...)
			break
		}
	}
	r.mu.Unlock()
	if ri == nil {
		return
	}
	ri.cancel()
	<-ri.done
	ri.target.detach(ri.inst)
}

// reloadVRRP applies a new configuration as a difference: an instance whose
// configuration did not change is not touched at all (no transition, no
// advert gap); one whose only change is its address lists gets them updated
// in place; one that changed otherwise is restarted; removed ones release
// their VIPs with priority 0; new ones start. A configuration that cannot be
// translated is refused before anything changes, with a *reloadRefusedError.
func (r *vrrpRunner) reload(cfg *config.Config) (reloadSummary, error) {
	var sum reloadSummary // empty while the reload is refused
	icfgs, extras, err := translate(cfg)
	if err != nil {
		return sum, &reloadRefusedError{err}
	}
	static, err := staticOf(cfg)
	if err != nil {
		return sum, &reloadRefusedError{err}
	}
	if err := r.ensureFilter(extras); err != nil {
		return sum, &reloadRefusedError{err}
	}
	// Everything that can fail is built before anything changes.
	n, err := notify.New(cfg, notify.Options{Log: r.log})
	if err != nil {
		return sum, &reloadRefusedError{err}
	}
	var newTrk *trackers
	if r.trk == nil || r.trk.key != trackingKey(cfg) {
		newTrk, err = newTrackers(cfg, r.trackTargets(cfg), r.log)
		if err != nil {
			closeNotifier(n)
			return sum, &reloadRefusedError{err}
		}
	}
	groups := syncGroups(cfg)
	want := planInstances(icfgs, extras, groups)
	r.mu.Lock()
	order := append([]instKey(nil), r.order...)
	running := make(map[instKey]planInstance, len(r.running))
	for k, ri := range r.running {
		running[k] = planInstance{Config: ri.inst.Config(), Extras: ri.extras, GroupKey: ri.groupKey}
	}
	r.mu.Unlock()
	plan := planReload(running, order, want)
	sum = plan.summary()

	// Removed instances go first, while the old notify settings (their
	// notify_stop and notify_deleted) are still in force.
	for _, st := range plan.Removed {
		r.mu.Lock()
		vmac := r.running[st.Key].vmac
		r.mu.Unlock()
		r.log.Info("reload: instance removed; releasing it", "instance", st.Config.Name, "vrid", st.Key.vrid, "interface", st.Key.ifname)
		r.stopInstance(st.Key)
		r.dropVMAC(vmac)
		if on := r.notifier.Load(); on != nil {
			on.Notify(notify.Event{Kind: notify.KindInstance, Name: st.Config.Name, State: notify.StateDeleted})
		}
	}
	if old := r.notifier.Swap(n); old != nil {
		go closeNotifier(old)
	}
	if newTrk != nil {
		r.log.Info("reload: tracking changed; restarting the trackers")
		r.trk.stop()
		r.mu.Lock()
		r.trk = newTrk
		r.mu.Unlock()
		newTrk.start(r.instCtx, r.log)
	}
	// Nothing can refuse the reload any more: the new pacing applies.
	applyGarpPacing(r.ann, cfg)

	var toStart []vrrp.InstanceConfig
	for _, st := range plan.Steps {
		ic, k := st.Config, st.Key
		r.mu.Lock()
		ri := r.running[k]
		r.mu.Unlock()
		switch st.Action {
		case planAddresses:
			ri.inst.UpdateVIPs(ic.VIPs, ic.ExcludedVIPs)
		case planPriority:
			old := ri.inst.Config()
			r.log.Info("reload: priority changed; applied in place", "instance", ic.Name, "from", old.Priority, "to", ic.Priority)
			ri.inst.UpdatePriority(ic.Priority)
			if !slices.Equal(old.VIPs, ic.VIPs) || !slices.Equal(old.ExcludedVIPs, ic.ExcludedVIPs) {
				ri.inst.UpdateVIPs(ic.VIPs, ic.ExcludedVIPs)
			}
		case planRestart:
			r.log.Info("reload: instance changed; restarting it", "instance", ic.Name)
			r.stopInstance(k)
			// Its VMAC goes with it (the new configuration may name
			// another or none); a new one is made if still wanted.
			r.dropVMAC(ri.vmac)
			toStart = append(toStart, ic)
		case planAdd:
			r.log.Info("reload: new instance", "instance", ic.Name)
			toStart = append(toStart, ic)
		}
	}
	staticErr := applyStatic(r.mgr, r.static, static, r.log)
	r.static = static
	startErr := r.startInstances(toStart, extras, groups)
	r.closeUnusedConns()
	return sum, errors.Join(staticErr, startErr)
}

// reloadRefusedError is a reload error found before anything was changed:
// the running configuration is intact. Any other error from reload comes
// from applying it, when part of the new configuration already runs.
type reloadRefusedError struct{ err error }

func (e *reloadRefusedError) Error() string { return e.err.Error() }
func (e *reloadRefusedError) Unwrap() error { return e.err }

// statusInstances returns the state of every running instance, in start
// order, for the status socket, the metrics and the signal dumps.
func (r *vrrpRunner) statusInstances() []status.Instance {
	r.mu.Lock()
	defer r.mu.Unlock()
	out := make([]status.Instance, 0, len(r.order))
	for _, k := range r.order {
		inst := r.running[k].inst
		out = append(out, status.FromVRRP(inst.Config(), inst.Snapshot()))
	}
	return out
}

// closeNotifier lets queued notifications finish for a bounded time.
func closeNotifier(n *notify.Notifier) {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	n.Close(ctx)
}

// primaryAddr is host.PrimaryAddr with the family as 4 or 6.
func primaryAddr(ifname string, family int, exclude ...netip.Addr) (netip.Addr, error) {
	af := unix.AF_INET
	if family == 6 {
		af = unix.AF_INET6
	}
	return host.PrimaryAddr(ifname, af, exclude...)
}

// conn returns the shared socket for an interface and family, opening it
// and starting its reader on first use.
func (r *vrrpRunner) conn(ifname string, family int, ah bool) (*sharedConn, error) {
	k := connKey{ifname, family, ah}
	if sc, ok := r.conns[k]; ok {
		return sc, nil
	}
	open := transport.Listen
	if ah {
		// AH adverts are IP protocol 51 with an IPv4 header we build: a
		// socket of their own, which reads and writes whole datagrams.
		open = func(ifname string, _ int) (*transport.Conn, error) { return transport.ListenAH(ifname) }
	}
	c, err := open(ifname, family)
	if err != nil {
		return nil, err
	}
	sc := &sharedConn{conn: c, mux: transport.NewMux(c, r.log), joined: map[netip.Addr]bool{}}
	r.conns[k] = sc
	// The loop reads the socket itself, in batches; the reader goroutine
	// below is the fallback should that not be possible.
	rx, err := c.OpenReceiver()
	if err == nil {
		// Packets are handled during the read (Loop.OnLoop), so they need
		// no copy. Set before the loop may read.
		sc.mux.Lend()
		src := muxSource{mux: sc.mux, rx: rx}
		if err = r.loop.AddSource(src); err == nil {
			sc.looped, sc.src = true, src
			return sc, nil
		}
		rx.Close()
		sc.mux = transport.NewMux(c, r.log)
	}
	r.log.Warn("socket read by a goroutine of its own, not in batches by the event loop", "interface", ifname, "family", family, "err", err)
	r.muxWG.Add(1)
	go func() {
		defer r.muxWG.Done()
		if err := sc.mux.Run(r.muxCtx); err != nil && r.muxCtx.Err() == nil {
			r.log.Error("socket reader stopped", "interface", ifname, "family", family, "err", err)
		}
	}()
	return sc, nil
}

// stop shuts the instances down (each master sends priority 0 and removes
// its VIPs), then closes the sockets and removes anything still recorded as
// ours, so no address is left behind.
func (r *vrrpRunner) stop() {
	r.mu.Lock()
	keys := append([]instKey(nil), r.order...)
	r.mu.Unlock()
	// Cancelling the parent context stops the loop, which releases every
	// instance in turn; then wait for each.
	r.cancel()
	for _, k := range keys {
		r.stopInstance(k)
	}
	<-r.loopDone
	// Every instance has ended: publish what they left in the feed.
	r.feed.close()
	r.watchWG.Wait()
	// The groups' STOP notifications are queued before the notifier closes.
	r.groupWG.Wait()
	r.trk.stop()
	if n := r.notifier.Load(); n != nil {
		closeNotifier(n)
	}
	r.muxCancel()
	for k := range r.conns {
		r.closeConn(k) // the loop has stopped: removal is immediate
	}
	r.muxWG.Wait()
	if err := r.mgr.RemoveAll(); err != nil {
		r.log.Error("removing addresses", "err", err)
	}
	if r.filter != nil {
		if err := r.filter.Close(); err != nil {
			r.log.Error("removing the strict mode filter", "err", err)
		}
	}
	r.ann.Close()
}
