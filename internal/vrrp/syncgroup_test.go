package vrrp

import (
	"fmt"
	"math/rand/v2"
	"net/netip"
	"strings"
	"testing"
	"testing/synctest"
	"time"
)

// side is one host's sync group on the fake network: member k runs VRID
// 51+k on interface eth<k> with its own virtual address.
type side struct {
	g     *SyncGroup
	nodes []*node
}

func memberCfg(k int, host byte, prio uint8) InstanceConfig {
	c := instCfg(fmt.Sprintf("%c%d", 'A'+host-1, k+1), netip.AddrFrom4([4]byte{10, 0, byte(k), host}), prio)
	c.Interface = fmt.Sprintf("eth%d", k)
	c.VRID = uint8(51 + k)
	c.VIPs = []VIP{{Prefix: netip.PrefixFrom(netip.AddrFrom4([4]byte{10, 0, byte(k), 100}), 24)}}
	return c
}

// newSide adds a host (1 for A, 2 for B...) with one member per priority.
func newSide(t *testing.T, net *fakeNet, host byte, prios ...uint8) *side {
	t.Helper()
	s := &side{}
	var insts []*Instance
	for k, p := range prios {
		nd := net.add(t, memberCfg(k, host, p))
		s.nodes = append(s.nodes, nd)
		insts = append(insts, nd.inst)
	}
	g, err := NewSyncGroup(SyncGroupConfig{Name: fmt.Sprintf("G%c", 'A'+host-1)}, insts, nil)
	if err != nil {
		t.Fatal(err)
	}
	s.g = g
	return s
}

func (s *side) start(t *testing.T) {
	for _, nd := range s.nodes {
		nd.start(t.Context())
	}
}

func (s *side) stop(t *testing.T) {
	for _, nd := range s.nodes {
		nd.stop(t)
	}
}

// consistent checks the sync group invariant at a quiescent moment: every
// member is in the group's state, and holds its addresses exactly when
// MASTER. It returns that state.
func (s *side) consistent(t *testing.T) State {
	t.Helper()
	gs := s.g.Snapshot()
	for _, nd := range s.nodes {
		snap := nd.inst.Snapshot()
		if snap.State != gs.State {
			var all []string
			for _, o := range s.nodes {
				os := o.inst.Snapshot()
				all = append(all, fmt.Sprintf("%s=%v (%q)", os.Name, os.State, os.LastReason))
			}
			t.Fatalf("at %s: group %s is %v (%q) but %s", time.Now().Format("05.000"), gs.Name, gs.State, gs.LastReason, strings.Join(all, ", "))
		}
		if held := nd.addrs.count() > 0; held != (snap.State == StateMaster) {
			t.Fatalf("%s in %v holds its address: %v", snap.Name, snap.State, held)
		}
	}
	return gs.State
}

func (s *side) want(t *testing.T, st State) {
	t.Helper()
	if got := s.consistent(t); got != st {
		t.Fatalf("group %s is %v, want %v (%q)", s.g.Name(), got, st, s.g.Snapshot().LastReason)
	}
}

// groupChanges drains what the group published so far.
func groupChanges(g *SyncGroup) []GroupChange {
	var out []GroupChange
	for {
		select {
		case c, ok := <-g.Changes():
			if !ok {
				return out
			}
			out = append(out, c)
		default:
			return out
		}
	}
}

func TestSyncGroupInterfaceDownMovesBothVIPs(t *testing.T) {
	for victim := range 2 {
		t.Run(fmt.Sprintf("member %d", victim+1), func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				net := newFakeNet()
				a := newSide(t, net, 1, 150, 150)
				b := newSide(t, net, 2, 100, 100)
				a.start(t)
				b.start(t)
				settle(10 * time.Second)
				a.want(t, StateMaster)
				b.want(t, StateBackup)
				ch := groupChanges(a.g)
				if len(ch) != 2 || ch[0].From != StateInit || ch[0].To != StateBackup || ch[1].To != StateMaster ||
					!strings.HasSuffix(ch[1].Reason, "went MASTER: master down timer expired") || ch[1].Group != "GA" {
					t.Fatalf("group changes %+v", ch)
				}

				v, other := a.nodes[victim], a.nodes[1-victim]
				v.inst.SetInterfaceUp(false)
				synctest.Wait()
				a.want(t, StateFault)
				ifname := fmt.Sprintf("eth%d", victim)
				if r := v.inst.Snapshot().LastReason; r != "interface "+ifname+" down" {
					t.Errorf("victim's reason %q", r)
				}
				wantReason := fmt.Sprintf("sync group GA: member A%d went FAULT: interface %s down", victim+1, ifname)
				if r := other.inst.Snapshot().LastReason; r != wantReason {
					t.Errorf("other member's reason %q, want %q", r, wantReason)
				}
				// Both released with priority 0: the peer group takes over
				// after its skew time, not the master down interval.
				settle(time.Second)
				b.want(t, StateMaster)

				v.inst.SetInterfaceUp(true)
				synctest.Wait()
				a.want(t, StateBackup)
				if t1, t2 := a.nodes[0].inst.Snapshot().LastTransition, a.nodes[1].inst.Snapshot().LastTransition; !t1.Equal(t2) {
					t.Errorf("members left FAULT at %v and %v, not together", t1, t2)
				}
				settle(5 * time.Second) // and preempt together
				a.want(t, StateMaster)
				b.want(t, StateBackup)
				a.stop(t)
				b.stop(t)
			})
		})
	}
}

func TestSyncGroupHigherPriorityPeerGroup(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		net := newFakeNet()
		a := newSide(t, net, 1, 100, 100)
		b := newSide(t, net, 2, 200, 200)
		a.start(t)
		settle(10 * time.Second)
		a.want(t, StateMaster)
		groupChanges(a.g)

		b.start(t)
		settle(10 * time.Second)
		b.want(t, StateMaster)
		a.want(t, StateBackup)
		ch := groupChanges(a.g)
		if len(ch) != 1 || ch[0].From != StateMaster || ch[0].To != StateBackup || !strings.Contains(ch[0].Reason, "went BACKUP: higher priority 200 from 10.0.") {
			t.Errorf("group A changes %+v", ch)
		}
		for _, nd := range a.nodes {
			if s := nd.inst.Snapshot(); s.Counters.ReleaseMaster != 1 || s.Counters.BecomeMaster != 1 {
				t.Errorf("%s became master %d times, released %d", s.Name, s.Counters.BecomeMaster, s.Counters.ReleaseMaster)
			}
		}
		settle(30 * time.Second) // stable
		a.want(t, StateBackup)
		b.want(t, StateMaster)
		a.stop(t)
		b.stop(t)
	})
}

// TestSyncGroupPrefersBackup: member 1 of A outranks B's, member 2 does
// not. Neither group may end half master; the group that got ready first
// keeps the role and the other stays BACKUP without thrashing.
func TestSyncGroupPrefersBackup(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		net := newFakeNet()
		a := newSide(t, net, 1, 150, 50)
		b := newSide(t, net, 2, 100, 100)
		a.start(t)
		b.start(t)
		settle(20 * time.Second)
		// A's member 2 (priority 50) is ready only at 3.80 s; B's are both
		// ready at 3.61 s and take the role. A's member 1 would preempt
		// but its partner accepts B's master: A stays BACKUP.
		b.want(t, StateMaster)
		a.want(t, StateBackup)
		snap := a.g.Snapshot()
		if !snap.Members[0].WantMaster || snap.Members[1].WantMaster {
			t.Errorf("A's members: %+v; want member 1 waiting for member 2", snap.Members)
		}
		before := b.nodes[0].inst.Snapshot().Counters.BecomeMaster + a.nodes[0].inst.Snapshot().Counters.BecomeMaster
		settle(60 * time.Second)
		after := b.nodes[0].inst.Snapshot().Counters.BecomeMaster + a.nodes[0].inst.Snapshot().Counters.BecomeMaster
		if after != before {
			t.Errorf("%d more master transitions in a stable minute", after-before)
		}
		a.stop(t)
		b.stop(t)
	})
}

func TestSyncGroupFaultsPropagateAndClearTogether(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		net := newFakeNet()
		a := newSide(t, net, 1, 150, 150)
		a.start(t)
		settle(5 * time.Second)
		a.want(t, StateMaster)
		groupChanges(a.g)

		a.g.SetFault("track_script chk_db", true)
		synctest.Wait()
		a.want(t, StateFault)
		for _, nd := range a.nodes {
			if r := nd.inst.Snapshot().LastReason; r != "sync group GA: fault: track_script chk_db" {
				t.Errorf("%s: reason %q", nd.inst.cfg.Name, r)
			}
		}
		a.nodes[0].inst.SetFault("chk_1", true)
		a.nodes[1].inst.SetInterfaceUp(false)
		synctest.Wait()
		if s := a.g.Snapshot(); len(s.Faults) != 1 || !s.Members[0].Fault || !s.Members[1].Fault {
			t.Errorf("snapshot %+v", s)
		}

		// Each clear but the last leaves the whole group in FAULT.
		a.g.SetFault("track_script chk_db", false)
		synctest.Wait()
		a.want(t, StateFault)
		a.nodes[0].inst.SetFault("chk_1", false)
		synctest.Wait()
		a.want(t, StateFault)
		a.nodes[1].inst.SetInterfaceUp(true)
		synctest.Wait()
		a.want(t, StateBackup)
		at := time.Now()
		for _, nd := range a.nodes {
			s := nd.inst.Snapshot()
			if !s.LastTransition.Equal(at) || s.LastReason != "sync group GA: member A2 recovered: interface eth1 up" {
				t.Errorf("%s left FAULT at %v with %q", s.Name, s.LastTransition, s.LastReason)
			}
		}
		ch := groupChanges(a.g)
		if len(ch) != 2 || ch[0].To != StateFault || ch[0].Reason != "fault: track_script chk_db" ||
			ch[1].To != StateBackup || ch[1].Reason != "member A2 recovered: interface eth1 up" {
			t.Errorf("group changes %+v", ch)
		}
		settle(5 * time.Second)
		a.want(t, StateMaster)
		a.stop(t)
	})
}

func TestSyncGroupFaultBeforeStart(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		net := newFakeNet()
		a := newSide(t, net, 1, 150, 150)
		a.nodes[1].inst.SetInterfaceUp(false)
		a.start(t)
		settle(10 * time.Second)
		a.want(t, StateFault)
		// Neither member passed through BACKUP.
		for _, nd := range a.nodes {
			c := <-nd.inst.Changes()
			if c.From != StateInit || c.To != StateFault {
				t.Errorf("%s: first change %+v", c.Instance, c)
			}
		}
		a.nodes[1].inst.SetInterfaceUp(true)
		settle(5 * time.Second)
		a.want(t, StateMaster)
		a.stop(t)
	})
}

func TestSyncGroupAddressOwners(t *testing.T) {
	tests := []struct {
		name   string
		prios  []uint8
		master time.Duration // when the group becomes master
	}{
		{"all owners: master at once", []uint8{255, 255}, 0},
		{"one owner waits for the other member", []uint8{255, 100}, down100},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				net := newFakeNet()
				s := &side{}
				var insts []*Instance
				for k, p := range tt.prios {
					c := memberCfg(k, 1, p)
					c.StartAsMaster = p == PriorityOwner
					nd := net.add(t, c)
					s.nodes = append(s.nodes, nd)
					insts = append(insts, nd.inst)
				}
				g, err := NewSyncGroup(SyncGroupConfig{Name: "GA"}, insts, nil)
				if err != nil {
					t.Fatal(err)
				}
				s.g = g
				start := time.Now()
				s.start(t)
				synctest.Wait()
				if tt.master > 0 {
					s.want(t, StateBackup)
					settle(tt.master - time.Millisecond)
					s.want(t, StateBackup)
					settle(time.Millisecond)
				}
				s.want(t, StateMaster)
				if at := g.Snapshot().LastTransition.Sub(start); at != tt.master {
					t.Errorf("group master after %v, want %v", at, tt.master)
				}
				s.stop(t)
			})
		})
	}
}

// TestSyncGroupRandomized throws random faults and priority changes at two
// groups and checks, at every quiescent moment, that each group's members
// are in one state; once the disturbances stop, the groups must settle
// (A, the higher priority, master) and stay put.
func TestSyncGroupRandomized(t *testing.T) {
	for seed := range uint64(6) {
		t.Run(fmt.Sprint("seed ", seed), func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				rnd := rand.New(rand.NewPCG(seed, 42))
				net := newFakeNet()
				a := newSide(t, net, 1, 150, 150)
				b := newSide(t, net, 2, 100, 100)
				sides := []*side{a, b}
				a.start(t)
				b.start(t)
				seen := map[State]int{}
				for range 60 {
					s := sides[rnd.IntN(2)]
					nd := s.nodes[rnd.IntN(2)]
					// Faults are set one time in four, so that the groups
					// spend time outside FAULT too.
					fault := rnd.IntN(4) == 0
					switch rnd.IntN(5) {
					case 0:
						nd.inst.SetInterfaceUp(!fault)
					case 1:
						nd.inst.SetFault("chk", fault)
					case 2:
						s.g.SetFault("grp", fault)
					case 3:
						nd.inst.SetPriorityDelta(rnd.IntN(121) - 60)
					case 4:
						s.g.SetPriorityDelta(rnd.IntN(121) - 60)
					}
					synctest.Wait()
					a.consistent(t)
					b.consistent(t)
					settle(time.Duration(rnd.IntN(4000)) * time.Millisecond)
					seen[a.consistent(t)]++
					seen[b.consistent(t)]++
				}
				// The sequence must have exercised the group rules, not
				// only left the groups idle.
				if seen[StateFault] == 0 || seen[StateMaster] == 0 || seen[StateBackup] == 0 {
					t.Fatalf("states seen %v: the random sequence does not exercise the groups", seen)
				}
				t.Logf("states seen: %v", seen)
				for _, s := range sides {
					s.g.SetFault("grp", false)
					s.g.SetPriorityDelta(0)
					for _, nd := range s.nodes {
						nd.inst.SetInterfaceUp(true)
						nd.inst.SetFault("chk", false)
						nd.inst.SetPriorityDelta(0)
					}
				}
				settle(30 * time.Second)
				a.want(t, StateMaster)
				b.want(t, StateBackup)
				var before uint64
				for _, s := range sides {
					for _, nd := range s.nodes {
						before += nd.inst.Snapshot().Counters.BecomeMaster
					}
				}
				settle(60 * time.Second)
				var after uint64
				for _, s := range sides {
					for _, nd := range s.nodes {
						after += nd.inst.Snapshot().Counters.BecomeMaster
					}
				}
				if after != before {
					t.Errorf("%d master transitions after the groups settled", after-before)
				}
				a.stop(t)
				b.stop(t)
			})
		})
	}
}

func TestSyncGroupPriorityDelta(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		net := newFakeNet()
		a := newSide(t, net, 1, 150, 150)
		b := newSide(t, net, 2, 100, 100)
		a.start(t)
		b.start(t)
		settle(10 * time.Second)
		a.want(t, StateMaster)
		// The member's own delta and the group's add up: 150-30-30 = 90.
		a.nodes[0].inst.SetPriorityDelta(-30)
		a.g.SetPriorityDelta(-30)
		settle(10 * time.Second)
		if p := a.nodes[0].inst.Snapshot().EffectivePriority; p != 90 {
			t.Errorf("A1 effective priority %d, want 90", p)
		}
		if p := a.nodes[1].inst.Snapshot().EffectivePriority; p != 120 {
			t.Errorf("A2 effective priority %d, want 120", p)
		}
		// B1 (100) would preempt A1 (90), but B2 accepts A2 (120): B
		// waits for its partner rather than split, and A stays master.
		a.want(t, StateMaster)
		b.want(t, StateBackup)
		if m := b.g.Snapshot().Members; !m[0].WantMaster || m[1].WantMaster {
			t.Errorf("B's members %+v, want B1 waiting for B2", m)
		}
		// The group's delta lowers A2 too (150-60 = 90): now both of B's
		// members preempt, and A follows as a whole.
		a.g.SetPriorityDelta(-60)
		settle(10 * time.Second)
		a.want(t, StateBackup)
		b.want(t, StateMaster)
		a.stop(t)
		b.stop(t)
	})
}

func TestSyncGroupLifecycle(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		net := newFakeNet()
		a := newSide(t, net, 1, 150, 150)
		a.start(t)
		settle(5 * time.Second)
		a.want(t, StateMaster)
		groupChanges(a.g)
		// One member stopping releases the other: half a group is never
		// master.
		a.nodes[0].stop(t)
		synctest.Wait()
		if s := a.nodes[1].inst.Snapshot(); s.State != StateBackup || s.LastReason != "sync group GA: member A1 stopped" {
			t.Errorf("A2 after A1 stopped: %v %q", s.State, s.LastReason)
		}
		settle(10 * time.Second) // and it cannot become master alone
		if s := a.nodes[1].inst.Snapshot(); s.State != StateBackup || a.nodes[1].addrs.count() != 0 {
			t.Errorf("A2 alone: %v", s.State)
		}
		a.nodes[1].stop(t)
		var got []State
		for c := range a.g.Changes() { // closed once every member's Run returned
			got = append(got, c.To)
		}
		// Straight from MASTER to STOP at the first member's stop, as
		// keepalived reports a group's shutdown.
		if len(got) != 1 || got[0] != StateStop {
			t.Errorf("group changes at stop: %v", got)
		}
		if s := a.g.Snapshot(); s.State != StateStop {
			t.Errorf("group state %v", s.State)
		}
		a.g.SetFault("late", true) // after the end: no panic, nothing published
	})
}

func TestNewSyncGroupErrors(t *testing.T) {
	mk := func(name string) *Instance {
		i, err := NewInstance(instCfg(name, addrA, 100), Deps{Sender: &node{}, Addresses: &fakeAddrs{}, Announcer: &fakeAnnouncer{}, Clock: SystemClock()}, nil)
		if err != nil {
			t.Fatal(err)
		}
		return i
	}
	x, y, z := mk("X"), mk("Y"), mk("Z")
	if _, err := NewSyncGroup(SyncGroupConfig{Name: "G0"}, []*Instance{z}, nil); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name    string
		cfg     SyncGroupConfig
		members []*Instance
		want    string
	}{
		{"no name", SyncGroupConfig{}, []*Instance{x, y}, "empty name"},
		{"no members", SyncGroupConfig{Name: "G"}, nil, "no member"},
		{"nil member", SyncGroupConfig{Name: "G"}, []*Instance{x, nil}, "nil"},
		{"twice", SyncGroupConfig{Name: "G"}, []*Instance{x, y, x}, `"X" listed twice`},
		{"in another group", SyncGroupConfig{Name: "G"}, []*Instance{x, z}, `"Z" is already in sync group "G0"`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := NewSyncGroup(tt.cfg, tt.members, nil)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("error %v, want one containing %q", err, tt.want)
			}
			// Nothing changed: x and y can still form a group later.
			if x.member != nil || y.member != nil {
				t.Fatal("a failed NewSyncGroup attached members")
			}
		})
	}
	synctest.Test(t, func(t *testing.T) {
		r := newFakeNet().add(t, instCfg("R", addrA, 100))
		r.start(t.Context())
		synctest.Wait()
		if _, err := NewSyncGroup(SyncGroupConfig{Name: "G"}, []*Instance{r.inst}, nil); err == nil || !strings.Contains(err.Error(), "already running") {
			t.Errorf("group of a running instance: %v", err)
		}
		r.stop(t)
	})
	g, err := NewSyncGroup(SyncGroupConfig{Name: "G", TrackingWeight: true}, []*Instance{x, y}, nil)
	if err != nil {
		t.Fatal(err)
	}
	if s := g.Snapshot(); s.Name != "G" || !s.TrackingWeight || len(s.Members) != 2 || s.Members[0].Name != "X" || s.State != StateInit || !g.Config().TrackingWeight {
		t.Errorf("snapshot %+v", s)
	}
}

// TestSyncGroupOneMemberLosesTheOthersFollow: a standalone router outranks
// only member 1; member 2 has no better peer but must release its address
// too, and stays BACKUP since member 1 accepts the new master.
func TestSyncGroupOneMemberLosesTheOthersFollow(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		net := newFakeNet()
		a := newSide(t, net, 1, 100, 100)
		a.start(t)
		settle(5 * time.Second)
		a.want(t, StateMaster)
		c := net.add(t, memberCfg(0, 3, 200)) // VRID 51 only
		c.start(t.Context())
		settle(10 * time.Second)
		wantState(t, c, StateMaster)
		a.want(t, StateBackup)
		if r := a.nodes[1].inst.Snapshot().LastReason; r != "sync group GA: member A1 went BACKUP: higher priority 200 from 10.0.0.3" {
			t.Errorf("A2's reason %q", r)
		}
		settle(30 * time.Second)
		a.want(t, StateBackup)
		if m := a.g.Snapshot().Members; m[0].WantMaster || !m[1].WantMaster {
			t.Errorf("members %+v: want A2 alone ready to be master", m)
		}
		c.stop(t)
		settle(time.Second) // C resigns with priority 0: A takes over as a whole
		a.want(t, StateMaster)
		a.stop(t)
	})
}

// TestSyncGroupStaleCommandDoesNotBounce drives two members by hand, in the
// one interleaving that delivers a stale command: the group turns MASTER and
// posts SyncMaster to X, then turns BACKUP (posting SyncBackup) before X has
// read its mailbox. X must go through MASTER and back without the group
// taking its forced transition for a new decision.
func TestSyncGroupStaleCommandDoesNotBounce(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		net := newFakeNet()
		x, y := net.add(t, memberCfg(0, 1, 100)), net.add(t, memberCfg(1, 1, 100))
		g, err := NewSyncGroup(SyncGroupConfig{Name: "G"}, []*Instance{x.inst, y.inst}, nil)
		if err != nil {
			t.Fatal(err)
		}
		for _, nd := range []*node{x, y} {
			nd.inst.handle(Start{})
		}
		time.Sleep(down100)
		x.inst.handle(TimerExpired{}) // X ready, Y not yet
		y.inst.handle(TimerExpired{}) // Y ready: the group is MASTER, SyncMaster posted to X
		if y.state() != StateMaster || g.Snapshot().State != StateMaster {
			t.Fatalf("Y %v, group %v", y.state(), g.Snapshot().State)
		}
		higher := netip.MustParseAddr("10.0.9.9")
		x.inst.handle(AdvertReceived{Src: higher, Priority: 200})
		y.inst.handle(AdvertReceived{Src: higher, Priority: 200}) // group BACKUP, SyncBackup posted to X
		x.inst.syncEvents()                                       // stale SyncMaster, then SyncBackup
		if x.state() != StateBackup || y.state() != StateBackup {
			t.Fatalf("X %v, Y %v", x.state(), y.state())
		}
		if s := x.inst.Snapshot(); s.Counters.BecomeMaster != 1 || s.Counters.ReleaseMaster != 1 || x.addrs.count() != 0 {
			t.Errorf("X: %+v, %d addresses", s.Counters, x.addrs.count())
		}
		if box := y.inst.member.drain(); len(box) != 0 {
			t.Errorf("the forced transitions bounced back to Y: %#v", box)
		}
		var got []State
		for _, c := range groupChanges(g) {
			got = append(got, c.To)
		}
		if want := []State{StateBackup, StateMaster, StateBackup}; fmt.Sprint(got) != fmt.Sprint(want) {
			t.Errorf("group changes %v, want %v", got, want)
		}
	})
}
