// Package sched holds the connection schedulers of the userspace proxy,
// written to choose exactly what Linux IPVS chooses (ip_vs_*.c): rr, wrr,
// lc, wlc, sed, nq, lblc, lblcr, sh, dh, mh, fo and ovf. They are pure: the caller keeps
// the destination list and its connection counts, tells the scheduler when
// the list changes, and asks it to pick; time comes in with the connection.
//
// Order matters to every scheduler and is the kernel's: IPVS links a new
// destination at the head of the service's list, so callers keep Reals
// newest first. Ties go to the earlier entry of that list, as in the kernel.
package sched

import (
	"fmt"
	"net/netip"
	"time"

	"vigil/internal/dataplane"
)

// Real is a destination as the schedulers see it. The caller owns it and
// keeps Active and Inactive up to date; schedulers compare pointers, so a
// destination keeps its *Real for as long as it is in the list.
type Real struct {
	Key    dataplane.DestKey
	Weight int32
	// Active counts established connections (IPVS activeconns), Inactive
	// the others (IPVS inactconns: UDP flows, closing TCP).
	Active   int
	Inactive int
	// LastWeight is the last weight other than 0 the destination had (its
	// first weight if it never had another); only mh reads it, so that a
	// drained destination keeps its slots.
	LastWeight int32
	// Overloaded is IPVS's OVERLOAD flag: the caller sets it when the
	// connections reach the upper threshold and clears it below the lower
	// one; every scheduler then passes the destination by.
	Overloaded bool
}

// Conn is what a scheduler may look at of a new connection.
type Conn struct {
	Client netip.AddrPort
	// VIP is the address the client connected to (the "destination
	// address" of lblc, lblcr and dh).
	VIP netip.Addr
	Now time.Time
}

// Scheduler picks a destination for a new connection.
type Scheduler interface {
	// Pick returns the destination for c, or nil when none is available.
	Pick(reals []*Real, c Conn) *Real
	// Update tells the scheduler the list or a weight changed; reals is
	// the new list. Called once per change, as IPVS calls add_dest,
	// del_dest and upd_dest.
	Update(reals []*Real)
}

// Names lists the schedulers New knows.
var Names = []string{"rr", "wrr", "lc", "wlc", "sed", "nq", "lblc", "lblcr", "sh", "dh", "mh", "fo", "ovf"}

// New returns a fresh scheduler of that name. flags are the service's
// scheduler flags; only sh and mh read them (flag-1 fallback, flag-2
// port).
func New(name string, flags dataplane.SchedFlags) (Scheduler, error) {
	switch name {
	case "rr":
		return &rr{}, nil
	case "wrr":
		return &wrr{}, nil
	case "lc":
		return lc{}, nil
	case "wlc":
		return weightedLeast{overhead: connOverhead}, nil
	case "sed":
		return weightedLeast{overhead: sedOverhead}, nil
	case "nq":
		return nq{}, nil
	case "lblc":
		return &lblc{table: map[netip.Addr]*lblcEntry{}, expiration: DefaultLocalityExpiration}, nil
	case "lblcr":
		return &lblcr{table: map[netip.Addr]*lblcrEntry{}, expiration: DefaultLocalityExpiration}, nil
	case "sh":
		return &sh{fallback: flags&dataplane.SHFallback != 0, port: flags&dataplane.SHPort != 0}, nil
	case "dh":
		return &dh{}, nil
	case "fo":
		return fo{}, nil
	case "ovf":
		return ovf{}, nil
	case "mh":
		return &mh{fallback: flags&dataplane.MHFallback != 0, port: flags&dataplane.MHPort != 0}, nil
	}
	return nil, fmt.Errorf("unknown scheduler %q", name)
}

// DefaultLocalityExpiration is how long lblc and lblcr remember an unused
// destination address (the kernel's lblc_expiration and lblcr_expiration
// default, 24 hours).
const DefaultLocalityExpiration = 24 * time.Hour

// connOverhead is ip_vs_dest_conn_overhead: an active connection weighs 256
// inactive ones.
func connOverhead(r *Real) int64 { return int64(r.Active)<<8 + int64(r.Inactive) }

// sedOverhead is the overhead of sed and nq: active connections plus one.
func sedOverhead(r *Real) int64 { return int64(r.Active) + 1 }

func available(r *Real) bool { return !r.Overloaded && r.Weight > 0 }

func indexOf(reals []*Real, r *Real) int {
	for i, x := range reals {
		if x == r {
			return i
		}
	}
	return -1
}

// rr is round robin: the next destination after the last one picked whose
// weight is above zero.
type rr struct {
	last *Real   // nil: the list head
	list []*Real // the list as of the last Update, to find a removed one's predecessor
}

func (s *rr) Update(reals []*Real) {
	if s.last != nil && indexOf(reals, s.last) < 0 {
		// The kernel moves its cursor to the removed entry's predecessor.
		prev := (*Real)(nil)
		for i := indexOf(s.list, s.last) - 1; i >= 0; i-- {
			if indexOf(reals, s.list[i]) >= 0 {
				prev = s.list[i]
				break
			}
		}
		s.last = prev
	}
	s.list = append(s.list[:0], reals...)
}

func (s *rr) Pick(reals []*Real, _ Conn) *Real {
	start := indexOf(reals, s.last) // -1 for the head
	i := start
	for pass := 0; pass < 2; pass++ {
		for j := i + 1; j < len(reals); j++ {
			if available(reals[j]) {
				s.last = reals[j]
				return reals[j]
			}
			if j == start {
				return nil
			}
		}
		i = -1
		if start < 0 {
			break // began at the head: one pass saw everything
		}
	}
	return nil
}

// wrr is weighted round robin as IPVS interleaves it: passes over the list
// with a current weight stepping down from the largest by the weights'
// greatest common divisor, each pass taking every destination at least as
// heavy.
type wrr struct {
	cl *Real // current destination, nil for the head
	cw int32 // current weight
	mw int32 // max weight less (gcd - 1)
	di int32 // gcd of the positive weights
}

func gcd(a, b int32) int32 {
	for b != 0 {
		a, b = b, a%b
	}
	return a
}

func (s *wrr) Update(reals []*Real) {
	s.cl = nil
	var g, maxw int32
	for _, r := range reals {
		if r.Weight > 0 {
			if g > 0 {
				g = gcd(r.Weight, g)
			} else {
				g = r.Weight
			}
		}
		maxw = max(maxw, r.Weight)
	}
	if g == 0 {
		g = 1
	}
	s.di = g
	s.mw = maxw - (g - 1)
	if s.cw > s.mw || s.cw == 0 {
		s.cw = s.mw
	} else if s.di > 1 {
		s.cw = (s.cw/s.di)*s.di + 1
	}
}

func (s *wrr) Pick(reals []*Real, _ Conn) *Real {
	if s.mw == 0 {
		return nil
	}
	pos := indexOf(reals, s.cl)
	last, stop := pos, -2
	lastPass, restarted := false, false
	for {
		for j := pos + 1; j < len(reals); j++ {
			if !reals[j].Overloaded && reals[j].Weight >= s.cw {
				s.cl = reals[j]
				return reals[j]
			}
			if j == stop {
				s.cl = reals[j]
				return nil
			}
		}
		pos = -1
		s.cw -= s.di
		if s.cw <= 0 {
			s.cw = s.mw
			if lastPass || last == -1 {
				s.cl = nil
				return nil
			}
			restarted = true
		}
		lastPass = s.cw <= s.di
		if lastPass && restarted && last != -1 {
			stop = last
		}
	}
}

// lc is least connection: the smallest overhead, ignoring weights other
// than zero.
type lc struct{}

func (lc) Update([]*Real) {}

func (lc) Pick(reals []*Real, _ Conn) *Real {
	var least *Real
	var loh int64
	for _, r := range reals {
		if r.Overloaded || r.Weight == 0 {
			continue
		}
		if doh := connOverhead(r); least == nil || doh < loh {
			least, loh = r, doh
		}
	}
	return least
}

// weightedLeast is wlc (overhead: active*256+inactive) and sed (overhead:
// active+1): the smallest overhead/weight, compared by cross-multiplying.
type weightedLeast struct {
	overhead func(*Real) int64
}

func (weightedLeast) Update([]*Real) {}

func (s weightedLeast) Pick(reals []*Real, _ Conn) *Real {
	return leastLoaded(reals, s.overhead)
}

// leastLoaded is the loop shared by wlc, sed, lblc and lblcr: the first
// destination with weight above zero, then any later one with a strictly
// smaller overhead/weight.
func leastLoaded(reals []*Real, overhead func(*Real) int64) *Real {
	i := 0
	for i < len(reals) && (reals[i].Overloaded || reals[i].Weight <= 0) {
		i++
	}
	if i == len(reals) {
		return nil
	}
	least := reals[i]
	loh := overhead(least)
	for _, r := range reals[i+1:] {
		if r.Overloaded {
			continue
		}
		doh := overhead(r)
		if loh*int64(r.Weight) > doh*int64(least.Weight) {
			least, loh = r, doh
		}
	}
	return least
}

// nq is never queue: an idle destination at once, else as sed.
type nq struct{}

func (nq) Update([]*Real) {}

func (nq) Pick(reals []*Real, _ Conn) *Real {
	var least *Real
	var loh int64
	for _, r := range reals {
		if r.Overloaded || r.Weight == 0 {
			continue
		}
		doh := sedOverhead(r)
		if r.Active == 0 {
			return r
		}
		if least == nil || loh*int64(r.Weight) > doh*int64(least.Weight) {
			least, loh = r, doh
		}
	}
	return least
}

// overloaded is the locality schedulers' test: more active connections
// than weight while some destination is under half its weight.
func overloaded(r *Real, reals []*Real) bool {
	if int64(r.Active) <= int64(r.Weight) {
		return false
	}
	for _, d := range reals {
		if int64(d.Active)*2 < int64(d.Weight) {
			return true
		}
	}
	return false
}

type lblcEntry struct {
	real    *Real
	lastuse time.Time
}

// lblc is locality-based least connection: a destination address keeps
// its real server until that one is unavailable or overloaded, then moves
// to the wlc choice.
type lblc struct {
	table      map[netip.Addr]*lblcEntry
	expiration time.Duration
	present    map[*Real]bool
}

func (s *lblc) Update(reals []*Real) { s.present = presence(reals) }

func presence(reals []*Real) map[*Real]bool {
	m := make(map[*Real]bool, len(reals))
	for _, r := range reals {
		m[r] = true
	}
	return m
}

func (s *lblc) Pick(reals []*Real, c Conn) *Real {
	en := s.table[c.VIP]
	if en != nil && c.Now.Sub(en.lastuse) > s.expiration {
		delete(s.table, c.VIP) // the kernel's garbage collection
		en = nil
	}
	if en != nil {
		en.lastuse = c.Now
		r := en.real
		if s.present[r] && r.Weight > 0 && !overloaded(r, reals) {
			return r
		}
	}
	r := leastLoaded(reals, connOverhead)
	if r == nil {
		return nil
	}
	if en != nil {
		en.real = r
	} else {
		s.table[c.VIP] = &lblcEntry{real: r, lastuse: c.Now}
	}
	return r
}

type lblcrEntry struct {
	set     []*Real // newest first, as the kernel links them
	lastmod time.Time
	lastuse time.Time
}

// lblcr is locality-based least connection with replication: a
// destination address has a set of real servers, grown when the set's
// least loaded one is overloaded and shrunk by its most loaded one when
// unchanged for the expiration time.
type lblcr struct {
	table      map[netip.Addr]*lblcrEntry
	expiration time.Duration
	present    map[*Real]bool
}

func (s *lblcr) Update(reals []*Real) {
	s.present = presence(reals)
	// A removed destination leaves every set (its kernel entry would no
	// longer be available, and its memory is released).
	for _, en := range s.table {
		kept := en.set[:0]
		for _, r := range en.set {
			if s.present[r] {
				kept = append(kept, r)
			}
		}
		en.set = kept
	}
}

func (s *lblcr) Pick(reals []*Real, c Conn) *Real {
	en := s.table[c.VIP]
	if en != nil && c.Now.Sub(en.lastuse) > s.expiration {
		delete(s.table, c.VIP)
		en = nil
	}
	if en == nil {
		r := leastLoaded(reals, connOverhead)
		if r == nil {
			return nil
		}
		s.table[c.VIP] = &lblcrEntry{set: []*Real{r}, lastmod: c.Now, lastuse: c.Now}
		return r
	}
	en.lastuse = c.Now
	r := setMin(en.set)
	if len(en.set) > 1 && c.Now.Sub(en.lastmod) > s.expiration {
		if m := setMax(en.set); m != nil {
			en.set = remove(en.set, m)
			en.lastmod = c.Now
		}
	}
	if r != nil && !overloaded(r, reals) {
		return r
	}
	r = leastLoaded(reals, connOverhead)
	if r == nil {
		return nil
	}
	if indexOf(en.set, r) < 0 {
		en.set = append([]*Real{r}, en.set...)
		en.lastmod = c.Now
	}
	return r
}

func setMin(set []*Real) *Real { return leastLoaded(set, connOverhead) }

func setMax(set []*Real) *Real {
	i := 0
	for i < len(set) && set[i].Weight <= 0 {
		i++
	}
	if i == len(set) {
		return nil
	}
	most := set[i]
	moh := connOverhead(most)
	for _, r := range set[i+1:] {
		doh := connOverhead(r)
		if moh*int64(r.Weight) < doh*int64(most.Weight) && r.Weight > 0 {
			most, moh = r, doh
		}
	}
	return most
}

func remove(set []*Real, r *Real) []*Real {
	i := indexOf(set, r)
	return append(set[:i:i], set[i+1:]...)
}

// tableSize is the bucket count of sh and dh (IP_VS_SH_TAB_BITS and
// IP_VS_DH_TAB_BITS are 8).
const tableSize = 256

// fold is the kernel's addr_fold in host order: the IPv4 address, or the
// XOR of an IPv6 address's four 32-bit words.
func fold(a netip.Addr) uint32 {
	if a.Is4() || a.Is4In6() {
		b := a.Unmap().As4()
		return uint32(b[0])<<24 | uint32(b[1])<<16 | uint32(b[2])<<8 | uint32(b[3])
	}
	b := a.As16()
	var f uint32
	for i := 0; i < 16; i += 4 {
		f ^= uint32(b[i])<<24 | uint32(b[i+1])<<16 | uint32(b[i+2])<<8 | uint32(b[i+3])
	}
	return f
}

// hash32 is the kernel's hash_32 (multiplicative, golden ratio).
func hash32(v uint32, bits uint) uint32 { return (v * 0x61C88647) >> (32 - bits) }

// sh is source hashing over a 256-bucket table in which each destination
// takes as many consecutive buckets as its weight.
type sh struct {
	fallback, port bool
	buckets        [tableSize]*Real
}

func (s *sh) Update(reals []*Real) {
	s.buckets = [tableSize]*Real{}
	if len(reals) == 0 {
		return
	}
	p, count := 0, int32(0)
	for i := range s.buckets {
		s.buckets[i] = reals[p]
		count++
		if count >= reals[p].Weight {
			p = (p + 1) % len(reals)
			count = 0
		}
	}
}

func shKey(addr netip.Addr, port uint16, offset uint32) uint32 {
	return (offset + hash32(uint32(port)+fold(addr), 8)) % tableSize
}

func (s *sh) Pick(_ []*Real, c Conn) *Real {
	var port uint16
	if s.port {
		port = c.Client.Port()
	}
	addr := c.Client.Addr()
	ihash := shKey(addr, port, 0)
	r := s.buckets[ihash]
	if r == nil {
		return nil
	}
	if available(r) {
		return r
	}
	if !s.fallback {
		return nil
	}
	for offset := uint32(0); offset < tableSize; offset++ {
		r = s.buckets[shKey(addr, port, (offset+ihash)%tableSize)]
		if r == nil {
			break
		}
		if available(r) {
			return r
		}
	}
	return nil
}

// dh is destination hashing: a 256-bucket table filled round robin,
// indexed by the destination address.
type dh struct {
	buckets [tableSize]*Real
}

func (s *dh) Update(reals []*Real) {
	s.buckets = [tableSize]*Real{}
	if len(reals) == 0 {
		return
	}
	for i := range s.buckets {
		s.buckets[i] = reals[i%len(reals)]
	}
}

func (s *dh) Pick(_ []*Real, c Conn) *Real {
	// The kernel's ip_vs_dh_hashkey: hash_32 of the folded address, as
	// sh's (older kernels took the low byte of addr * 2654435761).
	r := s.buckets[hash32(fold(c.VIP), 8)]
	if r == nil || !available(r) {
		return nil
	}
	return r
}

// fo is weighted failover: the destination of the highest weight, the
// first of the list on a tie.
type fo struct{}

func (fo) Update([]*Real) {}

func (fo) Pick(reals []*Real, _ Conn) *Real {
	var best *Real
	var hw int32
	for _, r := range reals {
		if !r.Overloaded && r.Weight > hw {
			best, hw = r, r.Weight
		}
	}
	return best
}

// ovf is weighted overflow: the destination of the highest weight among
// those whose active connections do not exceed their weight.
type ovf struct{}

func (ovf) Update([]*Real) {}

func (ovf) Pick(reals []*Real, _ Conn) *Real {
	var best *Real
	for _, r := range reals {
		if r.Overloaded || int64(r.Active) > int64(r.Weight) || r.Weight == 0 {
			continue
		}
		if best == nil || r.Weight > best.Weight {
			best = r
		}
	}
	return best
}
