package dataplane

import (
	"net/netip"
	"testing"
	"time"
)

// TestFormatLikeIpvsadm pins Format to what ipvsadm -Sn printed for the same
// table on Linux 6.1 (ipvsadm 1.31): option order, flag names per
// scheduler, tunnel options, no thresholds.
func TestFormatLikeIpvsadm(t *testing.T) {
	k := func(p Protocol, a string, port uint16) ServiceKey {
		ad := netip.MustParseAddr(a)
		return ServiceKey{Family: FamilyOf(ad), Protocol: p, Addr: ad, Port: port}
	}
	dest := func(a string, port uint16, f Forwarding, w int32) Destination {
		return Destination{Key: DestKey{Addr: netip.MustParseAddr(a), Port: port}, Forwarding: f, Weight: w, UpperThreshold: 100, LowerThreshold: 10}
	}
	entry := func(s Service, ds ...Destination) Entry {
		e := Entry{Service: s, Dests: map[DestKey]Destination{}}
		for _, d := range ds {
			e.Dests[d.Key] = d
		}
		return e
	}
	tab := Table{}
	for _, e := range []Entry{
		entry(Service{Key: k(ProtoTCP, "10.0.0.1", 80), Scheduler: "rr", Flags: 7, PersistenceBits: 32},
			dest("10.0.1.1", 80, Forwarding{}, 2)),
		entry(Service{Key: k(ProtoTCP, "10.0.0.2", 80), Scheduler: "sh", Flags: 7, PersistenceBits: 32}),
		entry(Service{Key: k(ProtoTCP, "10.0.0.3", 80), Scheduler: "mh", Flags: SchedFlag3, PersistenceBits: 32}),
		entry(Service{Key: k(ProtoUDP, "10.0.0.4", 5060), Scheduler: "rr", Persistence: time.Minute, PersistenceBits: 16, PersistenceEngine: "sip", OnePacket: true},
			dest("10.0.1.1", 5060, Forwarding{Method: Tunnel, TunnelType: GUE, TunnelPort: 6080}, 2)),
		entry(Service{Key: k(ProtoTCP, "fd00::1", 80), Scheduler: "rr", Persistence: 30 * time.Second, PersistenceBits: 64}),
		entry(Service{Key: ServiceKey{Family: IPv4, Fwmark: 5}, Scheduler: "rr", Persistence: 10 * time.Second, PersistenceBits: 32}),
	} {
		tab[e.Service.Key] = e
	}
	// ipvsadm's output, lines in Format's order.
	want := `-A -t 10.0.0.1:80 -s rr -b flag-1,flag-2,flag-3
-a -t 10.0.0.1:80 -r 10.0.1.1:80 -m -w 2
-A -t 10.0.0.2:80 -s sh -b sh-fallback,sh-port
-A -t 10.0.0.3:80 -s mh -b 
-A -u 10.0.0.4:5060 -s rr -p 60 -M 255.255.0.0 --pe sip -o
-a -u 10.0.0.4:5060 -r 10.0.1.1:5060 -i -w 2 --tun-type gue --tun-port 6080 --tun-nocsum
-A -t [fd00::1]:80 -s rr -p 30 -M 64
-A -f 5 -s rr -p 10
`
	if got := tab.Format(); got != want {
		t.Errorf("Format:\n%s\nwant (ipvsadm -Sn):\n%s", got, want)
	}
}
