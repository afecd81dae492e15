package vrrp

import (
	"net/netip"
	"testing"
	"testing/synctest"
	"time"
)

func TestGarpScheduleLowerPrio(t *testing.T) {
	g := garpSchedule{repeat: 5, delay: 5 * time.Second, lowerRepeat: 2, lowerDelay: 10 * time.Second}
	g.start(t0)
	if n := g.lower(t0.Add(time.Second)); n != 2 {
		t.Errorf("lower burst %d, want 2", n)
	}
	// A second lower priority advert does not push the delayed burst back.
	if n := g.lower(t0.Add(3 * time.Second)); n != 2 {
		t.Errorf("second lower burst %d, want 2", n)
	}
	for _, step := range []struct {
		at, next time.Duration // next: -1 for none
		burst    int
	}{
		{5 * time.Second, 11 * time.Second, 5},
		{11 * time.Second, -1, 2},
	} {
		if n := g.due(t0.Add(step.at)); n != step.burst {
			t.Errorf("due(%v) = %d, want %d", step.at, n, step.burst)
		}
		want := time.Time{}
		if step.next >= 0 {
			want = t0.Add(step.next)
		}
		if got := g.next(); !got.Equal(want) {
			t.Errorf("after due(%v): next %v, want %v", step.at, got, want)
		}
	}
	g.lower(t0.Add(20 * time.Second))
	g.stop()
	if !g.next().IsZero() {
		t.Error("stop left the lower priority burst pending")
	}
	off := garpSchedule{lowerDelay: time.Second}
	if n := off.lower(t0); n != 0 || !off.next().IsZero() {
		t.Errorf("repeat 0: burst %d, next %v; want nothing", n, off.next())
	}
}

// lowerAdvert is a valid advert of priority 50 from addrB for VRID vrid.
func lowerAdvert(t *testing.T, vrid uint8, vip netip.Addr) Received {
	t.Helper()
	p := &Packet{Version: 2, VRID: vrid, Priority: 50, Interval: time.Second, Addrs: []netip.Addr{vip}}
	b, err := p.Marshal(addrB, MulticastGroup4, CodecOptions{})
	if err != nil {
		t.Fatal(err)
	}
	return Received{Src: addrB, Dst: MulticastGroup4, TTL: 255, Payload: b}
}

// bursts counts the announcements made after index from, by offset from base.
func bursts(calls []announcement, from int, base time.Time) map[time.Duration]int {
	out := map[time.Duration]int{}
	for _, c := range calls[from:] {
		out[c.at.Sub(base)]++
	}
	return out
}

func TestInstanceGarpLowerPrio(t *testing.T) {
	tests := []struct {
		name   string
		repeat int
		delay  time.Duration
		want   map[time.Duration]int // announcements by offset from the first lower advert
	}{
		{"repeat and delay", 2, 5 * time.Second, map[time.Duration]int{0: 2, time.Second: 2, 5 * time.Second: 2}},
		{"no delay: one burst per advert", 3, 0, map[time.Duration]int{0: 3, time.Second: 3}},
		{"off", 0, 5 * time.Second, map[time.Duration]int{}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				cfg := instCfg("A", addrA, 255)
				cfg.StartAsMaster = true
				cfg.GarpDelay, cfg.GarpRepeat = 0, 1
				cfg.GarpLowerPrioRepeat, cfg.GarpLowerPrioDelay = tt.repeat, tt.delay
				a := newFakeNet().add(t, cfg)
				a.start(t.Context())
				settle(10 * time.Second)
				from := len(a.ann.list())
				base := time.Now()
				// Two lower priority adverts one second apart (a peer that
				// believes it is master).
				a.in <- lowerAdvert(t, 51, netip.MustParseAddr("10.0.0.100"))
				settle(time.Second)
				a.in <- lowerAdvert(t, 51, netip.MustParseAddr("10.0.0.100"))
				settle(30 * time.Second)
				got := bursts(a.ann.list(), from, base)
				if len(got) != len(tt.want) {
					t.Fatalf("announcements %v, want %v", got, tt.want)
				}
				for at, n := range tt.want {
					if got[at] != n {
						t.Errorf("announcements %v, want %v", got, tt.want)
						break
					}
				}
				a.stop(t)
			})
		})
	}
}

// TestSyncGroupGarpLowerPrio: when one member's master hears a lower
// priority advert, the other members repeat their announcements too.
func TestSyncGroupGarpLowerPrio(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		net := newFakeNet()
		var insts []*Instance
		var nodes []*node
		for k, rep := range []int{1, 3} {
			c := memberCfg(k, 1, 150)
			c.GarpDelay, c.GarpRepeat = 0, 1
			c.GarpLowerPrioRepeat = rep
			nd := net.add(t, c)
			nodes = append(nodes, nd)
			insts = append(insts, nd.inst)
		}
		if _, err := NewSyncGroup(SyncGroupConfig{Name: "G"}, insts, nil); err != nil {
			t.Fatal(err)
		}
		for _, nd := range nodes {
			nd.start(t.Context())
		}
		settle(10 * time.Second)
		wantState(t, nodes[0], StateMaster)
		wantState(t, nodes[1], StateMaster)
		from0, from1 := len(nodes[0].ann.list()), len(nodes[1].ann.list())
		nodes[0].in <- lowerAdvert(t, 51, netip.MustParseAddr("10.0.0.100"))
		synctest.Wait()
		if n := len(nodes[0].ann.list()) - from0; n != 1 {
			t.Errorf("member hearing the advert announced %d times, want 1", n)
		}
		if n := len(nodes[1].ann.list()) - from1; n != 3 {
			t.Errorf("other member announced %d times, want its own repeat 3", n)
		}
		for _, nd := range nodes {
			nd.stop(t)
		}
	})
}
