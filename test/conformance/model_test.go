package conformance

// The scheduler model: package sched picks what the kernel's IPVS picks,
// for a destination list in the kernel's order. Vigil adds a service's
// destinations in address order (lvs.Diff sorts them) and IPVS (like the
// proxy) links each new one at the head of its list, so the list is the
// real servers from the highest address to the lowest.

import (
	"fmt"
	"net/netip"
	"slices"
	"strings"
	"testing"
	"time"

	"vigil/internal/dataplane"
	"vigil/internal/dataplane/proxy/sched"
)

// model is a scheduler over real servers rs1..rsN with weights, its list
// in order (indexes into weights, 0-based).
type model struct {
	s     sched.Scheduler
	reals []*sched.Real
	names []string // names[i] is the name of reals[i]
}

func newModel(t *testing.T, algo string, weights []int, order []int) *model {
	t.Helper()
	s, err := sched.New(algo, 0)
	if err != nil {
		t.Fatal(err)
	}
	m := &model{s: s}
	for _, i := range order {
		a := realAddr(i+1, false)
		m.reals = append(m.reals, &sched.Real{Key: dataplane.DestKey{Addr: a, Port: namePort},
			Weight: int32(weights[i]), LastWeight: int32(weights[i])})
		m.names = append(m.names, fmt.Sprintf("rs%d", i+1))
	}
	// As the kernel: one update per destination added, newest first.
	for k := len(m.reals) - 1; k >= 0; k-- {
		m.s.Update(m.reals[k:])
	}
	return m
}

// kernelOrder is the kernel's list of n real servers added in address
// order: newest (highest) first.
func kernelOrder(n int) []int {
	o := make([]int, n)
	for i := range o {
		o[i] = n - 1 - i
	}
	return o
}

// pick schedules one connection from client; hold keeps it open (counted
// active, as an established connection is).
func (m *model) pick(client netip.Addr, hold bool) string {
	r := m.s.Pick(m.reals, sched.Conn{Client: netip.AddrPortFrom(client, 40000), VIP: netip.MustParseAddr(vip4), Now: time.Now()})
	if r == nil {
		return ""
	}
	if hold {
		r.Active++
	}
	return m.names[slices.Index(m.reals, r)]
}

// permutations returns every order of 0..n-1.
func permutations(n int) [][]int {
	if n == 0 {
		return [][]int{{}}
	}
	var res [][]int
	for _, p := range permutations(n - 1) {
		for i := 0; i <= len(p); i++ {
			q := slices.Insert(slices.Clone(p), i, n-1)
			res = append(res, q)
		}
	}
	return res
}

// cyclicMatch reports whether got is the model's sequence for some list
// order of the real servers, entered at any point of its cycle: the order
// a plane keeps its list in may differ (the nftables plane sorts by
// address), the interleaving may not. It returns the order that matched.
func cyclicMatch(t *testing.T, algo string, weights []int, got []string) ([]int, bool) {
	cycle := 0
	for _, w := range weights {
		cycle += w
	}
	for _, order := range permutations(len(weights)) {
		m := newModel(t, algo, weights, order)
		seq := make([]string, len(got)+cycle)
		for i := range seq {
			seq[i] = m.pick(netip.Addr{}, false)
		}
		for off := range cycle {
			if slices.Equal(seq[off:off+len(got)], got) {
				return order, true
			}
		}
	}
	return nil, false
}

// counts tallies names.
func counts(names []string) map[string]int {
	c := map[string]int{}
	for _, n := range names {
		c[n]++
	}
	return c
}

func fmtCounts(c map[string]int) string {
	keys := make([]string, 0, len(c))
	for k := range c {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	var b strings.Builder
	for _, k := range keys {
		fmt.Fprintf(&b, "%s:%d ", k, c[k])
	}
	return strings.TrimSpace(b.String())
}

// TestModelWRRInterleaves checks the model the suite compares with: IPVS's
// wrr interleaves (3,2,1 cycles through a a b a b c, not a a a b b c),
// entered where the weights' order of addition leaves its current weight.
func TestModelWRRInterleaves(t *testing.T) {
	m := newModel(t, "wrr", []int{3, 2, 1}, []int{0, 1, 2})
	var got []string
	for range 12 {
		got = append(got, m.pick(netip.Addr{}, false))
	}
	cycle := []string{"rs1", "rs1", "rs2", "rs1", "rs2", "rs3"}
	twice := slices.Concat(cycle, cycle, cycle)
	ok := false
	for off := range cycle {
		ok = ok || slices.Equal(twice[off:off+12], got)
	}
	if !ok {
		t.Fatalf("wrr 3,2,1: %v, want the cycle %v entered anywhere", got, cycle)
	}
	if _, ok := cyclicMatch(t, "wrr", []int{3, 2, 1}, []string{"rs1", "rs1", "rs1", "rs2", "rs2", "rs3"}); ok {
		t.Fatal("a blocked (non-interleaved) wrr sequence matched the model")
	}
}
