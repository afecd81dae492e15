package proxy

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/netip"
	"slices"
	"strings"
	"testing"
	"time"

	"vigil/internal/dataplane"
	"vigil/internal/dataplane/proxy/proxyproto"
	"vigil/internal/lvs"
)

// ioTimeout bounds every read and wait of these tests; it is never what a
// passing test waits for.
const ioTimeout = 5 * time.Second

var ctx = context.Background()

func quiet() *slog.Logger { return slog.New(slog.DiscardHandler) }

// freePort returns a port free on addr for network (tcp or udp).
func freePort(t testing.TB, network string, addr netip.Addr) uint16 {
	t.Helper()
	ap := netip.AddrPortFrom(addr, 0).String()
	if network == "udp" {
		c, err := net.ListenPacket("udp", ap)
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		return c.LocalAddr().(*net.UDPAddr).AddrPort().Port()
	}
	l, err := net.Listen("tcp", ap)
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).AddrPort().Port()
}

// realTCP is a real server that greets each connection with its name and
// then echoes lines.
func realTCP(t *testing.T, addr, name string) dataplane.DestKey {
	t.Helper()
	return tcpServer(t, addr, func(c net.Conn) {
		fmt.Fprintf(c, "%s\n", name)
		io.Copy(c, c)
	})
}

// realUDP answers every datagram with its name.
func realUDP(t *testing.T, addr, name string) dataplane.DestKey {
	t.Helper()
	c, err := net.ListenPacket("udp", addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	go func() {
		buf := make([]byte, 1500)
		for {
			_, from, err := c.ReadFrom(buf)
			if err != nil {
				return
			}
			c.WriteTo([]byte(name), from)
		}
	}()
	ap := c.LocalAddr().(*net.UDPAddr).AddrPort()
	return dataplane.DestKey{Addr: ap.Addr(), Port: ap.Port()}
}

type client struct {
	c *net.TCPConn
	r *bufio.Reader
}

// dial connects to the service, optionally from a chosen source address,
// and reads the real server's name.
func dial(t *testing.T, svc dataplane.ServiceKey, from string) (*client, string) {
	t.Helper()
	d := net.Dialer{Timeout: ioTimeout}
	if from != "" {
		d.LocalAddr = &net.TCPAddr{IP: net.ParseIP(from)}
	}
	c, err := d.Dial("tcp", netip.AddrPortFrom(svc.Addr, svc.Port).String())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	cl := &client{c: c.(*net.TCPConn), r: bufio.NewReader(c)}
	c.SetDeadline(time.Now().Add(ioTimeout))
	name, err := cl.r.ReadString('\n')
	if err != nil {
		t.Fatalf("read name via %s: %v", svc, err)
	}
	return cl, strings.TrimSpace(name)
}

// echo sends a line and checks it comes back: the connection is alive.
func (c *client) echo(t *testing.T) {
	t.Helper()
	c.c.SetDeadline(time.Now().Add(ioTimeout))
	if _, err := fmt.Fprintf(c.c, "ping\n"); err != nil {
		t.Fatalf("write: %v", err)
	}
	if l, err := c.r.ReadString('\n'); err != nil || l != "ping\n" {
		t.Fatalf("echo: %q %v", l, err)
	}
}

// ended waits (bounded) for the connection to be closed by the proxy.
func (c *client) ended(t *testing.T) {
	t.Helper()
	c.c.SetDeadline(time.Now().Add(ioTimeout))
	_, err := c.r.ReadString('\n')
	if err == nil || errors.Is(err, net.ErrClosed) || isTimeout(err) {
		t.Fatalf("connection still open (read: %v)", err)
	}
}

func isTimeout(err error) bool {
	var ne net.Error
	return errors.As(err, &ne) && ne.Timeout()
}

// setup makes a plane with one TCP service on 127.0.0.x and real servers
// named A, B, ... added in that order.
func setup(t *testing.T, opts Options, svc dataplane.Service, weights ...int32) (*Plane, dataplane.ServiceKey, []dataplane.DestKey) {
	t.Helper()
	opts.Logger = quiet()
	p := New(opts)
	t.Cleanup(func() { p.Close() })
	if !svc.Key.Addr.IsValid() {
		svc.Key.Addr = netip.MustParseAddr("127.0.0.10")
	}
	if svc.Key.Protocol == 0 {
		svc.Key.Protocol = dataplane.ProtoTCP
	}
	svc.Key.Family = dataplane.FamilyOf(svc.Key.Addr)
	network := "tcp"
	if svc.Key.Protocol == dataplane.ProtoUDP {
		network = "udp"
	}
	svc.Key.Port = freePort(t, network, svc.Key.Addr)
	if err := p.AddService(ctx, svc); err != nil {
		t.Fatal(err)
	}
	var keys []dataplane.DestKey
	host := "127.0.0.1"
	if svc.Key.Family == dataplane.IPv6 {
		host = "::1"
	}
	for i, w := range weights {
		name := string(rune('A' + i))
		var k dataplane.DestKey
		if network == "udp" {
			k = realUDP(t, net.JoinHostPort(host, "0"), name)
		} else {
			k = realTCP(t, net.JoinHostPort(host, "0"), name)
		}
		if err := p.AddDestination(ctx, svc.Key, dataplane.Destination{Key: k, Weight: w}); err != nil {
			t.Fatal(err)
		}
		keys = append(keys, k)
	}
	return p, svc.Key, keys
}

// sequence opens n connections one after another, closing each, and
// returns the names of the servers that answered.
func sequence(t *testing.T, svc dataplane.ServiceKey, n int) string {
	t.Helper()
	var b strings.Builder
	for range n {
		c, name := dial(t, svc, "")
		b.WriteString(name)
		c.c.Close()
	}
	return b.String()
}

// TestRoundRobin: the kernel lists the newest destination first, so
// servers added A, B, C are served C, B, A.
func TestRoundRobin(t *testing.T) {
	_, svc, _ := setup(t, Options{}, dataplane.Service{Scheduler: "rr"}, 1, 1, 1)
	if got := sequence(t, svc, 7); got != "CBACBAC" {
		t.Errorf("rr: %s, want CBACBAC", got)
	}
}

// TestWeightedRoundRobin: A weight 3, then B weight 1 (listed B, A). Added
// one at a time, as the kernel sees them: A alone makes the step 3 and the
// current weight 1, which B's arrival keeps, so the first pass takes every
// server of weight >= 1 (B A) before the passes at 3 and 2 (A, A).
func TestWeightedRoundRobin(t *testing.T) {
	_, svc, _ := setup(t, Options{}, dataplane.Service{Scheduler: "wrr"}, 3, 1)
	if got := sequence(t, svc, 8); got != "BAAABAAA" {
		t.Errorf("wrr: %s, want BAAABAAA", got)
	}
}

// TestLeastConnectionAndDrain: lc counts the proxy's own open connections;
// weight 0 sends no new connection but keeps the established one.
func TestLeastConnectionAndDrain(t *testing.T) {
	p, svc, keys := setup(t, Options{}, dataplane.Service{Scheduler: "lc"}, 1, 1)
	var got strings.Builder
	var onA *client
	for range 4 {
		c, name := dial(t, svc, "")
		got.WriteString(name)
		if name == "A" {
			onA = c
		}
	}
	if got.String() != "BABA" {
		t.Fatalf("lc with open connections: %s, want BABA", got.String())
	}
	if err := p.UpdateDestination(ctx, svc, dataplane.Destination{Key: keys[0], Weight: 0}); err != nil {
		t.Fatal(err)
	}
	for range 3 {
		if _, name := dial(t, svc, ""); name != "B" {
			t.Fatalf("drained A got a new connection")
		}
	}
	onA.echo(t)
}

// TestPersistence: a client prefix keeps its server; granularity widens
// the prefix.
func TestPersistence(t *testing.T) {
	for _, tt := range []struct {
		bits uint8
		want string // servers for 127.0.0.1, 127.0.0.1, 127.0.0.2, 127.0.0.1
	}{
		{32, "BBAB"},
		{24, "BBBB"},
	} {
		t.Run(fmt.Sprint(tt.bits), func(t *testing.T) {
			_, svc, _ := setup(t, Options{}, dataplane.Service{Scheduler: "rr", Persistence: time.Minute, PersistenceBits: tt.bits}, 1, 1)
			var got strings.Builder
			for _, from := range []string{"127.0.0.1", "127.0.0.1", "127.0.0.2", "127.0.0.1"} {
				c, name := dial(t, svc, from)
				got.WriteString(name)
				c.c.Close()
			}
			if got.String() != tt.want {
				t.Errorf("got %s, want %s", got.String(), tt.want)
			}
		})
	}
}

// TestRemovalDrainTimeout: a removed server's connection lives on until the
// drain timeout, then is cut; new connections go elsewhere.
func TestRemovalDrainTimeout(t *testing.T) {
	p, svc, keys := setup(t, Options{DrainTimeout: 300 * time.Millisecond}, dataplane.Service{Scheduler: "rr"}, 1, 1)
	c, name := dial(t, svc, "")
	if name != "B" {
		t.Fatalf("first connection on %s", name)
	}
	if err := p.DeleteDestination(ctx, svc, keys[1]); err != nil {
		t.Fatal(err)
	}
	for range 3 {
		if _, n := dial(t, svc, ""); n != "A" {
			t.Fatalf("removed B got a new connection")
		}
	}
	c.ended(t)
}

// TestUDPFlows: a client's datagrams stay on one server; flows are bounded.
func TestUDPFlows(t *testing.T) {
	p, svc, _ := setup(t, Options{MaxUDPFlows: 2}, dataplane.Service{Key: dataplane.ServiceKey{Protocol: dataplane.ProtoUDP}, Scheduler: "rr"}, 1, 1)
	ask := func(c *net.UDPConn) string {
		t.Helper()
		if _, err := c.Write([]byte("q")); err != nil {
			t.Fatal(err)
		}
		c.SetReadDeadline(time.Now().Add(ioTimeout))
		buf := make([]byte, 64)
		n, err := c.Read(buf)
		if err != nil {
			t.Fatalf("no answer: %v", err)
		}
		return string(buf[:n])
	}
	var conns []*net.UDPConn
	for range 3 {
		c, err := net.DialUDP("udp", nil, net.UDPAddrFromAddrPort(netip.AddrPortFrom(svc.Addr, svc.Port)))
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { c.Close() })
		conns = append(conns, c)
	}
	got := ask(conns[0]) + ask(conns[0]) + ask(conns[1]) + ask(conns[0]) + ask(conns[1])
	if got != "BBABA" {
		t.Errorf("flows: %s, want BBABA", got)
	}
	// The third client finds the table full: its datagram is dropped.
	conns[2].Write([]byte("q"))
	s, _ := p.service(svc)
	deadline := time.Now().Add(ioTimeout)
	for {
		s.mu.Lock()
		dropped := s.dropped
		s.mu.Unlock()
		if dropped == 1 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("third flow not dropped (dropped %d)", dropped)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// TestIPv6 serves a service on ::1.
func TestIPv6(t *testing.T) {
	_, svc, _ := setup(t, Options{}, dataplane.Service{Key: dataplane.ServiceKey{Addr: netip.MustParseAddr("::1")}, Scheduler: "wrr"}, 1, 2)
	if got := sequence(t, svc, 3); got != "BAB" {
		t.Errorf("IPv6 wrr: %s, want BAB", got)
	}
}

// TestProxyProtocol: the real server reads a v2 header naming the client.
func TestProxyProtocol(t *testing.T) {
	for _, v := range []proxyproto.Version{proxyproto.V1, proxyproto.V2} {
		t.Run(fmt.Sprint(v), func(t *testing.T) {
			l, err := net.Listen("tcp", "127.0.0.1:0")
			if err != nil {
				t.Fatal(err)
			}
			defer l.Close()
			got := make(chan proxyproto.Header, 1)
			go func() {
				c, err := l.Accept()
				if err != nil {
					return
				}
				defer c.Close()
				c.SetDeadline(time.Now().Add(ioTimeout))
				buf := make([]byte, 0, 256)
				for {
					h, _, err := proxyproto.Decode(buf)
					if err == nil {
						got <- h
						fmt.Fprintf(c, "X\n")
						io.Copy(io.Discard, c)
						return
					}
					if !errors.Is(err, proxyproto.ErrIncomplete) {
						close(got)
						return
					}
					tmp := make([]byte, 64)
					n, err := c.Read(tmp)
					if err != nil {
						close(got)
						return
					}
					buf = append(buf, tmp[:n]...)
				}
			}()
			p, svc, _ := setup(t, Options{ProxyProtocol: v}, dataplane.Service{Scheduler: "rr"})
			ap := l.Addr().(*net.TCPAddr).AddrPort()
			if err := p.AddDestination(ctx, svc, dataplane.Destination{Key: dataplane.DestKey{Addr: ap.Addr(), Port: ap.Port()}, Weight: 1}); err != nil {
				t.Fatal(err)
			}
			c, _ := dial(t, svc, "127.0.0.3")
			h, ok := <-got
			if !ok {
				t.Fatal("no PROXY header")
			}
			if want := c.c.LocalAddr().(*net.TCPAddr).AddrPort(); h.Source != want || h.Dest != netip.AddrPortFrom(svc.Addr, svc.Port) || h.Version != v {
				t.Errorf("header %+v, want source %s dest %s:%d", h, want, svc.Addr, svc.Port)
			}
		})
	}
}

// TestReconcileKeepsUntouched drives the plane through the lvs reconciler:
// a change to one service leaves another's listener and connections alone.
func TestReconcileKeepsUntouched(t *testing.T) {
	p := New(Options{Logger: quiet()})
	t.Cleanup(func() { p.Close() })
	a := realTCP(t, "127.0.0.1:0", "A")
	b := realTCP(t, "127.0.0.1:0", "B")
	k1 := dataplane.ServiceKey{Family: dataplane.IPv4, Protocol: dataplane.ProtoTCP, Addr: netip.MustParseAddr("127.0.0.11")}
	k1.Port = freePort(t, "tcp", k1.Addr)
	k2 := dataplane.ServiceKey{Family: dataplane.IPv4, Protocol: dataplane.ProtoTCP, Addr: netip.MustParseAddr("127.0.0.12")}
	k2.Port = freePort(t, "tcp", k2.Addr)
	table := func(w2 int32, sched2 string) dataplane.Table {
		return dataplane.Table{
			k1: {Service: dataplane.Service{Key: k1, Scheduler: "rr"}, Dests: map[dataplane.DestKey]dataplane.Destination{a: {Key: a, Weight: 1}}},
			k2: {Service: dataplane.Service{Key: k2, Scheduler: sched2}, Dests: map[dataplane.DestKey]dataplane.Destination{b: {Key: b, Weight: w2}}},
		}
	}
	r := lvs.NewReconciler(p, quiet())
	if _, err := r.Apply(ctx, table(1, "rr")); err != nil {
		t.Fatal(err)
	}
	c, _ := dial(t, k1, "")
	s1, _ := p.service(k1)
	listeners := slices.Clone(s1.listeners)
	n, err := r.Apply(ctx, table(5, "wlc"))
	if err != nil || n != 2 {
		t.Fatalf("second apply: %d operations, %v (want 2)", n, err)
	}
	c.echo(t)
	if s, _ := p.service(k1); s != s1 || !slices.Equal(s.listeners, listeners) {
		t.Error("untouched service got a new listener")
	}
	// Its one socket is still in every loop: a connection is served
	// while any one loop is held (TestIdleLoopAccepts).
	idleLoopsAccept(t, p, k1)
	if _, name := dial(t, k2, ""); name != "B" {
		t.Errorf("changed service answers %s", name)
	}
	got, err := dataplane.Read(ctx, p)
	if err != nil {
		t.Fatal(err)
	}
	if got[k2].Service.Scheduler != "wlc" || got[k2].Dests[b].Weight != 5 {
		t.Errorf("table after update: %+v", got[k2])
	}
}

// TestCapabilities: what the proxy cannot do is refused as unsupported and
// changes nothing.
func TestCapabilities(t *testing.T) {
	p := New(Options{Logger: quiet()})
	defer p.Close()
	svc := dataplane.ServiceKey{Family: dataplane.IPv4, Protocol: dataplane.ProtoTCP, Addr: netip.MustParseAddr("127.0.0.13")}
	svc.Port = freePort(t, "tcp", svc.Addr)
	refused := []error{
		p.AddService(ctx, dataplane.Service{Key: dataplane.ServiceKey{Family: dataplane.IPv4, Fwmark: 1}, Scheduler: "rr"}),
		p.AddService(ctx, dataplane.Service{Key: svc, Scheduler: "xyz"}),
		p.AddService(ctx, dataplane.Service{Key: svc, Scheduler: "rr", OnePacket: true}),
		p.AddService(ctx, dataplane.Service{Key: svc, Scheduler: "rr", Persistence: time.Second, PersistenceEngine: "sip"}),
		p.AddService(ctx, dataplane.Service{Key: dataplane.ServiceKey{Family: dataplane.IPv4, Protocol: dataplane.ProtoSCTP, Addr: svc.Addr, Port: 1}, Scheduler: "rr"}),
		p.StartSyncDaemon(ctx, dataplane.SyncDaemon{State: dataplane.SyncMaster}),
	}
	if err := p.AddService(ctx, dataplane.Service{Key: svc, Scheduler: "rr"}); err != nil {
		t.Fatal(err)
	}
	for _, m := range []dataplane.Method{dataplane.DR, dataplane.Tunnel} {
		refused = append(refused, p.AddDestination(ctx, svc, dataplane.Destination{Key: dataplane.DestKey{Addr: netip.MustParseAddr("127.0.0.1"), Port: 1}, Forwarding: dataplane.Forwarding{Method: m}}))
	}
	for i, err := range refused {
		if !errors.Is(err, dataplane.ErrUnsupported) {
			t.Errorf("case %d: %v, want ErrUnsupported", i, err)
		}
	}
	got, _ := dataplane.Read(ctx, p)
	if len(got) != 1 || len(got[svc].Dests) != 0 {
		t.Errorf("table after refusals: %+v", got)
	}
}

// TestBulkAndHalfClose: 4 MiB (far more than a pipe holds) go through and
// back; the client's half-close reaches the server, whose close comes back.
func TestBulkAndHalfClose(t *testing.T) {
	_, svc, _ := setup(t, Options{}, dataplane.Service{Scheduler: "rr"}, 1)
	c, _ := dial(t, svc, "")
	data := make([]byte, 4<<20)
	for i := range data {
		data[i] = byte(i * 7)
	}
	errc := make(chan error, 1)
	go func() {
		_, err := c.c.Write(data)
		if err == nil {
			err = c.c.CloseWrite()
		}
		errc <- err
	}()
	c.c.SetDeadline(time.Now().Add(ioTimeout))
	back, err := io.ReadAll(c.r)
	if err != nil {
		t.Fatalf("read back: %v", err)
	}
	if err := <-errc; err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(back, data) {
		t.Errorf("got %d bytes back, want the %d sent", len(back), len(data))
	}
}

// TestIdleTimeout: an established connection idle for the TCP timeout is
// cut, as IPVS forgets it.
func TestIdleTimeout(t *testing.T) {
	p, svc, _ := setup(t, Options{}, dataplane.Service{Scheduler: "rr"}, 1)
	if err := p.SetTimeouts(ctx, dataplane.Timeouts{TCP: 200 * time.Millisecond}); err != nil {
		t.Fatal(err)
	}
	got, _ := p.Timeouts(ctx)
	if got.TCP != 200*time.Millisecond || got.TCPFin != DefaultTCPFinTime || got.UDP != DefaultUDPTimeout {
		t.Errorf("timeouts %+v", got)
	}
	c, _ := dial(t, svc, "")
	c.ended(t)
}

// TestThresholds: a server at its upper threshold takes no new connection
// until its count falls below the lower one.
func TestThresholds(t *testing.T) {
	p, svc, keys := setup(t, Options{}, dataplane.Service{Scheduler: "wlc"}, 1, 1)
	if err := p.UpdateDestination(ctx, svc, dataplane.Destination{Key: keys[1], Weight: 1, UpperThreshold: 2, LowerThreshold: 1}); err != nil {
		t.Fatal(err)
	}
	var got strings.Builder
	var onB []*client
	for range 5 {
		c, name := dial(t, svc, "")
		got.WriteString(name)
		if name == "B" {
			onB = append(onB, c)
		}
	}
	// wlc: B, A, B (B now at its upper threshold of 2), then only A.
	if got.String() != "BABAA" {
		t.Fatalf("got %s, want BABAA", got.String())
	}
	// One of B's two ends: 1 is not below the lower threshold 1, so B
	// stays overloaded; when the second ends, B is back.
	s, _ := p.service(svc)
	waitActive := func(want int) {
		t.Helper()
		for deadline := time.Now().Add(ioTimeout); ; time.Sleep(5 * time.Millisecond) {
			s.mu.Lock()
			n, over := s.dests[keys[1]].real.Active, s.dests[keys[1]].real.Overloaded
			s.mu.Unlock()
			if n == want {
				if over != (want == 1) {
					t.Fatalf("B at %d connections: overloaded %v", n, over)
				}
				return
			}
			if time.Now().After(deadline) {
				t.Fatalf("B has %d connections, want %d", n, want)
			}
		}
	}
	onB[0].c.Close()
	waitActive(1)
	onB[1].c.Close()
	waitActive(0)
	if _, name := dial(t, svc, ""); name != "B" {
		t.Errorf("after the drop below the lower threshold: %s, want B", name)
	}
}

// TestPersistenceToDrainedServer: as IPVS (expire_quiescent_template 0), a
// persistent client follows its template to a weight-0 server; with
// ExpireQuiescentTemplate it moves at once.
func TestPersistenceToDrainedServer(t *testing.T) {
	for _, expire := range []bool{false, true} {
		t.Run(fmt.Sprint(expire), func(t *testing.T) {
			p, svc, keys := setup(t, Options{ExpireQuiescentTemplate: expire}, dataplane.Service{Scheduler: "rr", Persistence: time.Minute, PersistenceBits: 32}, 1, 1)
			c, name := dial(t, svc, "127.0.0.1")
			c.c.Close()
			if name != "B" {
				t.Fatalf("first connection on %s", name)
			}
			if err := p.UpdateDestination(ctx, svc, dataplane.Destination{Key: keys[1], Weight: 0}); err != nil {
				t.Fatal(err)
			}
			want := map[bool]string{false: "B", true: "A"}[expire]
			if _, name := dial(t, svc, "127.0.0.1"); name != want {
				t.Errorf("after drain: %s, want %s", name, want)
			}
		})
	}
}

// TestUDPIdleTimeout: a flow idle for the UDP timeout is forgotten, and the
// client's next datagram is scheduled afresh.
func TestUDPIdleTimeout(t *testing.T) {
	p, svc, _ := setup(t, Options{}, dataplane.Service{Key: dataplane.ServiceKey{Protocol: dataplane.ProtoUDP}, Scheduler: "rr"}, 1, 1)
	if err := p.SetTimeouts(ctx, dataplane.Timeouts{UDP: 100 * time.Millisecond}); err != nil {
		t.Fatal(err)
	}
	c, err := net.DialUDP("udp", nil, net.UDPAddrFromAddrPort(netip.AddrPortFrom(svc.Addr, svc.Port)))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	ask := func() string {
		t.Helper()
		c.Write([]byte("q"))
		c.SetReadDeadline(time.Now().Add(ioTimeout))
		buf := make([]byte, 64)
		n, err := c.Read(buf)
		if err != nil {
			t.Fatalf("no answer: %v", err)
		}
		return string(buf[:n])
	}
	if got := ask(); got != "B" {
		t.Fatalf("first flow on %s", got)
	}
	s, _ := p.service(svc)
	for deadline := time.Now().Add(ioTimeout); ; time.Sleep(10 * time.Millisecond) {
		s.mu.Lock()
		n := len(s.flows)
		s.mu.Unlock()
		if n == 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("idle flow never expired")
		}
	}
	if got := ask(); got != "A" {
		t.Errorf("new flow on %s, want A (rr moved on)", got)
	}
}

// TestMaglev: an mh service sends a client address to the same server
// every time (the table itself is tested in package sched).
func TestMaglev(t *testing.T) {
	_, svc, _ := setup(t, Options{}, dataplane.Service{Scheduler: "mh"}, 1, 1, 1)
	first := sequence(t, svc, 1)
	if got := sequence(t, svc, 5); got != strings.Repeat(first, 5) {
		t.Errorf("mh from one address: %s after %s", got, first)
	}
}
