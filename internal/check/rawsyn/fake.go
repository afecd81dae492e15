package rawsyn

import (
	"encoding/binary"
	"net/netip"
	"sync"
	"syscall"
	"time"
)

// Answer is how a Fake's target answers a SYN.
type Answer int

// The answers of a Fake's targets.
const (
	// Open answers with a SYN-ACK.
	Open Answer = iota
	// Closed answers with a reset.
	Closed
	// Silent never answers.
	Silent
	// Unreachable fails the send (ENETUNREACH).
	Unreachable
	// NoRoute fails the route lookup (ENETUNREACH).
	NoRoute
)

// Behaviour is a Fake target's answer and how long after the SYN it
// arrives (0: within the send, as on loopback).
type Behaviour struct {
	Answer Answer
	Delay  time.Duration
	// Lose drops that many SYNs before the target hears one.
	Lose int
}

// Fake is a Wire for tests: each target behaves as Behave says (Open at
// once when nil), answers are kept until their time (time.Now, so fake
// time under testing/synctest) and every Send is recorded.
type Fake struct {
	Behave func(dst netip.AddrPort) Behaviour
	// NoIPv6 makes the family unavailable.
	NoIPv6 bool
	// PortList are the reserved ports (two when empty).
	PortList []uint16

	mu     sync.Mutex
	inbox  [2][]fakeSeg
	lost   map[netip.AddrPort]int
	sends  int
	syns   map[netip.AddrPort]int
	closed bool
}

type fakeSeg struct {
	at time.Time
	s  Segment
}

func (f *Fake) behave(dst netip.AddrPort) Behaviour {
	if f.Behave == nil {
		return Behaviour{}
	}
	return f.Behave(dst)
}

// Ports implements Wire.
func (f *Fake) Ports() []uint16 {
	if len(f.PortList) == 0 {
		return []uint16{40001, 40002}
	}
	return f.PortList
}

// Has implements Wire.
func (f *Fake) Has(family int) bool { return family == 4 || !f.NoIPv6 }

// Describe implements Wire.
func (f *Fake) Describe() string { return "fake wire" }

// Source implements Wire: 10.255.255.1 or fd00::1, or ENETUNREACH for a
// NoRoute target (whatever its port).
func (f *Fake) Source(dst netip.Addr) (netip.Addr, error) {
	if f.behave(netip.AddrPortFrom(dst, 0)).Answer == NoRoute {
		return netip.Addr{}, syscall.ENETUNREACH
	}
	if dst.Is4() {
		return netip.MustParseAddr("10.255.255.1"), nil
	}
	return netip.MustParseAddr("fd00::1"), nil
}

// Send implements Wire.
func (f *Fake) Send(family int, pkts []Packet) (int, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.sends++
	if f.syns == nil {
		f.syns, f.lost = map[netip.AddrPort]int{}, map[netip.AddrPort]int{}
	}
	for i, p := range pkts {
		sport := binary.BigEndian.Uint16(p.Data[0:])
		dst := netip.AddrPortFrom(p.Dst, binary.BigEndian.Uint16(p.Data[2:]))
		seq := binary.BigEndian.Uint32(p.Data[4:])
		b := f.behave(dst)
		if b.Answer == Unreachable {
			return i, syscall.ENETUNREACH
		}
		f.syns[dst]++
		if f.lost[dst] < b.Lose {
			f.lost[dst]++
			continue
		}
		src, _ := f.Source(p.Dst)
		s := Segment{Src: dst, Dst: netip.AddrPortFrom(src, sport), Seq: 7, Ack: seq + 1}
		switch b.Answer {
		case Open:
			s.Flags = FlagSYN | FlagACK
		case Closed:
			s.Flags = FlagRST | FlagACK
		default:
			continue
		}
		f.inbox[family/6] = append(f.inbox[family/6], fakeSeg{at: time.Now().Add(b.Delay), s: s})
	}
	return len(pkts), nil
}

// Recv implements Wire.
func (f *Fake) Recv(family int, into []Segment) ([]Segment, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	now := time.Now()
	keep := f.inbox[family/6][:0]
	for _, s := range f.inbox[family/6] {
		if s.at.After(now) {
			keep = append(keep, s)
			continue
		}
		into = append(into, s.s)
	}
	f.inbox[family/6] = keep
	return into, nil
}

// Inject queues a segment as if it had arrived now.
func (f *Fake) Inject(family int, s Segment) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.inbox[family/6] = append(f.inbox[family/6], fakeSeg{at: time.Now(), s: s})
}

// Close implements Wire.
func (f *Fake) Close() error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.closed = true
	return nil
}

// Sends is the number of Send calls; SYNs the number of SYNs sent to dst
// (retransmissions included).
func (f *Fake) Sends() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.sends
}

// SYNs is the number of SYNs sent to dst, retransmissions included.
func (f *Fake) SYNs(dst netip.AddrPort) int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.syns[dst]
}

// Closed says whether Close was called.
func (f *Fake) Closed() bool {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.closed
}
