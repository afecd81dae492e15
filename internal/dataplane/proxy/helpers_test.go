package proxy

import (
	"net"
	"net/netip"
	"testing"

	"vigil/internal/dataplane"
)

// Set-up shared by the tests and the benchmarks of this package: real
// servers on loopback, and a plane with one rr service in front of them.

// tcpServer is a real server listening on addr ("127.0.0.1:0") that runs
// fn on each connection and closes it when fn returns; it stops at the
// end of the test.
func tcpServer(tb testing.TB, addr string, fn func(net.Conn)) dataplane.DestKey {
	tb.Helper()
	l, err := net.Listen("tcp", addr)
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { l.Close() })
	go func() {
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			go func() {
				defer c.Close()
				fn(c)
			}()
		}
	}()
	ap := l.Addr().(*net.TCPAddr).AddrPort()
	return dataplane.DestKey{Addr: ap.Addr(), Port: ap.Port()}
}

// addRR adds an rr TCP service at key to p, with reals of weight 1.
func addRR(p *Plane, key dataplane.ServiceKey, reals ...dataplane.DestKey) error {
	if err := p.AddService(ctx, dataplane.Service{Key: key, Scheduler: "rr"}); err != nil {
		return err
	}
	for _, r := range reals {
		if err := p.AddDestination(ctx, key, dataplane.Destination{Key: r, Weight: 1}); err != nil {
			return err
		}
	}
	return nil
}

// rrPlane is a plane (closed at the end of the test, logging nowhere)
// with one rr TCP service on a free port of vip in front of reals; setup,
// when given, changes the plane before the service exists (a test's
// hook).
func rrPlane(tb testing.TB, opts Options, vip string, reals []dataplane.DestKey, setup ...func(*Plane)) (*Plane, dataplane.ServiceKey) {
	tb.Helper()
	opts.Logger = quiet()
	p := New(opts)
	for _, f := range setup {
		f(p)
	}
	tb.Cleanup(func() { p.Close() })
	a := netip.MustParseAddr(vip)
	key := dataplane.ServiceKey{Family: dataplane.FamilyOf(a), Protocol: dataplane.ProtoTCP, Addr: a, Port: freePort(tb, "tcp", a)}
	if err := addRR(p, key, reals...); err != nil {
		tb.Fatal(err)
	}
	return p, key
}
