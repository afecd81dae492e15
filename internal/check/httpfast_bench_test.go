package check

import (
	"context"
	"crypto/tls"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"runtime"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// BenchmarkHTTPPoll measures the CPU time of one system HTTP_GET check
// (StartPoll, then polls until the outcome) on the calling thread, the
// kernel's loopback work done in its context included, against a loopback
// server: cpu_ns/op is what an HTTP_GET with a digest costs the checker
// without the Runner's scheduling. polls/op counts the polls that found
// the response incomplete (a sleep of 50 µs follows each).
func BenchmarkHTTPPoll(b *testing.B) {
	l, err := net.Listen("tcp4", "127.0.0.1:0")
	if err != nil {
		b.Fatal(err)
	}
	defer l.Close()
	resp := []byte("HTTP/1.0 200 OK\r\nContent-Type: text/plain\r\nContent-Length: 24\r\n\r\nvigil checker benchmark\n")
	go func() {
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			go func() {
				defer c.Close()
				buf := make([]byte, 512)
				c.Read(buf)
				c.Write(resp)
			}()
		}
	}()
	p := &HTTPProber{Conn: Conn{Target: addrPortOf(l.Addr())}, Protocol: "1.0",
		URLs: []URLCheck{{Path: "/check", Status: ok2xx, Digest: md5hex("vigil checker benchmark\n")}}}
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	var r0, r1, a, z unix.Rusage
	var start, poll time.Duration
	unix.Getrusage(unix.RUSAGE_THREAD, &r0)
	b.ResetTimer()
	missed := 0
	for i := 0; i < b.N; i++ {
		unix.Getrusage(unix.RUSAGE_THREAD, &a)
		r, pend, wait := p.StartPoll(0)
		unix.Getrusage(unix.RUSAGE_THREAD, &z)
		start += cpuOf(a, z)
		if wait != nil {
			b.Fatal("went to a worker")
		}
		for n := 0; pend != nil; n++ {
			if n == 10000 {
				pend.Abort()
				b.Fatal("no outcome after 10,000 polls")
			}
			// The server answers on another thread; the poll comes
			// after it, as the Runner's next tick would.
			time.Sleep(50 * time.Microsecond)
			var done bool
			unix.Getrusage(unix.RUSAGE_THREAD, &a)
			r, done = pend.Poll()
			unix.Getrusage(unix.RUSAGE_THREAD, &z)
			poll += cpuOf(a, z)
			if done {
				break
			}
			missed++
		}
		if !r.OK {
			b.Fatal(r.Why)
		}
	}
	b.StopTimer()
	unix.Getrusage(unix.RUSAGE_THREAD, &r1)
	cpu := time.Duration(r1.Utime.Nano() + r1.Stime.Nano() - r0.Utime.Nano() - r0.Stime.Nano())
	b.ReportMetric(float64(cpu.Nanoseconds())/float64(b.N), "cpu_ns/op")
	b.ReportMetric(float64(missed)/float64(b.N), "polls_missed/op")
	b.ReportMetric(float64(start.Nanoseconds())/float64(b.N), "start_ns/op")
	b.ReportMetric(float64(poll.Nanoseconds())/float64(b.N), "polls_ns/op")
}

func cpuOf(a, z unix.Rusage) time.Duration {
	return time.Duration(z.Utime.Nano() + z.Stime.Nano() - a.Utime.Nano() - a.Stime.Nano())
}

// BenchmarkSSLProbe measures the CPU time of one SSL_GET (the calling
// thread's) against a loopback TLS server: resuming its session, with a
// full handshake (the server issues no session ticket), and resuming with
// the runtime's default key exchanges (a post-quantum hybrid first).
func BenchmarkSSLProbe(b *testing.B) {
	handler := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.WriteString(w, "vigil checker benchmark\n")
	})
	srv := httptest.NewUnstartedServer(handler)
	srv.StartTLS()
	defer srv.Close()
	noTickets := httptest.NewUnstartedServer(handler)
	noTickets.TLS = &tls.Config{SessionTicketsDisabled: true}
	noTickets.StartTLS()
	defer noTickets.Close()
	cases := []struct {
		name   string
		srv    *httptest.Server
		curves []tls.CurveID
	}{
		{name: "resumed", srv: srv},
		{name: "full", srv: noTickets},
		{name: "resumed-default-curves", srv: srv, curves: []tls.CurveID{tls.X25519MLKEM768, tls.X25519, tls.CurveP256}},
	}
	for _, tc := range cases {
		b.Run(tc.name, func(b *testing.B) {
			p := &HTTPProber{Conn: Conn{Target: addrPortOf(tc.srv.Listener.Addr())}, Protocol: "1.0",
				TLS:  &tls.Config{InsecureSkipVerify: true, CurvePreferences: tc.curves},
				URLs: []URLCheck{{Path: "/check", Status: ok2xx, Digest: md5hex("vigil checker benchmark\n")}}}
			runtime.LockOSThread()
			defer runtime.UnlockOSThread()
			var r0, r1 unix.Rusage
			unix.Getrusage(unix.RUSAGE_THREAD, &r0)
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
				r := p.Probe(ctx, 0)
				cancel()
				if !r.OK {
					b.Fatal(r.Why)
				}
			}
			b.StopTimer()
			unix.Getrusage(unix.RUSAGE_THREAD, &r1)
			b.ReportMetric(float64(cpuOf(r0, r1).Nanoseconds())/float64(b.N), "cpu_ns/op")
		})
	}
}
