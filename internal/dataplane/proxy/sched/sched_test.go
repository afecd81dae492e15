package sched

import (
	"net/netip"
	"strings"
	"testing"
	"time"

	"vigil/internal/dataplane"
)

// reals builds a list in the given order (the kernel's: newest first) from
// "name:weight" or "name:weight:active:inactive" specs; the name goes into
// the port so failures read well.
func reals(t *testing.T, specs ...string) []*Real {
	t.Helper()
	var out []*Real
	for i, s := range specs {
		var w, a, in int
		parts := strings.Split(s, ":") // parts[0] is the name, for the reader
		nums := []*int{&w, &a, &in}
		for j, p := range parts[1:] {
			n := 0
			for _, c := range p {
				n = n*10 + int(c-'0')
			}
			*nums[j] = n
		}
		out = append(out, &Real{Key: dataplane.DestKey{Addr: netip.AddrFrom4([4]byte{10, 1, 0, byte(i + 1)}), Port: uint16(i + 1)},
			Weight: int32(w), LastWeight: int32(w), Active: a, Inactive: in})
	}
	return out
}

func names(list []*Real, picks []*Real) string {
	var b strings.Builder
	for _, p := range picks {
		i := indexOf(list, p)
		if i < 0 {
			b.WriteByte('-')
			continue
		}
		b.WriteByte(byte('A' + i))
	}
	return b.String()
}

var c0 = Conn{Client: netip.MustParseAddrPort("10.0.0.1:1000"), VIP: netip.MustParseAddr("10.0.0.100"), Now: time.Unix(1000, 0)}

func sequence(t *testing.T, name string, flags dataplane.SchedFlags, list []*Real, n int) string {
	t.Helper()
	s, err := New(name, flags)
	if err != nil {
		t.Fatal(err)
	}
	s.Update(list)
	var picks []*Real
	for range n {
		picks = append(picks, s.Pick(list, c0))
	}
	return names(list, picks)
}

// TestSequences checks the picks of the stateful round-robin schedulers
// against sequences worked out by hand from the kernel's algorithms.
func TestSequences(t *testing.T) {
	tests := []struct {
		name  string
		sched string
		list  []string
		n     int
		want  string
	}{
		{"rr plain", "rr", []string{"A:1", "B:1", "C:1"}, 7, "ABCABCA"},
		{"rr ignores weight above zero", "rr", []string{"A:5", "B:1"}, 4, "ABAB"},
		{"rr skips weight 0", "rr", []string{"A:1", "B:0", "C:1"}, 5, "ACACA"},
		{"rr none", "rr", []string{"A:0", "B:0"}, 2, "--"},
		{"wrr 4:3:2 interleaved", "wrr", []string{"A:4", "B:3", "C:2"}, 18, "AABABCABCAABABCABC"},
		{"wrr gcd 2", "wrr", []string{"A:2", "B:4"}, 6, "BABBAB"},
		{"wrr equal", "wrr", []string{"A:1", "B:1"}, 4, "ABAB"},
		{"wrr weight 0 drained", "wrr", []string{"A:2", "B:0", "C:1"}, 6, "AACAAC"},
		{"wrr none", "wrr", []string{"A:0"}, 2, "--"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			list := reals(t, tt.list...)
			if got := sequence(t, tt.sched, 0, list, tt.n); got != tt.want {
				t.Errorf("got %s, want %s", got, tt.want)
			}
		})
	}
}

// TestLeastConnection checks one pick of each connection-counting
// scheduler, with counts chosen so that the schedulers disagree.
func TestLeastConnection(t *testing.T) {
	tests := []struct {
		name  string
		sched string
		list  []string // name:weight:active:inactive
		want  string
	}{
		{"lc least overhead", "lc", []string{"A:1:2:0", "B:1:1:0", "C:9:1:0"}, "B"},
		{"lc inactive counts 1/256", "lc", []string{"A:1:1:0", "B:1:0:255", "C:1:0:256"}, "B"},
		{"lc ignores weight but zero", "lc", []string{"A:0:0:0", "B:1:3:0", "C:100:3:0"}, "B"},
		{"wlc by overhead/weight", "wlc", []string{"A:1:1:0", "B:3:2:0"}, "B"},
		{"wlc tie to first", "wlc", []string{"A:1:1:0", "B:2:2:0"}, "A"},
		{"wlc idle first", "wlc", []string{"A:1:0:0", "B:3:1:0"}, "A"},
		{"sed counts the new connection", "sed", []string{"A:1:0:0", "B:3:1:0"}, "B"},
		{"sed ignores inactive", "sed", []string{"A:1:0:500", "B:1:0:0"}, "A"},
		{"nq idle wins at once", "nq", []string{"A:1:1:0", "B:5:1:0", "C:1:0:0"}, "C"},
		{"nq else as sed", "nq", []string{"A:1:1:0", "B:5:2:0"}, "B"},
		{"nq skips weight 0 idle", "nq", []string{"A:0:0:0", "B:1:1:0"}, "B"},
		{"wlc none", "wlc", []string{"A:0:0:0"}, "-"},
		{"fo highest weight", "fo", []string{"A:2:9:0", "B:5:9:0", "C:5:0:0"}, "B"},
		{"fo none", "fo", []string{"A:0:0:0"}, "-"},
		{"ovf highest weight under its weight", "ovf", []string{"A:2:0:0", "B:5:6:0", "C:3:3:0"}, "C"},
		{"ovf at weight still takes", "ovf", []string{"A:2:0:0", "B:5:5:0"}, "B"},
		{"ovf all over", "ovf", []string{"A:1:2:0"}, "-"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			list := reals(t, tt.list...)
			if got := sequence(t, tt.sched, 0, list, 1); got != tt.want {
				t.Errorf("got %s, want %s", got, tt.want)
			}
		})
	}
}

// TestRRRemoval: the kernel moves the cursor of a removed destination to
// its predecessor in the list.
func TestRRRemoval(t *testing.T) {
	list := reals(t, "A:1", "B:1", "C:1")
	s, _ := New("rr", 0)
	s.Update(list)
	if got := names(list, []*Real{s.Pick(list, c0), s.Pick(list, c0)}); got != "AB" {
		t.Fatalf("got %s", got)
	}
	// B (the cursor) leaves: the cursor goes back to A, so C is next.
	a, c := list[0], list[2]
	list = []*Real{a, c}
	s.Update(list)
	if got := s.Pick(list, c0); got != c {
		t.Fatalf("after removing B got %v, want C", got)
	}
	// A new destination is linked at the head: it comes up after the wrap.
	d := &Real{Key: dataplane.DestKey{Port: 9}, Weight: 1}
	list = []*Real{d, a, c}
	s.Update(list)
	if got := names(list, []*Real{s.Pick(list, c0), s.Pick(list, c0), s.Pick(list, c0)}); got != "ABC" {
		t.Fatalf("after adding D at the head got %s, want D A C", got)
	}
}

// TestWRRIncremental: destinations arrive one by one. A (weight 3) alone
// gives step 3 and current weight 1; B (weight 1) keeps the current weight
// at 1, so the first round is B A, then A at 3 and 2.
func TestWRRIncremental(t *testing.T) {
	a, b := &Real{Weight: 3}, &Real{Weight: 1}
	s, _ := New("wrr", 0)
	s.Update([]*Real{a})
	list := []*Real{b, a}
	s.Update(list)
	var picks []*Real
	for range 8 {
		picks = append(picks, s.Pick(list, c0))
	}
	if got := names(list, picks); got != "ABBBABBB" { // list order: A is b, B is a
		t.Errorf("got %s, want ABBBABBB", got)
	}
}

// TestWRRUpdateKeepsPass: a weight change resets the cursor to the head
// and keeps the current weight within the new range.
func TestWRRUpdate(t *testing.T) {
	list := reals(t, "A:4", "B:3", "C:2")
	s, _ := New("wrr", 0)
	s.Update(list)
	if got := names(list, []*Real{s.Pick(list, c0), s.Pick(list, c0), s.Pick(list, c0)}); got != "AAB" {
		t.Fatalf("got %s", got)
	}
	// cw is 3 now; A drops to 1: mw becomes 3, cw stays 3, cursor at head.
	list[0].Weight = 1
	s.Update(list)
	if got := names(list, []*Real{s.Pick(list, c0), s.Pick(list, c0), s.Pick(list, c0), s.Pick(list, c0)}); got != "BBCA" {
		t.Fatalf("after the change got %s, want BBCA", got)
	}
}

// TestHashing checks sh and dh against buckets computed by hand:
// hash_32(addr + port) of 10.0.0.1 is 39, of 10.0.0.2 137, of fd00::1 140,
// of 10.0.0.1 with port 40000 203; dh's (hash_32 of the address too, as the
// kernel's ip_vs_dh.c has it now) of 10.0.0.100 is 248 and of 10.0.0.102 187. sh with
// weights 3 and 1 fills buckets AAAB AAAB ...
func TestHashing(t *testing.T) {
	client := func(s string) Conn { return Conn{Client: netip.MustParseAddrPort(s), VIP: c0.VIP} }
	vip := func(s string) Conn { return Conn{Client: c0.Client, VIP: netip.MustParseAddr(s)} }
	tests := []struct {
		name  string
		sched string
		flags dataplane.SchedFlags
		list  []string
		conn  Conn
		want  string
	}{
		{"sh bucket 39", "sh", 0, []string{"A:3", "B:1"}, client("10.0.0.1:1234"), "B"},
		{"sh bucket 137", "sh", 0, []string{"A:3", "B:1"}, client("10.0.0.2:1234"), "A"},
		{"sh IPv6 bucket 140", "sh", 0, []string{"A:3", "B:1"}, client("[fd00::1]:1234"), "A"},
		{"sh-port bucket 203", "sh", dataplane.SHPort, []string{"A:2", "B:1"}, client("10.0.0.1:40000"), "B"},
		{"sh without port bucket 39", "sh", 0, []string{"A:2", "B:1"}, client("10.0.0.1:40000"), "A"},
		{"sh unavailable", "sh", 0, []string{"A:3", "B:0"}, client("10.0.0.1:1"), "-"},
		{"sh-fallback to bucket 78", "sh", dataplane.SHFallback, []string{"A:3", "B:0"}, client("10.0.0.1:1"), "A"},
		{"dh bucket 248", "dh", 0, []string{"A:1", "B:1"}, vip("10.0.0.100"), "A"},
		{"dh bucket 187", "dh", 0, []string{"A:1", "B:1"}, vip("10.0.0.102"), "B"},
		// Older kernels took the product's low byte (bucket 36, A's);
		// with hash_32 10.3.0.100 is bucket 139, B's of three, which is
		// what Debian's 6.1 kernel picks (test/conformance, dh).
		{"dh bucket 139", "dh", 0, []string{"A:1", "B:1", "C:1"}, vip("10.3.0.100"), "B"},
		{"dh ignores weight", "dh", 0, []string{"A:1", "B:50"}, vip("10.0.0.100"), "A"},
		{"dh unavailable", "dh", 0, []string{"A:0", "B:1"}, vip("10.0.0.100"), "-"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			list := reals(t, tt.list...)
			s, err := New(tt.sched, tt.flags)
			if err != nil {
				t.Fatal(err)
			}
			s.Update(list)
			if got := names(list, []*Real{s.Pick(list, tt.conn)}); got != tt.want {
				t.Errorf("got %s, want %s", got, tt.want)
			}
		})
	}
}

// TestSHWeights: each destination holds weight consecutive buckets.
func TestSHWeights(t *testing.T) {
	list := reals(t, "A:3", "B:1", "C:0")
	s := &sh{}
	s.Update(list)
	count := map[*Real]int{}
	for _, r := range s.buckets {
		count[r]++
	}
	// A A A B C, repeated: 256 = 51*5 + 1 -> A gets 51*3+1.
	if count[list[0]] != 154 || count[list[1]] != 51 || count[list[2]] != 51 {
		t.Errorf("buckets A %d B %d C %d, want 154 51 51", count[list[0]], count[list[1]], count[list[2]])
	}
}

// TestLBLC: a destination address sticks to its server until that one is
// overloaded, then moves to the wlc choice and sticks there.
func TestLBLC(t *testing.T) {
	list := reals(t, "A:2", "B:2")
	s, _ := New("lblc", 0)
	s.Update(list)
	c := c0
	if got := s.Pick(list, c); got != list[0] {
		t.Fatalf("first pick %v, want A", got)
	}
	list[0].Active = 2 // at its weight: not overloaded, and wlc would now pick B
	if got := s.Pick(list, c); got != list[0] {
		t.Fatalf("sticky pick %v, want A", got)
	}
	list[0].Active = 3 // above weight, and B is under half its weight
	if got := s.Pick(list, c); got != list[1] {
		t.Fatalf("overloaded: pick %v, want B", got)
	}
	list[0].Active = 0
	if got := s.Pick(list, c); got != list[1] {
		t.Fatalf("moved entry: pick %v, want B", got)
	}
	// Another VIP has its own entry.
	other := c
	other.VIP = netip.MustParseAddr("10.0.0.200")
	if got := s.Pick(list, other); got != list[0] {
		t.Fatalf("other VIP: pick %v, want A (least loaded)", got)
	}
	// Weight 0 leaves the entry: B drained, so A.
	list[1].Weight = 0
	s.Update(list)
	if got := s.Pick(list, c); got != list[0] {
		t.Fatalf("drained: pick %v, want A", got)
	}
	// An entry unused for longer than the expiration is forgotten.
	list[1].Weight = 2
	list[0].Active = 1
	s.Update(list)
	c.Now = c.Now.Add(DefaultLocalityExpiration + time.Second)
	if got := s.Pick(list, c); got != list[1] {
		t.Fatalf("expired: pick %v, want B (wlc)", got)
	}
}

// TestLBLCR: the set grows when its least loaded member is overloaded and
// loses its most loaded member once unchanged for the expiration time.
func TestLBLCR(t *testing.T) {
	list := reals(t, "A:2", "B:2", "C:2")
	s := &lblcr{table: map[netip.Addr]*lblcrEntry{}, expiration: time.Hour}
	s.Update(list)
	c := c0
	if got := s.Pick(list, c); got != list[0] {
		t.Fatalf("first pick %v", got)
	}
	list[0].Active = 3 // overloaded while B and C are idle
	if got := s.Pick(list, c); got != list[1] {
		t.Fatalf("grow: pick %v, want B", got)
	}
	en := s.table[c.VIP]
	if got := names(list, en.set); got != "BA" {
		t.Fatalf("set %s, want BA (newest first)", got)
	}
	list[1].Active = 1
	if got := s.Pick(list, c); got != list[1] {
		t.Fatalf("set min: pick %v, want B", got)
	}
	c.Now = c.Now.Add(30 * time.Minute) // used, so the entry stays
	if got := s.Pick(list, c); got != list[1] {
		t.Fatalf("set min later: pick %v, want B", got)
	}
	c.Now = c.Now.Add(30*time.Minute + time.Second)
	list[0].Active = 0
	list[1].Active = 1
	// A is the least loaded now and is picked; B (most loaded) leaves.
	if got := s.Pick(list, c); got != list[0] {
		t.Fatalf("after expiry: pick %v, want A", got)
	}
	if got := names(list, en.set); got != "A" {
		t.Fatalf("set %s, want A", got)
	}
	// Removing A empties the set: the next pick is wlc's (C, idle).
	list = []*Real{list[1], list[2]}
	s.Update(list)
	if got := s.Pick(list, c); got != list[1] {
		t.Fatalf("after removal: pick %v, want C", got)
	}
}

func TestUnknown(t *testing.T) {
	if _, err := New("xyz", 0); err == nil {
		t.Error("xyz accepted")
	}
	for _, n := range Names {
		if _, err := New(n, 0); err != nil {
			t.Errorf("%s: %v", n, err)
		}
	}
}

// TestOverloaded: every scheduler passes an overloaded destination by.
func TestOverloaded(t *testing.T) {
	for _, name := range Names {
		list := reals(t, "A:1", "B:1")
		list[0].Overloaded = true
		var flags dataplane.SchedFlags
		if name == "mh" {
			flags = dataplane.MHFallback // its hash of 10.0.0.2 may be A's slot
		}
		s, _ := New(name, flags)
		s.Update(list)
		conn := Conn{Client: netip.MustParseAddrPort("10.0.0.2:1"), VIP: netip.MustParseAddr("10.0.0.102"), Now: c0.Now}
		got := s.Pick(list, conn)
		// sh hashes 10.0.0.2 to bucket 137 and dh 10.0.0.102 to 187: B's.
		if got != list[1] {
			t.Errorf("%s picked %v", name, got)
		}
	}
}
