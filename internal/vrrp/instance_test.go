package vrrp

import (
	"context"
	"net/netip"
	"strings"
	"sync"
	"testing"
	"testing/synctest"
	"time"
)

var (
	addrA = netip.MustParseAddr("10.0.0.1")
	addrB = netip.MustParseAddr("10.0.0.2")
	addrC = netip.MustParseAddr("10.0.0.3")
)

const vip = "10.0.0.100/24"

func instCfg(name string, src netip.Addr, prio uint8) InstanceConfig {
	return InstanceConfig{
		Name:           name,
		Interface:      "eth0",
		VRID:           51,
		Version:        2,
		Family:         4,
		Priority:       prio,
		AdvertInterval: time.Second,
		Preempt:        true,
		VIPs:           []VIP{{Prefix: netip.MustParsePrefix(vip)}},
		SrcAddr:        src,
		GarpDelay:      DefaultGarpDelay,
		GarpRepeat:     DefaultGarpRepeat,
	}
}

func wantState(t *testing.T, nd *node, want State) {
	t.Helper()
	if got := nd.state(); got != want {
		t.Fatalf("%s at %v: state %v, want %v (last reason %q)", nd.inst.cfg.Name, time.Now().Format("15:04:05.000"), got, want, nd.inst.Snapshot().LastReason)
	}
}

// settle advances virtual time by d and waits for every goroutine to block.
func settle(d time.Duration) {
	time.Sleep(d)
	synctest.Wait()
}

func TestInstanceElectionAndShutdownFailover(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		net := newFakeNet()
		a := net.add(t, instCfg("A", addrA, 150))
		b := net.add(t, instCfg("B", addrB, 100))
		a.start(t.Context())
		b.start(t.Context())
		synctest.Wait()
		wantState(t, a, StateBackup)
		wantState(t, b, StateBackup)

		// A's master down interval is 3 s + 106/256 s, B's 3 s + 156/256 s.
		settle(3414 * time.Millisecond)
		wantState(t, a, StateBackup)
		settle(time.Millisecond)
		wantState(t, a, StateMaster)
		wantState(t, b, StateBackup)
		if !a.addrs.holds(vip) || b.addrs.count() != 0 {
			t.Fatalf("VIP on A=%v, B holds %d addresses", a.addrs.holds(vip), b.addrs.count())
		}
		settle(10 * time.Second)
		wantState(t, b, StateBackup)
		if s := b.inst.Snapshot(); s.MasterAddr != addrA || s.MasterPriority != 150 || s.Counters.AdvertsRx < 10 {
			t.Errorf("B's view of the master: %+v", s)
		}

		// Shutdown: A resigns with priority 0 and B takes over after its
		// skew time (156/256 s), not the full master down interval.
		a.stop(t)
		synctest.Wait()
		if a.addrs.count() != 0 {
			t.Errorf("A still holds %d addresses after shutdown", a.addrs.count())
		}
		ads := a.adverts()
		if last := ads[len(ads)-1]; last.priority != 0 {
			t.Errorf("A's last advert has priority %d, want 0", last.priority)
		}
		if s := a.inst.Snapshot(); s.State != StateStop || s.Counters.PriorityZeroTx != 1 || s.Counters.ReleaseMaster != 1 {
			t.Errorf("A after shutdown: %+v", s)
		}
		settle(600 * time.Millisecond)
		wantState(t, b, StateBackup)
		settle(10 * time.Millisecond)
		wantState(t, b, StateMaster)
		if s := b.inst.Snapshot(); s.LastReason != "master 10.0.0.1 sent priority 0" || s.Counters.PriorityZeroRx != 1 {
			t.Errorf("B took over with reason %q, %d priority 0 received", s.LastReason, s.Counters.PriorityZeroRx)
		}
		if !b.addrs.holds(vip) {
			t.Error("B does not hold the VIP")
		}
		b.stop(t)
	})
}

func TestInstanceFailoverOnSilence(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		net := newFakeNet()
		a := net.add(t, instCfg("A", addrA, 150))
		b := net.add(t, instCfg("B", addrB, 100))
		a.start(t.Context())
		b.start(t.Context())
		settle(5 * time.Second)
		wantState(t, a, StateMaster)

		// A vanishes without a word (crash, cable). Its last advert was at
		// a whole second after 3.414 s; B waits 3 s + 156/256 s after it.
		lastA := a.adverts()[len(a.adverts())-1].at
		net.setCut(addrA, true)
		settle(lastA.Add(down100 - time.Millisecond).Sub(time.Now()))
		wantState(t, b, StateBackup)
		settle(2 * time.Millisecond)
		wantState(t, b, StateMaster)
		if r := b.inst.Snapshot().LastReason; r != "master down timer expired" {
			t.Errorf("reason %q", r)
		}
		a.stop(t)
		b.stop(t)
	})
}

func TestInstancePreempt(t *testing.T) {
	tests := []struct {
		name    string
		preempt bool
		want    State // of the late, higher priority node
	}{
		{"preempt", true, StateMaster},
		{"nopreempt", false, StateBackup},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				net := newFakeNet()
				b := net.add(t, instCfg("B", addrB, 100))
				cfgA := instCfg("A", addrA, 150)
				cfgA.Preempt = tt.preempt
				a := net.add(t, cfgA)
				b.start(t.Context())
				settle(5 * time.Second)
				wantState(t, b, StateMaster)

				a.start(t.Context())
				settle(20 * time.Second)
				wantState(t, a, tt.want)
				if tt.want == StateMaster {
					wantState(t, b, StateBackup)
					if r := a.inst.Snapshot().LastReason; r != "preempting lower priority 100 master 10.0.0.2" {
						t.Errorf("A's reason %q", r)
					}
					if b.addrs.count() != 0 || !a.addrs.holds(vip) {
						t.Error("the VIP did not move to A")
					}
				} else {
					wantState(t, b, StateMaster)
					if a.addrs.count() != 0 {
						t.Error("nopreempt backup holds the VIP")
					}
				}
				a.stop(t)
				b.stop(t)
			})
		})
	}
}

func TestInstancePriorityDeltaPreempts(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		net := newFakeNet()
		a := net.add(t, instCfg("A", addrA, 150))
		b := net.add(t, instCfg("B", addrB, 100))
		a.start(t.Context())
		b.start(t.Context())
		settle(5 * time.Second)
		wantState(t, a, StateMaster)

		// A's tracker fails: 150-60 = 90 < 100, A keeps advertising 90 and
		// B, which may preempt, ignores it and takes over.
		a.inst.SetPriorityDelta(-60)
		settle(5 * time.Second)
		wantState(t, b, StateMaster)
		wantState(t, a, StateBackup)
		if s := a.inst.Snapshot(); s.EffectivePriority != 90 || s.BasePriority != 150 {
			t.Errorf("A's priorities %d/%d, want 150/90", s.BasePriority, s.EffectivePriority)
		}
		sawNinety := false
		for _, ad := range a.adverts() {
			sawNinety = sawNinety || ad.priority == 90
		}
		if !sawNinety {
			t.Error("A never advertised its lowered priority 90")
		}
		a.stop(t)
		b.stop(t)
	})
}

func TestInstanceFault(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		net := newFakeNet()
		a := net.add(t, instCfg("A", addrA, 150))
		b := net.add(t, instCfg("B", addrB, 100))
		a.start(t.Context())
		b.start(t.Context())
		settle(5 * time.Second)
		wantState(t, a, StateMaster)

		a.inst.SetInterfaceUp(false)
		synctest.Wait()
		wantState(t, a, StateFault)
		if a.addrs.count() != 0 {
			t.Error("A in FAULT still holds the VIP")
		}
		sent := len(a.adverts())
		settle(time.Second) // B takes over at once: A sent priority 0
		wantState(t, b, StateMaster)
		settle(5 * time.Second)
		if n := len(a.adverts()); n != sent {
			t.Errorf("A sent %d adverts in FAULT", n-sent)
		}

		a.inst.SetFault("chk_db", true)
		a.inst.SetInterfaceUp(true)
		synctest.Wait()
		wantState(t, a, StateFault)
		a.inst.SetFault("chk_db", false)
		synctest.Wait()
		wantState(t, a, StateBackup)
		settle(5 * time.Second) // and preempts B again
		wantState(t, a, StateMaster)
		wantState(t, b, StateBackup)
		a.stop(t)
		b.stop(t)
	})
}

func TestInstanceStartsInFault(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		net := newFakeNet()
		a := net.add(t, instCfg("A", addrA, 150))
		a.inst.SetInterfaceUp(false) // before Run: applied before Start
		a.start(t.Context())
		synctest.Wait()
		wantState(t, a, StateFault)
		ch := <-a.inst.Changes()
		if ch.From != StateInit || ch.To != StateFault || ch.Reason != "interface eth0 down" || ch.Instance != "A" {
			t.Errorf("first change %+v", ch)
		}
		a.stop(t)
	})
}

func TestInstanceAuthMismatch(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		net := newFakeNet()
		cfgA, cfgB := instCfg("A", addrA, 150), instCfg("B", addrB, 100)
		cfgA.AuthType, cfgA.AuthPass = AuthPass, "secret"
		cfgB.AuthType, cfgB.AuthPass = AuthPass, "other"
		a, b := net.add(t, cfgA), net.add(t, cfgB)
		a.start(t.Context())
		b.start(t.Context())
		settle(10 * time.Second)
		// Neither accepts the other: both are master (split brain, as
		// keepalived with mismatched passwords).
		wantState(t, a, StateMaster)
		wantState(t, b, StateMaster)
		for _, nd := range []*node{a, b} {
			s := nd.inst.Snapshot()
			if s.Drops[DropAuth] == 0 || s.Counters.AdvertsRx != 0 {
				t.Errorf("%s: drops %v, %d adverts accepted", s.Name, s.Drops, s.Counters.AdvertsRx)
			}
		}
		a.stop(t)
		b.stop(t)
	})
}

func TestInstanceMatchingAuth(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		net := newFakeNet()
		cfgA, cfgB := instCfg("A", addrA, 150), instCfg("B", addrB, 100)
		cfgA.AuthType, cfgA.AuthPass = AuthPass, "secret"
		cfgB.AuthType, cfgB.AuthPass = AuthPass, "secret"
		a, b := net.add(t, cfgA), net.add(t, cfgB)
		a.start(t.Context())
		b.start(t.Context())
		settle(10 * time.Second)
		wantState(t, a, StateMaster)
		wantState(t, b, StateBackup)
		if d := b.inst.Snapshot().Drops; len(d) != 0 {
			t.Errorf("B dropped %v", d)
		}
		a.stop(t)
		b.stop(t)
	})
}

// TestInstanceReceiveChecks injects single packets into a backup and checks
// which are dropped, and why.
func TestInstanceReceiveChecks(t *testing.T) {
	group := MulticastGroup4
	mk := func(mod func(*Packet)) []byte {
		p := &Packet{Version: 2, VRID: 51, Priority: 200, Interval: time.Second, Addrs: []netip.Addr{netip.MustParseAddr("10.0.0.100")}}
		if mod != nil {
			mod(p)
		}
		b, err := p.Marshal(addrB, group, CodecOptions{})
		if err != nil {
			t.Fatal(err)
		}
		return b
	}
	tests := []struct {
		name     string
		cfg      func(*InstanceConfig)
		rx       Received
		drop     DropReason // "" if accepted
		addrList bool       // counted as an address list error
	}{
		{name: "valid", rx: Received{Src: addrB, Dst: group, TTL: 255, Payload: mk(nil)}},
		{name: "unknown TTL is not checked", rx: Received{Src: addrB, Dst: group, TTL: -1, Payload: mk(nil)}},
		{name: "TTL not 255 on multicast", rx: Received{Src: addrB, Dst: group, TTL: 64, Payload: mk(nil)}, drop: DropTTL},
		{name: "truncated", rx: Received{Src: addrB, Dst: group, TTL: 255, Payload: mk(nil)[:5]}, drop: DropLength},
		{name: "bad checksum", rx: Received{Src: addrB, Dst: group, TTL: 255, Payload: func() []byte { b := mk(nil); b[2]++; return b }()}, drop: DropChecksum},
		{name: "other VRID", rx: Received{Src: addrB, Dst: group, TTL: 255, Payload: mk(func(p *Packet) { p.VRID = 52 })}, drop: DropUnknownVRID},
		{name: "our own advert", rx: Received{Src: addrA, Dst: group, TTL: 255, Payload: mk(nil)}, drop: DropOwnPacket},
		{name: "v2 interval mismatch", rx: Received{Src: addrB, Dst: group, TTL: 255, Payload: mk(func(p *Packet) { p.Interval = 2 * time.Second })}, drop: DropInterval},
		{name: "auth type mismatch", rx: Received{Src: addrB, Dst: group, TTL: 255, Payload: mk(func(p *Packet) { p.AuthType = AuthPass; copy(p.AuthData[:], "x") })}, drop: DropAuth},
		{
			name: "password mismatch",
			cfg:  func(c *InstanceConfig) { c.AuthType, c.AuthPass = AuthPass, "secret" },
			rx:   Received{Src: addrB, Dst: group, TTL: 255, Payload: mk(func(p *Packet) { p.AuthType = AuthPass; copy(p.AuthData[:], "secreT") })},
			drop: DropAuth,
		},
		{
			name: "password match",
			cfg:  func(c *InstanceConfig) { c.AuthType, c.AuthPass = AuthPass, "secret" },
			rx:   Received{Src: addrB, Dst: group, TTL: 255, Payload: mk(func(p *Packet) { p.AuthType = AuthPass; copy(p.AuthData[:], "secret") })},
		},
		{
			name: "v3 packet on a v2 instance",
			rx: Received{Src: addrB, Dst: group, TTL: 255, Payload: func() []byte {
				p := &Packet{Version: 3, VRID: 51, Priority: 200, Interval: time.Second, Addrs: []netip.Addr{netip.MustParseAddr("10.0.0.100")}}
				b, err := p.Marshal(addrB, group, CodecOptions{})
				if err != nil {
					t.Fatal(err)
				}
				return b
			}()},
			drop: DropVersion,
		},
		{
			name: "unicast from a non-peer",
			cfg:  func(c *InstanceConfig) { c.Unicast, c.Peers = true, []netip.Addr{addrC} },
			rx:   Received{Src: addrB, Dst: addrA, TTL: 64, Payload: mk(nil)},
			drop: DropNotPeer,
		},
		{
			name: "unicast from a peer, TTL not checked",
			cfg:  func(c *InstanceConfig) { c.Unicast, c.Peers = true, []netip.Addr{addrB} },
			rx:   Received{Src: addrB, Dst: addrA, TTL: 64, Payload: mk(nil)},
		},
		{
			name:     "address list mismatch is counted (addr_list), not dropped",
			rx:       Received{Src: addrB, Dst: group, TTL: 255, Payload: mk(func(p *Packet) { p.Addrs = []netip.Addr{netip.MustParseAddr("10.0.0.200")} })},
			addrList: true,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				cfg := instCfg("A", addrA, 100)
				if tt.cfg != nil {
					tt.cfg(&cfg)
				}
				a := newFakeNet().add(t, cfg)
				a.start(t.Context())
				synctest.Wait()
				a.in <- tt.rx
				synctest.Wait()
				s := a.inst.Snapshot()
				if tt.addrList {
					if s.Drops[DropAddrList] != 1 || len(s.Drops) != 1 || s.Counters.AdvertsRx != 1 || s.MasterAddr != addrB {
						t.Errorf("address list mismatch: drops %v, rx %d, master %v; want one addr_list count and the advert acted on", s.Drops, s.Counters.AdvertsRx, s.MasterAddr)
					}
				} else if tt.drop == "" {
					if len(s.Drops) != 0 || s.Counters.AdvertsRx != 1 || s.MasterAddr != addrB {
						t.Errorf("not accepted: drops %v, rx %d, master %v", s.Drops, s.Counters.AdvertsRx, s.MasterAddr)
					}
				} else if s.Drops[tt.drop] != 1 || len(s.Drops) != 1 || s.Counters.AdvertsRx != 0 {
					t.Errorf("drops %v, rx %d; want one %q drop", s.Drops, s.Counters.AdvertsRx, tt.drop)
				}
				if got := s.Counters.AddrListErrors == 1; got != tt.addrList {
					t.Errorf("address list errors %d", s.Counters.AddrListErrors)
				}
				a.stop(t)
			})
		})
	}
}

func TestInstanceAdvertTiming(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		cfg := instCfg("A", addrA, 255)
		cfg.StartAsMaster = true
		cfg.Unicast, cfg.Peers = true, []netip.Addr{addrB, addrC}
		a := newFakeNet().add(t, cfg)
		start := time.Now()
		a.start(t.Context())
		settle(10*time.Second + time.Millisecond)
		ads := a.adverts()
		// One advert per peer at t = 0, 1, ..., 10 s exactly.
		if len(ads) != 22 {
			t.Fatalf("%d adverts sent, want 22", len(ads))
		}
		for n, ad := range ads {
			wantAt := start.Add(time.Duration(n/2) * time.Second)
			wantDst := []netip.Addr{addrB, addrC}[n%2]
			if !ad.at.Equal(wantAt) || ad.dst != wantDst || ad.priority != 255 {
				t.Errorf("advert %d: %v to %v prio %d, want %v to %v prio 255", n, ad.at.Sub(start), ad.dst, ad.priority, wantAt.Sub(start), wantDst)
			}
		}
		if s := a.inst.Snapshot(); s.Counters.AdvertsTx != 11 || s.Counters.BecomeMaster != 1 {
			t.Errorf("counters %+v", s.Counters)
		}
		a.stop(t)
	})
}

func TestInstanceGratuitous(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		cfg := instCfg("A", addrA, 255)
		cfg.StartAsMaster = true
		cfg.ExcludedVIPs = []VIP{{Prefix: netip.MustParsePrefix("192.168.1.1/24"), Dev: "eth1"}}
		cfg.GarpRefresh, cfg.GarpRefreshRepeat = 60*time.Second, 2
		a := newFakeNet().add(t, cfg)
		start := time.Now()
		a.start(t.Context())
		settle(125 * time.Second)

		type burst struct {
			at  time.Duration
			dev string
			n   int
		}
		var got []burst
		for _, c := range a.ann.list() {
			at := c.at.Sub(start)
			if k := len(got) - 1; k >= 0 && got[k].at == at && got[k].dev == c.dev {
				got[k].n++
				continue
			}
			got = append(got, burst{at, c.dev, 1})
		}
		// Bursts alternate between the two interfaces within one round.
		var rounds []burst
		for _, g := range got {
			if k := len(rounds) - 1; k >= 0 && rounds[k].at == g.at {
				if g.dev == "eth0" {
					rounds[k].n++
				}
				continue
			}
			if g.dev == "eth0" {
				rounds = append(rounds, burst{g.at, "", 1})
			}
		}
		want := []burst{{0, "", 5}, {5 * time.Second, "", 5}, {60 * time.Second, "", 2}, {120 * time.Second, "", 2}}
		if len(rounds) != len(want) {
			t.Fatalf("announcement rounds %+v, want %+v", rounds, want)
		}
		for n := range want {
			if rounds[n] != want[n] {
				t.Errorf("round %d: %+v, want %+v", n, rounds[n], want[n])
			}
		}
		calls := a.ann.list()
		devs := map[string]string{}
		for _, c := range calls {
			devs[c.dev] = c.addrs[0].String()
		}
		if devs["eth0"] != "10.0.0.100" || devs["eth1"] != "192.168.1.1" {
			t.Errorf("announced %v", devs)
		}

		// Leaving master cancels pending announcements.
		a.inst.SetInterfaceUp(false)
		synctest.Wait()
		n := len(a.ann.list())
		settle(200 * time.Second)
		if m := len(a.ann.list()); m != n {
			t.Errorf("%d announcements after leaving master", m-n)
		}
		a.stop(t)
	})
}

func TestInstanceChangesAndRunOnce(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		cfg := instCfg("A", addrA, 255)
		cfg.StartAsMaster = true
		a := newFakeNet().add(t, cfg)
		a.start(t.Context())
		synctest.Wait()
		if err := a.inst.Run(t.Context(), nil); err == nil || !strings.Contains(err.Error(), "twice") {
			t.Errorf("second Run = %v", err)
		}
		a.stop(t)
		var got []StateChange
		for c := range a.inst.Changes() { // closed when Run returns
			got = append(got, c)
		}
		if len(got) != 2 || got[0].To != StateMaster || got[1].From != StateMaster || got[1].To != StateStop || got[1].Reason != "shutdown" {
			t.Errorf("changes %+v", got)
		}
		// Control calls after Run must not block.
		a.inst.SetInterfaceUp(true)
		a.inst.SetPriorityDelta(3)
	})
}

// recordSink is a ChangeSink that records what it is handed.
type recordSink struct {
	mu       sync.Mutex
	changes  []StateChange
	finished int
	// lateChanges counts transitions handed over after Finished.
	lateChanges int
}

func (s *recordSink) Change(c StateChange) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.finished > 0 {
		s.lateChanges++
	}
	s.changes = append(s.changes, c)
}

func (s *recordSink) Finished() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.finished++
}

func TestInstanceChangeSink(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		cfg := instCfg("A", addrA, 255)
		cfg.StartAsMaster = true
		a := newFakeNet().add(t, cfg)
		sink := &recordSink{}
		inst, err := NewInstance(cfg, Deps{Sender: a, Addresses: a.addrs, Announcer: a.ann, Clock: SystemClock(), Changes: sink}, nil)
		if err != nil {
			t.Fatal(err)
		}
		a.inst = inst
		if _, open := <-inst.Changes(); open {
			t.Error("Changes is open although a ChangeSink takes the transitions")
		}
		a.start(t.Context())
		synctest.Wait()
		sink.mu.Lock()
		if len(sink.changes) != 1 || sink.changes[0].To != StateMaster || sink.finished != 0 {
			t.Errorf("while running: changes %+v, finished %d", sink.changes, sink.finished)
		}
		sink.mu.Unlock()
		a.stop(t)
		sink.mu.Lock()
		defer sink.mu.Unlock()
		got := sink.changes
		if len(got) != 2 || got[1].From != StateMaster || got[1].To != StateStop || got[1].Reason != "shutdown" {
			t.Errorf("changes %+v", got)
		}
		if sink.finished != 1 || sink.lateChanges != 0 {
			t.Errorf("Finished called %d times, %d changes after it; want once, after the last change", sink.finished, sink.lateChanges)
		}
		if inst.Snapshot().Counters.ChangesDropped != 0 {
			t.Errorf("changes dropped with a sink: %d", inst.Snapshot().Counters.ChangesDropped)
		}
	})
}

func TestInstanceConfigValidate(t *testing.T) {
	tests := []struct {
		name string
		mod  func(*InstanceConfig)
		want string
	}{
		{"vrid", func(c *InstanceConfig) { c.VRID = 0 }, "virtual_router_id"},
		{"version", func(c *InstanceConfig) { c.Version = 1 }, "version 1"},
		{"family", func(c *InstanceConfig) { c.Family = 5 }, "family 5"},
		{"v2 ipv6", func(c *InstanceConfig) { c.Family = 6 }, "IPv4 only"},
		{"priority", func(c *InstanceConfig) { c.Priority = 0 }, "priority 0"},
		{"v2 interval", func(c *InstanceConfig) { c.AdvertInterval = 1500 * time.Millisecond }, "whole seconds"},
		{"v3 interval", func(c *InstanceConfig) { c.Version = 3; c.AdvertInterval = 5 * time.Millisecond }, "centiseconds"},
		{"v3 auth", func(c *InstanceConfig) { c.Version = 3; c.AuthType = AuthPass; c.AuthPass = "x" }, "no authentication"},
		{"pass empty", func(c *InstanceConfig) { c.AuthType = AuthPass }, "auth_pass"},
		{"pass long", func(c *InstanceConfig) { c.AuthType = AuthPass; c.AuthPass = "123456789" }, "auth_pass"},
		{"vip family", func(c *InstanceConfig) { c.VIPs = []VIP{{Prefix: netip.MustParsePrefix("fd00::1/64")}} }, "not IPv4"},
		{"vip invalid", func(c *InstanceConfig) { c.VIPs = []VIP{{}} }, "invalid virtual address"},
		{"unicast no peers", func(c *InstanceConfig) { c.Unicast = true }, "unicast_peer"},
		{"peer family", func(c *InstanceConfig) { c.Unicast, c.Peers = true, []netip.Addr{netip.MustParseAddr("fd00::2")} }, "peer"},
		{"peer is us", func(c *InstanceConfig) { c.Unicast, c.Peers = true, []netip.Addr{addrA} }, "our own"},
		{"group", func(c *InstanceConfig) { c.Group = addrB }, "multicast group"},
		{"garp", func(c *InstanceConfig) { c.GarpRepeat = -1 }, "gratuitous"},
		{"garp lower prio", func(c *InstanceConfig) { c.GarpLowerPrioDelay = -time.Second }, "gratuitous"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg := instCfg("VI_1", addrA, 100)
			tt.mod(&cfg)
			_, err := NewInstance(cfg, Deps{Sender: &node{}, Addresses: &fakeAddrs{}, Announcer: &fakeAnnouncer{}, Clock: SystemClock()}, nil)
			if err == nil || !strings.Contains(err.Error(), tt.want) || !strings.Contains(err.Error(), `"VI_1"`) {
				t.Fatalf("error %v, want one naming VI_1 and containing %q", err, tt.want)
			}
		})
	}
	t.Run("missing deps", func(t *testing.T) {
		if _, err := NewInstance(instCfg("VI_1", addrA, 100), Deps{}, nil); err == nil {
			t.Fatal("NewInstance without deps succeeded")
		}
	})
	t.Run("valid v3 ipv6", func(t *testing.T) {
		cfg := instCfg("VI_6", netip.MustParseAddr("fe80::1"), 100)
		cfg.Version, cfg.Family, cfg.AdvertInterval = 3, 6, 50*time.Millisecond
		cfg.VIPs = []VIP{{Prefix: netip.MustParsePrefix("fe80::100/64")}, {Prefix: netip.MustParsePrefix("fd00::100/64")}}
		if _, err := NewInstance(cfg, Deps{Sender: &node{}, Addresses: &fakeAddrs{}, Announcer: &fakeAnnouncer{}, Clock: SystemClock()}, nil); err != nil {
			t.Fatal(err)
		}
	})
}

// TestInstanceV3Pair runs two IPv6 v3 instances with sub-second adverts.
func TestInstanceV3Pair(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		net := newFakeNet()
		mk := func(name, src string, prio uint8, iv time.Duration) InstanceConfig {
			c := instCfg(name, netip.MustParseAddr(src), prio)
			c.Version, c.Family, c.AdvertInterval = 3, 6, iv
			c.VIPs = []VIP{{Prefix: netip.MustParsePrefix("fe80::100/64")}}
			return c
		}
		a := net.add(t, mk("A", "fe80::1", 200, 100*time.Millisecond))
		// B is configured with a slower interval: as a backup it follows
		// the master's 100 ms, so it notices A's silence within 3 x 100 ms
		// + skew, not 3 x 1 s.
		b := net.add(t, mk("B", "fe80::2", 100, time.Second))
		a.start(t.Context())
		b.start(t.Context())
		settle(5 * time.Second)
		wantState(t, a, StateMaster)
		wantState(t, b, StateBackup)
		net.setCut(a.addr, true)
		// 3 x 100 ms + 156 x 100 ms / 256 = 360.9375 ms after A's last advert.
		settle(362 * time.Millisecond)
		wantState(t, b, StateMaster)
		a.stop(t)
		b.stop(t)
	})
}

func TestInstanceCancelledBeforeStart(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		cfg := instCfg("A", addrA, 255)
		cfg.StartAsMaster = true
		a := newFakeNet().add(t, cfg)
		ctx, cancel := context.WithCancel(t.Context())
		cancel()
		a.start(ctx)
		a.stop(t)
		if s := a.inst.Snapshot(); s.State != StateStop || a.addrs.adds != 0 || len(a.adverts()) != 0 {
			t.Errorf("state %v, %d address adds, %d adverts; want STOP and nothing done", s.State, a.addrs.adds, len(a.adverts()))
		}
	})
}
