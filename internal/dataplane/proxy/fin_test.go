package proxy

import (
	"io"
	"net"
	"testing"
	"time"
)

// Tests of the FIN held back for one batch (tcp.go shutdown,
// loop.sendFins).

// TestFinReachesWaitingClient: the real server answers and closes; the
// client keeps its side open and reads until the end of stream. Nothing
// else happens on the loop, so the FIN held back must go out before the
// loop sleeps: without that the client waits for an end that never comes
// and fails on its deadline (ioTimeout), and the real server, its
// connection still half open, never sees the client's own end.
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
// batch of events ends both directions: the first's FIN is held back, the
// second closes the connection instead (no shutdown). Every byte still
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
