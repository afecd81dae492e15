package sched

import (
	"encoding/binary"
	"math/bits"
)

// mhSize is the Maglev lookup table size: the kernel's default
// CONFIG_IP_VS_MH_TAB_INDEX 12 picks the prime 4093.
const mhSize = 4093

// mhTabBits is IP_VS_MH_TAB_BITS (CONFIG_IP_VS_MH_TAB_INDEX / 2): weights
// above 2^6 times their gcd are shifted down to it.
const mhTabBits = 6

// The kernel's fixed hsiphash keys for the offset and the skip.
var (
	mhKey1 = [2]uint64{2654435761, 2654435761}
	mhKey2 = [2]uint64{2654446892, 2654446892}
)

// hsiphash32 is the kernel's hsiphash of one 32-bit value on a 64-bit
// machine, where it is SipHash-1-3 (of the value's 4 little-endian bytes)
// truncated to 32 bits.
func hsiphash32(v uint32, k [2]uint64) uint32 {
	return uint32(sipHash(k, []byte{byte(v), byte(v >> 8), byte(v >> 16), byte(v >> 24)}, 1, 3))
}

// sipHash is SipHash-c-d of msg under key k (k[0] the key's first eight
// bytes, little-endian).
func sipHash(k [2]uint64, msg []byte, c, d int) uint64 {
	v0 := 0x736f6d6570736575 ^ k[0]
	v1 := 0x646f72616e646f6d ^ k[1]
	v2 := 0x6c7967656e657261 ^ k[0]
	v3 := 0x7465646279746573 ^ k[1]
	round := func() {
		v0 += v1
		v1 = bits.RotateLeft64(v1, 13)
		v1 ^= v0
		v0 = bits.RotateLeft64(v0, 32)
		v2 += v3
		v3 = bits.RotateLeft64(v3, 16)
		v3 ^= v2
		v0 += v3
		v3 = bits.RotateLeft64(v3, 21)
		v3 ^= v0
		v2 += v1
		v1 = bits.RotateLeft64(v1, 17)
		v1 ^= v2
		v2 = bits.RotateLeft64(v2, 32)
	}
	compress := func(m uint64) {
		v3 ^= m
		for range c {
			round()
		}
		v0 ^= m
	}
	n := len(msg)
	for len(msg) >= 8 {
		compress(binary.LittleEndian.Uint64(msg))
		msg = msg[8:]
	}
	b := uint64(n) << 56
	for i, x := range msg {
		b |= uint64(x) << (8 * i)
	}
	compress(b)
	v2 ^= 0xff
	for range d {
		round()
	}
	return v0 ^ v1 ^ v2 ^ v3
}

func mhKey(addr uint32, port uint16, k [2]uint64, offset uint32) uint32 {
	return hsiphash32(offset+uint32(port)+addr, k)
}

// mh is Maglev hashing (IPVS's mh): a 4093-slot table in which each
// destination fills slots along its own permutation, in turns proportional
// to its last non-zero weight, so that one destination leaving moves
// little but its own clients. flag-1 is mh-fallback, flag-2 mh-port.
type mh struct {
	fallback, port bool
	lookup         []*Real // nil until a destination has a weight
}

func (s *mh) Update(reals []*Real) {
	var g int32
	var maxw int32
	for _, r := range reals {
		if r.LastWeight > 0 {
			if g > 0 {
				g = gcd(r.LastWeight, g)
			} else {
				g = r.LastWeight
			}
		}
		maxw = max(maxw, r.LastWeight)
	}
	if g < 1 {
		s.lookup = nil
		return
	}
	shift := bits.Len32(uint32(maxw/g)) - mhTabBits
	if shift < 0 {
		shift = 0
	}
	type setup struct {
		perm, skip uint32
		turns      int32
	}
	ds := make([]setup, len(reals))
	for i, r := range reals {
		a, p := fold(r.Key.Addr), r.Key.Port
		offset := mhKey(a, p, mhKey1, 0) % mhSize
		ds[i] = setup{perm: offset, skip: mhKey(a, p, mhKey2, 0)%(mhSize-1) + 1}
		ds[i].turns = (r.LastWeight / g) >> shift
		if ds[i].turns == 0 && r.LastWeight != 0 {
			ds[i].turns = 1
		}
	}
	lookup := make([]*Real, mhSize)
	taken := make([]bool, mhSize)
	n, count := 0, int32(0)
	for n < mhSize {
		for i := 0; i < len(reals); {
			d := &ds[i]
			if d.turns < 1 {
				i++
				continue
			}
			c := d.perm
			for taken[c] {
				d.perm += d.skip
				if d.perm >= mhSize {
					d.perm -= mhSize
				}
				c = d.perm
			}
			taken[c] = true
			lookup[c] = reals[i]
			if n++; n == mhSize {
				break
			}
			if count++; count >= d.turns {
				count = 0
				i++
			}
		}
	}
	s.lookup = lookup
}

func (s *mh) Pick(_ []*Real, c Conn) *Real {
	if s.lookup == nil {
		return nil
	}
	var port uint16
	if s.port {
		port = c.Client.Port()
	}
	a := fold(c.Client.Addr())
	ihash := mhKey(a, port, mhKey1, 0) % mhSize
	r := s.lookup[ihash]
	if r == nil {
		return nil
	}
	if available(r) {
		return r
	}
	if !s.fallback {
		return nil
	}
	for offset := uint32(0); offset < mhSize; offset++ {
		r = s.lookup[mhKey(a, port, mhKey1, (offset+ihash)%mhSize)%mhSize]
		if r == nil {
			break
		}
		if available(r) {
			return r
		}
	}
	return nil
}
