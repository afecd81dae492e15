package vmlab

import (
	"bufio"
	"fmt"
	"net/netip"
	"slices"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"
	"time"
	"vigil/internal/check/rawsyn"
	"vigil/internal/netlab"
)

// ipvsCount is how many services and destinations a namespace's IPVS
// table holds.
type ipvsCount struct {
	services, dests int
}

// parseIPVSProc counts the services and destinations of /proc/net/ip_vs.
// One read of this file gives the whole table where netlink would take a
// dump per service; but it costs the kernel a walk from the start of its
// service table for every page it returns, so the benchmark reads it only
// once the service count (one netlink dump) is complete.
//
// The format (net/netfilter/ipvs/ip_vs_ctl.c): three header lines, then
// per service "TCP  0A010001:0050 wrr ..." (or "FWM  00000001 ...") and per
// destination "  -> 0A020001:1F90      Masq    1      0          0".
func parseIPVSProc(text string) (ipvsCount, error) {
	var c ipvsCount
	sc := bufio.NewScanner(strings.NewReader(text))
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for n := 1; sc.Scan(); n++ {
		f := strings.Fields(sc.Text())
		if n <= 3 || len(f) == 0 {
			continue
		}
		switch f[0] {
		case "TCP", "UDP", "SCTP", "FWM":
			if len(f) < 2 {
				return c, fmt.Errorf("ip_vs line %d: short service line %q", n, sc.Text())
			}
			c.services++
		case "->":
			if len(f) < 4 {
				return c, fmt.Errorf("ip_vs line %d: short destination line %q", n, sc.Text())
			}
			if c.services == 0 {
				return c, fmt.Errorf("ip_vs line %d: a destination before any service", n)
			}
			c.dests++
		default:
			return c, fmt.Errorf("ip_vs line %d: unknown line %q", n, sc.Text())
		}
	}
	return c, sc.Err()
}

// TestParseIPVSProc checks the reader of /proc/net/ip_vs on the kernel's
// format, and that it refuses lines it does not know, so that a format
// change shows up as a failure rather than as a table that never
// completes.
func TestParseIPVSProc(t *testing.T) {
	const text = `IP Virtual Server version 1.2.1 (size=4096)
Prot LocalAddress:Port Scheduler Flags
  -> RemoteAddress:Port Forward Weight ActiveConn InActConn
TCP  0A010001:0050 wrr 
  -> 0A020001:1F90      Masq    1      0          0         
  -> 0A030001:1F90      Masq    3      0          0         
TCP  0A010002:0050 wrr persistent 300
  -> 0A020001:1F90      Masq    7      0          0         
FWM  00000001 rr 
`
	c, err := parseIPVSProc(text)
	if err != nil {
		t.Fatal(err)
	}
	if c != (ipvsCount{services: 3, dests: 3}) {
		t.Errorf("parseIPVSProc = %+v, want 3 services, 3 destinations", c)
	}
	for _, bad := range []string{
		"h\nh\nh\nXYZ 0A010001:0050 rr\n",
		"h\nh\nh\n  -> 0A020001:1F90 Masq 1 0 0\n",
		"h\nh\nh\nTCP  0A010001:0050 rr\n  -> 0A020001:1F90\n",
	} {
		if _, err := parseIPVSProc(bad); err == nil {
			t.Errorf("parseIPVSProc(%q) accepted it", bad)
		}
	}
}

// TestBenchConfig checks the benchmark's configuration generator: the
// counts of services, real servers and checkers it writes, and that the
// one real server the reload changes is the only difference between the
// two files.
func TestBenchConfig(t *testing.T) {
	a := benchConfig(10, 4, 1, 0)
	b := benchConfig(10, 4, 2, 0)
	if n := strings.Count(a, "virtual_server "); n != 10 {
		t.Errorf("%d virtual servers, want 10", n)
	}
	if n := strings.Count(a, "real_server "); n != 40 {
		t.Errorf("%d real servers, want 40", n)
	}
	if strings.Contains(a, "TCP_CHECK") {
		t.Errorf("a table-only config has checkers")
	}
	al, bl := strings.Split(a, "\n"), strings.Split(b, "\n")
	if len(al) != len(bl) {
		t.Fatalf("the reloaded file has %d lines, the first %d", len(bl), len(al))
	}
	var diff []string
	changed := -1
	for i := range al {
		if al[i] != bl[i] {
			diff = append(diff, al[i]+" => "+bl[i])
			changed = i
		}
	}
	if len(diff) != 1 || !strings.Contains(diff[0], "weight 1 => ") || !strings.Contains(diff[0], "weight 2") {
		t.Fatalf("the reload changes %q, want exactly one weight 1 => 2", diff)
	}
	// The changed line belongs to the real server benchChanged names, in
	// the virtual server it names.
	vs, rs := benchChanged(10, 4)
	vsAt := slices.Index(al, fmt.Sprintf("virtual_server %s %d {", vs.Addr(), vs.Port()))
	rsAt := slices.Index(al, fmt.Sprintf("    real_server %s %d {", rs.Addr(), rs.Port()))
	if vsAt < 0 || rsAt < vsAt || changed != rsAt+1 {
		t.Errorf("the changed weight (line %d) is not that of %s in %s (lines %d, %d)", changed+1, rs, vs, rsAt+1, vsAt+1)
	}
	c := benchConfig(3, 4, 1, 12345)
	if n := strings.Count(c, "TCP_CHECK"); n != 12 {
		t.Errorf("%d TCP_CHECKs, want 12", n)
	}
	if !strings.Contains(c, "connect_port 12345") || !strings.Contains(c, "delay_loop 1\n") {
		t.Errorf("the checks do not go to the listener every second:\n%s", c)
	}
	// Each check connects to an address of its own (identical checks
	// would be one check for Vigil), all of them local.
	ips := map[string]bool{}
	for _, l := range strings.Split(c, "\n") {
		if ip, ok := strings.CutPrefix(strings.TrimSpace(l), "connect_ip "); ok {
			if !netip.MustParseAddr(ip).IsLoopback() {
				t.Errorf("connect_ip %s is not local", ip)
			}
			ips[ip] = true
		}
	}
	if len(ips) != 12 {
		t.Errorf("%d distinct connect_ip, want 12", len(ips))
	}
}

// synCounter counts the SYNs (SYN set, ACK clear) that reach one TCP
// port of a namespace, from a raw socket there, which the kernel gives a
// copy of every TCP segment it delivers locally. A check is one SYN for
// either daemon, however it opens the handshake: keepalived connects,
// Vigil's TCP_CHECK sends its SYNs from a raw socket of its own (so the
// namespace's TCP active opens no longer count them).
type synCounter struct {
	fd         int
	n          atomic.Int64
	stop, done chan struct{}
}

// countSYNs starts counting SYNs to port in h's namespace; stop ends it.
func countSYNs(h *netlab.Host, port int) (*synCounter, error) {
	c := &synCounter{fd: -1, stop: make(chan struct{}), done: make(chan struct{})}
	if err := h.Do(func() error {
		fd, err := syscall.Socket(syscall.AF_INET, syscall.SOCK_RAW|syscall.SOCK_CLOEXEC, syscall.IPPROTO_TCP)
		if err != nil {
			return err
		}
		// A bounded read, so that stop is seen within it.
		tv := syscall.NsecToTimeval((200 * time.Millisecond).Nanoseconds())
		if err := syscall.SetsockoptTimeval(fd, syscall.SOL_SOCKET, syscall.SO_RCVTIMEO, &tv); err != nil {
			syscall.Close(fd)
			return err
		}
		c.fd = fd
		return nil
	}); err != nil {
		return nil, err
	}
	go func() {
		defer close(c.done)
		buf := make([]byte, 256)
		for {
			n, _, err := syscall.Recvfrom(c.fd, buf, syscall.MSG_TRUNC)
			select {
			case <-c.stop:
				return
			default:
			}
			if err == nil && isSYNTo(buf[:min(n, len(buf))], port) {
				c.n.Add(1)
			}
		}
	}()
	return c, nil
}

// Stop ends the count (within one bounded read) and closes the socket.
func (c *synCounter) Stop() {
	close(c.stop)
	<-c.done
	syscall.Close(c.fd)
}

// Count is the SYNs seen so far.
func (c *synCounter) Count() int64 { return c.n.Load() }

// isSYNTo reports whether pkt, an IPv4 packet as a raw socket returns it
// (the IP header first), is a TCP segment to port with SYN set and ACK
// clear. The decoding is the raw-socket TCP_CHECK's own.
func isSYNTo(pkt []byte, port int) bool {
	s, err := rawsyn.DecodeIPv4(pkt)
	return err == nil && int(s.Dst.Port()) == port && s.Flags&(rawsyn.FlagSYN|rawsyn.FlagACK) == rawsyn.FlagSYN
}

func TestIsSYNTo(t *testing.T) {
	// 20-byte IPv4 header (protocol 6) and a TCP header to port 8080.
	seg := func(flags byte, port int) []byte {
		p := make([]byte, 40)
		p[0], p[3], p[9] = 0x45, 40, 6
		p[32] = 0x50 // TCP data offset: a 20-byte header
		p[22], p[23] = byte(port>>8), byte(port)
		p[33] = flags
		return p
	}
	for _, tc := range []struct {
		name string
		pkt  []byte
		want bool
	}{
		{"SYN to the port", seg(0x02, 8080), true},
		{"SYN to another port", seg(0x02, 8081), false},
		{"SYN-ACK", seg(0x12, 8080), false},
		{"RST", seg(0x04, 8080), false},
		{"ACK", seg(0x10, 8080), false},
		{"truncated", seg(0x02, 8080)[:30], false},
		{"UDP", func() []byte { p := seg(0x02, 8080); p[9] = 17; return p }(), false},
		{"IPv6", func() []byte { p := seg(0x02, 8080); p[0] = 0x60; return p }(), false},
		{"options in the IP header", func() []byte {
			p := make([]byte, 44)
			p[0], p[3], p[9] = 0x46, 44, 6
			p[36] = 0x50
			p[26], p[27] = 0x1f, 0x90
			p[37] = 0x02
			return p
		}(), true},
	} {
		if got := isSYNTo(tc.pkt, 8080); got != tc.want {
			t.Errorf("%s: isSYNTo = %v, want %v", tc.name, got, tc.want)
		}
	}
}
