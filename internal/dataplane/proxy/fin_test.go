package proxy

import (
	"fmt"
	"io"
	"net"
	"testing"
	"time"

	"vigil/internal/dataplane"
)

// Tests of the ends of a connection (tcp.go shutdown: each side's FIN
// relayed, or both ends in one batch of events) and of the connection
// structs' reuse (newConn).

// TestFinReachesWaitingClient: the real server answers and closes; the
// client keeps its side open and reads until the end of stream. Nothing
// else happens on the loop, so the real server's FIN must be relayed at
// once: without it the client waits for an end that never comes and
// fails on its deadline (ioTimeout), and the real server, its connection
// still half open, never sees the client's own end.
func TestFinReachesWaitingClient(t *testing.T) {
	serverSaw := make(chan error, 1)
	p, svc, real := oneServer(t, Options{}, func(c net.Conn) {
		c.SetDeadline(time.Now().Add(ioTimeout))
		io.WriteString(c, "answer")
		c.(*net.TCPConn).CloseWrite()
		// The client's end arrives only after the client has had ours.
		_, err := io.Copy(io.Discard, c)
		serverSaw <- err
	})
	for i := range 3 {
		c := dialRaw(t, svc)
		got, err := io.ReadAll(c)
		if err != nil {
			t.Fatalf("connection %d: read until the end: %v (the FIN was not sent)", i, err)
		}
		if string(got) != "answer" {
			t.Fatalf("connection %d: got %q, want %q", i, got, "answer")
		}
		c.CloseWrite()
		select {
		case err := <-serverSaw:
			if err != nil {
				t.Fatalf("connection %d: real server: %v", i, err)
			}
		case <-time.After(ioTimeout):
			t.Fatalf("connection %d: the real server never saw the client's end", i)
		}
		c.Close()
	}
	waitActive(t, p, svc, real, 0)
}

// TestFinBothEndsInOneBatch: the client's end and the real server's
// (with its answer) reach the proxy while its loop is held, so that one
// batch of events ends both directions: the first's FIN is sent with a
// shutdown, the second closes the connection. Every byte still
// arrives both ways, each side sees the end, and the connection is
// released.
func TestFinBothEndsInOneBatch(t *testing.T) {
	start := make(chan struct{})
	serverGot := make(chan string, 1)
	p, svc, real := oneServer(t, Options{}, func(c net.Conn) {
		c.SetDeadline(time.Now().Add(ioTimeout))
		<-start
		io.WriteString(c, "answer")
		c.(*net.TCPConn).CloseWrite()
		b, err := io.ReadAll(c)
		if err != nil {
			serverGot <- "error: " + err.Error()
			return
		}
		serverGot <- string(b)
	})
	c := dialRaw(t, svc)
	waitActive(t, p, svc, real, 1)
	time.Sleep(50 * time.Millisecond) // the connect's readiness handled
	release := holdLoops(t, p)
	defer release()
	if _, err := c.Write([]byte("question")); err != nil {
		t.Fatal(err)
	}
	c.CloseWrite()
	close(start)
	// Both ends (and the bytes before them) in the proxy's sockets
	// before the loop runs again.
	waitSent(t, c)
	time.Sleep(50 * time.Millisecond)
	release()
	got, err := io.ReadAll(c)
	if err != nil || string(got) != "answer" {
		t.Fatalf("client got %q, %v; want %q and the end", got, err, "answer")
	}
	select {
	case s := <-serverGot:
		if s != "question" {
			t.Fatalf("real server got %q, want %q and the end", s, "question")
		}
	case <-time.After(ioTimeout):
		t.Fatal("the real server never saw the client's end")
	}
	waitActive(t, p, svc, real, 0)
}

// conns is the set of connection structs open to real server k.
func conns(t *testing.T, p *Plane, svc dataplane.ServiceKey, k dataplane.DestKey) map[*conn]func() {
	t.Helper()
	s, err := p.service(svc)
	if err != nil {
		t.Fatal(err)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	m := map[*conn]func(){}
	for c := range s.dests[k].conns {
		m[c.(*conn)] = c.cutter()
	}
	return m
}

// TestPooledConnStaleCut: a connection's struct is reused by its loop
// for a later connection once it has ended. A drain timeout's cut taken
// for the first connection (its cutter) and run after the struct serves
// the second must leave the second alone; the second's own cut closes
// it. Without the generation check the stale cut closes the second
// connection and its echo fails.
func TestPooledConnStaleCut(t *testing.T) {
	p, svc, real := oneServer(t, Options{}, func(c net.Conn) {
		c.SetDeadline(time.Now().Add(ioTimeout))
		io.Copy(c, c)
	})
	echo := func(c *net.TCPConn) error {
		c.SetDeadline(time.Now().Add(ioTimeout))
		if _, err := c.Write([]byte("ping")); err != nil {
			return err
		}
		b := make([]byte, 4)
		if _, err := io.ReadFull(c, b); err != nil {
			return err
		}
		if string(b) != "ping" {
			return fmt.Errorf("echo %q", b)
		}
		return nil
	}
	a := dialRaw(t, svc)
	if err := echo(a); err != nil {
		t.Fatal(err)
	}
	var first *conn
	var staleCut func()
	for c, cut := range conns(t, p, svc, real) {
		first, staleCut = c, cut
	}
	if first == nil {
		t.Fatal("the first connection is not in its dest's set")
	}
	a.Close()
	waitActive(t, p, svc, real, 0)
	// Connections until one lands on the first one's loop and takes its
	// struct (the loop reuses the last ended first); bounded.
	var b *net.TCPConn
	var freshCut func()
	for i := 0; i < 40 && b == nil; i++ {
		c := dialRaw(t, svc)
		if err := echo(c); err != nil {
			t.Fatal(err)
		}
		if cut, ok := conns(t, p, svc, real)[first]; ok {
			b, freshCut = c, cut
		}
	}
	if b == nil {
		t.Fatal("no connection of 40 reused the first one's struct")
	}
	staleCut()
	// The posted cut has run once the loop runs a later call.
	if !first.l.call(func() {}) {
		t.Fatal("loop ended")
	}
	if err := echo(b); err != nil {
		t.Fatalf("the stale cut closed the connection that reused the struct: %v", err)
	}
	freshCut()
	b.SetDeadline(time.Now().Add(ioTimeout))
	if n, err := b.Read(make([]byte, 1)); err == nil || isTimeout(err) {
		t.Fatalf("the connection's own cut did not close it (read %d, %v)", n, err)
	}
}
