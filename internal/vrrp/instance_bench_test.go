package vrrp

import (
	"net/netip"
	"testing"
	"time"
)

// BenchmarkBackupReceive measures what a backup spends on one advert from
// its master, from the payload to the handled event: the part of the
// per-packet cost that is Vigil's own code rather than the kernel's or the
// Go runtime's.
func BenchmarkBackupReceive(b *testing.B) {
	cfg := instCfg("B", addrB, 100)
	cfg.Version, cfg.AdvertInterval = 3, 100*time.Millisecond
	nd := &node{addr: addrB, addrs: &fakeAddrs{held: map[netip.Prefix]bool{}}, ann: &fakeAnnouncer{}}
	inst, err := NewInstance(cfg, Deps{Sender: nd, Addresses: nd.addrs, Announcer: nd.ann, Clock: SystemClock()}, nil)
	if err != nil {
		b.Fatal(err)
	}
	inst.handle(Start{})
	p := Packet{Version: 3, VRID: cfg.VRID, Priority: 150, Interval: 100 * time.Millisecond,
		Addrs: []netip.Addr{netip.MustParsePrefix(vip).Addr()}}
	payload, err := p.Marshal(addrA, MulticastGroup4, CodecOptions{})
	if err != nil {
		b.Fatal(err)
	}
	r := Received{Src: addrA, Dst: MulticastGroup4, TTL: 255, Payload: payload}
	b.ReportAllocs()
	for b.Loop() {
		inst.receive(r)
	}
	if s := inst.Snapshot(); s.State != StateBackup || s.Counters.AdvertsRx == 0 {
		b.Fatalf("after the loop: %+v", s)
	}
}
