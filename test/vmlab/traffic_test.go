package vmlab

import (
	"context"
	"fmt"
	"net"
	"net/netip"
	"strings"
	"testing"
	"time"

	"vigil/internal/netlab"
)

// lvsLab is a client, a director and two real servers on one bridge:
//
//	client  10.3.0.2/24 (routed through the director), 10.1.0.2/24 (on link)
//	dir     10.3.0.1/24, 10.1.0.1/24; virtual addresses 10.3.0.100 (NAT),
//	        10.1.0.101 and .103 (DR), 10.1.0.102 (TUN, ipip)
//	rs1/rs2 10.1.0.11/24, 10.1.0.12/24, default route via the director;
//	        10.1.0.101 and .103 on lo, 10.1.0.102 on tunl0, hidden from ARP
//
// NAT replies go back through the director; DR and TUN replies go
// straight to the client's on-link address. Each real server answers every
// TCP connection on port 80 with its name.
type lvsLab struct {
	client, dir *netlab.Host
	rs          []*netlab.Host
}

const (
	vipNAT = "10.3.0.100"
	vipDR  = "10.1.0.101"
	vipTUN = "10.1.0.102"
	vipDRP = "10.1.0.103" // DR, persistent
)

func newLVSLab(t *testing.T) *lvsLab {
	t.Helper()
	lab := netlab.New(t)
	l := &lvsLab{
		client: lab.AddHost("client", "10.3.0.2/24", "10.1.0.2/24"),
		dir:    lab.AddHost("dir", "10.3.0.1/24", "10.1.0.1/24"),
	}
	for i := range 2 {
		l.rs = append(l.rs, lab.AddHost(fmt.Sprintf("rs%d", i+1), fmt.Sprintf("10.1.0.%d/24", 11+i)))
	}
	script := func(h *netlab.Host, cmds ...string) {
		t.Helper()
		// One shell per host: every exec is slow in the emulated guest.
		ctx, cancel := context.WithTimeout(context.Background(), cmdTimeout)
		defer cancel()
		if _, err := h.Exec(ctx, "sh", "-ec", strings.Join(cmds, "\n")); err != nil {
			t.Fatal(err)
		}
	}
	script(l.dir,
		"ip addr add "+vipNAT+"/32 dev eth0",
		"ip addr add "+vipDR+"/32 dev eth0",
		"ip addr add "+vipTUN+"/32 dev eth0",
		"ip addr add "+vipDRP+"/32 dev eth0",
		"echo 1 > /proc/sys/net/ipv4/ip_forward",
		// Replies from the real servers leave by the interface they came
		// in on; the director must not redirect the servers past itself.
		"echo 0 > /proc/sys/net/ipv4/conf/all/send_redirects",
		"echo 0 > /proc/sys/net/ipv4/conf/eth0/send_redirects",
	)
	for _, h := range l.rs {
		script(h,
			"ip route add default via 10.1.0.1",
			"ip addr add "+vipDR+"/32 dev lo",
			"ip addr add "+vipDRP+"/32 dev lo",
			"ip link set tunl0 up",
			"ip addr add "+vipTUN+"/32 dev tunl0",
			// The virtual addresses are the director's to announce.
			"echo 1 > /proc/sys/net/ipv4/conf/all/arp_ignore",
			"echo 2 > /proc/sys/net/ipv4/conf/all/arp_announce",
			"echo 0 > /proc/sys/net/ipv4/conf/all/rp_filter",
			"echo 0 > /proc/sys/net/ipv4/conf/tunl0/rp_filter",
		)
		h.ServeName(t, 80)
	}
	return l
}

// listenTCP listens on TCP port of every IPv4 address of h, inside h's
// namespace; the test fails if it cannot.
func listenTCP(t *testing.T, h *netlab.Host, port int) net.Listener {
	t.Helper()
	var ln net.Listener
	if err := h.Do(func() error {
		var err error
		ln, err = net.Listen("tcp4", fmt.Sprintf(":%d", port))
		return err
	}); err != nil {
		t.Fatalf("listen on %s: %v", h, err)
	}
	return ln
}

// askName opens one connection from the client to addr and returns the
// name of the real server that answered.
func (l *lvsLab) askName(addr string) (string, error) {
	to, err := netip.ParseAddrPort(addr)
	if err != nil {
		return "", err
	}
	return l.client.AskName(netip.Addr{}, to, 10*time.Second)
}

// names asks addr (host:port) n times, over n new connections, and
// returns the answers in order.
func (l *lvsLab) names(t *testing.T, addr string, n int) []string {
	t.Helper()
	var got []string
	for range n {
		name, err := l.askName(addr)
		if err != nil {
			t.Fatalf("after %v: %v", got, err)
		}
		got = append(got, name)
	}
	return got
}

func (l *lvsLab) ipvsadm(t *testing.T, cmds ...[]string) {
	t.Helper()
	for _, c := range cmds {
		if _, err := ipvsadm(l.dir, c...); err != nil {
			t.Fatal(err)
		}
	}
}

func count(names []string) map[string]int {
	m := map[string]int{}
	for _, n := range names {
		m[n]++
	}
	return m
}

// TestTraffic sends real connections from the client through each
// forwarding method to the real servers and checks who answers: rr
// alternates exactly, wrr follows the weights exactly, persistence keeps
// the client on one server.
func TestTraffic(t *testing.T) {
	needLab(t)
	l := newLVSLab(t)
	rs1, rs2 := l.rs[0].String(), l.rs[1].String()
	for _, m := range []struct{ name, vip, flag string }{
		{"NAT", vipNAT, "-m"},
		{"DR", vipDR, "-g"},
		{"TUN", vipTUN, "-i"},
	} {
		t.Run(m.name+"/rr", func(t *testing.T) {
			svc := m.vip + ":80"
			l.ipvsadm(t,
				[]string{"-A", "-t", svc, "-s", "rr"},
				[]string{"-a", "-t", svc, "-r", "10.1.0.11:80", m.flag},
				[]string{"-a", "-t", svc, "-r", "10.1.0.12:80", m.flag},
			)
			defer l.ipvsadm(t, []string{"-D", "-t", svc})
			got := l.names(t, svc, 8)
			for i := 1; i < len(got); i++ {
				if got[i] == got[i-1] {
					t.Fatalf("rr does not alternate: %v", got)
				}
			}
			if c := count(got); c[rs1] != 4 || c[rs2] != 4 {
				t.Fatalf("rr over 8 connections: %v, want 4 each", c)
			}
		})
	}
	// Each of the following has an address and port of its own, so that no
	// connection entry left by an earlier subtest can answer for it.
	t.Run("NAT/wrr", func(t *testing.T) {
		svc := vipNAT + ":8080" // NAT may change the port
		l.ipvsadm(t,
			[]string{"-A", "-t", svc, "-s", "wrr"},
			[]string{"-a", "-t", svc, "-r", "10.1.0.11:80", "-m", "-w", "1"},
			[]string{"-a", "-t", svc, "-r", "10.1.0.12:80", "-m", "-w", "3"},
		)
		defer l.ipvsadm(t, []string{"-D", "-t", svc})
		got := l.names(t, svc, 12)
		if c := count(got); c[rs1] != 3 || c[rs2] != 9 {
			t.Fatalf("wrr 1:3 over 12 connections: %v (%v), want 3 and 9", c, got)
		}
	})
	t.Run("DR/persistence", func(t *testing.T) {
		svc := vipDRP + ":80"
		l.ipvsadm(t,
			[]string{"-A", "-t", svc, "-s", "rr", "-p", "60"},
			[]string{"-a", "-t", svc, "-r", "10.1.0.11:80", "-g"},
			[]string{"-a", "-t", svc, "-r", "10.1.0.12:80", "-g"},
		)
		defer l.ipvsadm(t, []string{"-D", "-t", svc})
		got := l.names(t, svc, 6)
		if c := count(got); len(c) != 1 {
			t.Fatalf("a persistent service moved the client between servers: %v", got)
		}
	})
}
