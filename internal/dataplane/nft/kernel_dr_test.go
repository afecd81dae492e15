package nft

import (
	"context"
	"fmt"
	"net"
	"net/netip"
	"strings"
	"testing"
	"time"

	"vigil/internal/dataplane"
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
		run(h, "ip", "-6", "addr", "add", drVIP6+"/128", "dev", "lo")
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
