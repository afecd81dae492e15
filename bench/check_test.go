package bench

import (
	"bufio"
	"context"
	"net/netip"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"vigil/internal/check"
)

// BenchmarkCheckTCP runs N TCP_CHECKs (VIGIL_BENCH_CHECKS, default 1000)
// at delay_loop 1 s against a loopback listener for a window
// (VIGIL_BENCH_WINDOW, default 10 s) and reports the CPU and memory of
// the process: the Runner and its checks (the listener runs in a python3
// process of its own). The checks are counted as they pass: the checker
// leaves the handshake unfinished, so the listener never accepts them
// (BenchmarkCheckers counts the SYNs the kernel sees instead). It needs no
// root. It measures; it asserts nothing.
func BenchmarkCheckTCP(b *testing.B) {
	n := envInt("VIGIL_BENCH_CHECKS", 1000)
	window := time.Duration(envInt("VIGIL_BENCH_WINDOW", 10)) * time.Second
	// The listener is another process, so that the figures are the
	// checker side's alone.
	cmd := exec.Command("python3", "-c", listenerPy)
	out, err := cmd.StdoutPipe()
	if err != nil {
		b.Fatal(err)
	}
	// Its standard input stays open while it is to run.
	in, err := cmd.StdinPipe()
	if err != nil {
		b.Fatal(err)
	}
	defer in.Close()
	if err := cmd.Start(); err != nil {
		b.Skipf("python3 is needed for the listener: %v", err)
	}
	defer func() { cmd.Process.Kill(); cmd.Wait() }()
	rd := bufio.NewReader(out)
	line, err := rd.ReadString('\n')
	if err != nil {
		b.Fatal(err)
	}
	var passed atomic.Int64
	accepted := passed.Load
	target, err := netip.ParseAddrPort(strings.TrimSpace(line))
	if err != nil {
		b.Fatal(err)
	}
	tm := check.Timing{DelayLoop: time.Second, DelayBeforeRetry: time.Second, Warmup: time.Second, Timeout: 3 * time.Second, Retry: 1}
	for i := 0; i < b.N; i++ {
		plan := &check.Plan{}
		for j := 0; j < n; j++ {
			key := check.ServerKey{VS: "FWM 1", RS: netip.AddrPortFrom(netip.AddrFrom4([4]byte{10, byte(j >> 16), byte(j >> 8), byte(j)}), 80)}
			plan.Servers = append(plan.Servers, &check.ServerSpec{Config: check.ServerConfig{Key: key, Weight: 1}, Alpha: []bool{false}})
			plan.Probes = append(plan.Probes, &check.Probe{
				Key:     check.NewProbeKey("tcp", j),
				Machine: &check.MachineConfig{Family: check.FamilyTCP, Timing: tm},
				Prober:  countPasses{&check.TCPProber{Conn: check.Conn{Target: target}}, &passed},
				Feeds:   []check.Feed{{Server: j, Checker: 0}},
			})
		}
		ctx, cancel := context.WithCancel(context.Background())
		r := check.NewRunner(plan, check.RunnerOptions{})
		done := make(chan struct{})
		go func() { r.Run(ctx); close(done) }()
		time.Sleep(2 * time.Second) // past bootstrap and warmup
		var ru0, ru1 syscall.Rusage
		syscall.Getrusage(syscall.RUSAGE_SELF, &ru0)
		c0 := accepted()
		start := time.Now()
		time.Sleep(window)
		syscall.Getrusage(syscall.RUSAGE_SELF, &ru1)
		wall := time.Since(start)
		c1 := accepted()
		cancel()
		<-done
		cpu := time.Duration(ru1.Utime.Nano()+ru1.Stime.Nano()-ru0.Utime.Nano()-ru0.Stime.Nano()) * time.Nanosecond
		status, _ := os.ReadFile("/proc/self/status")
		rss, _ := ParseRSS(string(status))
		b.ReportMetric(100*cpu.Seconds()/wall.Seconds(), "cpu_pct")
		b.ReportMetric(float64(c1-c0)/wall.Seconds(), "checks/s")
		b.ReportMetric(float64(rss)/(1<<20), "rss_MB")
	}
}

func envInt(name string, def int) int {
	if v, err := strconv.Atoi(os.Getenv(name)); err == nil && v > 0 {
		return v
	}
	return def
}

// countPasses counts the checks of a TCPProber that pass.
type countPasses struct {
	*check.TCPProber
	n *atomic.Int64
}

func (c countPasses) Start(step int) (check.Result, func(context.Context) check.Result) {
	r, wait := c.TCPProber.Start(step)
	if wait != nil {
		return r, func(ctx context.Context) check.Result {
			r := wait(ctx)
			if r.OK {
				c.n.Add(1)
			}
			return r
		}
	}
	if r.OK {
		c.n.Add(1)
	}
	return r, nil
}

// listenerPy listens on a loopback port it prints and accepts whatever
// completes a handshake (nothing, from the TCP checks), until its
// standard input closes.
const listenerPy = `
import socket, sys, threading
s = socket.socket()
s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.bind(("127.0.0.1", 0))
s.listen(4096)
def serve():
    while True:
        c, _ = s.accept()
        c.close()
threading.Thread(target=serve, daemon=True).start()
print("127.0.0.1:%d" % s.getsockname()[1], flush=True)
sys.stdin.read()
`
