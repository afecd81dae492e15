package vrrp

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net/netip"
	"runtime"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"testing/synctest"
	"time"

	"golang.org/x/sys/unix"
)

// ltInstances is how many instances each host of the Loop tests runs.
const ltInstances = 20

// ltWait bounds every wait of the Loop tests, so that a broken loop fails
// the test instead of hanging it. Inside a synctest bubble it is virtual
// time (and a bubble that deadlocks fails on its own); outside, real time.
const ltWait = 5 * time.Second

// ltNet is a broadcast segment between hosts that each run one Loop. Every
// advert a host sends reaches the instance with the same VRID on every other
// host, through the delivery function Loop.Start returned for it: the
// demultiplexing a transport.Mux does. fakeNet cannot serve here, since its
// nodes each run an Instance.Run of their own.
type ltNet struct {
	mu    sync.Mutex
	hosts []*ltHost
}

// ltSent is one advert a host put on the wire.
type ltSent struct {
	at       time.Time
	vrid     uint8
	priority uint8
}

// ltHost is one machine: a Loop running many instances, one per VRID, which
// share the host's address, Sender, Addresses and Announcer.
type ltHost struct {
	net   *ltNet
	name  string
	addr  netip.Addr
	loop  *Loop
	clock *ltCountingClock
	addrs *fakeAddrs
	ann   *fakeAnnouncer

	mu      sync.Mutex
	insts   map[uint8]*Instance
	deliver map[uint8]func(Received) bool
	cancel  map[uint8]context.CancelFunc
	sent    []ltSent

	stopLoop context.CancelFunc
	done     chan struct{} // closed when the loop's Run has returned
}

// host adds a host whose loop counts its timer resets; it runs nothing
// until run.
func (n *ltNet) host(name string, addr netip.Addr) *ltHost {
	h := &ltHost{
		net:     n,
		name:    name,
		addr:    addr,
		clock:   &ltCountingClock{},
		addrs:   &fakeAddrs{held: map[netip.Prefix]bool{}},
		ann:     &fakeAnnouncer{},
		insts:   map[uint8]*Instance{},
		deliver: map[uint8]func(Received) bool{},
		cancel:  map[uint8]context.CancelFunc{},
		done:    make(chan struct{}),
	}
	h.loop = NewLoop(h.clock)
	n.mu.Lock()
	n.hosts = append(n.hosts, h)
	n.mu.Unlock()
	return h
}

// ltVIP is the virtual address of VRID vrid, distinct for every VRID so
// that a host's fakeAddrs tells which instances hold theirs.
func ltVIP(vrid uint8) netip.Prefix {
	return netip.PrefixFrom(netip.AddrFrom4([4]byte{10, 1, vrid, 100}), 24)
}

// ltCfg is instCfg for VRID vrid of host name (instance "<name><vrid>").
func ltCfg(name string, addr netip.Addr, vrid uint8, prio uint8) InstanceConfig {
	c := instCfg(fmt.Sprintf("%s%d", name, vrid), addr, prio)
	c.VRID = vrid
	c.VIPs = []VIP{{Prefix: ltVIP(vrid)}}
	return c
}

// add creates the instance for cfg on h; it is not started.
func (h *ltHost) add(t *testing.T, cfg InstanceConfig) *Instance {
	t.Helper()
	inst, err := NewInstance(cfg, Deps{Sender: h, Addresses: h.addrs, Announcer: h.ann, Clock: SystemClock()}, nil)
	if err != nil {
		t.Fatalf("NewInstance(%s): %v", cfg.Name, err)
	}
	h.mu.Lock()
	h.insts[cfg.VRID] = inst
	h.mu.Unlock()
	return inst
}

// start hands instance vrid to the host's loop, with a context of its own
// (cancelled by stopInst) derived from ctx.
func (h *ltHost) start(t *testing.T, ctx context.Context, vrid uint8) {
	t.Helper()
	ctx, cancel := context.WithCancel(ctx)
	d, err := h.loop.Start(ctx, h.inst(vrid))
	if err != nil {
		cancel()
		t.Fatalf("%s: Start(VRID %d): %v", h.name, vrid, err)
	}
	h.mu.Lock()
	h.deliver[vrid], h.cancel[vrid] = d, cancel
	h.mu.Unlock()
}

// addAll adds and starts VRIDs 1..ltInstances with cfg's priority.
func (h *ltHost) addAll(t *testing.T, ctx context.Context, prio uint8) {
	t.Helper()
	for vrid := uint8(1); vrid <= ltInstances; vrid++ {
		h.add(t, ltCfg(h.name, h.addr, vrid, prio))
		h.start(t, ctx, vrid)
	}
}

// run runs the host's loop in the background until shutdown; a cleanup
// stops it too, so that a test failing half-way still ends every goroutine
// of its bubble.
func (h *ltHost) run(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	h.stopLoop = cancel
	go func() {
		defer close(h.done)
		h.loop.Run(ctx)
	}()
	t.Cleanup(func() {
		cancel()
		<-h.done
	})
}

// shutdown cancels the loop's context and waits (bounded) for Run to return.
func (h *ltHost) shutdown(t *testing.T) {
	t.Helper()
	h.stopLoop()
	ltWaitClosed(t, h.done, h.name+"'s Loop.Run to return")
}

func (h *ltHost) inst(vrid uint8) *Instance {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.insts[vrid]
}

func (h *ltHost) deliverTo(vrid uint8) func(Received) bool {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.deliver[vrid]
}

func (h *ltHost) stopInst(vrid uint8) {
	h.mu.Lock()
	cancel := h.cancel[vrid]
	h.mu.Unlock()
	cancel()
}

// vrids lists the host's VRIDs in order.
func (h *ltHost) vrids() []uint8 {
	h.mu.Lock()
	defer h.mu.Unlock()
	var out []uint8
	for v := range h.insts {
		out = append(out, v)
	}
	slices.Sort(out)
	return out
}

// Send implements Sender for every instance of the host: it records the
// advert and hands a copy to the same VRID on every other host.
func (h *ltHost) Send(payload []byte, src, dst netip.Addr) error {
	vrid, prio := payload[1], payload[2]
	h.mu.Lock()
	h.sent = append(h.sent, ltSent{at: time.Now(), vrid: vrid, priority: prio})
	h.mu.Unlock()
	h.net.mu.Lock()
	others := slices.Clone(h.net.hosts)
	h.net.mu.Unlock()
	for _, o := range others {
		if o == h {
			continue
		}
		if d := o.deliverTo(vrid); d != nil {
			d(Received{Src: src, Dst: dst, TTL: 255, Payload: bytes.Clone(payload)})
		}
	}
	return nil
}

// adverts returns what the host sent, by VRID, in order.
func (h *ltHost) adverts() map[uint8][]ltSent {
	h.mu.Lock()
	defer h.mu.Unlock()
	out := map[uint8][]ltSent{}
	for _, s := range h.sent {
		out[s.vrid] = append(out[s.vrid], s)
	}
	return out
}

// wantAll fails unless every instance of h is in state want.
func (h *ltHost) wantAll(t *testing.T, want State) {
	t.Helper()
	var bad []string
	for _, v := range h.vrids() {
		if s := h.inst(v).Snapshot(); s.State != want {
			bad = append(bad, fmt.Sprintf("%s=%v (%q)", s.Name, s.State, s.LastReason))
		}
	}
	if len(bad) > 0 {
		t.Fatalf("at %s: want every instance of %s %v; %s", time.Now().Format("05.000000"), h.name, want, strings.Join(bad, ", "))
	}
}

// ltCountingClock is the system clock (virtual in a synctest bubble) that
// counts how often the loop re-arms its one timer. Each Reset is one
// wake-up scheduled, so the count shows that the loop wakes once for many
// instances' common deadline, and that a backup's adverts, which push its
// deadline later, do not each move the timer (Loop.rearm).
type ltCountingClock struct{ resets atomic.Int64 }

func (c *ltCountingClock) Now() time.Time { return time.Now() }

func (c *ltCountingClock) NewTimer(d time.Duration) Timer {
	return &ltCountingTimer{t: time.NewTimer(d), c: c}
}

type ltCountingTimer struct {
	t *time.Timer
	c *ltCountingClock
}

func (t *ltCountingTimer) C() <-chan time.Time { return t.t.C }
func (t *ltCountingTimer) Stop() bool          { return t.t.Stop() }
func (t *ltCountingTimer) Reset(d time.Duration) bool {
	t.c.resets.Add(1)
	return t.t.Reset(d)
}

// ltWaitClosed waits at most ltWait for ch to be closed, so that a loop
// that fails to stop an instance fails the test rather than hanging it.
func ltWaitClosed(t *testing.T, ch <-chan struct{}, what string) {
	t.Helper()
	select {
	case <-ch:
	case <-time.After(ltWait):
		t.Fatalf("timed out after %v waiting for %s", ltWait, what)
	}
}

// ltClosed reports whether ch is closed, without waiting.
func ltClosed(ch <-chan struct{}) bool {
	select {
	case <-ch:
		return true
	default:
		return false
	}
}

// ltChanges reads an instance's Changes until it is closed (bounded): the
// loop must close it when it stops the instance.
func ltChanges(t *testing.T, i *Instance) []StateChange {
	t.Helper()
	var out []StateChange
	deadline := time.After(ltWait)
	for {
		select {
		case c, ok := <-i.Changes():
			if !ok {
				return out
			}
			out = append(out, c)
		case <-deadline:
			t.Fatalf("%s: Changes not closed after %v", i.cfg.Name, ltWait)
		}
	}
}

// ltAdvert is a valid advert from addrA at priority prio for instCfg-like
// v2 instances of VRID vrid with address addr.
func ltAdvert(t *testing.T, vrid, prio uint8, addr netip.Addr) []byte {
	t.Helper()
	p := Packet{Version: 2, VRID: vrid, Priority: prio, Interval: time.Second, Addrs: []netip.Addr{addr}}
	b, err := p.Marshal(addrA, MulticastGroup4, CodecOptions{})
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// TestLoopManyInstancesElectAndFailOver runs two hosts of 20 instances each,
// every host on one Loop: the higher priority host wins every VRID; when its
// loop stops, each of its instances resigns (priority 0, addresses removed,
// Done and Changes closed) and the other host takes every VRID over after
// its skew time.
func TestLoopManyInstancesElectAndFailOver(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		net := &ltNet{}
		a, b := net.host("A", addrA), net.host("B", addrB)
		// Started before Run: the loop picks them up when it runs.
		a.addAll(t, t.Context(), 150)
		b.addAll(t, t.Context(), 100)
		a.run(t)
		b.run(t)
		synctest.Wait()
		a.wantAll(t, StateBackup)
		b.wantAll(t, StateBackup)

		settle(10 * time.Second)
		a.wantAll(t, StateMaster)
		b.wantAll(t, StateBackup)
		if a.addrs.count() != ltInstances || b.addrs.count() != 0 {
			t.Fatalf("A holds %d addresses, B %d; want %d and 0", a.addrs.count(), b.addrs.count(), ltInstances)
		}
		for _, v := range b.vrids() {
			if s := b.inst(v).Snapshot(); s.MasterAddr != addrA || s.MasterPriority != 150 || s.Counters.AdvertsRx < 5 || len(s.Drops) != 0 {
				t.Errorf("%s's view of the master: %v prio %d, %d adverts, drops %v", s.Name, s.MasterAddr, s.MasterPriority, s.Counters.AdvertsRx, s.Drops)
			}
			if !a.addrs.holds(ltVIP(v).String()) {
				t.Errorf("A does not hold %v", ltVIP(v))
			}
		}

		// A's loop stops: every instance leaves the master role cleanly.
		a.shutdown(t)
		stoppedAt := time.Now()
		if n := a.addrs.count(); n != 0 {
			t.Errorf("A still holds %d addresses after its loop stopped", n)
		}
		ads := a.adverts()
		for _, v := range a.vrids() {
			i := a.inst(v)
			if !ltClosed(i.Done()) {
				t.Errorf("%s: Done not closed after Run returned", i.cfg.Name)
			}
			s := i.Snapshot()
			if s.State != StateStop || s.Counters.PriorityZeroTx != 1 || s.Counters.ReleaseMaster != 1 {
				t.Errorf("%s after the loop stopped: %v, %+v", s.Name, s.State, s.Counters)
			}
			if last := ads[v][len(ads[v])-1]; last.priority != 0 || !last.at.Equal(stoppedAt) {
				t.Errorf("%s's last advert: priority %d at %v; want priority 0 at the stop", s.Name, last.priority, last.at)
			}
			ch := ltChanges(t, i)
			if len(ch) == 0 || ch[len(ch)-1].To != StateStop || ch[len(ch)-1].Reason != "shutdown" {
				t.Errorf("%s's changes end with %+v, want a shutdown to STOP", s.Name, ch)
			}
		}

		// B heard priority 0 on every VRID: it takes over after its skew
		// time (156/256 s), not the master down interval.
		settle(skew100 - time.Millisecond)
		b.wantAll(t, StateBackup)
		settle(time.Millisecond)
		b.wantAll(t, StateMaster)
		for _, v := range b.vrids() {
			s := b.inst(v).Snapshot()
			if s.LastReason != "master 10.0.0.1 sent priority 0" || !s.LastTransition.Equal(stoppedAt.Add(skew100)) {
				t.Errorf("%s took over at +%v with %q", s.Name, s.LastTransition.Sub(stoppedAt), s.LastReason)
			}
		}
		if n := b.addrs.count(); n != ltInstances {
			t.Errorf("B holds %d addresses, want %d", n, ltInstances)
		}
		b.shutdown(t)
		if n := b.addrs.count(); n != 0 {
			t.Errorf("B still holds %d addresses after its loop stopped", n)
		}
		for _, v := range b.vrids() {
			if !ltClosed(b.inst(v).Done()) {
				t.Errorf("B%d: Done not closed", v)
			}
		}
	})
}

// TestLoopMastersAdvertOnSharedGrid starts 20 masters on one loop at
// staggered times: each sends its first advert when it takes the role, and
// from then on on the grid of its interval anchored at the Unix epoch, so
// that after the last one started all send at the same instants, and the
// loop's timer is reset once per instant, not once per instance.
func TestLoopMastersAdvertOnSharedGrid(t *testing.T) {
	tests := []struct {
		name     string
		version  uint8
		interval time.Duration
		stagger  time.Duration // between two instances' starts
	}{
		{"v2 1s", 2, time.Second, 137 * time.Millisecond},
		{"v3 100ms", 3, 100 * time.Millisecond, 13 * time.Millisecond},
		{"v3 70ms, grid not aligned to the second", 3, 70 * time.Millisecond, 9 * time.Millisecond},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				a := (&ltNet{}).host("A", addrA)
				a.run(t)
				starts := map[uint8]time.Time{}
				for vrid := uint8(1); vrid <= ltInstances; vrid++ {
					cfg := ltCfg("A", addrA, vrid, PriorityOwner)
					cfg.StartAsMaster = true
					cfg.Version, cfg.AdvertInterval = tt.version, tt.interval
					cfg.GarpDelay = 0 // no second burst: its timer is not an advert's
					a.add(t, cfg)
					a.start(t, t.Context(), vrid)
					synctest.Wait()
					starts[vrid] = time.Now()
					time.Sleep(tt.stagger)
				}
				lastStart := starts[ltInstances]
				resets0 := a.clock.resets.Load()
				const intervals = 10
				settle(intervals*tt.interval - tt.stagger)
				resets := a.clock.resets.Load() - resets0
				end := time.Now()
				a.wantAll(t, StateMaster)

				iv := int64(tt.interval)
				perInstant := map[time.Time]int{}
				for vrid, ads := range a.adverts() {
					if !ads[0].at.Equal(starts[vrid]) {
						t.Errorf("VRID %d: first advert at %v, want at its start %v", vrid, ads[0].at, starts[vrid])
					}
					for n := 1; n < len(ads); n++ {
						gap := ads[n].at.Sub(ads[n-1].at)
						switch {
						case ads[n].at.UnixNano()%iv != 0:
							t.Errorf("VRID %d: advert %d at %v, off the %v grid", vrid, n, ads[n].at, tt.interval)
						case gap > tt.interval || (n > 1 && gap != tt.interval):
							t.Errorf("VRID %d: advert %d %v after the previous one", vrid, n, gap)
						}
						if ads[n].at.After(lastStart) {
							perInstant[ads[n].at]++
						}
					}
				}
				if len(perInstant) != intervals {
					t.Errorf("%d advert instants after the last start, want %d: %v", len(perInstant), intervals, perInstant)
				}
				for at, n := range perInstant {
					if n != ltInstances {
						t.Errorf("%d adverts at %v, want one from each of the %d masters", n, at.Sub(lastStart), ltInstances)
					}
				}
				// One timer for every advert due at the same instant.
				t.Logf("%d timer resets for %d advert instants", resets, len(perInstant))
				if resets > intervals+1 {
					t.Errorf("the loop reset its timer %d times for %d advert instants of %d masters between %v and %v", resets, intervals, ltInstances, lastStart, end)
				}
				a.shutdown(t)
			})
		})
	}
}

// TestLoopBackupTimerLazyRearm: backups whose master keeps advertising push
// their master down deadlines later with every advert; the loop leaves its
// timer armed for the earlier deadline and re-arms it when it fires with
// nothing due. No backup may take over early, the timer must not be reset
// per advert, an instance added with an earlier deadline must fire on time
// nevertheless, and when the adverts stop the backups take over exactly one
// master down interval after the last one.
func TestLoopBackupTimerLazyRearm(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		b := (&ltNet{}).host("B", addrB)
		b.run(t)
		b.addAll(t, t.Context(), 100)
		synctest.Wait()
		payloads := map[uint8][]byte{}
		for _, v := range b.vrids() {
			payloads[v] = ltAdvert(t, v, 200, ltVIP(v).Addr())
		}
		var last time.Time
		advertise := func() {
			for _, v := range b.vrids() {
				if p, ok := payloads[v]; ok && !b.deliverTo(v)(Received{Src: addrA, Dst: MulticastGroup4, TTL: 255, Payload: bytes.Clone(p)}) {
					t.Fatalf("the loop refused an advert for VRID %d", v)
				}
			}
			last = time.Now()
			synctest.Wait()
		}

		// A master advertises every second, out of phase with the backups'
		// deadlines, for a minute.
		time.Sleep(500 * time.Millisecond)
		resets0 := b.clock.resets.Load()
		const adverts = 60
		for n := range adverts {
			if n > 0 {
				time.Sleep(time.Second)
			}
			advertise()
			b.wantAll(t, StateBackup)
		}
		// Without the lazy re-arm every advert would move the timer; with
		// it the timer is reset only when it fires, early, at the oldest
		// deadline: about every 3 s here (once per three adverts).
		resets := b.clock.resets.Load() - resets0
		t.Logf("%d timer resets for %d adverts to %d backups", resets, adverts, ltInstances)
		if resets > adverts/3+2 {
			t.Errorf("the loop reset its timer %d times for %d adverts to %d backups", resets, adverts, ltInstances)
		}
		for _, v := range b.vrids() {
			i := b.inst(v)
			if s := i.Snapshot(); s.Counters.AdvertsRx != adverts || s.Counters.BecomeMaster != 0 || s.MasterAddr != addrA {
				t.Errorf("%s: %d adverts received, became master %d times, master %v", s.Name, s.Counters.AdvertsRx, s.Counters.BecomeMaster, s.MasterAddr)
			}
		}

		// An instance with a much shorter master down interval (v3, 100 ms:
		// 360.9375 ms) and no master joins while the timer is armed for a
		// later deadline: the loop must move the timer earlier for it.
		const late = 100
		cfg := ltCfg("B", addrB, late, 100)
		cfg.Version, cfg.AdvertInterval = 3, 100*time.Millisecond
		lateInst := b.add(t, cfg)
		b.start(t, t.Context(), late)
		synctest.Wait()
		lateStart := time.Now()
		const lateDown = 300*time.Millisecond + 609375*us/10
		settle(lateDown - time.Millisecond)
		if s := lateInst.Snapshot(); s.State != StateBackup {
			t.Fatalf("the late instance is %v %v after its start, before its master down interval", s.State, time.Since(lateStart))
		}
		settle(time.Millisecond)
		if s := lateInst.Snapshot(); s.State != StateMaster || !s.LastTransition.Equal(lateStart.Add(lateDown)) {
			t.Fatalf("the late instance is %v since +%v, want MASTER at +%v", s.State, s.LastTransition.Sub(lateStart), lateDown)
		}
		// The others still follow their master.
		settle(time.Second - lateDown)
		advertise()
		for _, v := range b.vrids() {
			if v != late && b.inst(v).Snapshot().State != StateBackup {
				t.Fatalf("B%d is %v", v, b.inst(v).Snapshot().State)
			}
		}

		// The master falls silent: every backup takes over one master down
		// interval (3 s + skew 156/256 s) after the last advert, not before.
		settle(last.Add(down100 - time.Millisecond).Sub(time.Now()))
		for _, v := range b.vrids() {
			if v != late && b.inst(v).Snapshot().State != StateBackup {
				t.Fatalf("B%d took over early, %v after the last advert", v, time.Since(last))
			}
		}
		settle(time.Millisecond)
		b.wantAll(t, StateMaster)
		for _, v := range b.vrids() {
			if v == late {
				continue
			}
			s := b.inst(v).Snapshot()
			if !s.LastTransition.Equal(last.Add(down100)) || s.LastReason != "master down timer expired" {
				t.Errorf("%s took over at +%v (%q), want +%v", s.Name, s.LastTransition.Sub(last), s.LastReason, down100)
			}
		}
		b.shutdown(t)
		for _, v := range b.vrids() {
			ch := ltChanges(t, b.inst(v))
			var to []State
			for _, c := range ch {
				to = append(to, c.To)
			}
			if want := []State{StateBackup, StateMaster, StateStop}; !slices.Equal(to, want) {
				t.Errorf("B%d's transitions %v, want %v", v, to, want)
			}
		}
	})
}

// TestLoopInstanceContextStopsOnlyThatInstance cancels one instance's own
// context: that instance resigns and stops, its peer takes its VRID over,
// and the other instances of the loop go on as masters.
func TestLoopInstanceContextStopsOnlyThatInstance(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		net := &ltNet{}
		a, b := net.host("A", addrA), net.host("B", addrB)
		a.run(t)
		b.run(t)
		for vrid := uint8(1); vrid <= 3; vrid++ {
			a.add(t, ltCfg("A", addrA, vrid, 150))
			a.start(t, t.Context(), vrid)
			b.add(t, ltCfg("B", addrB, vrid, 100))
			b.start(t, t.Context(), vrid)
		}
		settle(10 * time.Second)
		a.wantAll(t, StateMaster)
		b.wantAll(t, StateBackup)

		const victim = 2
		v := a.inst(victim)
		a.stopInst(victim)
		ltWaitClosed(t, v.Done(), "the cancelled instance's Done")
		stoppedAt := time.Now()
		synctest.Wait()
		if s := v.Snapshot(); s.State != StateStop || s.Counters.PriorityZeroTx != 1 {
			t.Errorf("A%d: %v, %d priority 0 adverts sent", victim, s.State, s.Counters.PriorityZeroTx)
		}
		ads := a.adverts()[victim]
		if last := ads[len(ads)-1]; last.priority != 0 {
			t.Errorf("A%d's last advert has priority %d, want 0", victim, last.priority)
		}
		if ch := ltChanges(t, v); len(ch) == 0 || ch[len(ch)-1].To != StateStop {
			t.Errorf("A%d's changes %+v, want the last to STOP", victim, ch)
		}
		if a.addrs.holds(ltVIP(victim).String()) || !a.addrs.holds(ltVIP(1).String()) || !a.addrs.holds(ltVIP(3).String()) {
			t.Errorf("after A%d stopped A holds %d addresses: want those of VRIDs 1 and 3 only", victim, a.addrs.count())
		}
		if ltClosed(a.done) {
			t.Fatal("the loop's Run returned when one instance stopped")
		}
		// Calls on the stopped instance, its loop still running, return at
		// once and change nothing.
		calls := make(chan struct{})
		go func() {
			defer close(calls)
			v.SetFault("chk", true)
			v.SetInterfaceUp(false)
			v.SetPriorityDelta(10)
			v.UpdatePriority(160)
			v.UpdateVIPs([]VIP{{Prefix: netip.MustParsePrefix("10.9.9.9/24")}}, nil)
		}()
		ltWaitClosed(t, calls, "calls on the stopped instance")
		synctest.Wait()
		if s := v.Snapshot(); s.State != StateStop || a.addrs.holds("10.9.9.9/24") {
			t.Errorf("A%d after late calls: %v", victim, s.State)
		}

		sent := a.adverts()
		settle(5 * time.Second)
		after := a.adverts()
		for _, vrid := range []uint8{1, 3} {
			if s := a.inst(vrid).Snapshot(); s.State != StateMaster || ltClosed(a.inst(vrid).Done()) {
				t.Errorf("A%d: %v", vrid, s.State)
			}
			if n := len(after[vrid]) - len(sent[vrid]); n < 5 {
				t.Errorf("A%d sent %d adverts in the 5 s after A%d stopped", vrid, n, victim)
			}
			if s := b.inst(vrid).Snapshot(); s.State != StateBackup {
				t.Errorf("B%d: %v", vrid, s.State)
			}
		}
		if n := len(after[victim]) - len(sent[victim]); n != 0 {
			t.Errorf("A%d sent %d adverts after it stopped", victim, n)
		}
		if s := b.inst(victim).Snapshot(); s.State != StateMaster || !s.LastTransition.Equal(stoppedAt.Add(skew100)) {
			t.Errorf("B%d: %v since +%v, want MASTER after the skew time", victim, s.State, s.LastTransition.Sub(stoppedAt))
		}
		a.shutdown(t)
		b.shutdown(t)
	})
}

// TestLoopStartAndMailEdges covers what surrounds an instance's life on a
// loop: mail and packets queued before Run, Start twice, a context
// cancelled before the instance began, a full packet queue, Start after
// Run returned, and calls on instances that have stopped.
func TestLoopStartAndMailEdges(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		h := (&ltNet{}).host("B", addrB)
		x := h.add(t, ltCfg("B", addrB, 1, 100))
		h.start(t, t.Context(), 1)

		if _, err := h.loop.Start(t.Context(), x); err == nil || !strings.Contains(err.Error(), "twice") {
			t.Errorf("second Start on the same loop = %v, want an error saying twice", err)
		}
		if _, err := NewLoop(SystemClock()).Start(t.Context(), x); err == nil || !strings.Contains(err.Error(), "twice") {
			t.Errorf("Start on a second loop = %v, want an error saying twice", err)
		}
		if err := x.Run(t.Context(), nil); err == nil || !strings.Contains(err.Error(), "twice") {
			t.Errorf("Run after Start = %v, want an error saying twice", err)
		}

		// Queued before the loop runs: the mail is applied before the
		// instance starts (it starts in FAULT, never BACKUP), and the
		// packet queue is bounded rather than blocking.
		y := h.add(t, ltCfg("B", addrB, 2, 100))
		h.start(t, t.Context(), 2)
		y.SetInterfaceUp(false)
		dy := h.deliverTo(2)
		pkt := ltAdvert(t, 2, 200, ltVIP(2).Addr())
		refused := 0
		for range maxQueuedPackets + 10 {
			if !dy(Received{Src: addrA, Dst: MulticastGroup4, TTL: 255, Payload: pkt}) {
				refused++
			}
		}
		if refused != 10 {
			t.Errorf("%d of %d packets refused before Run, want the 10 beyond the queue's %d", refused, maxQueuedPackets+10, maxQueuedPackets)
		}

		// Cancelled before the loop began it: never takes the role.
		z := h.add(t, func() InstanceConfig {
			c := ltCfg("B", addrB, 3, PriorityOwner)
			c.StartAsMaster = true
			return c
		}())
		zctx, zcancel := context.WithCancel(t.Context())
		zcancel()
		if _, err := h.loop.Start(zctx, z); err != nil {
			t.Fatalf("Start with a cancelled context: %v", err)
		}

		h.run(t)
		ltWaitClosed(t, z.Done(), "Done of an instance cancelled before it began")
		synctest.Wait()
		h.addrs.mu.Lock()
		adds := h.addrs.adds
		h.addrs.mu.Unlock()
		if s := z.Snapshot(); s.State != StateStop || adds != 0 || len(h.adverts()[3]) != 0 {
			t.Errorf("cancelled instance: %v, %d address adds, %d adverts; want STOP and nothing done", s.State, adds, len(h.adverts()[3]))
		}
		// Every queued packet reached y once it began (counted, though
		// FAULT ignores adverts), after the mail that put it in FAULT.
		rx := y.Snapshot().Counters.AdvertsRx
		if s := y.Snapshot(); s.State != StateFault || rx != maxQueuedPackets {
			t.Errorf("y: %v with %d adverts received; want FAULT and the %d queued", s.State, rx, maxQueuedPackets)
		}
		if c := <-y.Changes(); c.From != StateInit || c.To != StateFault {
			t.Errorf("y's first change %+v, want INIT to FAULT", c)
		}
		y.SetInterfaceUp(true)
		synctest.Wait()
		for range 3 {
			dy(Received{Src: addrA, Dst: MulticastGroup4, TTL: 255, Payload: pkt})
		}
		synctest.Wait()
		if s := y.Snapshot(); s.State != StateBackup || s.Counters.AdvertsRx != rx+3 || s.MasterAddr != addrA {
			t.Errorf("y: %v, %d more adverts, master %v; want BACKUP following 10.0.0.1", s.State, s.Counters.AdvertsRx-rx, s.MasterAddr)
		}

		h.shutdown(t)
		for _, i := range []*Instance{x, y} {
			if !ltClosed(i.Done()) {
				t.Errorf("%s: Done not closed after Run returned", i.cfg.Name)
			}
		}
		if h.deliverTo(1)(Received{Src: addrA, Dst: MulticastGroup4, TTL: 255, Payload: ltAdvert(t, 1, 200, ltVIP(1).Addr())}) {
			t.Error("delivery to a stopped loop reported success")
		}

		w := h.add(t, ltCfg("B", addrB, 4, 100))
		if d, err := h.loop.Start(t.Context(), w); !errors.Is(err, ErrLoopStopped) || d != nil {
			t.Errorf("Start after Run returned = %v, want ErrLoopStopped", err)
		}
		// Nobody waiting on it hangs.
		ltWaitClosed(t, w.Done(), "Done of an instance refused by a stopped loop")
		if ch := ltChanges(t, w); len(ch) != 0 {
			t.Errorf("refused instance published %+v", ch)
		}

		// Calls on stopped instances return at once and change nothing.
		calls := make(chan struct{})
		go func() {
			defer close(calls)
			for _, i := range []*Instance{x, y, z, w} {
				i.SetFault("chk", true)
				i.SetInterfaceUp(false)
				i.SetPriorityDelta(-20)
				i.UpdatePriority(120)
				i.UpdateVIPs([]VIP{{Prefix: netip.MustParsePrefix("10.9.9.9/24")}}, nil)
			}
		}()
		ltWaitClosed(t, calls, "calls on stopped instances")
		for _, i := range []*Instance{x, y, z} {
			if s := i.Snapshot(); s.State != StateStop {
				t.Errorf("%s: %v after the late calls", s.Name, s.State)
			}
		}
	})
}

// TestLoopSyncGroupOnOneLoop runs both members of each of two sync groups
// on one loop per host: the members wait for each other (groupStart, posted
// on the loop they share, must not deadlock), then take and leave the
// master role together.
func TestLoopSyncGroupOnOneLoop(t *testing.T) {
	// group makes VRIDs 1 and 2 of h a sync group G<host> and starts them.
	group := func(t *testing.T, h *ltHost, prio uint8) *SyncGroup {
		for vrid := uint8(1); vrid <= 2; vrid++ {
			h.add(t, ltCfg(h.name, h.addr, vrid, prio))
		}
		g, err := NewSyncGroup(SyncGroupConfig{Name: "G" + h.name}, []*Instance{h.inst(1), h.inst(2)}, nil)
		if err != nil {
			t.Fatal(err)
		}
		for vrid := uint8(1); vrid <= 2; vrid++ {
			h.start(t, t.Context(), vrid)
		}
		return g
	}
	// together checks that both members are in state want and changed to
	// it at the same instant.
	together := func(t *testing.T, h *ltHost, g *SyncGroup, want State) {
		t.Helper()
		h.wantAll(t, want)
		s1, s2 := h.inst(1).Snapshot(), h.inst(2).Snapshot()
		if !s1.LastTransition.Equal(s2.LastTransition) {
			t.Errorf("%s's members went %v at %v and %v, not together", g.Name(), want, s1.LastTransition, s2.LastTransition)
		}
		if gs := g.Snapshot(); gs.State != want {
			t.Errorf("group %s is %v, want %v", gs.Name, gs.State, want)
		}
		if held := h.addrs.count(); (want == StateMaster) != (held == 2) || (want != StateMaster && held != 0) {
			t.Errorf("%s in %v holds %d addresses", h.name, want, held)
		}
	}

	t.Run("elect, fault and stop together", func(t *testing.T) {
		synctest.Test(t, func(t *testing.T) {
			net := &ltNet{}
			a, b := net.host("A", addrA), net.host("B", addrB)
			ga, gb := group(t, a, 150), group(t, b, 100)
			a.run(t)
			b.run(t)
			synctest.Wait()
			together(t, a, ga, StateBackup)
			settle(10 * time.Second)
			together(t, a, ga, StateMaster)
			together(t, b, gb, StateBackup)
			ch := groupChanges(ga)
			if len(ch) != 2 || ch[0].To != StateBackup || ch[1].To != StateMaster {
				t.Errorf("GA's changes %+v", ch)
			}

			a.inst(1).SetInterfaceUp(false)
			synctest.Wait()
			together(t, a, ga, StateFault)
			settle(time.Second) // both released with priority 0
			together(t, b, gb, StateMaster)
			a.inst(1).SetInterfaceUp(true)
			synctest.Wait()
			together(t, a, ga, StateBackup)
			settle(5 * time.Second) // and preempt together
			together(t, a, ga, StateMaster)
			together(t, b, gb, StateBackup)

			// One member's context ends: the other releases the role and
			// cannot take it alone; the peer group takes both VRIDs.
			a.stopInst(1)
			ltWaitClosed(t, a.inst(1).Done(), "A1's Done")
			synctest.Wait()
			if s := a.inst(2).Snapshot(); s.State != StateBackup || s.LastReason != "sync group GA: member A1 stopped" {
				t.Errorf("A2 after A1 stopped: %v %q", s.State, s.LastReason)
			}
			settle(10 * time.Second)
			if s := a.inst(2).Snapshot(); s.State != StateBackup || a.addrs.count() != 0 {
				t.Errorf("A2 alone: %v, A holds %d addresses", s.State, a.addrs.count())
			}
			together(t, b, gb, StateMaster)

			a.shutdown(t)
			var got []State
			for c := range ga.Changes() { // closed once both members stopped
				got = append(got, c.To)
			}
			if s := ga.Snapshot(); s.State != StateStop || len(got) == 0 || got[len(got)-1] != StateStop {
				t.Errorf("GA after its loop stopped: %v, changes %v", s.State, got)
			}
			b.shutdown(t)
			for range gb.Changes() {
			}
		})
	})

	t.Run("fault before start", func(t *testing.T) {
		synctest.Test(t, func(t *testing.T) {
			a := (&ltNet{}).host("A", addrA)
			ga := group(t, a, 150)
			a.inst(2).SetInterfaceUp(false) // queued before the loop runs
			a.run(t)
			settle(10 * time.Second)
			together(t, a, ga, StateFault)
			for _, v := range a.vrids() {
				if c := <-a.inst(v).Changes(); c.From != StateInit || c.To != StateFault {
					t.Errorf("A%d's first change %+v: a member passed through another state", v, c)
				}
			}
			a.inst(2).SetInterfaceUp(true)
			synctest.Wait()
			together(t, a, ga, StateBackup)
			settle(5 * time.Second)
			together(t, a, ga, StateMaster)
			a.shutdown(t)
		})
	})
}

// ltPipeSource is a Source over a non-blocking pipe: each byte written to
// it stands for one datagram, which Drain turns into an advert from addrA
// for VRID vrid and hands over through the loop's OnLoop delivery. A pipe
// is the simplest descriptor epoll can watch, with no network at all.
type ltPipeSource struct {
	r, w     int
	coalesce bool
	fail     error // returned by every Drain, after it has read
	deliver  func(Received) bool
	payload  []byte

	mu      sync.Mutex
	drains  []ltDrain
	offLoop int // Drain calls not on the loop's goroutine
	limits  []int
}

// ltDrain is one Drain call: when, and how many datagrams it read.
type ltDrain struct {
	at time.Time
	n  int
}

func (s *ltPipeSource) Fd() int        { return s.r }
func (s *ltPipeSource) Coalesce() bool { return s.coalesce }

func (s *ltPipeSource) Drain(limit int) (int, error) {
	onLoop := ltOnLoopGoroutine()
	at := time.Now()
	buf := make([]byte, max(limit, 1))
	n, err := unix.Read(s.r, buf)
	if n < 0 {
		n = 0
	}
	for range n {
		s.deliver(Received{Src: addrA, Dst: MulticastGroup4, TTL: 255, Payload: bytes.Clone(s.payload)})
	}
	s.mu.Lock()
	s.drains = append(s.drains, ltDrain{at: at, n: n})
	s.limits = append(s.limits, limit)
	if !onLoop {
		s.offLoop++
	}
	s.mu.Unlock()
	if s.fail != nil {
		return n, s.fail
	}
	if err != nil && !errors.Is(err, unix.EAGAIN) {
		return n, err
	}
	return n, nil
}

// write writes count bytes to the pipe, one write each, as fast as it can.
func (s *ltPipeSource) write(t *testing.T, count int) {
	t.Helper()
	for range count {
		if _, err := unix.Write(s.w, []byte{1}); err != nil {
			t.Fatalf("write to the pipe: %v", err)
		}
	}
}

func (s *ltPipeSource) calls() []ltDrain {
	s.mu.Lock()
	defer s.mu.Unlock()
	return slices.Clone(s.drains)
}

// read is the number of datagrams the drains read in all.
func (s *ltPipeSource) read() int {
	n := 0
	for _, d := range s.calls() {
		n += d.n
	}
	return n
}

// ltOnLoopGoroutine reports whether the caller runs under Loop.run: the
// sources' contract is that Drain runs on the loop's own goroutine, where
// OnLoop's delivery may touch the instances without a lock.
func ltOnLoopGoroutine() bool {
	buf := make([]byte, 64<<10)
	buf = buf[:runtime.Stack(buf, false)]
	return bytes.Contains(buf, []byte("(*Loop).run("))
}

// ltSourceLoop runs a loop on the real clock with one backup instance per
// VRID, each fed by a pipe source of its own. A cleanup stops the loop
// (bounded) before it closes the pipes, since the loop must stop watching
// a descriptor before it is closed.
func ltSourceLoop(t *testing.T, coalesce bool, fail error, vrids ...uint8) (*Loop, []*ltPipeSource, []*Instance, func(Received) bool, <-chan struct{}) {
	t.Helper()
	l := NewLoop(SystemClock())
	var srcs []*ltPipeSource
	var insts []*Instance
	var deliver func(Received) bool
	for _, vrid := range vrids {
		var p [2]int
		if err := unix.Pipe2(p[:], unix.O_NONBLOCK|unix.O_CLOEXEC); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() {
			unix.Close(p[0])
			unix.Close(p[1])
		})
		h := &ltHost{net: &ltNet{}, addrs: &fakeAddrs{held: map[netip.Prefix]bool{}}, ann: &fakeAnnouncer{}}
		i, err := NewInstance(ltCfg("B", addrB, vrid, 100), Deps{Sender: h, Addresses: h.addrs, Announcer: h.ann, Clock: SystemClock()}, nil)
		if err != nil {
			t.Fatal(err)
		}
		d, err := l.Start(t.Context(), i)
		if err != nil {
			t.Fatal(err)
		}
		if deliver == nil {
			deliver = d
		}
		s := &ltPipeSource{r: p[0], w: p[1], coalesce: coalesce, fail: fail, deliver: l.OnLoop(i), payload: ltAdvert(t, vrid, 200, ltVIP(vrid).Addr())}
		if err := l.AddSource(s); err != nil {
			t.Fatal(err)
		}
		srcs = append(srcs, s)
		insts = append(insts, i)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		l.Run(ctx)
	}()
	t.Cleanup(func() {
		cancel()
		select {
		case <-done:
		case <-time.After(ltWait):
			t.Errorf("Loop.Run did not return within %v of its context's end", ltWait)
		}
	})
	// Only an instance the loop has begun takes packets (see
	// TestLoopSourceReadBeforeInstanceBegins).
	for _, i := range insts {
		ltWaitFor(t, i.cfg.Name+" to begin", func() bool { return i.Snapshot().State == StateBackup })
	}
	return l, srcs, insts, deliver, done
}

// ltWaitFor polls cond (real time) until it holds, failing after ltWait:
// a source's reads happen on the loop's goroutine, at a time the test does
// not control.
func ltWaitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(ltWait)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %v waiting for %s", ltWait, what)
		}
		time.Sleep(time.Millisecond)
	}
}

func ltRx(i *Instance) uint64 { return i.Snapshot().Counters.AdvertsRx }

// TestLoopSources checks the loop's own reading of sockets (AddSource) with
// pipes standing in for them, on the real clock.
func TestLoopSources(t *testing.T) {
	t.Run("drained on the loop and re-armed", func(t *testing.T) {
		_, srcs, insts, _, _ := ltSourceLoop(t, false, nil, 1, 2)
		// Source 2 alone: only its instance hears the adverts.
		for k := 1; k <= 5; k++ {
			srcs[1].write(t, 1)
			ltWaitFor(t, fmt.Sprintf("advert %d through source 2", k), func() bool { return ltRx(insts[1]) == uint64(k) })
		}
		// Source 1 then: its descriptor is told apart from source 2's.
		for k := 1; k <= 3; k++ {
			srcs[0].write(t, 1)
			ltWaitFor(t, fmt.Sprintf("advert %d through source 1", k), func() bool { return ltRx(insts[0]) == uint64(k) })
		}
		for n, s := range srcs {
			calls := s.calls()
			// One-shot watching: each further write was only seen because
			// the loop re-armed the source after the previous Drain.
			if want := []int{3, 5}[n]; len(calls) < want || s.read() != want {
				t.Errorf("source %d: %d drains read %d datagrams; want at least %d drains reading %d", n+1, len(calls), s.read(), want, want)
			}
			s.mu.Lock()
			if s.offLoop != 0 {
				t.Errorf("source %d: %d drains ran off the loop's goroutine", n+1, s.offLoop)
			}
			for _, l := range s.limits {
				if l <= 0 {
					t.Errorf("source %d: Drain(%d)", n+1, l)
				}
			}
			s.mu.Unlock()
		}
		if got := ltRx(insts[1]); got != 5 {
			t.Errorf("instance 2 received %d adverts, want 5", got)
		}
	})

	t.Run("coalescing gathers a burst", func(t *testing.T) {
		_, srcs, insts, _, _ := ltSourceLoop(t, true, nil, 1)
		s, i := srcs[0], insts[0]
		const burst = 20
		for round := 1; round <= 2; round++ {
			before := len(s.calls())
			t0 := time.Now()
			s.write(t, burst)
			ltWaitFor(t, "the burst to be read", func() bool { return ltRx(i) == uint64(round*burst) })
			calls := s.calls()[before:]
			// Typically one Drain reads the whole burst; allow for a writer
			// descheduled mid-burst on a loaded machine, not for a Drain
			// per datagram.
			if len(calls) > burst/2 {
				t.Errorf("round %d: %d drains for a burst of %d writes: %+v", round, len(calls), burst, calls)
			}
			// The loop waits CoalesceWindow after the first datagram woke
			// it before reading: never sooner.
			if len(calls) > 0 {
				if d := calls[0].at.Sub(t0); d < CoalesceWindow {
					t.Errorf("round %d: first drain %v after the first write, want at least %v", round, d, CoalesceWindow)
				}
			}
		}
		s.mu.Lock()
		if s.offLoop != 0 {
			t.Errorf("%d drains ran off the loop's goroutine", s.offLoop)
		}
		s.mu.Unlock()
	})

	t.Run("drain errors do not stop the loop", func(t *testing.T) {
		_, srcs, insts, deliver, done := ltSourceLoop(t, false, errors.New("recvmmsg: boom"), 1)
		s, i := srcs[0], insts[0]
		for k := 1; k <= 3; k++ {
			s.write(t, 1)
			ltWaitFor(t, fmt.Sprintf("advert %d after failing drains", k), func() bool { return ltRx(i) == uint64(k) })
		}
		if !deliver(Received{Src: addrA, Dst: MulticastGroup4, TTL: 255, Payload: ltAdvert(t, 1, 200, ltVIP(1).Addr())}) {
			t.Fatal("the loop refused a packet after failing drains")
		}
		ltWaitFor(t, "a delivered packet after failing drains", func() bool { return ltRx(i) == 4 })
		if ltClosed(done) || ltClosed(i.Done()) {
			t.Error("the loop or its instance stopped after drain errors")
		}
	})

	t.Run("AddSource after the loop stopped", func(t *testing.T) {
		l := NewLoop(SystemClock())
		ctx, cancel := context.WithCancel(context.Background())
		cancel()
		l.Run(ctx)
		var p [2]int
		if err := unix.Pipe2(p[:], unix.O_NONBLOCK|unix.O_CLOEXEC); err != nil {
			t.Fatal(err)
		}
		defer unix.Close(p[0])
		defer unix.Close(p[1])
		if err := l.AddSource(&ltPipeSource{r: p[0], w: p[1]}); !errors.Is(err, ErrLoopStopped) {
			t.Errorf("AddSource after Run returned = %v, want ErrLoopStopped", err)
		}
	})
}

// TestLoopSourceReadBeforeInstanceBegins: a source that is already readable
// when the loop takes up a new instance must not lose that instance's
// packets: Loop.drain begins the instances added in a pass before it reads
// the sources, or OnLoop's delivery would find the instance not live yet.
func TestLoopSourceReadBeforeInstanceBegins(t *testing.T) {
	l := NewLoop(SystemClock())
	h := &ltHost{net: &ltNet{}, addrs: &fakeAddrs{held: map[netip.Prefix]bool{}}, ann: &fakeAnnouncer{}}
	i, err := NewInstance(ltCfg("B", addrB, 1, 100), Deps{Sender: h, Addresses: h.addrs, Announcer: h.ann, Clock: SystemClock()}, nil)
	if err != nil {
		t.Fatal(err)
	}
	var p [2]int
	if err := unix.Pipe2(p[:], unix.O_NONBLOCK|unix.O_CLOEXEC); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		unix.Close(p[0])
		unix.Close(p[1])
	})
	if _, err := l.Start(t.Context(), i); err != nil {
		t.Fatal(err)
	}
	s := &ltPipeSource{r: p[0], w: p[1], deliver: l.OnLoop(i), payload: ltAdvert(t, 1, 200, ltVIP(1).Addr())}
	if err := l.AddSource(s); err != nil {
		t.Fatal(err)
	}
	s.write(t, 1)
	// The watcher has reported the source before the loop runs: its first
	// pass sees both the new instance and the readable source.
	ltWaitFor(t, "the watcher to report the source", func() bool {
		l.mu.Lock()
		defer l.mu.Unlock()
		return len(l.ready) > 0
	})
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		l.Run(ctx)
	}()
	t.Cleanup(func() {
		cancel()
		ltWaitClosed(t, done, "Loop.Run to return")
	})
	ltWaitFor(t, "the datagram to be read", func() bool { return s.read() == 1 })
	ltWaitFor(t, "the instance to begin", func() bool { return i.Snapshot().State == StateBackup })
	if rx := ltRx(i); rx != 1 {
		t.Errorf("the source read 1 advert for the instance, which received %d: sources must be read after new instances begin", rx)
	}
}
