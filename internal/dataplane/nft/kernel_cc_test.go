package nft

import (
	"net"
	"testing"
	"time"

	"vigil/internal/dataplane"
)

// TestKernelWLC: wlc through conntrack's counts. Twelve long-lived
// connections over weights 1:2:3 split 2:4:6, as IPVS's formula does;
// once r3's connections close, new ones go to r3 (the least loaded per
// weight) until it catches up.
func TestKernelWLC(t *testing.T) {
	lb := newLab(t, 3)
	s := svc(vip4, dataplane.ProtoTCP, "wlc")
	lb.add(s, rs("10.77.2.11", 1), rs("10.77.2.12", 2), rs("10.77.2.13", 3))
	byName := map[string][]net.Conn{}
	for i := range 12 {
		// Refreshes (every 100 ms) fall between some of them: counts
		// that match the plan leave it running.
		if i%4 == 3 {
			time.Sleep(150 * time.Millisecond)
		}
		c := lb.dial(vip4)
		n := lb.ask(c)
		byName[n] = append(byName[n], c)
	}
	eq(t, "wlc shares of 12 open connections", map[string]int{"r1": len(byName["r1"]), "r2": len(byName["r2"]), "r3": len(byName["r3"])}, map[string]int{"r1": 2, "r2": 4, "r3": 6})

	for _, c := range byName["r3"] {
		c.Close()
	}
	// A plan made from counts where r3 has no active connection left,
	// at a refresh (every 100 ms); 5 s is a bound for a loaded machine,
	// not an expectation.
	r3 := rs("10.77.2.13", 3).Key
	deadline := time.Now().Add(5 * time.Second)
	for {
		lb.plane.mu.Lock()
		plan, base := lb.plane.plans[s.Key], lb.plane.planBase[s.Key]
		lb.plane.mu.Unlock()
		if b, ok := base[r3]; ok && b.Active == 0 && b.Inactive > 0 && len(plan) > 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("no plan from counts without r3's connections: %v from %v", plan, base)
		}
		time.Sleep(20 * time.Millisecond)
	}
	var got []string
	for range 3 {
		c := lb.dial(vip4)
		got = append(got, lb.ask(c))
	}
	eq(t, "new connections after r3's closed", got, []string{"r3", "r3", "r3"})
}
