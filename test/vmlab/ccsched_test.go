package vmlab

import (
	"bufio"
	"fmt"
	"net"
	"strings"
	"sync"
	"testing"
	"time"

	"vigil/internal/dataplane/nft"
	"vigil/internal/netlab"
)

// serveHold answers every TCP connection to port on h with h's name and
// keeps it open until the client closes it (30 s at most), so that IPVS
// counts it active.
func serveHold(t *testing.T, h *netlab.Host, port int) {
	t.Helper()
	ln := listenTCP(t, h, port)
	var wg sync.WaitGroup
	var mu sync.Mutex
	open := map[net.Conn]bool{}
	wg.Add(1)
	go func() {
		defer wg.Done()
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			mu.Lock()
			open[c] = true
			mu.Unlock()
			wg.Add(1)
			go func() {
				defer wg.Done()
				defer func() { mu.Lock(); delete(open, c); mu.Unlock(); c.Close() }()
				_ = c.SetDeadline(time.Now().Add(30 * time.Second))
				fmt.Fprintln(c, h.String())
				var b [1]byte
				_, _ = c.Read(b[:]) // until the client closes
			}()
		}
	}()
	t.Cleanup(func() {
		ln.Close()
		mu.Lock()
		for c := range open {
			c.Close()
		}
		mu.Unlock()
		wg.Wait()
	})
}

// TestCCMatchesIPVS measures the nftables plane's connection-count plans
// against IPVS's own choices: for lc, wlc, sed and nq over two NAT real
// servers of weights 1 and 2, IPVS schedules 9 connections kept open, then
// (rs2's connections closed, so counted inactive) 3 more; each sequence
// must be the plan nft.Plan computes from the same counts.
func TestCCMatchesIPVS(t *testing.T) {
	needLab(t)
	l := newLVSLab(t)
	for _, h := range l.rs {
		serveHold(t, h, 81)
	}
	// IPVS's list order: the real server added last first.
	names := []string{l.rs[1].String(), l.rs[0].String()}
	weights := []int32{2, 1}
	for i, sched := range []string{"lc", "wlc", "sed", "nq"} {
		t.Run(sched, func(t *testing.T) {
			svc := net.JoinHostPort(vipNAT, fmt.Sprint(9100+i))
			l.ipvsadm(t,
				[]string{"-A", "-t", svc, "-s", sched},
				[]string{"-a", "-t", svc, "-r", "10.1.0.11:81", "-m", "-w", "1"},
				[]string{"-a", "-t", svc, "-r", "10.1.0.12:81", "-m", "-w", "2"},
			)
			defer l.ipvsadm(t, []string{"-D", "-t", svc})
			conns := map[string][]net.Conn{}
			open := func(n int) []string {
				var got []string
				for range n {
					var c net.Conn
					if err := l.client.Do(func() error {
						var err error
						c, err = net.DialTimeout("tcp4", svc, 5*time.Second)
						return err
					}); err != nil {
						t.Fatal(err)
					}
					t.Cleanup(func() { c.Close() })
					_ = c.SetDeadline(time.Now().Add(20 * time.Second))
					line, err := bufio.NewReader(c).ReadString('\n')
					if err != nil {
						t.Fatalf("after %v: %v", got, err)
					}
					name := strings.TrimSpace(line)
					conns[name] = append(conns[name], c)
					got = append(got, name)
				}
				return got
			}
			plan := func(counts []nft.Conns, n int) []string {
				p, err := nft.Plan(sched, weights, counts, n)
				if err != nil {
					t.Fatal(err)
				}
				var out []string
				for _, i := range p {
					out = append(out, names[i])
				}
				return out
			}
			got := open(9)
			want := plan([]nft.Conns{{}, {}}, 9)
			t.Logf("%s, 9 connections kept open: IPVS %v, plan %v", sched, got, want)
			if fmt.Sprint(got) != fmt.Sprint(want) {
				t.Errorf("IPVS chose %v, the plan is %v", got, want)
			}
			// rs2 (names[0]) loses its connections.
			n2, n1 := len(conns[names[0]]), len(conns[names[1]])
			for _, c := range conns[names[0]] {
				c.Close()
			}
			// IPVS sees the closes (FIN both ways through the director)
			// and counts them inactive; a second is ample even in the
			// emulated guest.
			time.Sleep(time.Second)
			got = open(3)
			want = plan([]nft.Conns{{Inactive: uint32(n2)}, {Active: uint32(n1)}}, 3)
			t.Logf("%s, then 3 more after rs2's closed: IPVS %v, plan %v", sched, got, want)
			if fmt.Sprint(got) != fmt.Sprint(want) {
				t.Errorf("IPVS chose %v, the plan is %v", got, want)
			}
		})
	}
}
