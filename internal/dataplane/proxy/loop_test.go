package proxy

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"net"
	"net/netip"
	"os"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"vigil/internal/dataplane"
)

// Tests of the event loop itself (loop.go, tcp.go): partial writes,
// half-closes both ways, resets, failed connects, many connections. Each
// waits at most ioTimeout for anything.

// oneServer is a plane with one TCP service on 127.0.0.10 whose one real
// server runs fn on each connection.
func oneServer(t *testing.T, opts Options, fn func(net.Conn)) (*Plane, dataplane.ServiceKey, dataplane.DestKey) {
	t.Helper()
	real := serverFunc(t, fn)
	return oneDest(t, opts, real)
}

// oneDest is a plane with one rr service at 127.0.0.10 and real as its
// only destination; setup, when given, changes the plane before the
// service exists (a test's hook).
func oneDest(t *testing.T, opts Options, real dataplane.DestKey, setup ...func(*Plane)) (*Plane, dataplane.ServiceKey, dataplane.DestKey) {
	t.Helper()
	p, svc := rrPlane(t, opts, "127.0.0.10", []dataplane.DestKey{real}, setup...)
	return p, svc, real
}

func dialRaw(t *testing.T, svc dataplane.ServiceKey) *net.TCPConn {
	t.Helper()
	c, err := net.DialTimeout("tcp", netip.AddrPortFrom(svc.Addr, svc.Port).String(), ioTimeout)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	c.SetDeadline(time.Now().Add(ioTimeout))
	return c.(*net.TCPConn)
}

// active is the proxy's count of open connections to real server k.
func active(p *Plane, svc dataplane.ServiceKey, k dataplane.DestKey) int {
	s, err := p.service(svc)
	if err != nil {
		return -1
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	return int(s.dests[k].real.Active)
}

// waitActive waits (at most ioTimeout) for the count to be want: the
// connection was released (or not).
func waitActive(t *testing.T, p *Plane, svc dataplane.ServiceKey, k dataplane.DestKey, want int) {
	t.Helper()
	end := time.Now().Add(ioTimeout)
	for {
		got := active(p, svc, k)
		if got == want {
			return
		}
		if time.Now().After(end) {
			t.Fatalf("active connections %d, want %d", got, want)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func pattern(n int) []byte {
	b := make([]byte, n)
	for i := range b {
		b[i] = byte(i*7 + i>>9)
	}
	return b
}

// TestLoopPartialWrites: the real server reads 8 MiB slowly (small reads
// with pauses) and sends them back, so the proxy's writes to it fill its
// socket and stay partial: every byte still arrives, in order, both ways.
func TestLoopPartialWrites(t *testing.T) {
	p, svc, real := oneServer(t, Options{}, func(c net.Conn) {
		buf := make([]byte, 4096)
		for i := 0; ; i++ {
			n, err := c.Read(buf)
			if n > 0 {
				if _, werr := c.Write(buf[:n]); werr != nil {
					return
				}
			}
			if err != nil {
				c.(*net.TCPConn).CloseWrite()
				return
			}
			if i%64 == 0 {
				time.Sleep(time.Millisecond)
			}
		}
	})
	c := dialRaw(t, svc)
	data := pattern(8 << 20)
	errc := make(chan error, 1)
	go func() {
		_, err := c.Write(data)
		if err == nil {
			err = c.CloseWrite()
		}
		errc <- err
	}()
	back, err := io.ReadAll(c)
	if err != nil {
		t.Fatalf("read back: %v", err)
	}
	if err := <-errc; err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(back, data) {
		t.Fatalf("got %d bytes back, want the %d sent (equal: %v)", len(back), len(data), bytes.Equal(back, data[:min(len(back), len(data))]))
	}
	waitActive(t, p, svc, real, 0)
}

// TestLoopHalfCloseClientFirst: the client closes its half; the server
// sees the end, then still sends an answer, which the client reads before
// the end. The connection is then released.
func TestLoopHalfCloseClientFirst(t *testing.T) {
	p, svc, real := oneServer(t, Options{}, func(c net.Conn) {
		got, err := io.ReadAll(c)
		if err != nil {
			return
		}
		fmt.Fprintf(c, "got %q after your FIN\n", got)
	})
	c := dialRaw(t, svc)
	if _, err := c.Write([]byte("question")); err != nil {
		t.Fatal(err)
	}
	if err := c.CloseWrite(); err != nil {
		t.Fatal(err)
	}
	back, err := io.ReadAll(c)
	if err != nil {
		t.Fatal(err)
	}
	if want := "got \"question\" after your FIN\n"; string(back) != want {
		t.Errorf("answer %q, want %q", back, want)
	}
	waitActive(t, p, svc, real, 0)
}

// TestLoopHalfCloseServerFirst: the server sends a greeting and closes
// its half; the client reads the end, then still sends, and the server
// reads it all before the client's end.
func TestLoopHalfCloseServerFirst(t *testing.T) {
	got := make(chan string, 1)
	p, svc, real := oneServer(t, Options{}, func(c net.Conn) {
		fmt.Fprintf(c, "bye\n")
		c.(*net.TCPConn).CloseWrite()
		b, _ := io.ReadAll(c)
		got <- string(b)
	})
	c := dialRaw(t, svc)
	back, err := io.ReadAll(c)
	if err != nil || string(back) != "bye\n" {
		t.Fatalf("greeting %q, %v", back, err)
	}
	data := pattern(1 << 20)
	if _, err := c.Write(data); err != nil {
		t.Fatalf("write after the server's FIN: %v", err)
	}
	c.Close()
	select {
	case s := <-got:
		if s != string(data) {
			t.Errorf("server read %d bytes, want %d", len(s), len(data))
		}
	case <-time.After(ioTimeout):
		t.Fatal("server never saw the client's end")
	}
	waitActive(t, p, svc, real, 0)
}

// TestLoopPeerReset: a real server that resets the connection makes the
// proxy close the client's (the client reads an error or the end, never
// a hang) and release the connection.
func TestLoopPeerReset(t *testing.T) {
	p, svc, real := oneServer(t, Options{}, func(c net.Conn) {
		c.Read(make([]byte, 10))
		c.(*net.TCPConn).SetLinger(0)
	})
	c := dialRaw(t, svc)
	c.Write([]byte("hi"))
	if _, err := c.Read(make([]byte, 10)); err == nil || isTimeout(err) {
		t.Fatalf("read after the server's reset: %v", err)
	}
	waitActive(t, p, svc, real, 0)

	// And the client's reset: the server sees its connection end.
	ended := make(chan error, 1)
	p2, svc2, real2 := oneServer(t, Options{}, func(c net.Conn) {
		c.SetDeadline(time.Now().Add(ioTimeout))
		_, err := io.Copy(io.Discard, c)
		ended <- err
	})
	c2 := dialRaw(t, svc2)
	c2.Write([]byte("hello"))
	waitActive(t, p2, svc2, real2, 1)
	c2.SetLinger(0)
	c2.Close()
	select {
	case err := <-ended:
		if isTimeout(err) {
			t.Fatalf("server still connected after the client's reset: %v", err)
		}
	case <-time.After(2 * ioTimeout):
		t.Fatal("server never saw the client's reset")
	}
	waitActive(t, p2, svc2, real2, 0)
}

// TestLoopConnectRefused: a real server that refuses the connection: the
// client is reset, the connection released.
func TestLoopConnectRefused(t *testing.T) {
	a := netip.MustParseAddr("127.0.0.1")
	closed := dataplane.DestKey{Addr: a, Port: freePort(t, "tcp", a)}
	p, svc, real := oneDest(t, Options{}, closed)
	for range 3 {
		// The reset may come before the dial has seen its connection
		// complete: then the dial itself reports it.
		c, err := net.DialTimeout("tcp", netip.AddrPortFrom(svc.Addr, svc.Port).String(), ioTimeout)
		if err != nil {
			if !errors.Is(err, unix.ECONNRESET) {
				t.Fatalf("dial: %v, want a reset or a connection", err)
			}
			continue
		}
		c.SetDeadline(time.Now().Add(ioTimeout))
		_, err = c.Read(make([]byte, 10))
		c.Close()
		if err == nil || isTimeout(err) {
			t.Fatalf("read: %v, want the end of a refused connection", err)
		}
	}
	waitActive(t, p, svc, real, 0)
}

// TestLoopConnectTimeout: a real server whose accept queue is full drops
// the proxy's SYNs; after DialTimeout (300 ms) the client is reset.
func TestLoopConnectTimeout(t *testing.T) {
	fd, err := unix.Socket(unix.AF_INET, unix.SOCK_STREAM|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { unix.Close(fd) })
	if err := unix.Bind(fd, &unix.SockaddrInet4{Addr: [4]byte{127, 0, 0, 1}}); err != nil {
		t.Fatal(err)
	}
	if err := unix.Listen(fd, 0); err != nil { // never accepted
		t.Fatal(err)
	}
	sa, _ := unix.Getsockname(fd)
	real := dataplane.DestKey{Addr: netip.MustParseAddr("127.0.0.1"), Port: uint16(sa.(*unix.SockaddrInet4).Port)}
	// Fill the accept queue: connects succeed until it is full, then the
	// SYNs are dropped and a connect times out.
	full := false
	for range 8 {
		c, err := net.DialTimeout("tcp", netip.AddrPortFrom(real.Addr, real.Port).String(), 200*time.Millisecond)
		if err != nil {
			full = true
			break
		}
		t.Cleanup(func() { c.Close() })
	}
	if !full {
		t.Skip("the kernel never dropped a SYN for a full accept queue")
	}
	p, svc, _ := oneDest(t, Options{DialTimeout: 300 * time.Millisecond}, real)
	c := dialRaw(t, svc)
	start := time.Now()
	if _, err := c.Read(make([]byte, 10)); err == nil || isTimeout(err) {
		t.Fatalf("read: %v, want the end of a connection whose connect timed out", err)
	}
	if d := time.Since(start); d < 250*time.Millisecond {
		t.Errorf("client cut after %v, before the 300 ms connect timeout", d)
	}
	waitActive(t, p, svc, real, 0)
}

// TestLoopManyConnections: 400 connections at once, each echoing its own
// line twice, spread over the loops; all are released after.
func TestLoopManyConnections(t *testing.T) {
	p, svc, real := oneServer(t, Options{}, func(c net.Conn) { io.Copy(c, c) })
	const n = 400
	conns := make([]*net.TCPConn, n)
	for i := range conns {
		conns[i] = dialRaw(t, svc)
	}
	waitActive(t, p, svc, real, n)
	var wg sync.WaitGroup
	errs := make(chan error, n)
	for i, c := range conns {
		wg.Add(1)
		go func() {
			defer wg.Done()
			r := bufio.NewReader(c)
			for round := range 2 {
				line := fmt.Sprintf("conn %d round %d %s\n", i, round, strings.Repeat("x", i))
				if _, err := c.Write([]byte(line)); err != nil {
					errs <- err
					return
				}
				got, err := r.ReadString('\n')
				if err != nil || got != line {
					errs <- fmt.Errorf("conn %d: %q, %v", i, got, err)
					return
				}
			}
			c.Close()
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	waitActive(t, p, svc, real, 0)
}

// TestLoopIdleTimeoutReleases: an idle connection cut by the TCP timeout
// is released (lc counts it no more), and the real server sees its end.
func TestLoopIdleTimeoutReleases(t *testing.T) {
	ended := make(chan struct{})
	p, svc, real := oneServer(t, Options{}, func(c net.Conn) {
		c.SetDeadline(time.Now().Add(ioTimeout))
		io.Copy(io.Discard, c)
		close(ended)
	})
	if err := p.SetTimeouts(ctx, dataplane.Timeouts{TCP: 200 * time.Millisecond}); err != nil {
		t.Fatal(err)
	}
	c := dialRaw(t, svc)
	waitActive(t, p, svc, real, 1)
	if _, err := c.Read(make([]byte, 1)); err == nil || isTimeout(err) {
		t.Fatalf("read: %v, want the end of an idle connection", err)
	}
	select {
	case <-ended:
	case <-time.After(ioTimeout):
		t.Fatal("the real server's side stayed open")
	}
	waitActive(t, p, svc, real, 0)
}

// TestLoopShorterTimeoutApplies: lowering the TCP timeout applies to an
// established connection at once, not after the old limit (a minute).
func TestLoopShorterTimeoutApplies(t *testing.T) {
	p, svc, real := oneServer(t, Options{}, func(c net.Conn) { io.Copy(c, c) })
	if err := p.SetTimeouts(ctx, dataplane.Timeouts{TCP: time.Minute}); err != nil {
		t.Fatal(err)
	}
	c := dialRaw(t, svc)
	// A round trip: the connection is established under the old limit.
	if _, err := c.Write([]byte("x")); err != nil {
		t.Fatal(err)
	}
	if _, err := io.ReadFull(c, make([]byte, 1)); err != nil {
		t.Fatal(err)
	}
	if err := p.SetTimeouts(ctx, dataplane.Timeouts{TCP: 200 * time.Millisecond}); err != nil {
		t.Fatal(err)
	}
	if _, err := c.Read(make([]byte, 1)); err == nil || isTimeout(err) {
		t.Fatalf("read: %v, want the end within %v", err, ioTimeout)
	}
	waitActive(t, p, svc, real, 0)
}

// TestLoopAcceptOutOfDescriptors: when accept4 fails for want of
// descriptors (EMFILE), the listener stops accepting for a while instead
// of spinning on its level-triggered readiness, and serves the waiting
// client once descriptors are free again.
func TestLoopAcceptOutOfDescriptors(t *testing.T) {
	p, svc, _ := oneServer(t, Options{}, func(c net.Conn) { fmt.Fprintf(c, "hello\n") })
	var lim unix.Rlimit
	if err := unix.Getrlimit(unix.RLIMIT_NOFILE, &lim); err != nil {
		t.Fatal(err)
	}
	old := lim
	// Fill every free descriptor below a lowered limit, then free one:
	// the client's dial takes it, and the proxy's accept4 finds none.
	probe, err := unix.Open("/dev/null", unix.O_RDONLY|unix.O_CLOEXEC, 0)
	if err != nil {
		t.Fatal(err)
	}
	unix.Close(probe)
	lim.Cur = uint64(probe) + 256
	if err := unix.Setrlimit(unix.RLIMIT_NOFILE, &lim); err != nil {
		t.Skipf("cannot lower RLIMIT_NOFILE: %v", err)
	}
	var fill []int
	release := func(n int) {
		for ; n > 0 && len(fill) > 0; n-- {
			unix.Close(fill[len(fill)-1])
			fill = fill[:len(fill)-1]
		}
	}
	t.Cleanup(func() {
		release(len(fill))
		unix.Setrlimit(unix.RLIMIT_NOFILE, &old)
	})
	for {
		fd, err := unix.Open("/dev/null", unix.O_RDONLY|unix.O_CLOEXEC, 0)
		if err != nil {
			break
		}
		fill = append(fill, fd)
	}
	release(1)
	type result struct {
		line string
		err  error
	}
	got := make(chan result, 1)
	go func() {
		c, err := net.DialTimeout("tcp", netip.AddrPortFrom(svc.Addr, svc.Port).String(), ioTimeout)
		if err != nil {
			got <- result{err: err}
			return
		}
		defer c.Close()
		c.SetDeadline(time.Now().Add(3 * ioTimeout))
		l, err := bufio.NewReader(c).ReadString('\n')
		got <- result{l, err}
	}()
	// A listener pauses: its interest is taken out of its loop's set.
	paused := func() bool {
		s, err := p.service(svc)
		if err != nil {
			return false
		}
		for i, ln := range s.listeners {
			l := s.loops[i]
			var ev uint32 = unix.EPOLLIN
			l.call(func() { ev = l.events[ln.fd] })
			if ev == 0 {
				return true
			}
		}
		return false
	}
	end := time.Now().Add(ioTimeout)
	for !paused() {
		select {
		case r := <-got:
			t.Fatalf("the client finished while descriptors were short: %q, %v", r.line, r.err)
		default:
		}
		if time.Now().After(end) {
			t.Fatal("no listener paused while accept4 had no descriptor")
		}
		time.Sleep(time.Millisecond)
	}
	release(len(fill))
	select {
	case r := <-got:
		if r.err != nil || r.line != "hello\n" {
			t.Fatalf("after descriptors were freed: %q, %v", r.line, r.err)
		}
	case <-time.After(3 * ioTimeout):
		t.Fatal("the waiting client was never served")
	}
}

// TestLoopPlan: one loop per P up to maxLoops, and one P more than the
// loops unless GOMAXPROCS was fixed in the environment or there are
// already more Ps than loops.
func TestLoopPlan(t *testing.T) {
	for _, tc := range []struct {
		procs       int
		fixed       bool
		loops, want int
	}{
		{1, false, 1, 2},
		{2, false, 2, 3},
		{4, false, 4, 5},
		{8, false, maxLoops, 8},
		{2, true, 2, 2},
		{1, true, 1, 1},
		{0, false, 1, 2},
	} {
		loops, want := loopPlan(tc.procs, tc.fixed)
		if loops != tc.loops || want != tc.want {
			t.Errorf("loopPlan(%d, %v) = %d loops, GOMAXPROCS %d; want %d, %d", tc.procs, tc.fixed, loops, want, tc.loops, tc.want)
		}
	}
}

// TestGOMAXPROCSRestored: the first plane with loops raises GOMAXPROCS to
// its plan, a second plane at the same time does not raise it again, and
// once both are closed it is back to what it was.
func TestGOMAXPROCSRestored(t *testing.T) {
	if os.Getenv("GOMAXPROCS") != "" {
		t.Skip("GOMAXPROCS is set in the environment: the plane leaves it alone")
	}
	before := runtime.GOMAXPROCS(0)
	_, want := loopPlan(before, false)
	real := serverFunc(t, func(net.Conn) {})
	p1, _, _ := oneDest(t, Options{}, real)
	if got := runtime.GOMAXPROCS(0); got != want {
		t.Fatalf("with one plane: GOMAXPROCS %d, want %d (from %d)", got, want, before)
	}
	p2, _, _ := oneDest(t, Options{}, real)
	if got := runtime.GOMAXPROCS(0); got != want {
		t.Fatalf("with two planes: GOMAXPROCS %d, want still %d", got, want)
	}
	p1.Close()
	if got := runtime.GOMAXPROCS(0); got != want {
		t.Fatalf("one plane closed, one open: GOMAXPROCS %d, want still %d", got, want)
	}
	p2.Close()
	p2.Close() // a second Close gives nothing back twice
	if got := runtime.GOMAXPROCS(0); got != before {
		t.Fatalf("both planes closed: GOMAXPROCS %d, want %d as before", got, before)
	}
}

// TestLoopYieldDue: a loop woken again and again passes through the
// scheduler at its first wake-up, then at the first wake-up at least
// yieldEvery after the last time, whatever the pace of its wake-ups.
func TestLoopYieldDue(t *testing.T) {
	for _, step := range []time.Duration{10 * time.Microsecond, 300 * time.Microsecond, yieldEvery, 7 * time.Millisecond} {
		l := &loop{}
		start := time.Date(2026, 12, 3, 0, 0, 0, 0, time.UTC).UnixNano()
		last := int64(-1)
		for d := time.Duration(0); d < 50*yieldEvery; d += step {
			l.now = start + int64(d)
			due := last < 0 || l.now-last >= int64(yieldEvery)
			if got := l.yieldDue(); got != due {
				t.Fatalf("wake-ups every %v, at %v: yieldDue %v, want %v", step, d, got, due)
			}
			if due {
				last = l.now
			}
		}
	}
}
