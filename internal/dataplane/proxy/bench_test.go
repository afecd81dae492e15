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
	resp := make([]byte, respSize)
	return tcpServer(b, "127.0.0.1:0", func(c net.Conn) {
		req := make([]byte, reqSize)
		for {
			if _, err := io.ReadFull(c, req); err != nil {
				return
			}
			if _, err := c.Write(resp); err != nil || closeAfter {
				return
			}
		}
	})
}

// benchTarget returns the address to load: the real server itself
// (direct) or a proxy service in front of two of them.
func benchTarget(b *testing.B, proxied, closeAfter bool) string {
	r1, r2 := benchServer(b, closeAfter), benchServer(b, closeAfter)
	if !proxied {
		return netip.AddrPortFrom(r1.Addr, r1.Port).String()
	}
	_, k := rrPlane(b, Options{}, "127.0.0.20", []dataplane.DestKey{r1, r2})
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
	a := netip.MustParseAddr("127.0.0.21")
	addr := netip.AddrPortFrom(a, freePort(b, "tcp", a)).String()
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
// a proxy process for the benchmarks: "VIP:PORT REAL REAL"; with
// childNoSplice set as well, the child's plane does not splice.
const (
	childEnv      = "VIGIL_PROXY_BENCH_CHILD"
	childNoSplice = "VIGIL_PROXY_BENCH_NOSPLICE"
)

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
	p := New(Options{Logger: quiet(), NoSplice: os.Getenv(childNoSplice) != ""})
	defer p.Close()
	k := dataplane.ServiceKey{Family: dataplane.FamilyOf(vip.Addr()), Protocol: dataplane.ProtoTCP, Addr: vip.Addr(), Port: vip.Port()}
	var reals []dataplane.DestKey
	for _, r := range f[1:] {
		ap, err := netip.ParseAddrPort(r)
		if err != nil {
			return err
		}
		reals = append(reals, dataplane.DestKey{Addr: ap.Addr(), Port: ap.Port()})
	}
	if err := addRR(p, k, reals...); err != nil {
		return err
	}
	fmt.Println("ready")
	io.Copy(io.Discard, os.Stdin)
	return nil
}

// processTarget runs the proxy plane in a process of its own (this test
// binary, re-executed), as HAProxy runs, in front of two bench servers.
func processTarget(b *testing.B, closeAfter bool) string {
	r1, r2 := benchServer(b, closeAfter), benchServer(b, closeAfter)
	addr, _ := startChild(b, false, r1, r2)
	return addr
}

// startChild starts the proxy process in front of reals and returns its
// address and process id.
func startChild(b *testing.B, noSplice bool, reals ...dataplane.DestKey) (string, int) {
	a := netip.MustParseAddr("127.0.0.22")
	addr := netip.AddrPortFrom(a, freePort(b, "tcp", a)).String()
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	spec := addr
	for _, r := range reals {
		spec += " " + netip.AddrPortFrom(r.Addr, r.Port).String()
	}
	cmd.Env = append(os.Environ(), childEnv+"="+spec)
	if noSplice {
		cmd.Env = append(cmd.Env, childNoSplice+"=1")
	}
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
	return addr, cmd.Process.Pid
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

// Bulk transfers: bulkConns connections at once, each moving bulkSize
// bytes each way (the client sends and closes its half while the server
// sends and closes its own).
const (
	bulkConns = 4
	bulkSize  = 64 << 20
)

// bulkServer sends bulkSize bytes on every connection and reads what
// comes to its end.
func bulkServer(b *testing.B) dataplane.DestKey {
	return tcpServer(b, "127.0.0.1:0", func(c net.Conn) {
		sent := make(chan struct{})
		go func() {
			defer close(sent)
			if sendBulk(c) == nil {
				c.(*net.TCPConn).CloseWrite()
			}
		}()
		drain(c)
		<-sent // closing before would cut what is still to send
	})
}

var bulkChunk = make([]byte, 1<<20)

func sendBulk(c net.Conn) error {
	for left := bulkSize; left > 0; left -= len(bulkChunk) {
		if _, err := c.Write(bulkChunk[:min(left, len(bulkChunk))]); err != nil {
			return err
		}
	}
	return nil
}

// drain reads c to its end and returns how many bytes came.
func drain(c net.Conn) (int64, error) {
	buf := make([]byte, 256<<10)
	var n int64
	for {
		m, err := c.Read(buf)
		n += int64(m)
		if err == io.EOF {
			return n, nil
		}
		if err != nil {
			return n, err
		}
	}
}

// bulkRound runs the bulkConns transfers once through addr.
func bulkRound(b *testing.B, addr string) {
	var wg sync.WaitGroup
	errs := make(chan error, bulkConns)
	for range bulkConns {
		wg.Add(1)
		go func() {
			defer wg.Done()
			c, err := net.DialTimeout("tcp", addr, 5*time.Second)
			if err != nil {
				errs <- err
				return
			}
			defer c.Close()
			c.SetDeadline(time.Now().Add(2 * time.Minute))
			go func() {
				if sendBulk(c) == nil {
					c.(*net.TCPConn).CloseWrite()
				}
			}()
			n, err := drain(c)
			if err == nil && n != bulkSize {
				err = fmt.Errorf("got %d bytes, want %d", n, bulkSize)
			}
			if err != nil {
				errs <- err
			}
		}()
	}
	wg.Wait()
	select {
	case err := <-errs:
		b.Fatal(err)
	default:
	}
}

// cpuOf is the CPU time (user and system) process pid has used; 0 means
// this process (with its load generator and servers).
func cpuOf(b *testing.B, pid int) time.Duration {
	if pid == 0 {
		var ru unix.Rusage
		unix.Getrusage(unix.RUSAGE_SELF, &ru)
		return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
	}
	st, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		b.Fatal(err)
	}
	// Fields after the command's closing parenthesis: utime and stime are
	// the 14th and 15th of the line, in clock ticks (100 a second).
	f := strings.Fields(string(st[strings.LastIndexByte(string(st), ')')+2:]))
	ut, _ := strconv.ParseInt(f[11], 10, 64)
	stt, _ := strconv.ParseInt(f[12], 10, 64)
	return time.Duration(ut+stt) * 10 * time.Millisecond
}

// BenchmarkBulk: bulkConns connections each move 64 MiB each way at once
// through the proxy, spliced (the default) or copied (NoSplice). The
// proxy runs in a process of its own ("process": its CPU is the proxy's
// alone) or in this one ("inproc": the CPU figure then includes the load
// generator and the real servers, the same in both cases). Throughput
// counts both directions; cpu-ms/GiB is CPU time per GiB relayed. Run
// with -benchtime 3x or so: one round moves 512 MiB through the proxy.
func BenchmarkBulk(b *testing.B) {
	for _, where := range []string{"process", "inproc"} {
		for _, mode := range []string{"splice", "copy"} {
			b.Run(where+"/"+mode, func(b *testing.B) {
				noSplice := mode == "copy"
				r1, r2 := bulkServer(b), bulkServer(b)
				var addr string
				pid := 0
				if where == "process" {
					addr, pid = startChild(b, noSplice, r1, r2)
				} else {
					addr = bulkPlane(b, noSplice, r1, r2)
				}
				b.SetBytes(2 * bulkConns * bulkSize)
				b.ResetTimer()
				cpu0, t0 := cpuOf(b, pid), time.Now()
				for range b.N {
					bulkRound(b, addr)
				}
				cpu, elapsed := cpuOf(b, pid)-cpu0, time.Since(t0)
				b.StopTimer()
				gib := float64(b.N) * 2 * bulkConns * bulkSize / (1 << 30)
				b.ReportMetric(cpu.Seconds()*1000/gib, "cpu-ms/GiB")
				b.ReportMetric(gib*8*(1<<30)/1e9/elapsed.Seconds(), "Gbit/s")
			})
		}
	}
}

// bulkPlane is a plane in this process with one rr service in front of
// reals; its address.
func bulkPlane(b *testing.B, noSplice bool, reals ...dataplane.DestKey) string {
	_, k := rrPlane(b, Options{NoSplice: noSplice}, "127.0.0.23", reals)
	return netip.AddrPortFrom(k.Addr, k.Port).String()
}
