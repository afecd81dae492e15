package vrrp

import (
	"net/netip"
	"testing"
	"time"
)

// FuzzInstanceReceive feeds arbitrary payloads through the instance's receive
// path (codec and instance checks): each packet must be either counted as
// one drop or accepted as one advert, and never crash the instance.
func FuzzInstanceReceive(f *testing.F) {
	good := &Packet{Version: 2, VRID: 51, Priority: 200, Interval: time.Second, Addrs: []netip.Addr{netip.MustParseAddr("10.0.0.100")}}
	b, err := good.Marshal(addrB, MulticastGroup4, CodecOptions{})
	if err != nil {
		f.Fatal(err)
	}
	f.Add(b, uint8(255), false)
	f.Add(b, uint8(1), false)
	f.Add(b[:9], uint8(255), true)
	f.Add([]byte{0x31, 51, 0, 0, 0, 100, 0, 0}, uint8(255), false)
	f.Add([]byte{}, uint8(255), true)
	f.Fuzz(func(t *testing.T, payload []byte, ttl uint8, unicast bool) {
		cfg := instCfg("F", addrA, 100)
		cfg.AuthType, cfg.AuthPass = AuthPass, "pw"
		dst := MulticastGroup4
		if unicast {
			cfg.Unicast, cfg.Peers, dst = true, []netip.Addr{addrB}, addrA
		}
		i, err := NewInstance(cfg, Deps{Sender: &node{net: newFakeNet()}, Addresses: &fakeAddrs{held: map[netip.Prefix]bool{}}, Announcer: &fakeAnnouncer{}, Clock: SystemClock()}, nil)
		if err != nil {
			t.Fatal(err)
		}
		i.handle(Start{})
		i.receive(Received{Src: addrB, Dst: dst, TTL: int(ttl), Payload: payload})
		s := i.Snapshot()
		var drops uint64
		for _, n := range s.Drops {
			drops += n
		}
		if drops+s.Counters.AdvertsRx != 1 {
			t.Fatalf("drops %v and %d adverts for one packet", s.Drops, s.Counters.AdvertsRx)
		}
	})
}
