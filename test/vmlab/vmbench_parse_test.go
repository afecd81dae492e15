package vmlab

import (
	"bufio"
	"fmt"
	"net/netip"
	"os"
	"slices"
	"strconv"
	"strings"
	"testing"
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

// activeOpens reads the TCP active opens (connect calls that sent a SYN)
// of h's namespace from the thread's /proc/net/snmp.
func activeOpens(h *netlab.Host) (int64, error) {
	var b []byte
	if err := h.Do(func() error {
		var err error
		b, err = os.ReadFile("/proc/thread-self/net/snmp")
		return err
	}); err != nil {
		return 0, err
	}
	return parseActiveOpens(string(b))
}

// parseActiveOpens finds ActiveOpens in the two "Tcp:" lines of
// /proc/net/snmp (names, then values).
func parseActiveOpens(snmp string) (int64, error) {
	var names []string
	for _, line := range strings.Split(snmp, "\n") {
		f := strings.Fields(line)
		if len(f) == 0 || f[0] != "Tcp:" {
			continue
		}
		if names == nil {
			names = f
			continue
		}
		for i, n := range names {
			if n == "ActiveOpens" && i < len(f) {
				return strconv.ParseInt(f[i], 10, 64)
			}
		}
		break
	}
	return 0, fmt.Errorf("no Tcp ActiveOpens in /proc/net/snmp")
}

func TestParseActiveOpens(t *testing.T) {
	snmp := "Ip: Forwarding DefaultTTL\nIp: 1 64\n" +
		"Tcp: RtoAlgorithm RtoMin RtoMax MaxConn ActiveOpens PassiveOpens\n" +
		"Tcp: 1 200 120000 -1 4711 12\nUdp: InDatagrams\nUdp: 3\n"
	n, err := parseActiveOpens(snmp)
	if err != nil || n != 4711 {
		t.Fatalf("parseActiveOpens = %d, %v; want 4711", n, err)
	}
	if _, err := parseActiveOpens("Udp: InDatagrams\nUdp: 3\n"); err == nil {
		t.Fatal("parseActiveOpens without a Tcp line: no error")
	}
	// Against this machine's own file: a number, not an error.
	if b, err := os.ReadFile("/proc/net/snmp"); err == nil {
		if _, err := parseActiveOpens(string(b)); err != nil {
			t.Fatalf("this machine's /proc/net/snmp: %v", err)
		}
	}
}
