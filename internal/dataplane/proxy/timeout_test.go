package proxy

import (
	"fmt"
	"io"
	"net"
	"net/netip"
	"strings"
	"testing"
	"time"

	"vigil/internal/dataplane"
)

// serverFunc is a real server on 127.0.0.1 running fn for each connection
// (which it closes after fn returns).
func serverFunc(t *testing.T, fn func(net.Conn)) dataplane.DestKey {
	t.Helper()
	return tcpServer(t, "127.0.0.1:0", fn)
}

// TestIdleTimeoutCountsBothDirections: a connection whose client never
// sends but whose server does is not idle. The server sends a line every
// 100 ms for three times the TCP timeout (1 s; a stall of a whole second
// between two lines on a loaded machine is what could make this fail),
// then stops: every line arrives, then the proxy cuts the connection.
func TestIdleTimeoutCountsBothDirections(t *testing.T) {
	const lines = 30
	stop := make(chan struct{})
	t.Cleanup(func() { close(stop) })
	real := serverFunc(t, func(c net.Conn) {
		for i := range lines {
			if _, err := fmt.Fprintf(c, "line %d\n", i); err != nil {
				return
			}
			time.Sleep(100 * time.Millisecond)
		}
		<-stop // silent, and open, until the test ends
	})
	p := New(Options{Logger: quiet()})
	t.Cleanup(func() { p.Close() })
	if err := p.SetTimeouts(ctx, dataplane.Timeouts{TCP: time.Second}); err != nil {
		t.Fatal(err)
	}
	a := netip.MustParseAddr("127.0.0.10")
	svc := dataplane.ServiceKey{Family: dataplane.IPv4, Protocol: dataplane.ProtoTCP, Addr: a, Port: freePort(t, "tcp", a)}
	if err := p.AddService(ctx, dataplane.Service{Key: svc, Scheduler: "rr"}); err != nil {
		t.Fatal(err)
	}
	if err := p.AddDestination(ctx, svc, dataplane.Destination{Key: real, Weight: 1}); err != nil {
		t.Fatal(err)
	}
	c, first := dial(t, svc, "")
	if first != "line 0" {
		t.Fatalf("first line %q", first)
	}
	for i := 1; i < lines; i++ {
		c.c.SetDeadline(time.Now().Add(ioTimeout))
		l, err := c.r.ReadString('\n')
		if err != nil || strings.TrimSpace(l) != fmt.Sprintf("line %d", i) {
			t.Fatalf("line %d: %q, %v (cut while the server was sending?)", i, l, err)
		}
	}
	c.ended(t)
}

// TestHalfCloseTakesFinTimeout: once the client has half-closed, the
// connection lives on only for the FIN timeout (300 ms), not the TCP
// timeout (1 minute): the server, which keeps its side open and silent,
// is cut off well within the test's 5 s read bound.
func TestHalfCloseTakesFinTimeout(t *testing.T) {
	stop := make(chan struct{})
	t.Cleanup(func() { close(stop) })
	real := serverFunc(t, func(c net.Conn) {
		fmt.Fprintf(c, "hello\n")
		io.Copy(io.Discard, c) // until the client's FIN
		<-stop
	})
	p := New(Options{Logger: quiet()})
	t.Cleanup(func() { p.Close() })
	if err := p.SetTimeouts(ctx, dataplane.Timeouts{TCP: time.Minute, TCPFin: 300 * time.Millisecond}); err != nil {
		t.Fatal(err)
	}
	a := netip.MustParseAddr("127.0.0.10")
	svc := dataplane.ServiceKey{Family: dataplane.IPv4, Protocol: dataplane.ProtoTCP, Addr: a, Port: freePort(t, "tcp", a)}
	if err := p.AddService(ctx, dataplane.Service{Key: svc, Scheduler: "rr"}); err != nil {
		t.Fatal(err)
	}
	if err := p.AddDestination(ctx, svc, dataplane.Destination{Key: real, Weight: 1}); err != nil {
		t.Fatal(err)
	}
	c, first := dial(t, svc, "")
	if first != "hello" {
		t.Fatalf("first line %q", first)
	}
	if err := c.c.CloseWrite(); err != nil {
		t.Fatal(err)
	}
	c.ended(t)
}
