package nft

import (
	"encoding/binary"
	"hash/fnv"
	"slices"

	"vigil/internal/dataplane"
)

// maxSlots bounds a weight-expanded scheduler map: a wrr cycle longer than
// this (weights whose sum over their gcd is huge) is refused rather than
// loaded as a map of millions of elements.
const maxSlots = 1 << 16

// shBuckets is the size of the sh/dh bucket table, IPVS's (1<<8).
const shBuckets = 256

// maglevSize is the Maglev lookup table size: a prime, the one IPVS's mh
// uses by default, so that the distribution is as fine-grained as IPVS's.
const maglevSize = 4093

// available returns the destinations that may take new connections
// (weight > 0) in the plane's stable order. Weight 0 is drain: excluded from
// every scheduler, so only conntrack's existing bindings still reach it.
func available(e dataplane.Entry) []dataplane.Destination {
	var out []dataplane.Destination
	for _, d := range e.Dests {
		if d.Weight > 0 {
			out = append(out, d)
		}
	}
	slices.SortFunc(out, func(a, b dataplane.Destination) int { return dataplane.CompareDest(a.Key, b.Key) })
	return out
}

func gcd(a, b int32) int32 {
	for b != 0 {
		a, b = b, a%b
	}
	return a
}

// rrSequence is one destination per slot: rr ignores weights other than 0.
func rrSequence(ds []dataplane.Destination) []int {
	out := make([]int, len(ds))
	for i := range ds {
		out[i] = i
	}
	return out
}

// wrrSequence computes one full cycle of IPVS's weighted round robin over
// ds: the current weight starts at the maximum and steps down by the gcd of
// the weights each time the list wraps; a destination is picked whenever
// its weight is at least the current weight. The result interleaves
// destinations the way IPVS does (weights 3,1 give a a a b, weights 4,3,2
// give a a b a b c a b c) instead of running each destination's share in a
// block. The cycle has sum(w)/gcd(w) slots; ok is false when that exceeds
// maxSlots.
func wrrSequence(ds []dataplane.Destination) (seq []int, ok bool) {
	if len(ds) == 0 {
		return nil, true
	}
	var g, mw int32
	var sum int64
	for _, d := range ds {
		g = gcd(g, d.Weight)
		mw = max(mw, d.Weight)
		sum += int64(d.Weight)
	}
	period := sum / int64(g)
	if period > maxSlots {
		return nil, false
	}
	seq = make([]int, 0, period)
	i, cw := -1, int32(0)
	for int64(len(seq)) < period {
		i = (i + 1) % len(ds)
		if i == 0 {
			cw -= g
			if cw <= 0 {
				cw = mw
			}
		}
		if ds[i].Weight >= cw {
			seq = append(seq, i)
		}
	}
	return seq, true
}

// bucketTable fills IPVS's sh/dh table: walking the destinations in
// order, each takes as many consecutive buckets as its weight, wrapping
// until all shBuckets are assigned.
func bucketTable(ds []dataplane.Destination) []int {
	if len(ds) == 0 {
		return nil
	}
	out := make([]int, shBuckets)
	p, n := 0, int32(0)
	for b := range out {
		out[b] = p
		n++
		if n >= ds[p].Weight {
			p, n = (p+1)%len(ds), 0
		}
	}
	return out
}

// maglevTable computes a weighted Maglev lookup table of size m over ds.
// Each destination has a permutation of the slots derived from a hash of
// its address and port only (offset, skip), so a table computed without
// one destination differs from the full one mostly in that destination's
// slots: its flows move, nearly all others stay. Weights act as turns per
// round (weight/gcd), as in IPVS's mh.
func maglevTable(ds []dataplane.Destination, m int) []int {
	if len(ds) == 0 {
		return nil
	}
	type perm struct{ offset, skip, next uint64 }
	ps := make([]perm, len(ds))
	var g int32
	for i, d := range ds {
		h := fnv.New64a()
		b := d.Key.Addr.As16()
		h.Write(b[:])
		var port [2]byte
		binary.BigEndian.PutUint16(port[:], d.Key.Port)
		h.Write(port[:])
		s := h.Sum64()
		h2 := fnv.New64()
		h2.Write(b[:])
		h2.Write(port[:])
		h2.Write([]byte{0x5a})
		ps[i] = perm{offset: s % uint64(m), skip: h2.Sum64()%uint64(m-1) + 1}
		g = gcd(g, d.Weight)
	}
	table := make([]int, m)
	for i := range table {
		table[i] = -1
	}
	filled := 0
	for filled < m {
		for i, d := range ds {
			for t := int32(0); t < d.Weight/g && filled < m; t++ {
				p := &ps[i]
				for {
					c := (p.offset + p.next*p.skip) % uint64(m)
					p.next++
					if table[c] < 0 {
						table[c] = i
						filled++
						break
					}
				}
			}
		}
	}
	return table
}

// firstByWeight is fo (weighted failover): the destination with the highest
// weight, the first one of that weight in order on a tie.
func firstByWeight(ds []dataplane.Destination) int {
	best := -1
	for i, d := range ds {
		if best < 0 || d.Weight > ds[best].Weight {
			best = i
		}
	}
	return best
}
