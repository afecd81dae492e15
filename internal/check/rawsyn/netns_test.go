package rawsyn

import (
	"context"
	"errors"
	"net"
	"net/netip"
	"sync/atomic"
	"syscall"
	"testing"
	"time"
	"unsafe"

	"golang.org/x/sys/unix"

	"vigil/internal/netlab"
)

// nsEngine opens an Engine on the system's wire inside a namespace.
func nsEngine(t testing.TB, h *netlab.Host) *Engine {
	t.Helper()
	return New(nsWire(t, h, true))
}

// nsWire opens the system's wire inside a namespace, IPv4 on a packet
// socket (packet) or on the raw TCP socket of the fallback; it must be
// the kind asked for.
func nsWire(t testing.TB, h *netlab.Host, packet bool) *SysWire {
	t.Helper()
	var w *SysWire
	if err := h.Do(func() (err error) { w, err = openSys(2, packet); return err }); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { w.Close() })
	if w.hdrincl != packet || (w.ring != nil) != packet {
		t.Fatalf("IPv4 on a packet socket: %v, with a ring: %v; want %v", w.hdrincl, w.ring != nil, packet)
	}
	want := "IPv4: raw TCP socket; IPv6: raw TCP socket"
	if packet {
		want = "IPv4: IPPROTO_RAW out, packet socket with a receive ring in; IPv6: raw TCP socket"
	}
	if got := w.Describe(); got != want {
		t.Fatalf("Describe: %q; want %q", got, want)
	}
	return w
}

// TestDescribeFallback: a wire whose IPv4 could not open its packet
// socket says so, and why, in what the Runner logs.
func TestDescribeFallback(t *testing.T) {
	w := &SysWire{tx: [2]int{3, -1}, noPacket: errors.New("socket: operation not permitted")}
	want := "IPv4: raw TCP socket (no packet socket: socket: operation not permitted); no IPv6"
	if got := w.Describe(); got != want {
		t.Errorf("Describe: %q; want %q", got, want)
	}
}

// TestNamespaceRingWraps runs more checks than the receive ring has
// frames, in passes as the Runner makes them: every one is answered, the
// ring going round.
func TestNamespaceRingWraps(t *testing.T) {
	lab := netlab.New(t)
	h := lab.AddHost("rs", "10.77.0.2/24")
	w := nsWire(t, h, true)
	e := New(w)
	// One listener on every local address of 127/8.
	open, _ := countingListener(t, h, "tcp4", "0.0.0.0:0")
	const perPass, passes = 200, 3 * ringFrames / 200
	var targets []*Target
	for i := range perPass {
		targets = append(targets, NewTarget(netip.AddrPortFrom(netip.AddrFrom4([4]byte{127, 0, byte(i / 250), byte(i%250 + 1)}), open.Port())))
	}
	answered := 0
	for pass := range passes {
		now := time.Now()
		for i, tg := range targets {
			if err := e.Queue(now, tg, now.Add(5*time.Second), i, uint64(pass)); err != nil {
				t.Fatalf("pass %d, check %d: %v", pass, i, err)
			}
		}
		out := e.Flush(nil)
		for end := time.Now().Add(5 * time.Second); e.Pending() > 0 && time.Now().Before(end); time.Sleep(time.Millisecond) {
			out = e.Poll(out)
		}
		for _, o := range out {
			if o.Err != nil {
				t.Fatalf("pass %d: check %v failed: %v", pass, o.Tag, o.Err)
			}
		}
		if len(out) != perPass {
			t.Fatalf("pass %d: %d of %d checks answered", pass, len(out), perPass)
		}
		answered += len(out)
	}
	if answered <= ringFrames {
		t.Fatalf("only %d answers: the ring (%d frames) did not go round", answered, ringFrames)
	}
}

// countingListener listens in h on addr and counts the connections its
// application accepts.
func countingListener(t testing.TB, h *netlab.Host, network, addr string) (netip.AddrPort, *atomic.Int64) {
	t.Helper()
	var l net.Listener
	if err := h.Do(func() (err error) { l, err = net.Listen(network, addr); return err }); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { l.Close() })
	var n atomic.Int64
	go func() {
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			n.Add(1)
			c.Close()
		}
	}()
	return l.Addr().(*net.TCPAddr).AddrPort(), &n
}

// closedPortIn is a port of addr in h that nothing listens on.
func closedPortIn(t testing.TB, h *netlab.Host, network, addr string) netip.AddrPort {
	t.Helper()
	var l net.Listener
	if err := h.Do(func() (err error) { l, err = net.Listen(network, addr); return err }); err != nil {
		t.Fatal(err)
	}
	ap := l.Addr().(*net.TCPAddr).AddrPort()
	l.Close()
	return ap
}

// check runs one check through e, as the Runner drives it (Poll every
// 10 ms, Sweep every SweepEvery), until its outcome.
func check(t *testing.T, e *Engine, dst netip.AddrPort, timeout time.Duration, gen uint64) (Outcome, bool) {
	t.Helper()
	now := time.Now()
	deadline := now.Add(timeout)
	if err := e.Queue(now, NewTarget(dst), deadline, "tag", gen); err != nil {
		t.Fatalf("queue %s: %v", dst, err)
	}
	out := e.Flush(nil)
	// The Engine times the check out at its deadline (within a sweep);
	// the test gives up a second later.
	for swept := now; len(out) == 0 && time.Now().Before(deadline.Add(time.Second)); {
		time.Sleep(10 * time.Millisecond)
		out = e.Poll(out)
		if now := time.Now(); now.Sub(swept) >= SweepEvery {
			out, swept = e.Sweep(now, out), now
		}
	}
	if len(out) == 0 {
		return Outcome{}, false
	}
	if len(out) > 1 {
		t.Fatalf("%d outcomes for one check: %+v", len(out), out)
	}
	return out[0], true
}

// TestNamespaceChecks runs checks on the system's raw sockets in a
// namespace: an open port passes (and its application never accepts a
// connection), a closed one is refused, an address nobody answers times
// out; over IPv4 and IPv6.
// IPv4 runs on both of its wires: the packet socket and the raw TCP
// socket of the fallback.
func TestNamespaceChecks(t *testing.T) {
	lab := netlab.New(t)
	h := lab.AddHost("rs", "10.77.0.2/24", "fd00:77::2/64")
	gen := uint64(0)
	for _, fam := range []struct {
		name, network, local, silent string
		packet                       bool
	}{
		{"tcp4-packet", "tcp4", "127.0.0.1:0", "10.77.0.99:80", true},
		{"tcp4-raw", "tcp4", "127.0.0.1:0", "10.77.0.99:80", false},
		{"tcp6", "tcp6", "[::1]:0", "[fd00:77::99]:80", true},
	} {
		t.Run(fam.name, func(t *testing.T) {
			e := New(nsWire(t, h, fam.packet))
			open, accepted := countingListener(t, h, fam.network, fam.local)
			for range 20 {
				gen++
				o, ok := check(t, e, open, 5*time.Second, gen)
				if !ok || o.Err != nil || o.Gen != gen || o.Tag != "tag" {
					t.Fatalf("open port %s: outcome %+v, answered %v; want a pass of gen %d", open, o, ok, gen)
				}
			}
			// The application would have accepted by now if any of the
			// 20 handshakes had completed; a connection that completes
			// after this wait would too, so wait a little before
			// counting.
			time.Sleep(200 * time.Millisecond)
			if n := accepted.Load(); n != 0 {
				t.Errorf("the listener's application accepted %d connections; want 0 (the handshake is never completed)", n)
			}
			closed := closedPortIn(t, h, fam.network, fam.local)
			gen++
			o, ok := check(t, e, closed, 5*time.Second, gen)
			if !ok || !errors.Is(o.Err, syscall.ECONNREFUSED) {
				t.Errorf("closed port %s: outcome %+v, answered %v; want connection refused", closed, o, ok)
			}
			// Nobody answers: the check times out at its deadline (the
			// SYN was sent again after a second meanwhile).
			gen++
			sent := time.Now()
			o, ok = check(t, e, netip.MustParseAddrPort(fam.silent), 1500*time.Millisecond, gen)
			if took := time.Since(sent); !ok || !errors.Is(o.Err, context.DeadlineExceeded) || took < 1500*time.Millisecond {
				t.Errorf("silent address %s: outcome %+v after %v; want a timeout at 1.5 s", fam.silent, o, took)
			}
			e.Sweep(time.Now(), nil)
			if n := e.Pending(); n != 0 {
				t.Errorf("%d checks still pending past their deadline", n)
			}
		})
	}
}

// TestNamespaceWireTakesOnlyAnswers: the wire's receive side holds the
// answers to its reserved ports and nothing of the host's other TCP
// traffic (a connection's handshake, data and close on the same
// addresses), on either IPv4 wire.
func TestNamespaceWireTakesOnlyAnswers(t *testing.T) {
	lab := netlab.New(t)
	h := lab.AddHost("rs", "10.77.0.2/24")
	for _, packet := range []bool{true, false} {
		w := nsWire(t, h, packet)
		open, _ := countingListener(t, h, "tcp4", "10.77.0.2:0")
		// Other traffic: a whole connection, with data both ways.
		if err := h.Do(func() error {
			c, err := net.DialTimeout("tcp4", open.String(), 5*time.Second)
			if err != nil {
				return err
			}
			c.Write([]byte("hello"))
			return c.Close()
		}); err != nil {
			t.Fatal(err)
		}
		// One check's SYN, from a reserved port.
		src := netip.MustParseAddr("10.77.0.2")
		syn := EncodeSYN(make([]byte, synLen), netip.AddrPortFrom(src, w.Ports()[0]), open, 1234)
		if n, err := w.Send(4, []Packet{{Src: src, Dst: open.Addr(), Data: syn}}); n != 1 || err != nil {
			t.Fatalf("send: %d, %v", n, err)
		}
		var got []Segment
		for end := time.Now().Add(2 * time.Second); time.Now().Before(end) && len(got) == 0; time.Sleep(10 * time.Millisecond) {
			got, _ = w.Recv(4, got)
		}
		time.Sleep(100 * time.Millisecond)
		got, _ = w.Recv(4, got)
		if len(got) != 1 || !got[0].SynAck() || got[0].Ack != 1235 || got[0].Dst.Port() != w.Ports()[0] || got[0].Src != open {
			t.Errorf("packet socket %v: received %+v; want only the SYN-ACK from %s to port %d acknowledging 1234", packet, got, open, w.Ports()[0])
		}
	}
}

// BenchmarkNamespaceEngine sends checks to 10,000 local addresses of a
// namespace, 100 per 10 ms as the Runner does, and reports the process's
// CPU time per check (the kernel's handshake work included).
func BenchmarkNamespaceEngine(b *testing.B) {
	lab := netlab.New(b)
	h := lab.AddHost("rs", "10.77.0.2/24")
	if out, err := h.Exec(b.Context(), "ip", "route", "add", "local", "10.201.0.0/16", "dev", "lo"); err != nil {
		b.Fatalf("%v: %s", err, out)
	}
	open, _ := countingListener(b, h, "tcp4", "0.0.0.0:0")
	e := nsEngine(b, h)
	const targets = 10000
	ts := make([]*Target, targets)
	for i := range ts {
		ts[i] = NewTarget(netip.AddrPortFrom(netip.AddrFrom4([4]byte{10, 201, byte(i / 250), byte(i%250 + 1)}), open.Port()))
	}
	var r0, r1 unix.Rusage
	unix.Getrusage(unix.RUSAGE_SELF, &r0)
	b.ResetTimer()
	got := 0
	var out []Outcome
	for i := 0; i < b.N; {
		now := time.Now()
		for j := 0; j < 100 && i < b.N; j, i = j+1, i+1 {
			if err := e.Queue(now, ts[i%targets], now.Add(3*time.Second), nil, uint64(i)); err != nil {
				b.Fatal(err)
			}
		}
		out = e.Poll(e.Flush(out[:0]))
		for _, o := range out {
			if o.Err != nil {
				b.Fatal(o.Err)
			}
		}
		got += len(out)
		time.Sleep(10 * time.Millisecond)
	}
	b.StopTimer()
	unix.Getrusage(unix.RUSAGE_SELF, &r1)
	if got != b.N {
		b.Fatalf("%d of %d checks answered at once", got, b.N)
	}
	cpu := time.Duration(r1.Utime.Nano() + r1.Stime.Nano() - r0.Utime.Nano() - r0.Stime.Nano())
	b.ReportMetric(float64(cpu.Nanoseconds())/float64(b.N), "cpu_ns/op")
}

// BenchmarkNamespaceConnect is BenchmarkNamespaceEngine's load on the
// connect path TCP_CHECK takes without the Engine (a reused non-blocking
// socket, no quick ACK, a connect and a reset by a connect to
// AF_UNSPEC), for comparison in the same namespace set-up.
func BenchmarkNamespaceConnect(b *testing.B) {
	lab := netlab.New(b)
	h := lab.AddHost("rs", "10.77.0.2/24")
	if out, err := h.Exec(b.Context(), "ip", "route", "add", "local", "10.201.0.0/16", "dev", "lo"); err != nil {
		b.Fatalf("%v: %s", err, out)
	}
	open, _ := countingListener(b, h, "tcp4", "0.0.0.0:0")
	var fd int
	if err := h.Do(func() (err error) {
		fd, err = unix.Socket(unix.AF_INET, unix.SOCK_STREAM|unix.SOCK_NONBLOCK|unix.SOCK_CLOEXEC, 0)
		return err
	}); err != nil {
		b.Fatal(err)
	}
	defer unix.Close(fd)
	const targets = 10000
	var r0, r1 unix.Rusage
	unix.Getrusage(unix.RUSAGE_SELF, &r0)
	b.ResetTimer()
	for i := 0; i < b.N; {
		for j := 0; j < 100 && i < b.N; j, i = j+1, i+1 {
			k := i % targets
			unix.SetsockoptInt(fd, unix.IPPROTO_TCP, unix.TCP_QUICKACK, 0)
			err := unix.Connect(fd, &unix.SockaddrInet4{Port: int(open.Port()), Addr: [4]byte{10, 201, byte(k / 250), byte(k%250 + 1)}})
			if err != nil && !errors.Is(err, unix.EINPROGRESS) {
				b.Fatal(err)
			}
			pfd := []unix.PollFd{{Fd: int32(fd), Events: unix.POLLOUT}}
			if n, _ := unix.Poll(pfd, 0); n != 1 {
				b.Fatal("not connected at once")
			}
			if e, _ := unix.GetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_ERROR); e != 0 {
				b.Fatal(syscall.Errno(e))
			}
			unix.Syscall(unix.SYS_CONNECT, uintptr(fd), uintptr(unsafe.Pointer(&unspec)), unsafe.Sizeof(unspec))
		}
		time.Sleep(10 * time.Millisecond)
	}
	b.StopTimer()
	unix.Getrusage(unix.RUSAGE_SELF, &r1)
	cpu := time.Duration(r1.Utime.Nano() + r1.Stime.Nano() - r0.Utime.Nano() - r0.Stime.Nano())
	b.ReportMetric(float64(cpu.Nanoseconds())/float64(b.N), "cpu_ns/op")
}

// TestNamespaceSourceAllocatesNothing: the route lookup is made for every
// target every sourceTTL, and must leave no garbage (see SysWire.Source);
// it gives the address the host sends from.
func TestNamespaceSourceAllocatesNothing(t *testing.T) {
	lab := netlab.New(t)
	h := lab.AddHost("rs", "10.77.0.2/24", "fd00:77::2/64")
	w := nsWire(t, h, true)
	for _, c := range []struct{ dst, want string }{
		{"10.77.0.9", "10.77.0.2"},
		{"127.0.0.5", "127.0.0.1"},
		{"fd00:77::9", "fd00:77::2"},
	} {
		dst := netip.MustParseAddr(c.dst)
		got, err := w.Source(dst)
		if err != nil || got != netip.MustParseAddr(c.want) {
			t.Errorf("source towards %s: %v, %v; want %s", dst, got, err, c.want)
		}
		if n := testing.AllocsPerRun(100, func() { w.Source(dst) }); n != 0 {
			t.Errorf("a lookup towards %s allocates %.1f objects, want 0", dst, n)
		}
	}
}
