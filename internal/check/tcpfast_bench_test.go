package check

import (
	"net"
	"net/netip"
	"runtime"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// BenchmarkTCPStart measures the CPU time of one TCP check's system calls
// (the calling thread's, the kernel's loopback handshake included) against
// a loopback listener: cpu_ns/op is what a TCP_CHECK costs the checker
// without the Runner's scheduling.
func BenchmarkTCPStart(b *testing.B) {
	l, err := net.Listen("tcp4", "127.0.0.1:0")
	if err != nil {
		b.Fatal(err)
	}
	defer l.Close()
	go func() {
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			c.Close()
		}
	}()
	p := &TCPProber{Conn: Conn{Target: addrPortOf(l.Addr())}}
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	var r0, r1 unix.Rusage
	unix.Getrusage(unix.RUSAGE_THREAD, &r0)
	b.ResetTimer()
	waited := 0
	for i := 0; i < b.N; i++ {
		r, wait := p.Start(0)
		if wait != nil {
			waited++
			continue
		}
		if !r.OK {
			b.Fatal(r.Why)
		}
		if i%1000 == 999 {
			time.Sleep(time.Millisecond) // let the listener keep up
		}
	}
	b.StopTimer()
	unix.Getrusage(unix.RUSAGE_THREAD, &r1)
	cpu := time.Duration(r1.Utime.Nano() + r1.Stime.Nano() - r0.Utime.Nano() - r0.Stime.Nano())
	b.ReportMetric(float64(cpu.Nanoseconds())/float64(b.N), "cpu_ns/op")
	b.ReportMetric(float64(waited)/float64(b.N), "waited/op")
}

func addrPortOf(a net.Addr) (ap netip.AddrPort) { return a.(*net.TCPAddr).AddrPort() }
