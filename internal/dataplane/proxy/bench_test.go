package proxy

import (
	"fmt"
	"io"
	"net"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"vigil/internal/dataplane"
)

// The benchmarks below measure the proxy against loopback real servers
// with a Go load generator in the same process; docs/BENCHMARKS.md has the
// figures and the command. They are not run by go test without -bench.

const (
	benchClients = 50  // concurrent connections, as wrk -c 50
	reqSize      = 64  // a small request
	respSize     = 850 // about nginx's default page with headers
	idleConns    = 10000
)

// benchServer answers every reqSize-byte request with respSize bytes; with
// closeAfter it closes after one answer (a new connection per request).
func benchServer(b *testing.B, closeAfter bool) dataplane.DestKey {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { l.Close() })
	resp := make([]byte, respSize)
	go func() {
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			go func() {
				defer c.Close()
				req := make([]byte, reqSize)
				for {
					if _, err := io.ReadFull(c, req); err != nil {
						return
					}
					if _, err := c.Write(resp); err != nil || closeAfter {
						return
					}
				}
			}()
		}
	}()
	ap := l.Addr().(*net.TCPAddr).AddrPort()
	return dataplane.DestKey{Addr: ap.Addr(), Port: ap.Port()}
}

// benchTarget returns the address to load: the real server itself
// (direct) or a proxy service in front of two of them.
func benchTarget(b *testing.B, proxied, closeAfter bool) string {
	r1, r2 := benchServer(b, closeAfter), benchServer(b, closeAfter)
	if !proxied {
		return netip.AddrPortFrom(r1.Addr, r1.Port).String()
	}
	p := New(Options{Logger: quiet()})
	b.Cleanup(func() { p.Close() })
	k := dataplane.ServiceKey{Family: dataplane.IPv4, Protocol: dataplane.ProtoTCP, Addr: netip.MustParseAddr("127.0.0.20")}
	l, err := net.Listen("tcp", "127.0.0.20:0")
	if err != nil {
		b.Fatal(err)
	}
	k.Port = l.Addr().(*net.TCPAddr).AddrPort().Port()
	l.Close()
	if err := p.AddService(ctx, dataplane.Service{Key: k, Scheduler: "rr"}); err != nil {
		b.Fatal(err)
	}
	for _, r := range []dataplane.DestKey{r1, r2} {
		if err := p.AddDestination(ctx, k, dataplane.Destination{Key: r, Weight: 1}); err != nil {
			b.Fatal(err)
		}
	}
	return netip.AddrPortFrom(k.Addr, k.Port).String()
}

// load runs b.N requests over benchClients workers and reports requests per
// second and the 99th percentile latency.
func load(b *testing.B, addr string, newConn bool) {
	var next atomic.Int64
	lat := make([][]time.Duration, benchClients)
	var wg sync.WaitGroup
	errs := make(chan error, benchClients)
	b.ResetTimer()
	start := time.Now()
	for w := range benchClients {
		wg.Add(1)
		go func() {
			defer wg.Done()
			req, resp := make([]byte, reqSize), make([]byte, respSize)
			var c net.Conn
			defer func() {
				if c != nil {
					c.Close()
				}
			}()
			for next.Add(1) <= int64(b.N) {
				t0 := time.Now()
				var err error
				if c == nil {
					if c, err = net.DialTimeout("tcp", addr, 5*time.Second); err != nil {
						errs <- err
						return
					}
				}
				c.SetDeadline(time.Now().Add(10 * time.Second))
				if _, err = c.Write(req); err == nil {
					_, err = io.ReadFull(c, resp)
				}
				if err != nil {
					errs <- err
					return
				}
				if newConn {
					c.Close()
					c = nil
				}
				lat[w] = append(lat[w], time.Since(t0))
			}
		}()
	}
	wg.Wait()
	elapsed := time.Since(start)
	b.StopTimer()
	select {
	case err := <-errs:
		b.Fatal(err)
	default:
	}
	all := slices.Concat(lat...)
	slices.Sort(all)
	b.ReportMetric(float64(b.N)/elapsed.Seconds(), "req/s")
	if len(all) > 0 {
		b.ReportMetric(float64(all[len(all)*99/100].Microseconds()), "p99-µs")
	}
}

// haproxyTarget starts HAProxy (the binary named by VIGIL_BENCH_HAPROXY)
// in mode tcp, round robin, in front of two bench servers, and returns its
// address; without the variable the case is skipped.
func haproxyTarget(b *testing.B, closeAfter bool) string {
	bin := os.Getenv("VIGIL_BENCH_HAPROXY")
	if bin == "" {
		b.Skip("set VIGIL_BENCH_HAPROXY=/usr/sbin/haproxy to compare with HAProxy")
	}
	r1, r2 := benchServer(b, closeAfter), benchServer(b, closeAfter)
	l, err := net.Listen("tcp", "127.0.0.21:0")
	if err != nil {
		b.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close()
	cfg := fmt.Sprintf(`global
    maxconn 4000
defaults
    mode tcp
    timeout connect 5s
    timeout client 60s
    timeout server 60s
listen bench
    bind %s
    balance roundrobin
    server r1 %s
    server r2 %s
`, addr, netip.AddrPortFrom(r1.Addr, r1.Port), netip.AddrPortFrom(r2.Addr, r2.Port))
	path := filepath.Join(b.TempDir(), "haproxy.cfg")
	if err := os.WriteFile(path, []byte(cfg), 0o600); err != nil {
		b.Fatal(err)
	}
	cmd := exec.Command(bin, "-db", "-f", path)
	if err := cmd.Start(); err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { cmd.Process.Kill(); cmd.Wait() })
	for deadline := time.Now().Add(5 * time.Second); ; time.Sleep(20 * time.Millisecond) {
		c, err := net.Dial("tcp", addr)
		if err == nil {
			c.Close()
			return addr
		}
		if time.Now().After(deadline) {
			b.Fatalf("haproxy does not listen on %s: %v", addr, err)
		}
	}
}

// childEnv names the environment variable that turns the test binary into
// a proxy process for the benchmarks: "VIP:PORT REAL REAL".
const childEnv = "VIGIL_PROXY_BENCH_CHILD"

// TestMain runs the proxy as a child process when asked to (see
// processTarget); otherwise the tests as usual.
func TestMain(m *testing.M) {
	if spec := os.Getenv(childEnv); spec != "" {
		if err := runChild(spec); err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(1)
		}
		return
	}
	os.Exit(m.Run())
}

// runChild serves one rr service until its standard input closes.
func runChild(spec string) error {
	f := strings.Fields(spec)
	if len(f) < 2 {
		return fmt.Errorf("bad %s %q", childEnv, spec)
	}
	vip, err := netip.ParseAddrPort(f[0])
	if err != nil {
		return err
	}
	p := New(Options{Logger: quiet()})
	defer p.Close()
	k := dataplane.ServiceKey{Family: dataplane.FamilyOf(vip.Addr()), Protocol: dataplane.ProtoTCP, Addr: vip.Addr(), Port: vip.Port()}
	if err := p.AddService(ctx, dataplane.Service{Key: k, Scheduler: "rr"}); err != nil {
		return err
	}
	for _, r := range f[1:] {
		ap, err := netip.ParseAddrPort(r)
		if err != nil {
			return err
		}
		if err := p.AddDestination(ctx, k, dataplane.Destination{Key: dataplane.DestKey{Addr: ap.Addr(), Port: ap.Port()}, Weight: 1}); err != nil {
			return err
		}
	}
	fmt.Println("ready")
	io.Copy(io.Discard, os.Stdin)
	return nil
}

// processTarget runs the proxy plane in a process of its own (this test
// binary, re-executed), as HAProxy runs, in front of two bench servers.
func processTarget(b *testing.B, closeAfter bool) string {
	r1, r2 := benchServer(b, closeAfter), benchServer(b, closeAfter)
	l, err := net.Listen("tcp", "127.0.0.22:0")
	if err != nil {
		b.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close()
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), fmt.Sprintf("%s=%s %s %s", childEnv, addr,
		netip.AddrPortFrom(r1.Addr, r1.Port), netip.AddrPortFrom(r2.Addr, r2.Port)))
	stdin, err := cmd.StdinPipe()
	if err != nil {
		b.Fatal(err)
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		b.Fatal(err)
	}
	cmd.Stderr = os.Stderr
	if err := cmd.Start(); err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { stdin.Close(); cmd.Wait() })
	line := make([]byte, 6)
	if _, err := io.ReadFull(stdout, line); err != nil || string(line) != "ready\n" {
		b.Fatalf("proxy process did not start: %q %v", line, err)
	}
	return addr
}

// targets are the cases of the throughput benchmarks.
var targets = []struct {
	name string
	addr func(b *testing.B, closeAfter bool) string
}{
	{"direct", func(b *testing.B, c bool) string { return benchTarget(b, false, c) }},
	{"proxy", func(b *testing.B, c bool) string { return benchTarget(b, true, c) }},
	{"proxy-process", processTarget},
	{"haproxy", haproxyTarget},
}

// BenchmarkKeepAlive: 50 connections, each sending request after request.
func BenchmarkKeepAlive(b *testing.B) {
	for _, tg := range targets {
		b.Run(tg.name, func(b *testing.B) { load(b, tg.addr(b, false), false) })
	}
}

// BenchmarkNewConnection: 50 workers, a new connection per request (the
// real server closes after answering). Bound it with -benchtime Nx: each
// request leaves sockets in TIME_WAIT.
func BenchmarkNewConnection(b *testing.B) {
	for _, tg := range targets {
		b.Run(tg.name, func(b *testing.B) { load(b, tg.addr(b, true), true) })
	}
}

// BenchmarkIdleMemory opens 10,000 connections through the proxy, each of
// which has exchanged a request and answer and then stays idle, and
// reports the Go memory (heap and stacks) and the process's resident
// memory they added, per connection. Client and server sockets live in the
// same process and are included; kernel socket memory is not. Run with
// -benchtime 1x. Where the descriptor limit is below 41,000 it opens fewer
// connections; the figures are per connection either way.
func BenchmarkIdleMemory(b *testing.B) {
	// Each proxied connection costs four descriptors in this process
	// (client, both proxy sockets, server): raise the soft limit to the
	// hard one, and open fewer connections if even that is short.
	var lim unix.Rlimit
	unix.Getrlimit(unix.RLIMIT_NOFILE, &lim)
	old := lim
	lim.Cur = lim.Max
	unix.Setrlimit(unix.RLIMIT_NOFILE, &lim)
	b.Cleanup(func() { unix.Setrlimit(unix.RLIMIT_NOFILE, &old) })
	n := min(idleConns, int(lim.Cur-1000)/4)
	if n < 1000 {
		b.Skipf("descriptor limit %d is too low", lim.Cur)
	}
	b.Logf("%d idle connections (figures are per connection)", n)
	for _, proxied := range []bool{false, true} {
		b.Run(map[bool]string{false: "direct", true: "proxy"}[proxied], func(b *testing.B) { idleMemory(b, proxied, n) })
	}
}

// idleMemory is one run of BenchmarkIdleMemory; direct (client and server
// only) is the baseline that the proxy's figures are read against.
func idleMemory(b *testing.B, proxied bool, n int) {
	for range b.N {
		addr := benchTarget(b, proxied, false)
		before := memNow()
		conns := make([]net.Conn, 0, n)
		req, resp := make([]byte, reqSize), make([]byte, respSize)
		for range n {
			c, err := net.DialTimeout("tcp", addr, 5*time.Second)
			if err != nil {
				b.Fatalf("after %d connections: %v", len(conns), err)
			}
			conns = append(conns, c)
			c.SetDeadline(time.Now().Add(10 * time.Second))
			if _, err := c.Write(req); err != nil {
				b.Fatal(err)
			}
			if _, err := io.ReadFull(c, resp); err != nil {
				b.Fatal(err)
			}
		}
		after := memNow()
		b.ReportMetric(float64(after.goMem-before.goMem)/float64(n), "go-B/conn")
		b.ReportMetric(float64(after.rss-before.rss)/float64(n), "rss-B/conn")
		b.ReportMetric(float64(after.fds-before.fds)/float64(n), "fds/conn")
		for _, c := range conns {
			c.Close()
		}
	}
}

type mem struct{ goMem, rss, fds uint64 }

func memNow() mem {
	runtime.GC()
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	m := mem{goMem: ms.HeapInuse + ms.StackInuse}
	if b, err := os.ReadFile("/proc/self/statm"); err == nil {
		f := strings.Fields(string(b))
		if len(f) > 1 {
			pages, _ := strconv.ParseUint(f[1], 10, 64)
			m.rss = pages * uint64(os.Getpagesize())
		}
	}
	if ents, err := os.ReadDir("/proc/self/fd"); err == nil {
		m.fds = uint64(len(ents))
	}
	return m
}
