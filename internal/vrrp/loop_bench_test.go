package vrrp

import (
	"bytes"
	"context"
	"fmt"
	"net/netip"
	"testing"
	"time"
)

// BenchmarkLoopBackup is a backup's user-space cost per received advert
// with 200 instances on one loop: queueing by the transport, the loop's
// drain, the instance's checks, the machine and the timer heap. One
// iteration is one burst of 200 adverts, as the masters send them.
func BenchmarkLoopBackup(b *testing.B) {
	const n = 200
	l := NewLoop(SystemClock())
	l.timer = SystemClock().NewTimer(time.Hour)
	l.timer.Stop()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var delivers []func(Received) bool
	var payloads [][]byte
	for k := 1; k <= n; k++ {
		cfg := instCfg(fmt.Sprintf("B%d", k), addrB, 100)
		cfg.VRID = uint8(k)
		cfg.Version, cfg.AdvertInterval = 3, 100*time.Millisecond
		nd := &node{addr: addrB, addrs: &fakeAddrs{held: map[netip.Prefix]bool{}}, ann: &fakeAnnouncer{}}
		inst, err := NewInstance(cfg, Deps{Sender: nd, Addresses: nd.addrs, Announcer: nd.ann, Clock: SystemClock()}, nil)
		if err != nil {
			b.Fatal(err)
		}
		d, err := l.Start(ctx, inst)
		if err != nil {
			b.Fatal(err)
		}
		delivers = append(delivers, d)
		p := Packet{Version: 3, VRID: cfg.VRID, Priority: 150, Interval: 100 * time.Millisecond,
			Addrs: []netip.Addr{netip.MustParsePrefix(vip).Addr()}}
		payload, err := p.Marshal(addrA, MulticastGroup4, CodecOptions{})
		if err != nil {
			b.Fatal(err)
		}
		payloads = append(payloads, payload)
	}
	l.drain()
	b.ReportAllocs()
	for b.Loop() {
		for k, d := range delivers {
			d(Received{Src: addrA, Dst: MulticastGroup4, TTL: 255, Payload: bytes.Clone(payloads[k])})
		}
		l.drain()
		l.rearm()
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*n), "ns/advert")
}
