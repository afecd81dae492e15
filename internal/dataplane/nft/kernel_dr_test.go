package nft

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/google/nftables"
	"github.com/google/nftables/expr"

	"vigil/internal/dataplane"
	"vigil/internal/lvs"
	"vigil/internal/netlab"
)

// drLab is the classic LVS-DR topology on one bridge: the client, the
// director (holding the VIP on eth0, as VRRP puts it) and real servers
// holding the VIP on lo with arp_ignore/arp_announce, so that only the
// director answers ARP for it. Real servers answer the client directly;
// services and real servers use port 80 (DR cannot change the port).
type drLab struct {
	*lab
	rsAddrs []string
}

const (
	drVIP  = "10.78.1.100"
	drVIP6 = "fd78:1::100"
)

func newDRLab(t *testing.T, nreals int) *drLab {
	t.Helper()
	l := netlab.New(t)
	lb := &drLab{lab: &lab{t: t}}
	lb.client = l.AddHost("client", "10.78.1.2/24", "fd78:1::2/64")
	lb.dir = l.AddHost("dir", "10.78.1.1/24", drVIP+"/24", "fd78:1::1/64", drVIP6+"/64")
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	run := func(h *netlab.Host, args ...string) {
		t.Helper()
		if out, err := h.Exec(ctx, args[0], args[1:]...); err != nil {
			t.Fatalf("%v: %v %s", args, err, out)
		}
	}
	for i := range nreals {
		name := fmt.Sprintf("r%d", i+1)
		addr := fmt.Sprintf("10.78.1.%d", 11+i)
		h := l.AddHost(name, addr+"/24", fmt.Sprintf("fd78:1::%d/64", 11+i))
		for _, kv := range []string{"net.ipv4.conf.all.arp_ignore=1", "net.ipv4.conf.all.arp_announce=2", "net.ipv4.conf.eth0.arp_ignore=1", "net.ipv4.conf.eth0.arp_announce=2"} {
			run(h, "sysctl", "-qw", kv)
		}
		run(h, "ip", "addr", "add", drVIP+"/32", "dev", "lo")
		run(h, "ip", "-6", "addr", "add", drVIP6+"/128", "dev", "lo", "nodad")
		servePort(t, h, name, 80)
		lb.reals = append(lb.reals, h)
		lb.rsAddrs = append(lb.rsAddrs, addr)
	}
	if err := lb.dir.Do(func() error {
		var err error
		lb.plane, err = New(Config{})
		return err
	}); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { lb.plane.Close() })
	return lb
}

func drRS(addr string, w int32) dataplane.Destination {
	return dataplane.Destination{Key: dataplane.DestKey{Addr: netip.MustParseAddr(addr), Port: 80}, Weight: w, Forwarding: dataplane.Forwarding{Method: dataplane.DR}}
}

func drSvc(addr string, proto dataplane.Protocol, sched string) dataplane.Service {
	return svc(addr, proto, sched)
}

// waitReady waits until the plane knows the MAC of every addr; the bound
// (10 s) is generous: resolution on a bridge takes milliseconds.
func (lb *drLab) waitReady(addrs ...string) {
	lb.t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		lb.plane.mu.Lock()
		n := 0
		for _, a := range addrs {
			if lb.plane.ready(netip.MustParseAddr(a)) {
				n++
			}
		}
		lb.plane.mu.Unlock()
		if n == len(addrs) {
			return
		}
		if time.Now().After(deadline) {
			lb.t.Fatalf("MACs of %v not resolved after 10 s (%d of %d)", addrs, n, len(addrs))
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// nft lists Vigil's netdev table in the director's namespace.
func (lb *drLab) nft(args ...string) string {
	lb.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	out, err := lb.dir.Exec(ctx, "nft", args...)
	if err != nil {
		lb.t.Fatalf("nft %v: %v %s", args, err, out)
	}
	return string(out)
}

// TestKernelDR: rr over three DR real servers is exact, replies go from
// the real servers to the client directly (they hold the VIP on lo and
// the client is on their link), each connection is a flow, drain and removal keep established connections
// and end new ones, a real server whose MAC cannot be resolved takes no new
// connection, and Remove leaves nothing of Vigil's.
func TestKernelDR(t *testing.T) {
	lb := newDRLab(t, 3)
	ctx := context.Background()
	s := drSvc(drVIP, dataplane.ProtoTCP, "rr")
	var ds []dataplane.Destination
	for _, a := range lb.rsAddrs {
		ds = append(ds, drRS(a, 1))
	}
	lb.add(s, ds...)
	lb.waitReady(lb.rsAddrs...)
	if out := lb.nft("list", "chain", "netdev", DefaultTable, "in_eth0"); !strings.Contains(out, "hook ingress device \"eth0\"") {
		t.Fatalf("no ingress chain on eth0:\n%s", out)
	}
	if !lb.chainHas("s1", func(x expr.Any) bool { p, ok := x.(*expr.Payload); return ok && p.OperationType == expr.PayloadWrite }) {
		t.Fatal("service chain s1 rewrites no MAC")
	}

	got := lb.names(drVIP, 30)
	eq(t, "rr shares", count(got), map[string]int{"r1": 10, "r2": 10, "r3": 10})
	for i := 3; i < len(got); i++ {
		if got[i] != got[i-3] {
			t.Fatalf("rr order is not cyclic: %v", got)
		}
	}
	// Each connection is a flow of the service's flow map, keyed by the
	// client's address and port (the director's connection table for
	// DR, as IPVS keeps one).
	if out := lb.nft("list", "map", "netdev", DefaultTable, "f1"); strings.Count(out, "10.78.1.2 . ") != 30 {
		t.Fatalf("flow map f1 does not hold the 30 connections:\n%s", out)
	}

	// Drain r1 and remove r2, each with a connection open on it.
	conns := map[string]net.Conn{}
	for range 3 {
		c := lb.dial(drVIP)
		conns[lb.ask(c)] = c
	}
	if len(conns) != 3 {
		t.Fatalf("three connections in a row went to %v", conns)
	}
	lb.must(lb.plane.UpdateDestination(ctx, s.Key, drRS(lb.rsAddrs[0], 0)))
	lb.must(lb.plane.DeleteDestination(ctx, s.Key, drRS(lb.rsAddrs[1], 0).Key))
	eq(t, "established on r1 (drained)", lb.ask(conns["r1"]), "r1")
	eq(t, "established on r2 (removed)", lb.ask(conns["r2"]), "r2")
	eq(t, "new connections", count(lb.names(drVIP, 6)), map[string]int{"r3": 6})

	// A real server nobody answers for: its MAC stays unknown, it takes
	// no new connection, and the others go on.
	lb.must(lb.plane.UpdateDestination(ctx, s.Key, drRS(lb.rsAddrs[0], 1)))
	lb.must(lb.plane.AddDestination(ctx, s.Key, drRS("10.78.1.50", 1)))
	eq(t, "with an unresolved real server", count(lb.names(drVIP, 6)), map[string]int{"r1": 3, "r3": 3})

	lb.must(lb.plane.Remove(ctx))
	if out := lb.nft("list", "tables"); strings.Contains(out, DefaultTable) {
		t.Fatalf("tables left after Remove:\n%s", out)
	}
}

// TestKernelDRIPv6UDPPersistence: DR for an IPv6 UDP service with
// persistence (one client, one real server for every flow) and for an IPv4
// sh service, side by side.
func TestKernelDRIPv6UDPPersistence(t *testing.T) {
	lb := newDRLab(t, 2)
	// A DR real server must answer UDP from the VIP: a socket bound to
	// the wildcard would answer from its own address.
	for i, h := range lb.reals {
		serveUDPOn(t, h, fmt.Sprintf("r%d", i+1), netip.AddrPortFrom(netip.MustParseAddr(drVIP6), 53))
	}
	s6 := drSvc(drVIP6, dataplane.ProtoUDP, "rr")
	s6.Key.Port = 53
	s6.Persistence, s6.PersistenceBits = time.Minute, 128
	lb.add(s6, drRS53("fd78:1::11"), drRS53("fd78:1::12"))
	s4 := drSvc(drVIP, dataplane.ProtoTCP, "sh")
	lb.add(s4, drRS(lb.rsAddrs[0], 1), drRS(lb.rsAddrs[1], 1))
	lb.waitReady("fd78:1::11", "fd78:1::12", lb.rsAddrs[0], lb.rsAddrs[1])
	got := count(lb.udpPort(drVIP6, 53, 8))
	if len(got) != 1 {
		t.Fatalf("persistent client spread over %v", got)
	}
	got = count(lb.names(drVIP, 8))
	if len(got) != 1 {
		t.Fatalf("sh spread one client over %v", got)
	}
}

// TestKernelDRNeighbourChanges drives the neighbour view by hand: the hop
// element follows the MAC (known, changed, failed), a deleted entry keeps
// the last MAC and asks for resolution, each change one transaction.
func TestKernelDRNeighbourChanges(t *testing.T) {
	lb := newDRLab(t, 0)
	lb.plane.Close()
	fake := newFakeNeighbours()
	if err := lb.dir.Do(func() error {
		var err error
		lb.plane, err = New(Config{Neighbours: fake})
		return err
	}); err != nil {
		t.Fatal(err)
	}
	// The lab's plane was closed and replaced: close this one too.
	t.Cleanup(func() { lb.plane.Close() })
	ctx := context.Background()
	s := drSvc(drVIP, dataplane.ProtoTCP, "rr")
	lb.add(s, drRS("10.78.1.11", 1))
	if fake.resolves() == 0 {
		t.Fatal("an unknown MAC did not start a resolution")
	}
	mac4 := func() string { return lb.nft("list", "map", "netdev", DefaultTable, "dmac4") }
	// Unknown MAC: no hop, the service's chain schedules nothing new.
	if strings.Contains(mac4(), "10.78.1.11") {
		t.Fatalf("a hop for an unresolved real server:\n%s", mac4())
	}
	waitFor := func(what string, ok func(string) bool) {
		t.Helper()
		deadline := time.Now().Add(5 * time.Second)
		for !ok(mac4()) {
			if time.Now().After(deadline) {
				t.Fatalf("%s: not after 5 s:\n%s", what, mac4())
			}
			time.Sleep(20 * time.Millisecond)
		}
	}
	fake.events <- NeighEvent{Index: fake.link.Index, Addr: netip.MustParseAddr("10.78.1.11"), MAC: mustMAC("02:00:00:00:00:11"), State: 0x02 /* REACHABLE */}
	waitFor("resolved", func(s string) bool { return strings.Contains(s, "10.78.1.11 : 02:00:00:00:00:11") })
	fake.events <- NeighEvent{Index: fake.link.Index, Addr: netip.MustParseAddr("10.78.1.11"), MAC: mustMAC("02:00:00:00:00:22"), State: 0x04 /* STALE */}
	waitFor("changed", func(s string) bool { return strings.Contains(s, "10.78.1.11 : 02:00:00:00:00:22") })
	before := fake.resolves()
	fake.events <- NeighEvent{Index: fake.link.Index, Addr: netip.MustParseAddr("10.78.1.11"), Gone: true}
	deadline := time.Now().Add(5 * time.Second)
	for fake.resolves() == before {
		if time.Now().After(deadline) {
			t.Fatal("a deleted neighbour entry did not start a resolution")
		}
		time.Sleep(20 * time.Millisecond)
	}
	if !strings.Contains(mac4(), "02:00:00:00:00:22") {
		t.Fatalf("a deleted entry dropped the last MAC:\n%s", mac4())
	}
	fake.events <- NeighEvent{Index: fake.link.Index, Addr: netip.MustParseAddr("10.78.1.11"), State: 0x20 /* FAILED */}
	waitFor("failed", func(s string) bool { return !strings.Contains(s, "10.78.1.11") })
	// The real server is out of the scheduler: its chain has the flow
	// rules only.
	if lb.chainHas("s1", func(x expr.Any) bool { _, ok := x.(*expr.Numgen); return ok }) {
		t.Fatal("an unresolved real server is still scheduled")
	}
	lb.must(lb.plane.DeleteService(ctx, s.Key))
}

func drRS53(addr string) dataplane.Destination {
	d := drRS(addr, 1)
	d.Key.Port = 53
	return d
}

// serveUDPOn answers every datagram to at with name, until the test ends.
func serveUDPOn(t *testing.T, h *netlab.Host, name string, at netip.AddrPort) {
	var pc *net.UDPConn
	if err := h.Do(func() error {
		var err error
		pc, err = net.ListenUDP("udp", net.UDPAddrFromAddrPort(at))
		return err
	}); err != nil {
		t.Fatal(err)
	}
	done := make(chan struct{})
	t.Cleanup(func() { pc.Close(); <-done })
	go func() {
		defer close(done)
		buf := make([]byte, 64)
		for {
			_, from, err := pc.ReadFromUDPAddrPort(buf)
			if err != nil {
				return
			}
			pc.WriteToUDPAddrPort([]byte(name+"\n"), from)
		}
	}()
}

// chainHas reports whether a rule of the netdev table's chain has an
// expression for which match is true. (Read through netlink: nft 1.0.6
// cannot list a rule whose dynset stores a map lookup's result.)
func (lb *drLab) chainHas(chain string, match func(expr.Any) bool) bool {
	lb.t.Helper()
	c, err := lb.plane.newConn(context.Background())
	if err != nil {
		lb.t.Fatal(err)
	}
	rules, err := c.GetRules(lb.plane.ntable, &nftables.Chain{Table: lb.plane.ntable, Name: chain})
	if err != nil {
		lb.t.Fatal(err)
	}
	for _, r := range rules {
		for _, x := range r.Exprs {
			if match(x) {
				return true
			}
		}
	}
	return false
}

// TestKernelRefusals: what the plane cannot serve is refused with its
// suggestion and changes nothing.
func TestKernelRefusals(t *testing.T) {
	lb := newDRLab(t, 0)
	ctx := context.Background()
	s := drSvc(drVIP, dataplane.ProtoTCP, "rr")
	lb.add(s)
	fw := dataplane.Service{Key: dataplane.ServiceKey{Family: dataplane.IPv4, Fwmark: 5}, Scheduler: "rr"}
	lb.add(fw)
	tun := drRS("10.78.1.11", 1)
	tun.Forwarding.Method = dataplane.Tunnel
	if out, err := lb.dir.Exec(ctx, "ip", "route", "add", "10.99.0.0/24", "via", "10.78.1.2"); err != nil {
		t.Fatalf("%v %s", err, out)
	}
	for _, tc := range []struct {
		name string
		err  error
		want string
	}{
		{"TUN", lb.plane.AddDestination(ctx, s.Key, tun), "lb_kind TUN needs IPVS; nftables cannot encapsulate here"},
		{"DR fwmark", lb.plane.AddDestination(ctx, fw.Key, drRS("10.78.1.11", 1)), "use an address virtual server, or lb_kind NAT"},
		{"lblc", lb.plane.UpdateService(ctx, with(s, func(s *dataplane.Service) { s.Scheduler = "lblc" })), "need IPVS or the proxy plane"},
		{"wlc on a fwmark service", lb.plane.UpdateService(ctx, with(fw, func(s *dataplane.Service) { s.Scheduler = "wlc" })), "NAT address virtual servers only"},
		{"DR through a gateway", lb.plane.AddDestination(ctx, s.Key, drRS("10.99.0.1", 1)), "reached through the gateway 10.78.1.2: lb_kind DR needs it on a directly connected network"},
		{"DR unreachable", lb.plane.AddDestination(ctx, s.Key, drRS("10.98.0.1", 1)), "network is unreachable"},
	} {
		if tc.err == nil || !strings.Contains(tc.err.Error(), tc.want) {
			t.Errorf("%s: got %v, want an error with %q", tc.name, tc.err, tc.want)
		}
	}
	eq(t, "table after refusals", len(lb.plane.Table()[s.Key].Dests)+len(lb.plane.Table()[fw.Key].Dests), 0)
}

// TestKernelDRStop: the stop path (each real server, then each service
// removed) leaves no ingress chain and no hop: the deleted services' flow
// maps went with them, so nothing lingers.
func TestKernelDRStop(t *testing.T) {
	lb := newDRLab(t, 2)
	ctx := context.Background()
	s := drSvc(drVIP, dataplane.ProtoTCP, "wrr")
	lb.add(s, drRS(lb.rsAddrs[0], 1), drRS(lb.rsAddrs[1], 2))
	lb.waitReady(lb.rsAddrs...)
	eq(t, "names", count(lb.names(drVIP, 6)), map[string]int{"r1": 2, "r2": 4})
	for _, a := range lb.rsAddrs {
		lb.must(lb.plane.DeleteDestination(ctx, s.Key, drRS(a, 0).Key))
	}
	// Removed from a service that stays: the hops linger for its flows.
	if out := lb.nft("list", "chains", "netdev"); !strings.Contains(out, "in_eth0") {
		t.Fatalf("a removed real server's hop did not linger:\n%s", out)
	}
	lb.must(lb.plane.DeleteService(ctx, s.Key))
	if out := lb.nft("list", "chains", "netdev"); strings.Contains(out, "in_eth0") {
		t.Fatalf("an ingress chain is left after the last service:\n%s", out)
	}
	if out := lb.nft("list", "map", "netdev", DefaultTable, "dmac4"); strings.Contains(out, "10.78.1.") {
		t.Fatalf("hops left after the last service:\n%s", out)
	}
}

// TestKernelDRUnderReconciler: the LVS reconciler drives DR as it drives
// NAT; a service mixing DR and NAT real servers is refused whole before
// any operation (the plane's Explain), the others come up.
func TestKernelDRUnderReconciler(t *testing.T) {
	lb := newDRLab(t, 2)
	ctx := context.Background()
	r := lvs.NewReconciler(lb.plane, slog.New(slog.DiscardHandler))
	dr := drSvc(drVIP, dataplane.ProtoTCP, "rr")
	mixed := drSvc("10.78.1.101", dataplane.ProtoTCP, "rr")
	desired := dataplane.Table{
		dr.Key: {Service: dr, Dests: map[dataplane.DestKey]dataplane.Destination{
			drRS(lb.rsAddrs[0], 1).Key: drRS(lb.rsAddrs[0], 1), drRS(lb.rsAddrs[1], 1).Key: drRS(lb.rsAddrs[1], 1)}},
		mixed.Key: {Service: mixed, Dests: map[dataplane.DestKey]dataplane.Destination{
			drRS(lb.rsAddrs[0], 1).Key: drRS(lb.rsAddrs[0], 1), {Addr: netip.MustParseAddr("10.78.1.20"), Port: 80}: {Key: dataplane.DestKey{Addr: netip.MustParseAddr("10.78.1.20"), Port: 80}, Weight: 1}}},
	}
	_, err := r.Apply(ctx, desired)
	var unsup *lvs.UnsupportedError
	if !errors.As(err, &unsup) || unsup.Key != mixed.Key || !strings.Contains(err.Error(), "mixes lb_kind DR") {
		t.Fatalf("Apply: got %v, want the mixed service refused", err)
	}
	if _, ok := lb.plane.Table()[mixed.Key]; ok {
		t.Fatal("the refused service was half-applied")
	}
	lb.waitReady(lb.rsAddrs...)
	eq(t, "DR rr through the reconciler", count(lb.names(drVIP, 6)), map[string]int{"r1": 3, "r2": 3})
}
