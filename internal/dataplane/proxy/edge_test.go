package proxy

import (
	"bytes"
	"fmt"
	"io"
	"net"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"vigil/internal/dataplane"
)

// Tests of the edge-triggered registration (tcp.go, loop.go): a socket is
// reported again only when something new reaches it, so every path that
// stops reading before its source is empty must come back to it by
// itself. Each test makes the source hold bytes while nothing more will
// arrive on it (the client has written everything and waits for an
// answer, its connection still open): a path that forgot to come back
// leaves the answer unsent and the test fails on its deadline (ioTimeout
// or bulkTimeout for each read, generous for a loaded machine).

// holdLoops stops every loop of p (each runs a function that waits) until
// the returned function is called: bytes sent meanwhile pile up in the
// proxy's sockets, unread.
func holdLoops(t *testing.T, p *Plane) (release func()) {
	t.Helper()
	p.mu.Lock()
	loops := p.loops
	p.mu.Unlock()
	gate := make(chan struct{})
	held := make(chan struct{}, len(loops))
	for _, l := range loops {
		if !l.post(func() { held <- struct{}{}; <-gate }) {
			t.Fatal("loop ended")
		}
	}
	for range loops {
		select {
		case <-held:
		case <-time.After(ioTimeout):
			t.Fatal("a loop did not take the hold")
		}
	}
	return sync1(func() { close(gate) })
}

// sync1 returns f made safe to call more than once.
func sync1(f func()) func() {
	done := false
	return func() {
		if !done {
			done = true
			f()
		}
	}
}

// countServer is a real server that reads until it has n bytes (checking
// them against want), then writes "ok n" and waits for the client to end.
func countServer(t *testing.T, want []byte) func(net.Conn) {
	return func(c net.Conn) {
		c.SetDeadline(time.Now().Add(bulkTimeout))
		got := make([]byte, len(want))
		if _, err := io.ReadFull(c, got); err != nil {
			t.Errorf("real server: read %v", err)
			return
		}
		if !bytes.Equal(got, want) {
			t.Errorf("real server: the %d bytes differ from those sent", len(got))
			return
		}
		fmt.Fprintf(c, "ok %d", len(got))
		io.Copy(io.Discard, c)
	}
}

// waitSent waits (at most ioTimeout) until the kernel holds none of the
// bytes c wrote (SIOCOUTQ 0: the peer, the proxy, has acknowledged
// every one: they are in its socket).
func waitSent(t *testing.T, c *net.TCPConn) {
	t.Helper()
	rc, err := c.SyscallConn()
	if err != nil {
		t.Fatal(err)
	}
	end := time.Now().Add(ioTimeout)
	for {
		var q int
		var qerr error
		rc.Control(func(fd uintptr) { q, qerr = unix.IoctlGetInt(int(fd), unix.SIOCOUTQ) })
		if qerr != nil {
			t.Fatal(qerr)
		}
		if q == 0 {
			return
		}
		if time.Now().After(end) {
			t.Fatalf("%d bytes still unacknowledged by the proxy after %v", q, ioTimeout)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// bigBuffers makes the service's listening sockets take 32 MiB receive
// buffers (accepted sockets inherit them), so that a large burst can sit
// in the proxy's client socket while its loop is held.
func bigBuffers(t *testing.T, p *Plane) {
	t.Helper()
	p.mu.Lock()
	defer p.mu.Unlock()
	for _, s := range p.services {
		for _, ln := range s.listeners {
			if err := unix.SetsockoptInt(ln.fd, unix.SOL_SOCKET, unix.SO_RCVBUFFORCE, 32<<20); err != nil {
				t.Skipf("SO_RCVBUFFORCE (needs CAP_NET_ADMIN): %v", err)
			}
		}
	}
}

// burstWhileHeld dials svc and sets the connection up ("hello", the
// real server active), then holds every loop while the client writes
// data, so that the whole burst waits in the proxy's socket before its
// loop sees any of it, and lets the loops go again once the client's
// socket has sent everything.
func burstWhileHeld(t *testing.T, p *Plane, svc dataplane.ServiceKey, real dataplane.DestKey, data []byte) *net.TCPConn {
	t.Helper()
	c := dialRaw(t, svc)
	c.SetDeadline(time.Now().Add(bulkTimeout))
	// The connection is set up (connect and first bytes) before the loops
	// are held.
	if _, err := c.Write([]byte("hello")); err != nil {
		t.Fatal(err)
	}
	waitActive(t, p, svc, real, 1)
	time.Sleep(50 * time.Millisecond)
	release := holdLoops(t, p)
	defer release()
	if _, err := c.Write(data); err != nil {
		t.Fatal(err)
	}
	waitSent(t, c)
	return c
}

// TestEdgeReadBoundResumes: a burst larger than a readiness's read bound
// (maxReads reads of the loop's buffer, or splices of a pipe) is already
// in the proxy's socket when its loop gets to it, and the client sends
// nothing more: the loop's ready list must read the rest, or the real
// server never gets every byte. Both with read/write and with splice.
func TestEdgeReadBoundResumes(t *testing.T) {
	for _, noSplice := range []bool{true, false} {
		t.Run(fmt.Sprintf("noSplice=%v", noSplice), func(t *testing.T) {
			data := stream(7, 3<<20)
			p, svc, real := oneServer(t, Options{NoSplice: noSplice}, countServer(t, append([]byte("hello"), data...)))
			bigBuffers(t, p)
			c := burstWhileHeld(t, p, svc, real, data)
			ans := make([]byte, 32)
			n, err := c.Read(ans)
			if err != nil {
				t.Fatalf("answer: %v (the proxy did not relay every byte of the burst)", err)
			}
			if want := fmt.Sprintf("ok %d", len(data)+5); string(ans[:n]) != want {
				t.Fatalf("answer %q, want %q", ans[:n], want)
			}
		})
	}
}

// TestEdgePartialWriteResumes: the client's burst waits in the proxy's
// socket (its loop held) while the real server reads nothing, so the
// proxy's writes to the server become partial and it stops reading the
// client; the client has sent everything and waits. When the server
// reads, the proxy must read the client's socket again without an event
// for it.
func TestEdgePartialWriteResumes(t *testing.T) {
	for _, noSplice := range []bool{true, false} {
		t.Run(fmt.Sprintf("noSplice=%v", noSplice), func(t *testing.T) {
			data := stream(9, 8<<20)
			count := countServer(t, data)
			gate := make(chan struct{})
			p, svc, real := oneServer(t, Options{NoSplice: noSplice}, func(c net.Conn) {
				hello := make([]byte, 5)
				if _, err := io.ReadFull(c, hello); err != nil {
					return
				}
				select {
				case <-gate:
				case <-time.After(bulkTimeout):
					return
				}
				count(c)
			})
			bigBuffers(t, p)
			c := burstWhileHeld(t, p, svc, real, data)
			// The proxy now writes to the server until its socket is
			// full, then waits for it.
			time.Sleep(200 * time.Millisecond)
			close(gate)
			ans := make([]byte, 32)
			n, err := c.Read(ans)
			if err != nil {
				t.Fatalf("answer: %v (the proxy did not resume reading the client)", err)
			}
			if want := fmt.Sprintf("ok %d", len(data)); string(ans[:n]) != want {
				t.Fatalf("answer %q, want %q", ans[:n], want)
			}
		})
	}
}

// TestEdgeEndWithLastBytes: the real server sends its answer and closes
// at once, so the answer's bytes and the FIN are usually both in the
// proxy's socket when the event comes (EPOLLRDHUP): the proxy relays the
// bytes and the end without a read of its own for the end. Over many
// connections, every answer arrives whole and then the end, and every
// connection is released.
func TestEdgeEndWithLastBytes(t *testing.T) {
	answer := bytes.Repeat([]byte("a"), 1500)
	p, svc, real := oneServer(t, Options{}, func(c net.Conn) {
		buf := make([]byte, 16)
		if _, err := io.ReadFull(c, buf); err != nil {
			return
		}
		c.Write(answer)
	})
	for i := range 200 {
		c := dialRaw(t, svc)
		if _, err := c.Write([]byte("0123456789abcdef")); err != nil {
			t.Fatal(err)
		}
		got, err := io.ReadAll(c)
		if err != nil {
			t.Fatalf("connection %d: %v", i, err)
		}
		if !bytes.Equal(got, answer) {
			t.Fatalf("connection %d: %d bytes, want %d", i, len(got), len(answer))
		}
		c.Close()
	}
	waitActive(t, p, svc, real, 0)
}
