package proxy

import (
	"bytes"
	"crypto/sha256"
	"io"
	"math/rand/v2"
	"net"
	"os"
	"sync/atomic"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"vigil/internal/dataplane"
)

// Tests of the splice path (splice.go): bulk transfers go through pipes
// byte-exact, a slow destination leaves bytes in the pipe (EPOLLOUT), a
// FIN comes after the last spliced byte, a reset leaks no pipe, a socket
// that cannot splice falls back to read/write, and small requests never
// touch a pipe.

// bulkTimeout bounds each bulk transfer below (tens of MiB over loopback,
// under -race on a loaded machine: seconds at most; the bound only keeps
// a hang from lasting).
const bulkTimeout = 60 * time.Second

// spliceServer is oneServer with the plane's splice call replaced by fn
// (nil: the real one) before any connection exists.
func spliceServer(t *testing.T, opts Options, fn func(rfd, wfd, n int) (int, error), serve func(net.Conn)) (*Plane, dataplane.ServiceKey, dataplane.DestKey) {
	t.Helper()
	return oneDest(t, opts, serverFunc(t, serve), func(p *Plane) {
		if fn != nil {
			p.spliceFn = fn
		}
	})
}

// stream is n pseudo-random bytes from seed (incompressible, so that no
// repeating pattern could hide a misplaced block).
func stream(seed uint64, n int) []byte {
	b := make([]byte, n)
	r := rand.NewChaCha8([32]byte{byte(seed), byte(seed >> 8)})
	r.Read(b)
	return b
}

// digest reads r to its end and returns the SHA-256 of what it read and
// how many bytes.
func digest(r io.Reader) ([32]byte, int64, error) {
	h := sha256.New()
	n, err := io.Copy(h, r)
	var sum [32]byte
	copy(sum[:], h.Sum(nil))
	return sum, n, err
}

// bulkBothWays sends size bytes each way at once, each side closing its
// half when done, and checks both arrive byte-exact.
func bulkBothWays(t *testing.T, opts Options, fn func(rfd, wfd, n int) (int, error), size int) *Plane {
	t.Helper()
	up, down := stream(1, size), stream(2, size)
	type result struct {
		sum [32]byte
		n   int64
		err error
	}
	got := make(chan result, 1)
	p, svc, real := spliceServer(t, opts, fn, func(c net.Conn) {
		c.SetDeadline(time.Now().Add(bulkTimeout))
		sent := make(chan struct{})
		go func() {
			defer close(sent)
			if _, err := c.Write(down); err == nil {
				c.(*net.TCPConn).CloseWrite()
			}
		}()
		sum, n, err := digest(c)
		got <- result{sum, n, err}
		<-sent // the connection closes when this returns
	})
	c := dialRaw(t, svc)
	c.SetDeadline(time.Now().Add(bulkTimeout))
	werr := make(chan error, 1)
	go func() {
		_, err := c.Write(up)
		if err == nil {
			err = c.CloseWrite()
		}
		werr <- err
	}()
	sum, n, err := digest(c)
	if err != nil {
		t.Fatalf("client read: %v after %d bytes", err, n)
	}
	if n != int64(size) || sum != sha256.Sum256(down) {
		t.Fatalf("client got %d bytes (sha256 %x), want %d (%x)", n, sum[:8], size, sha256.Sum256(down))
	}
	if err := <-werr; err != nil {
		t.Fatalf("client write: %v", err)
	}
	select {
	case r := <-got:
		if r.err != nil || r.n != int64(size) || r.sum != sha256.Sum256(up) {
			t.Fatalf("server got %d bytes (sha256 %x, %v), want %d", r.n, r.sum[:8], r.err, size)
		}
	case <-time.After(bulkTimeout):
		t.Fatal("server never read the client's end")
	}
	waitActive(t, p, svc, real, 0)
	return p
}

// TestSpliceBulkBothWays: 32 MiB each way at once arrive byte-exact, and
// most of them (more than half: all but the first buffer of each burst
// are spliced) went through pipes; every pipe is back in its pool after.
// With NoSplice the same transfer splices nothing.
func TestSpliceBulkBothWays(t *testing.T) {
	const size = 32 << 20
	p := bulkBothWays(t, Options{}, nil, size)
	spliced := p.splice.bytes.Load()
	t.Logf("spliced %d of %d bytes, %d pipes made", spliced, 2*size, p.splice.made.Load())
	if spliced <= size {
		t.Errorf("spliced %d bytes of %d, want more than half", spliced, 2*size)
	}
	if h := p.splice.held.Load(); h != 0 {
		t.Errorf("%d pipes still held after the connection ended", h)
	}

	p = bulkBothWays(t, Options{NoSplice: true}, nil, size)
	if n, m := p.splice.bytes.Load(), p.splice.made.Load(); n != 0 || m != 0 {
		t.Errorf("NoSplice: %d bytes spliced through %d pipes, want none", n, m)
	}
}

// TestSpliceSmallRequestsNoPipe: request/answer traffic (1 KiB each way,
// 200 times) never fills the loop's buffer, so it takes no pipe and
// splices nothing.
func TestSpliceSmallRequestsNoPipe(t *testing.T) {
	p, svc, _ := spliceServer(t, Options{}, nil, func(c net.Conn) {
		b := make([]byte, 1024)
		for {
			if _, err := io.ReadFull(c, b); err != nil {
				return
			}
			if _, err := c.Write(b); err != nil {
				return
			}
		}
	})
	c := dialRaw(t, svc)
	req, back := stream(3, 1024), make([]byte, 1024)
	for i := range 200 {
		if _, err := c.Write(req); err != nil {
			t.Fatal(err)
		}
		if _, err := io.ReadFull(c, back); err != nil || !bytes.Equal(back, req) {
			t.Fatalf("answer %d: %v", i, err)
		}
	}
	if n, m := p.splice.bytes.Load(), p.splice.made.Load(); n != 0 || m != 0 {
		t.Errorf("small requests: %d bytes spliced through %d pipes, want none", n, m)
	}
}

// TestSpliceSlowReader: the real server does not read for 300 ms, then
// reads in small bites with pauses. The proxy's writes to it block with
// bytes in the pipe (counted as waits: the EPOLLOUT path), and every byte
// still arrives in order.
func TestSpliceSlowReader(t *testing.T) {
	const size = 32 << 20
	data := stream(4, size)
	got := make(chan [32]byte, 1)
	p, svc, real := spliceServer(t, Options{}, nil, func(c net.Conn) {
		c.SetDeadline(time.Now().Add(bulkTimeout))
		time.Sleep(300 * time.Millisecond)
		h := sha256.New()
		b := make([]byte, 256<<10)
		for i, left := 0, size; left > 0; i++ {
			n, err := c.Read(b[:min(len(b), left)])
			h.Write(b[:n])
			left -= n
			if err != nil {
				break
			}
			if i%32 == 0 {
				time.Sleep(time.Millisecond)
			}
		}
		var sum [32]byte
		copy(sum[:], h.Sum(nil))
		got <- sum
		c.Write([]byte("ok"))
	})
	c := dialRaw(t, svc)
	c.SetDeadline(time.Now().Add(bulkTimeout))
	if _, err := c.Write(data); err != nil {
		t.Fatalf("client write: %v", err)
	}
	ok := make([]byte, 2)
	if _, err := io.ReadFull(c, ok); err != nil || string(ok) != "ok" {
		t.Fatalf("answer %q, %v", ok, err)
	}
	if sum := <-got; sum != sha256.Sum256(data) {
		t.Fatal("the server read other bytes than the client sent")
	}
	if w := p.splice.waits.Load(); w == 0 {
		t.Error("the real server never left bytes in a pipe: the EPOLLOUT path went untested")
	}
	if p.splice.bytes.Load() <= size/2 {
		t.Errorf("spliced %d bytes of %d, want more than half", p.splice.bytes.Load(), size)
	}
	c.Close()
	waitActive(t, p, svc, real, 0)
}

// TestSpliceHalfCloseAfterBurst: the client sends 32 MiB and closes its
// half at once, while the real server does not read yet: the FIN reaches
// the proxy with bytes still in its pipe and sockets. The server reads
// every byte, then the end (no byte lost or cut by an early FIN), then
// answers, which the client reads before its own end.
func TestSpliceHalfCloseAfterBurst(t *testing.T) {
	const size = 32 << 20
	data := stream(5, size)
	p, svc, real := spliceServer(t, Options{}, nil, func(c net.Conn) {
		c.SetDeadline(time.Now().Add(bulkTimeout))
		time.Sleep(300 * time.Millisecond)
		sum, n, err := digest(c)
		if err != nil || n != size || sum != sha256.Sum256(data) {
			c.Write([]byte("bad"))
			return
		}
		c.Write([]byte("all"))
	})
	c := dialRaw(t, svc)
	c.SetDeadline(time.Now().Add(bulkTimeout))
	if _, err := c.Write(data); err != nil {
		t.Fatalf("client write: %v", err)
	}
	if err := c.CloseWrite(); err != nil {
		t.Fatal(err)
	}
	back, err := io.ReadAll(c)
	if err != nil || string(back) != "all" {
		t.Fatalf("server's answer after the client's FIN: %q, %v (want \"all\": every byte, then the end)", back, err)
	}
	if p.splice.waits.Load() == 0 || p.splice.bytes.Load() <= size/2 {
		t.Errorf("spliced %d bytes with %d waits: the FIN did not come after a spliced, blocked burst", p.splice.bytes.Load(), p.splice.waits.Load())
	}
	waitActive(t, p, svc, real, 0)
}

// openFDs counts the process's descriptors.
func openFDs(t *testing.T) int {
	ents, err := os.ReadDir("/proc/self/fd")
	if err != nil {
		t.Fatal(err)
	}
	return len(ents)
}

// idlePipes counts the pipes in the plane's loops' pools.
func idlePipes(p *Plane) int {
	n := 0
	for _, l := range p.loops {
		l.call(func() { n += len(l.pipes) })
	}
	return n
}

// TestSpliceResetMidBurst: the real server resets its connection in the
// middle of a spliced transfer. The proxy closes the client's (its reads
// end), releases the connection and its pipe: no pipe stays held, and the
// process's descriptors come back to what they were plus the pool's idle
// pipes (two each).
func TestSpliceResetMidBurst(t *testing.T) {
	reading := make(chan struct{})
	p, svc, real := spliceServer(t, Options{}, nil, func(c net.Conn) {
		c.SetDeadline(time.Now().Add(bulkTimeout))
		if _, err := io.CopyN(io.Discard, c, 8<<20); err != nil {
			return
		}
		close(reading)
		c.(*net.TCPConn).SetLinger(0) // the close sends an RST
	})
	base := openFDs(t)
	c := dialRaw(t, svc)
	c.SetDeadline(time.Now().Add(bulkTimeout))
	werr := make(chan error, 1)
	go func() {
		chunk := stream(6, 1<<20)
		for range 256 { // at most 256 MiB, far more than the server reads
			if _, err := c.Write(chunk); err != nil {
				werr <- err
				return
			}
		}
		werr <- nil
	}()
	select {
	case <-reading:
	case <-time.After(bulkTimeout):
		t.Fatal("the server never got 8 MiB")
	}
	if p.splice.bytes.Load() == 0 {
		t.Fatal("8 MiB went through without splicing: the reset is not mid-splice")
	}
	if _, err := io.Copy(io.Discard, c); err != nil && isTimeout(err) {
		t.Fatalf("the client's connection still open after the server's reset: %v", err)
	}
	if err := <-werr; err == nil || isTimeout(err) {
		t.Fatalf("client write after the reset: %v, want a reset or broken pipe", err)
	}
	c.Close()
	waitActive(t, p, svc, real, 0)
	end := time.Now().Add(ioTimeout)
	for {
		held, idle, fds := p.splice.held.Load(), idlePipes(p), openFDs(t)
		if held == 0 && fds == base+2*idle {
			break
		}
		if time.Now().After(end) {
			t.Fatalf("after the reset: %d pipes held, %d idle, %d descriptors (want 0 held and %d+2×idle)", held, idle, fds, base)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// isPipe reports whether fd is a pipe.
func isPipe(fd int) bool {
	var st unix.Stat_t
	return unix.Fstat(fd, &st) == nil && st.Mode&unix.S_IFMT == unix.S_IFIFO
}

// TestSpliceFallback: sockets that refuse splice (EINVAL, as a socket
// type without splice support would) make the connection relay with
// read/write instead, byte-exact: refused from the socket (nothing
// spliced at all), or only into the destination (what the pipe already
// holds is read out and written).
func TestSpliceFallback(t *testing.T) {
	const size = 8 << 20
	p := bulkBothWays(t, Options{}, func(rfd, wfd, n int) (int, error) { return 0, unix.EINVAL }, size)
	if n := p.splice.bytes.Load(); n != 0 {
		t.Errorf("splice refused: %d bytes counted as spliced", n)
	}
	var intoPipe atomic.Int64
	p = bulkBothWays(t, Options{}, func(rfd, wfd, n int) (int, error) {
		if isPipe(rfd) {
			return 0, unix.EINVAL
		}
		m, err := splice(rfd, wfd, n)
		if err == nil && m > 0 {
			intoPipe.Add(1)
		}
		return m, err
	}, size)
	if n := p.splice.bytes.Load(); n != 0 || intoPipe.Load() == 0 {
		t.Errorf("splice out of the pipe refused: %d bytes spliced out, %d splices into a pipe (want 0, >0)", n, intoPipe.Load())
	}
	if h := p.splice.held.Load(); h != 0 {
		t.Errorf("%d pipes still held", h)
	}
}

// TestSpliceIdleAfterBurstHoldsNoPipe: a connection that moved 8 MiB
// (spliced) and then stays open and idle holds no pipe: pipes go back to
// the pool as soon as they are empty.
func TestSpliceIdleAfterBurstHoldsNoPipe(t *testing.T) {
	const size = 8 << 20
	p, svc, real := spliceServer(t, Options{}, nil, func(c net.Conn) {
		c.SetDeadline(time.Now().Add(bulkTimeout))
		if _, err := io.CopyN(io.Discard, c, size); err != nil {
			return
		}
		c.Write([]byte("ok"))
		io.Copy(io.Discard, c) // stays open until the client closes
	})
	c := dialRaw(t, svc)
	c.SetDeadline(time.Now().Add(bulkTimeout))
	if _, err := c.Write(stream(7, size)); err != nil {
		t.Fatal(err)
	}
	ok := make([]byte, 2)
	if _, err := io.ReadFull(c, ok); err != nil {
		t.Fatal(err)
	}
	if p.splice.bytes.Load() == 0 {
		t.Fatal("8 MiB went through without splicing")
	}
	if active(p, svc, real) != 1 {
		t.Fatal("the connection ended; it should stay open")
	}
	if h := p.splice.held.Load(); h != 0 {
		t.Errorf("an idle connection holds %d pipes after its burst, want 0", h)
	}
}
