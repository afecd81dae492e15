package nft

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"os/exec"
	"strings"
	"sync"
	"testing"
	"time"

	"vigil/internal/dataplane"
	"vigil/internal/lvs"
	"vigil/internal/netlab"
)

// lab is client → director (the plane) → real servers, on one bridge with
// two subnets per family: the real servers' default route is the director,
// so replies pass its conntrack as with IPVS NAT.
type lab struct {
	t      *testing.T
	client *netlab.Host
	dir    *netlab.Host
	reals  []*netlab.Host
	plane  *Plane
}

const (
	vip4   = "10.77.1.100"
	vip4b  = "10.77.1.101"
	vip6   = "fd77:1::100"
	rsPort = 8080
)

func newLab(t *testing.T, nreals int) *lab {
	t.Helper()
	l := netlab.New(t)
	lb := &lab{t: t}
	lb.client = l.AddHost("client", "10.77.1.2/24", "fd77:1::2/64")
	lb.dir = l.AddHost("dir", "10.77.1.1/24", vip4+"/24", vip4b+"/24", "10.77.2.1/24", "fd77:1::1/64", vip6+"/64", "fd77:2::1/64")
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	run := func(h *netlab.Host, args ...string) {
		t.Helper()
		if _, err := h.Exec(ctx, args[0], args[1:]...); err != nil {
			t.Fatal(err)
		}
	}
	for _, kv := range []string{"net.ipv4.ip_forward=1", "net.ipv6.conf.all.forwarding=1", "net.ipv4.conf.all.send_redirects=0", "net.ipv4.conf.eth0.send_redirects=0"} {
		run(lb.dir, "sysctl", "-qw", kv)
	}
	for i := range nreals {
		name := fmt.Sprintf("r%d", i+1)
		h := l.AddHost(name, fmt.Sprintf("10.77.2.%d/24", 11+i), fmt.Sprintf("fd77:2::%d/64", 11+i))
		// Redirects would send replies around the director and past
		// its conntrack.
		for _, kv := range []string{"net.ipv4.conf.all.accept_redirects=0", "net.ipv6.conf.all.accept_redirects=0", "net.ipv6.conf.eth0.accept_redirects=0"} {
			run(h, "sysctl", "-qw", kv)
		}
		run(h, "ip", "route", "add", "default", "via", "10.77.2.1")
		run(h, "ip", "-6", "route", "add", "default", "via", "fd77:2::1")
		serve(t, h, name)
		lb.reals = append(lb.reals, h)
	}
	if err := lb.dir.Do(func() error {
		var err error
		lb.plane, err = New(Config{})
		return err
	}); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { lb.plane.Close() })
	return lb
}

// serve answers every line on TCP and every datagram on UDP port rsPort
// with name, until the test ends. Each connection is bounded in requests
// and time.
func serve(t *testing.T, h *netlab.Host, name string) { servePort(t, h, name, rsPort) }

// servePort is serve on another port.
func servePort(t *testing.T, h *netlab.Host, name string, port int) {
	var ln net.Listener
	var pc net.PacketConn
	if err := h.Do(func() error {
		var err error
		if ln, err = net.Listen("tcp", fmt.Sprintf(":%d", port)); err != nil {
			return err
		}
		pc, err = net.ListenPacket("udp", fmt.Sprintf(":%d", port))
		return err
	}); err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	var mu sync.Mutex
	open := map[net.Conn]bool{}
	t.Cleanup(func() {
		ln.Close()
		pc.Close()
		mu.Lock()
		for c := range open {
			c.Close()
		}
		mu.Unlock()
		wg.Wait()
	})
	wg.Add(2)
	go func() {
		defer wg.Done()
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			wg.Add(1)
			mu.Lock()
			open[c] = true
			mu.Unlock()
			go func() {
				defer wg.Done()
				defer func() {
					mu.Lock()
					delete(open, c)
					mu.Unlock()
					c.Close()
				}()
				c.SetDeadline(time.Now().Add(30 * time.Second))
				r := bufio.NewReader(c)
				for range 100 {
					if _, err := r.ReadString('\n'); err != nil {
						return
					}
					if _, err := fmt.Fprintln(c, name); err != nil {
						return
					}
				}
			}()
		}
	}()
	go func() {
		defer wg.Done()
		buf := make([]byte, 64)
		for {
			_, from, err := pc.ReadFrom(buf)
			if err != nil {
				return
			}
			pc.WriteTo([]byte(name+"\n"), from)
		}
	}()
}

// dial opens a TCP connection from the client.
func (lb *lab) dial(addr string) net.Conn {
	lb.t.Helper()
	var c net.Conn
	if err := lb.client.Do(func() error {
		var err error
		c, err = net.DialTimeout("tcp", net.JoinHostPort(addr, "80"), 3*time.Second)
		return err
	}); err != nil {
		lb.t.Fatal(err)
	}
	lb.t.Cleanup(func() { c.Close() })
	return c
}

// ask sends one request on c and returns the real server's name.
func (lb *lab) ask(c net.Conn) string {
	lb.t.Helper()
	c.SetDeadline(time.Now().Add(3 * time.Second))
	if _, err := fmt.Fprintln(c, "who"); err != nil {
		lb.t.Fatal(err)
	}
	line, err := bufio.NewReader(c).ReadString('\n')
	if err != nil {
		lb.t.Fatalf("read from %s: %v", c.RemoteAddr(), err)
	}
	return strings.TrimSpace(line)
}

// names opens n connections one after another, asks each once and closes
// it, returning who answered, in order.
func (lb *lab) names(addr string, n int) []string {
	lb.t.Helper()
	var out []string
	for range n {
		c := lb.dial(addr)
		out = append(out, lb.ask(c))
		c.Close()
	}
	return out
}

// udpNames sends n datagrams, each from a new socket (a new flow).
func (lb *lab) udpNames(addr string, n int) []string {
	lb.t.Helper()
	return lb.udpPort(addr, 80, n)
}

// udpPort is udpNames to another port.
func (lb *lab) udpPort(addr string, port, n int) []string {
	lb.t.Helper()
	var out []string
	for range n {
		var name string
		if err := lb.client.Do(func() error {
			c, err := net.Dial("udp", net.JoinHostPort(addr, fmt.Sprint(port)))
			if err != nil {
				return err
			}
			defer c.Close()
			c.SetDeadline(time.Now().Add(3 * time.Second))
			if _, err := c.Write([]byte("who\n")); err != nil {
				return err
			}
			buf := make([]byte, 64)
			k, err := c.Read(buf)
			name = strings.TrimSpace(string(buf[:k]))
			return err
		}); err != nil {
			lb.t.Fatal(err)
		}
		out = append(out, name)
	}
	return out
}

func svc(addr string, proto dataplane.Protocol, sched string) dataplane.Service {
	a := netip.MustParseAddr(addr)
	return dataplane.Service{Key: dataplane.ServiceKey{Family: dataplane.FamilyOf(a), Protocol: proto, Addr: a, Port: 80}, Scheduler: sched}
}

func rs(addr string, w int32) dataplane.Destination {
	return dataplane.Destination{Key: dataplane.DestKey{Addr: netip.MustParseAddr(addr), Port: rsPort}, Weight: w}
}

func (lb *lab) must(err error) {
	lb.t.Helper()
	if err != nil {
		lb.t.Fatal(err)
	}
}

func (lb *lab) add(s dataplane.Service, ds ...dataplane.Destination) {
	lb.t.Helper()
	ctx := context.Background()
	lb.must(lb.plane.AddService(ctx, s))
	for _, d := range ds {
		lb.must(lb.plane.AddDestination(ctx, s.Key, d))
	}
}

func count(names []string) map[string]int {
	m := map[string]int{}
	for _, n := range names {
		m[n]++
	}
	return m
}

func eq(t *testing.T, what string, got, want any) {
	t.Helper()
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Fatalf("%s: got %v, want %v", what, got, want)
	}
}

func TestKernelRoundRobin(t *testing.T) {
	lb := newLab(t, 3)
	s := svc(vip4, dataplane.ProtoTCP, "rr")
	lb.add(s, rs("10.77.2.11", 1), rs("10.77.2.12", 5), rs("10.77.2.13", 1))
	// rr ignores weights: exactly one each per round, in order.
	eq(t, "rr sequence", lb.names(vip4, 9), "[r1 r2 r3 r1 r2 r3 r1 r2 r3]")
}

func TestKernelWeightedRoundRobin(t *testing.T) {
	lb := newLab(t, 3)
	s := svc(vip4, dataplane.ProtoTCP, "wrr")
	lb.add(s, rs("10.77.2.11", 4), rs("10.77.2.12", 3), rs("10.77.2.13", 2))
	got := lb.names(vip4, 18)
	// IPVS's interleaving, twice over.
	eq(t, "wrr sequence", got, "[r1 r1 r2 r1 r2 r3 r1 r2 r3 r1 r1 r2 r1 r2 r3 r1 r2 r3]")
}

func TestKernelSourceHash(t *testing.T) {
	lb := newLab(t, 3)
	s := svc(vip4, dataplane.ProtoTCP, "sh")
	lb.add(s, rs("10.77.2.11", 1), rs("10.77.2.12", 1), rs("10.77.2.13", 1))
	got := count(lb.names(vip4, 8))
	if len(got) != 1 {
		t.Fatalf("sh: one client reached %v, want a single real server", got)
	}
	// sh-port: the client port joins the hash, so one client spreads.
	s.Flags = dataplane.SHPort
	lb.must(lb.plane.UpdateService(context.Background(), s))
	if got := count(lb.names(vip4, 24)); len(got) < 2 {
		t.Fatalf("sh-port: 24 connections from varying ports reached only %v", got)
	}
}

func TestKernelDrainAndRemove(t *testing.T) {
	lb := newLab(t, 3)
	ctx := context.Background()
	s := svc(vip4, dataplane.ProtoTCP, "rr")
	lb.add(s, rs("10.77.2.11", 1), rs("10.77.2.12", 1), rs("10.77.2.13", 1))
	held := lb.dial(vip4)
	eq(t, "first connection", lb.ask(held), "r1")
	held2 := lb.dial(vip4)
	eq(t, "second connection", lb.ask(held2), "r2")

	// Weight 0: no new connection to r1; the established one goes on.
	lb.must(lb.plane.UpdateDestination(ctx, s.Key, rs("10.77.2.11", 0)))
	eq(t, "after drain", lb.names(vip4, 4), "[r2 r3 r2 r3]")
	eq(t, "drained, established", lb.ask(held), "r1")

	// Removal ends new connections only.
	lb.must(lb.plane.DeleteDestination(ctx, s.Key, rs("10.77.2.12", 1).Key))
	eq(t, "after removal", lb.names(vip4, 3), "[r3 r3 r3]")
	eq(t, "removed, established", lb.ask(held2), "r2")

	// Nothing available: new connections are not translated (the
	// director's own stack refuses them), established ones continue.
	lb.must(lb.plane.UpdateDestination(ctx, s.Key, rs("10.77.2.13", 0)))
	eq(t, "all drained, established before", lb.ask(held), "r1")
	var err error
	lb.client.Do(func() error {
		var c net.Conn
		c, err = net.DialTimeout("tcp", vip4+":80", 2*time.Second)
		if err == nil {
			c.Close()
		}
		return nil
	})
	if err == nil {
		t.Fatal("a connection was accepted with every real server drained")
	}
	eq(t, "all drained, established", lb.ask(held), "r1")
	// Every superseded scheduler map went with its transaction.
	if tab := lb.nft(t, "list", "table", "inet", DefaultTable); strings.Contains(tab, "map s1_") {
		t.Fatalf("scheduler maps left behind with no real server available:\n%s", tab)
	}
}

func TestKernelPersistence(t *testing.T) {
	lb := newLab(t, 3)
	ctx := context.Background()
	s := svc(vip4, dataplane.ProtoTCP, "rr")
	s.Persistence = time.Minute
	s.PersistenceBits = 24
	lb.add(s, rs("10.77.2.11", 1), rs("10.77.2.12", 1), rs("10.77.2.13", 1))
	got := lb.names(vip4, 6)
	eq(t, "persistent client", got, "[r1 r1 r1 r1 r1 r1]")
	held := lb.dial(vip4)
	eq(t, "held", lb.ask(held), "r1")

	// An unrelated change keeps the affinity.
	lb.must(lb.plane.UpdateDestination(ctx, s.Key, rs("10.77.2.13", 2)))
	eq(t, "after unrelated change", lb.names(vip4, 2), "[r1 r1]")

	// Its real server goes down: the client moves at once and sticks to
	// the new one; the established connection continues.
	lb.must(lb.plane.UpdateDestination(ctx, s.Key, rs("10.77.2.11", 0)))
	moved := lb.names(vip4, 4)
	if moved[0] == "r1" || count(moved)[moved[0]] != 4 {
		t.Fatalf("after r1 went down the client reached %v, want one other real server every time", moved)
	}
	eq(t, "held after down", lb.ask(held), "r1")

	tabs := lb.nft(t, "list", "map", "inet", DefaultTable, affName(lb.plane.ids[s.Key]))
	if !strings.Contains(tabs, "10.77.1.0") || strings.Contains(tabs, "10.77.2.11") {
		t.Fatalf("affinity map does not hold the /24 of the client on its new real server:\n%s", tabs)
	}

	// Persistence off: the affinity map goes in the same transaction and
	// plain rr resumes.
	s.Persistence, s.PersistenceBits = 0, 0
	lb.must(lb.plane.UpdateService(ctx, s))
	if got := count(lb.names(vip4, 6)); got["r2"] != 3 || got["r3"] != 3 {
		t.Fatalf("rr after persistence was turned off: %v, want r2 and r3 three times each", got)
	}
	if tab := lb.nft(t, "list", "table", "inet", DefaultTable); strings.Contains(tab, "map "+affName(lb.plane.ids[s.Key])) {
		t.Fatalf("the affinity map outlived persistence:\n%s", tab)
	}
}

// nft runs the nft tool in the director, to look at the table from outside.
func (lb *lab) nft(t *testing.T, args ...string) string {
	t.Helper()
	if _, err := exec.LookPath("nft"); err != nil {
		t.Skip("nft(8) not installed; skipping the part of the test that reads the table with it")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	out, err := lb.dir.Exec(ctx, "nft", args...)
	if err != nil {
		t.Fatal(err)
	}
	return string(out)
}

func TestKernelIPv6AndUDP(t *testing.T) {
	lb := newLab(t, 2)
	s6 := svc(vip6, dataplane.ProtoTCP, "rr")
	lb.add(s6, rs("fd77:2::11", 1), rs("fd77:2::12", 1))
	eq(t, "IPv6 rr", lb.names(vip6, 4), "[r1 r2 r1 r2]")
	u := svc(vip4, dataplane.ProtoUDP, "wrr")
	lb.add(u, rs("10.77.2.11", 1), rs("10.77.2.12", 2))
	eq(t, "UDP wrr", lb.udpNames(vip4, 6), "[r2 r1 r2 r2 r1 r2]")
	// Drain on UDP: new flows avoid r1.
	lb.must(lb.plane.UpdateDestination(context.Background(), u.Key, rs("10.77.2.11", 0)))
	eq(t, "UDP after drain", lb.udpNames(vip4, 3), "[r2 r2 r2]")
	u6 := svc(vip6, dataplane.ProtoUDP, "rr")
	lb.add(u6, rs("fd77:2::11", 1), rs("fd77:2::12", 1))
	eq(t, "UDP IPv6 rr", lb.udpNames(vip6, 4), "[r1 r2 r1 r2]")
}

func TestKernelFwmark(t *testing.T) {
	lb := newLab(t, 2)
	// The test's own table marks connections to vip4b, as a user's
	// mangle rules would.
	lb.nft(t, "list", "tables") // skips without nft
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, "ip", "netns", "exec", lb.dir.Name(), "nft", "-f", "-")
	cmd.Stdin = strings.NewReader("table ip testmark {\n chain pre {\n  type filter hook prerouting priority mangle;\n  ip daddr " + vip4b + " tcp dport 80 meta mark set 7\n }\n}\n")
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("nft: %v: %s", err, out)
	}
	s := dataplane.Service{Key: dataplane.ServiceKey{Family: dataplane.IPv4, Fwmark: 7}, Scheduler: "rr"}
	lb.add(s, rs("10.77.2.11", 1), rs("10.77.2.12", 1))
	eq(t, "fwmark rr", lb.names(vip4b, 4), "[r1 r2 r1 r2]")
	// Unmarked traffic (another port) to the same address is not the
	// fwmark service's.
	if _, err := netDial(lb, vip4b, "81"); err == nil {
		t.Fatal("an unmarked connection to the fwmark service's address was translated")
	}

	// IPv6 fwmark with real servers that keep the client's port.
	cmd6 := exec.CommandContext(ctx, "ip", "netns", "exec", lb.dir.Name(), "nft", "-f", "-")
	cmd6.Stdin = strings.NewReader("table ip6 testmark6 {\n chain pre {\n  type filter hook prerouting priority mangle;\n  ip6 daddr " + vip6 + " tcp dport 8080 meta mark set 9\n }\n}\n")
	if out, err := cmd6.CombinedOutput(); err != nil {
		t.Fatalf("nft: %v: %s", err, out)
	}
	s6 := dataplane.Service{Key: dataplane.ServiceKey{Family: dataplane.IPv6, Fwmark: 9}, Scheduler: "wrr"}
	keep := func(a string, w int32) dataplane.Destination {
		return dataplane.Destination{Key: dataplane.DestKey{Addr: netip.MustParseAddr(a)}, Weight: w}
	}
	lb.add(s6, keep("fd77:2::11", 1), keep("fd77:2::12", 2))
	var got []string
	for range 3 {
		var c net.Conn
		lb.must(lb.client.Do(func() error {
			var err error
			c, err = net.DialTimeout("tcp", net.JoinHostPort(vip6, "8080"), 3*time.Second)
			return err
		}))
		got = append(got, lb.ask(c))
		c.Close()
	}
	eq(t, "IPv6 fwmark wrr, port kept", got, "[r2 r1 r2]")
}

// netDial dials addr:port from the client once, expecting it may fail.
func netDial(lb *lab, addr, port string) (net.Conn, error) {
	var c net.Conn
	var err error
	lb.client.Do(func() error {
		c, err = net.DialTimeout("tcp", net.JoinHostPort(addr, port), 2*time.Second)
		if err == nil {
			c.Close()
		}
		return nil
	})
	return c, err
}

func TestKernelRestartAndFlush(t *testing.T) {
	lb := newLab(t, 2)
	ctx := context.Background()
	s := svc(vip4, dataplane.ProtoTCP, "rr")
	lb.add(s, rs("10.77.2.11", 1), rs("10.77.2.12", 1))
	held := lb.dial(vip4)
	eq(t, "held", lb.ask(held), "r1")

	// A new process (the old one crashed): Replace swaps the leftover
	// table for the desired one in one transaction; the established
	// connection survives.
	var p2 *Plane
	lb.must(lb.dir.Do(func() error {
		var err error
		p2, err = New(Config{})
		return err
	}))
	defer p2.Close()
	want := dataplane.Table{s.Key: {Service: s, Dests: map[dataplane.DestKey]dataplane.Destination{
		rs("10.77.2.12", 1).Key: rs("10.77.2.12", 1),
	}}}
	lb.must(p2.Replace(ctx, want))
	eq(t, "after restart", lb.names(vip4, 2), "[r2 r2]")
	eq(t, "held across restart", lb.ask(held), "r1")

	// Flush removes every service; established connections go on.
	lb.must(p2.Flush(ctx))
	if got, _ := p2.Services(ctx); len(got) != 0 {
		t.Fatalf("services after Flush: %v", got)
	}
	if rules := lb.nft(t, "list", "table", "inet", DefaultTable); strings.Contains(rules, "jump s") {
		t.Fatalf("a service chain is left after Flush:\n%s", rules)
	}
	eq(t, "held across flush", lb.ask(held), "r1")

	// Remove deletes the table, and only it.
	lb.nft(t, "add", "table", "inet", "bystander")
	lb.must(p2.Remove(ctx))
	tables := lb.nft(t, "list", "tables")
	if strings.Contains(tables, DefaultTable) || !strings.Contains(tables, "bystander") {
		t.Fatalf("after Remove the tables are:\n%s", tables)
	}
}

func TestKernelMaglevAndFailover(t *testing.T) {
	lb := newLab(t, 3)
	ctx := context.Background()
	mh := svc(vip4, dataplane.ProtoTCP, "mh")
	lb.add(mh, rs("10.77.2.11", 1), rs("10.77.2.12", 1), rs("10.77.2.13", 1))
	got := count(lb.names(vip4, 6))
	if len(got) != 1 {
		t.Fatalf("mh: one client reached %v, want one real server", got)
	}
	// Its real server leaves: the client moves, and sticks again.
	var first string
	for n := range got {
		first = n
	}
	idx := int(first[1] - '1')
	lb.must(lb.plane.DeleteDestination(ctx, mh.Key, lb.destOf(idx).Key))
	moved := count(lb.names(vip4, 4))
	if len(moved) != 1 || moved[first] != 0 {
		t.Fatalf("mh after %s left: %v", first, moved)
	}
	lb.must(lb.plane.DeleteService(ctx, mh.Key))

	fo := svc(vip4, dataplane.ProtoTCP, "fo")
	lb.add(fo, rs("10.77.2.11", 1), rs("10.77.2.12", 3), rs("10.77.2.13", 2))
	eq(t, "fo", lb.names(vip4, 3), "[r2 r2 r2]")
	lb.must(lb.plane.UpdateDestination(ctx, fo.Key, rs("10.77.2.12", 0)))
	eq(t, "fo after the highest drains", lb.names(vip4, 2), "[r3 r3]")
	if tab := lb.nft(t, "list", "table", "inet", DefaultTable); strings.Contains(tab, "map s1_") {
		t.Fatalf("the deleted mh service left its maps behind:\n%s", tab)
	}
}

func (lb *lab) destOf(i int) dataplane.Destination {
	return rs(fmt.Sprintf("10.77.2.%d", 11+i), 1)
}

func TestKernelPersistenceIPv6(t *testing.T) {
	lb := newLab(t, 2)
	s := svc(vip6, dataplane.ProtoTCP, "wrr")
	s.Persistence, s.PersistenceBits = time.Minute, 64
	lb.add(s, rs("fd77:2::11", 1), rs("fd77:2::12", 1))
	eq(t, "IPv6 persistent client", lb.names(vip6, 4), "[r1 r1 r1 r1]")
	lb.must(lb.plane.DeleteDestination(context.Background(), s.Key, rs("fd77:2::11", 1).Key))
	eq(t, "after its real server left", lb.names(vip6, 3), "[r2 r2 r2]")
}

// The LVS reconciler drives the plane as it drives IPVS: what the plane
// cannot serve is refused with a reason, everything else is applied, and
// the plane's table then equals the desired one.
func TestKernelUnderReconciler(t *testing.T) {
	lb := newLab(t, 2)
	ctx := context.Background()
	r := lvs.NewReconciler(lb.plane, slog.New(slog.DiscardHandler))
	ok := svc(vip4, dataplane.ProtoTCP, "wrr")
	lc := svc(vip4b, dataplane.ProtoTCP, "lblc")
	desired := dataplane.Table{
		ok.Key: {Service: ok, Dests: map[dataplane.DestKey]dataplane.Destination{
			rs("10.77.2.11", 1).Key: rs("10.77.2.11", 1), rs("10.77.2.12", 2).Key: rs("10.77.2.12", 2)}},
		lc.Key: {Service: lc, Dests: map[dataplane.DestKey]dataplane.Destination{
			rs("10.77.2.11", 1).Key: rs("10.77.2.11", 1)}},
	}
	_, err := r.Apply(ctx, desired)
	var unsup *lvs.UnsupportedError
	if !errors.As(err, &unsup) || unsup.Key != lc.Key || !errors.Is(err, dataplane.ErrUnsupported) {
		t.Fatalf("Apply: got %v, want the lblc service refused as unsupported", err)
	}
	eq(t, "wrr through the reconciler", lb.names(vip4, 3), "[r2 r1 r2]")

	delete(desired, lc.Key)
	e := desired[ok.Key]
	e.Dests[rs("10.77.2.11", 1).Key] = rs("10.77.2.11", 0)
	n, err := r.Apply(ctx, desired)
	if err != nil || n != 1 {
		t.Fatalf("second Apply: %d operations, %v; want 1, nil", n, err)
	}
	got, err := dataplane.Read(ctx, lb.plane)
	lb.must(err)
	if got.Format() != desired.Format() {
		t.Fatalf("plane holds\n%s\nwant\n%s", got.Format(), desired.Format())
	}
	eq(t, "after drain", lb.names(vip4, 2), "[r2 r2]")
}
