package vrrp

import (
	"bytes"
	"net/netip"
	"testing"
	"time"
)

// TestInstanceRepeatedAdvert checks the shortcut for an advert identical to
// the last one that passed the checks (goodAdvert): it must give exactly the
// answer the full checks give, so each case first has a good advert
// accepted, then feeds a second packet and compares counters and drops.
func TestInstanceRepeatedAdvert(t *testing.T) {
	good := func(t *testing.T, prio uint8, addrs ...netip.Addr) []byte {
		t.Helper()
		if len(addrs) == 0 {
			addrs = []netip.Addr{netip.MustParsePrefix(vip).Addr()}
		}
		p := Packet{Version: 2, VRID: 51, Priority: prio, Interval: time.Second, Addrs: addrs,
			AuthType: AuthNone}
		b, err := p.Marshal(addrA, MulticastGroup4, CodecOptions{})
		if err != nil {
			t.Fatal(err)
		}
		return b
	}
	other := netip.MustParseAddr("10.0.0.9")
	tests := []struct {
		name string
		// second returns the packet that follows the accepted good one.
		second     func(t *testing.T, first Received) Received
		update     []VIP // applied between the two, when set
		wantRx     uint64
		wantDrop   DropReason
		wantMaster netip.Addr
		wantPrio   uint8
		wantAddrEr uint64
	}{
		{
			name:   "identical advert is accepted",
			second: func(t *testing.T, f Received) Received { return f },
			wantRx: 2, wantMaster: addrA, wantPrio: 150,
		},
		{
			name: "same bytes with TTL 254 are dropped",
			second: func(t *testing.T, f Received) Received {
				f.TTL = 254
				return f
			},
			wantRx: 1, wantDrop: DropTTL, wantMaster: addrA, wantPrio: 150,
		},
		{
			// VRRPv2's checksum does not cover the addresses: valid, and
			// the master is the new source, not the cached one.
			name: "same bytes from another source are another master's",
			second: func(t *testing.T, f Received) Received {
				f.Src = other
				return f
			},
			wantRx: 2, wantMaster: other, wantPrio: 150,
		},
		{
			name: "one byte changed is checked in full",
			second: func(t *testing.T, f Received) Received {
				f.Payload = bytes.Clone(f.Payload)
				f.Payload[7] ^= 0xff // the checksum no longer matches
				return f
			},
			wantRx: 1, wantDrop: DropChecksum, wantMaster: addrA, wantPrio: 150,
		},
		{
			name:   "a new priority is a new advert",
			second: func(t *testing.T, f Received) Received { f.Payload = good(t, 160); return f },
			wantRx: 2, wantMaster: addrA, wantPrio: 160,
		},
		{
			name:       "after the address list changes the same advert is a mismatch again",
			second:     func(t *testing.T, f Received) Received { return f },
			update:     []VIP{{Prefix: netip.MustParsePrefix("10.0.0.101/24")}},
			wantRx:     2,
			wantMaster: addrA, wantPrio: 150, wantAddrEr: 1,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			nd := &node{addr: addrB, addrs: &fakeAddrs{held: map[netip.Prefix]bool{}}, ann: &fakeAnnouncer{}}
			inst, err := NewInstance(instCfg("B", addrB, 100), Deps{Sender: nd, Addresses: nd.addrs, Announcer: nd.ann, Clock: SystemClock()}, nil)
			if err != nil {
				t.Fatal(err)
			}
			inst.handle(Start{})
			first := Received{Src: addrA, Dst: MulticastGroup4, TTL: 255, Payload: good(t, 150)}
			inst.receive(first)
			if s := inst.Snapshot(); s.Counters.AdvertsRx != 1 || len(s.Drops) != 0 {
				t.Fatalf("first advert: %+v", s)
			}
			if tt.update != nil {
				done := make(chan struct{})
				inst.applyVIPs(vipUpdate{vips: tt.update, done: done})
			}
			inst.receive(tt.second(t, first))
			s := inst.Snapshot()
			if s.Counters.AdvertsRx != tt.wantRx {
				t.Errorf("AdvertsRx = %d, want %d", s.Counters.AdvertsRx, tt.wantRx)
			}
			var drops uint64
			for r, n := range s.Drops {
				if r != DropAddrList { // counted with AddrListErrors, below
					drops += n
				}
			}
			switch {
			case tt.wantDrop == "" && drops != 0:
				t.Errorf("drops %v, want none", s.Drops)
			case tt.wantDrop != "" && (s.Drops[tt.wantDrop] != 1 || drops != 1):
				t.Errorf("drops %v, want one %s", s.Drops, tt.wantDrop)
			}
			if s.MasterAddr != tt.wantMaster || s.MasterPriority != tt.wantPrio {
				t.Errorf("master %v priority %d, want %v %d", s.MasterAddr, s.MasterPriority, tt.wantMaster, tt.wantPrio)
			}
			if s.Counters.AddrListErrors != tt.wantAddrEr || s.Drops[DropAddrList] != tt.wantAddrEr {
				t.Errorf("AddrListErrors = %d, addr_list drops %d, want %d of each", s.Counters.AddrListErrors, s.Drops[DropAddrList], tt.wantAddrEr)
			}
		})
	}
}
