package check

import (
	"context"
	"net"
	"net/netip"
	"os"
	"strings"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// startCheck begins a system TCP check to c's target and returns its
// socket, failing the test unless the outcome is known at once and is a
// connection (loopback: the kernel completes the handshake in connect).
func startCheck(t *testing.T, c Conn) tcpSocket {
	t.Helper()
	sa, family, err := c.sockaddr()
	if err != nil {
		t.Fatal(err)
	}
	s, done, err := c.dialTCPStart(sa, family)
	if !done || err != nil {
		s.close()
		t.Fatalf("check of %s: done %v, err %v; want connected at once", c.Target, done, err)
	}
	return s
}

func TestTCPCheckAtOnceOnLoopback(t *testing.T) {
	open := rawServer(t, func(c net.Conn) {})
	p := &TCPProber{Conn: Conn{Target: open}}
	for i := range 3 {
		r, wait := p.Start(0)
		if wait != nil {
			t.Fatalf("check %d on loopback needs to wait; want an outcome at once", i)
		}
		if !r.OK {
			t.Fatalf("check %d: %+v", i, r)
		}
	}
	r, wait := (&TCPProber{Conn: Conn{Target: closedPort(t)}}).Start(0)
	if wait != nil || r.OK || !strings.Contains(r.Why, "refused") {
		t.Errorf("closed port: %+v (waits: %v), want refused at once", r, wait != nil)
	}
}

// A socket kept after a passing check is reused by the next one, and
// the next check's verdict is its own: a refused port still fails.
func TestTCPCheckReusesSockets(t *testing.T) {
	open := rawServer(t, func(c net.Conn) {})
	c := Conn{Target: open}
	s := startCheck(t, c)
	fd := s.fd
	s.done(true)
	if s.fd != -1 {
		t.Fatal("a passing check's socket was neither kept nor closed")
	}
	s2 := startCheck(t, c)
	if s2.fd != fd {
		t.Errorf("the next check got socket %d, want the kept %d", s2.fd, fd)
	}
	s2.done(true)
	if r := (&TCPProber{Conn: Conn{Target: closedPort(t)}}).Probe(probeCtx(t, 5*time.Second), 0); r.OK || !strings.Contains(r.Why, "refused") {
		t.Errorf("closed port on a reused socket: %+v, want refused", r)
	}
	if r := (&TCPProber{Conn: c}).Probe(probeCtx(t, 5*time.Second), 0); !r.OK {
		t.Errorf("open port after a refused one: %+v", r)
	}
}

// bindto and bind_port set the check's source; such sockets are never
// reused (their options would carry over to another check).
func TestTCPCheckSource(t *testing.T) {
	open := rawServer(t, func(c net.Conn) {})
	port := closedPort(t).Port()
	c := Conn{Target: open, BindTo: netip.MustParseAddr("127.0.0.1"), BindPort: port}
	s := startCheck(t, c)
	sa, err := unix.Getsockname(s.fd)
	if err != nil {
		t.Fatal(err)
	}
	if in4, ok := sa.(*unix.SockaddrInet4); !ok || in4.Port != int(port) || in4.Addr != [4]byte{127, 0, 0, 1} {
		t.Errorf("source %+v, want 127.0.0.1:%d", sa, port)
	}
	if s.reusable {
		t.Error("a socket with bindto/bind_port is marked reusable")
	}
	s.done(true)
	// An IPv6 source for an IPv4 target is refused with a clear error.
	c = Conn{Target: open, BindTo: netip.MustParseAddr("::1")}
	if r := (&TCPProber{Conn: c}).Probe(probeCtx(t, 5*time.Second), 0); r.OK || !strings.Contains(r.Why, "not an IPv4 address") {
		t.Errorf("bindto ::1 for an IPv4 target: %+v", r)
	}
	// An unknown bind_if fails the check rather than being ignored.
	c = Conn{Target: open, BindIf: "nosuchif0"}
	if r := (&TCPProber{Conn: c}).Probe(probeCtx(t, 5*time.Second), 0); r.OK || !strings.Contains(r.Why, "SO_BINDTODEVICE") {
		t.Errorf("bind_if nosuchif0: %+v, want a SO_BINDTODEVICE error", r)
	}
}

func TestTCPCheckIPv6(t *testing.T) {
	l, err := net.Listen("tcp6", "[::1]:0")
	if err != nil {
		t.Skipf("no IPv6 loopback: %v", err)
	}
	defer l.Close()
	if r := (&TCPProber{Conn: Conn{Target: addrPort(t, l.Addr())}}).Probe(probeCtx(t, 5*time.Second), 0); !r.OK {
		t.Errorf("IPv6 loopback: %+v", r)
	}
}

func TestTCPCheckMarkAndDevice(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("SO_MARK and SO_BINDTODEVICE need CAP_NET_ADMIN/CAP_NET_RAW; run as root")
	}
	open := rawServer(t, func(c net.Conn) {})
	s := startCheck(t, Conn{Target: open, Fwmark: 0x42, BindIf: "lo"})
	defer s.close()
	if mark, err := unix.GetsockoptInt(s.fd, unix.SOL_SOCKET, unix.SO_MARK); err != nil || mark != 0x42 {
		t.Errorf("SO_MARK %#x (%v), want 0x42", mark, err)
	}
	if dev, err := unix.GetsockoptString(s.fd, unix.SOL_SOCKET, unix.SO_BINDTODEVICE); err != nil || dev != "lo" {
		t.Errorf("SO_BINDTODEVICE %q (%v), want lo", dev, err)
	}
	if s.reusable {
		t.Error("a socket with fwmark/bind_if is marked reusable")
	}
}

// A SYN that gets no answer makes the check wait on the poller (on a
// worker, in the Runner) and fail at its deadline.
func TestTCPCheckWaitsAndTimesOut(t *testing.T) {
	// A listener whose backlog is full answers no SYN: the check waits.
	_, target := fullListener(t)
	p := &TCPProber{Conn: Conn{Target: target}}
	r, wait := p.Start(0)
	if wait == nil {
		t.Skipf("the kernel answered at once (%+v); cannot make a check wait here", r)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
	defer cancel()
	start := time.Now()
	r = wait(ctx)
	if r.OK || !strings.Contains(r.Why, "deadline") {
		t.Errorf("unanswered SYN: %+v, want a failure at the deadline", r)
	}
	// Generous bound: the check must end at its deadline, not hang (5 s
	// allows for a loaded machine).
	if el := time.Since(start); el > 5*time.Second {
		t.Errorf("the check ended after %v, past its 300 ms deadline", el)
	}
}

// A check that waits on the poller passes once the SYN is answered: here
// the listener's full queue drops the first SYN, room is made, and the
// retransmitted SYN (about 1 s later) gets its answer.
func TestTCPCheckWaitsThenConnects(t *testing.T) {
	l, target := fullListener(t)
	r, wait := (&TCPProber{Conn: Conn{Target: target}}).Start(0)
	if wait == nil {
		t.Skipf("the kernel answered at once (%+v); cannot make a check wait here", r)
	}
	// Empty the accept queue: the retransmitted SYN finds room.
	go func() {
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			c.Close()
		}
	}()
	// Bound: SYN retransmission comes after 1 s; 10 s is generous for a
	// loaded machine and still ends a hung check.
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if r = wait(ctx); !r.OK {
		t.Errorf("check after a dropped SYN: %+v, want it to pass on the retransmission", r)
	}
}

// fullListener is a loopback listener with a backlog of 0 whose queue is
// filled with completed connections nobody accepts, so it answers no new
// SYN until one of them is accepted; everything closes at cleanup.
func fullListener(t *testing.T) (*net.TCPListener, netip.AddrPort) {
	t.Helper()
	l, err := net.ListenTCP("tcp4", &net.TCPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { l.Close() })
	rc, _ := l.SyscallConn()
	rc.Control(func(fd uintptr) { unix.Listen(int(fd), 0) })
	target := addrPort(t, l.Addr())
	for range 4 {
		c, err := net.DialTimeout("tcp4", target.String(), 200*time.Millisecond)
		if err != nil {
			break
		}
		t.Cleanup(func() { c.Close() })
	}
	return l, target
}
