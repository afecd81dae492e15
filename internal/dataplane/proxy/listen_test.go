package proxy

import (
	"net"
	"net/netip"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"vigil/internal/dataplane"
)

// Tests of the listening socket the loops share (tcp.go, startListeners):
// one socket per TCP service, in every loop's set with EPOLLEXCLUSIVE, so
// that whichever loop is free accepts.

// holdLoop stops loop l (it runs a function that waits) until the
// returned function is called, or the test ends.
func holdLoop(t *testing.T, l *loop) (release func()) {
	t.Helper()
	gate := make(chan struct{})
	held := make(chan struct{})
	if !l.post(func() { close(held); <-gate }) {
		t.Fatal("loop ended")
	}
	select {
	case <-held:
	case <-time.After(ioTimeout):
		t.Fatal("the loop did not take the hold")
	}
	release = sync1(func() { close(gate) })
	// Before the plane's Close (cleanups run last first), also when the
	// test fails while the loop is held.
	t.Cleanup(release)
	return release
}

// idleLoopsAccept holds each of p's loops in turn and checks that new
// connections to svc are served meanwhile, each from the first byte (the
// real server's greeting) to an echo: they are accepted by the other
// loops. With a listening socket per loop, on which the kernel spreads
// connections by a hash of their addresses, about one in as many as
// there are loops would wait for the held loop and time out.
func idleLoopsAccept(t *testing.T, p *Plane, svc dataplane.ServiceKey) {
	t.Helper()
	p.mu.Lock()
	loops := p.loops
	p.mu.Unlock()
	if len(loops) < 2 {
		t.Skipf("%d event loop (GOMAXPROCS %d): a held loop leaves none to accept", len(loops), len(loops))
	}
	for i, l := range loops {
		release := holdLoop(t, l)
		for range 16 {
			c, _ := dial(t, svc, "")
			c.echo(t)
			c.c.Close()
		}
		release()
		t.Logf("loop %d held: 16 connections served by the others", i)
	}
}

// TestIdleLoopAccepts: while one loop is busy (held), new connections are
// accepted and served by another; each loop accepts in turn.
func TestIdleLoopAccepts(t *testing.T) {
	real := realTCP(t, "127.0.0.1:0", "A")
	p, svc := rrPlane(t, Options{}, "127.0.0.10", []dataplane.DestKey{real})
	idleLoopsAccept(t, p, svc)
}

// TestSharedListenerOneSocket: a TCP service has one listening socket,
// a descriptor of it in each loop; removing the service closes every
// descriptor (the address can be bound again without SO_REUSEPORT), and
// adding it again serves from every loop.
func TestSharedListenerOneSocket(t *testing.T) {
	real := realTCP(t, "127.0.0.1:0", "A")
	p, svc := rrPlane(t, Options{}, "127.0.0.10", []dataplane.DestKey{real})
	s, err := p.service(svc)
	if err != nil {
		t.Fatal(err)
	}
	if len(s.listeners) != len(s.loops) || len(s.listeners) == 0 {
		t.Fatalf("%d listeners for %d loops", len(s.listeners), len(s.loops))
	}
	var first unix.Stat_t
	fds := map[int]bool{}
	for i, ln := range s.listeners {
		var st unix.Stat_t
		if err := unix.Fstat(ln.fd, &st); err != nil {
			t.Fatal(err)
		}
		if i == 0 {
			first = st
		} else if st.Dev != first.Dev || st.Ino != first.Ino {
			t.Errorf("listener %d is another socket (inode %d, the first's %d)", i, st.Ino, first.Ino)
		}
		if fds[ln.fd] {
			t.Errorf("descriptor %d in two loops", ln.fd)
		}
		fds[ln.fd] = true
	}

	if err := p.DeleteService(ctx, svc); err != nil {
		t.Fatal(err)
	}
	addr := netip.AddrPortFrom(svc.Addr, svc.Port).String()
	// The loops close their descriptors once their current batch is
	// done, just after the removal returns.
	for end := time.Now().Add(ioTimeout); ; {
		fd, err := unix.Socket(unix.AF_INET, unix.SOCK_STREAM|unix.SOCK_CLOEXEC, 0)
		if err != nil {
			t.Fatal(err)
		}
		err = unix.Bind(fd, sockaddr(netip.MustParseAddrPort(addr)))
		if err == nil {
			err = unix.Listen(fd, 1)
		}
		unix.Close(fd)
		if err == nil {
			break
		}
		if time.Now().After(end) {
			t.Fatalf("the service's address is still in use after its removal: %v", err)
		}
		time.Sleep(time.Millisecond)
	}
	if _, err := net.DialTimeout("tcp", addr, ioTimeout); err == nil {
		t.Error("a connection to the removed service was accepted")
	}

	if err := addRR(p, svc, real); err != nil {
		t.Fatal(err)
	}
	idleLoopsAccept(t, p, svc)
}
