package vrrp

import (
	"net/netip"
	"testing"
	"testing/synctest"
	"time"
)

func TestInstanceUpdateVIPs(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		net := newFakeNet()
		a := net.add(t, instCfg("A", addrA, 150))
		b := net.add(t, instCfg("B", addrB, 100))
		a.start(t.Context())
		b.start(t.Context())
		settle(5 * time.Second)
		wantState(t, a, StateMaster)
		changesBefore := a.inst.Snapshot().Counters.BecomeMaster

		const extra = "10.0.0.101/24"
		keep := VIP{Prefix: netip.MustParsePrefix(vip)}
		add := VIP{Prefix: netip.MustParsePrefix(extra)}
		annBefore := len(a.ann.list())
		// The backup is reloaded first, so it expects the new list by the
		// time the master advertises it.
		b.inst.UpdateVIPs([]VIP{keep, add}, nil)
		a.inst.UpdateVIPs([]VIP{keep, add}, nil)
		synctest.Wait()
		if !a.addrs.holds(vip) || !a.addrs.holds(extra) {
			t.Fatalf("master after adding a VIP holds %v/%v", a.addrs.holds(vip), a.addrs.holds(extra))
		}
		if b.addrs.count() != 0 {
			t.Fatalf("backup took %d addresses on update", b.addrs.count())
		}
		if a.addrs.removes != 0 {
			t.Errorf("the unchanged VIP was removed %d times", a.addrs.removes)
		}
		anns := a.ann.list()[annBefore:]
		if len(anns) != 1 || len(anns[0].addrs) != 1 || anns[0].addrs[0] != add.Prefix.Addr() {
			t.Errorf("announcements after update = %+v, want one for the new VIP only", anns)
		}
		settle(3 * time.Second)
		wantState(t, a, StateMaster)
		wantState(t, b, StateBackup)
		if s := a.inst.Snapshot(); s.Counters.BecomeMaster != changesBefore || len(s.VIPs) != 2 {
			t.Errorf("after update: become master %d (was %d), VIPs %v", s.Counters.BecomeMaster, changesBefore, s.VIPs)
		}
		if s := b.inst.Snapshot(); s.Counters.AddrListErrors != 0 {
			t.Errorf("backup saw %d address-list mismatches", s.Counters.AddrListErrors)
		}

		// Removing the first VIP takes it off the master and leaves the other.
		a.inst.UpdateVIPs([]VIP{add}, nil)
		synctest.Wait()
		if a.addrs.holds(vip) || !a.addrs.holds(extra) {
			t.Errorf("after removing %s: holds old=%v new=%v", vip, a.addrs.holds(vip), a.addrs.holds(extra))
		}
		a.stop(t)
		b.stop(t)
		if a.addrs.count() != 0 {
			t.Errorf("addresses left after stop: %d", a.addrs.count())
		}
	})
}

// TestInstanceConfigWhileUpdating reads Config from another goroutine while
// the loop applies address and priority updates: the link watcher, the
// status handlers and reload all do. Under -race, a Config that read the
// loop's own copy fails here; and each read must see a whole update (both
// lists of one UpdateVIPs), never a half-written one.
func TestInstanceConfigWhileUpdating(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		net := newFakeNet()
		a := net.add(t, instCfg("A", addrA, 150))
		a.start(t.Context())
		settle(5 * time.Second)
		stop := make(chan struct{})
		done := make(chan struct{})
		go func() {
			defer close(done)
			for {
				c := a.inst.Config()
				if len(c.VIPs) != len(c.ExcludedVIPs)+1 {
					t.Errorf("Config saw %d VIPs and %d excluded: half an update", len(c.VIPs), len(c.ExcludedVIPs))
				}
				select {
				case <-stop:
					return
				default:
				}
				time.Sleep(time.Millisecond) // a fake clock's sleep: lets the loop run
			}
		}()
		for n := range 20 {
			vips := []VIP{{Prefix: netip.MustParsePrefix(vip)}}
			var excluded []VIP
			for k := range n % 3 {
				vips = append(vips, VIP{Prefix: netip.PrefixFrom(netip.AddrFrom4([4]byte{10, 0, 1, byte(k)}), 24)})
				excluded = append(excluded, VIP{Prefix: netip.PrefixFrom(netip.AddrFrom4([4]byte{10, 0, 2, byte(k)}), 24)})
			}
			a.inst.UpdateVIPs(vips, excluded)
			a.inst.UpdatePriority(uint8(100 + n))
			time.Sleep(time.Millisecond)
		}
		close(stop)
		<-done
		if got := a.inst.Config().Priority; got != 119 {
			t.Errorf("Config().Priority = %d after the updates, want 119", got)
		}
		a.stop(t)
	})
}
