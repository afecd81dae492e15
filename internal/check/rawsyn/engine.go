package rawsyn

import (
	"context"
	"errors"
	"math/rand/v2"
	"net/netip"
	"os"
	"syscall"
	"time"
)

// Wire is the network side of an Engine: raw TCP sockets of both families,
// the reserved source ports and the route lookup. Tests give a fake.
type Wire interface {
	// Ports are the reserved source ports: no socket of the host uses
	// them, so its kernel resets any SYN-ACK sent to them.
	Ports() []uint16
	// Source is the address the host sends from to dst.
	Source(dst netip.Addr) (netip.Addr, error)
	// Send sends the packets of one family (4 or 6) in order, as
	// sendmmsg(2): n were sent; when n < len(pkts), err is why pkts[n]
	// failed (EAGAIN: the socket's buffer is full).
	Send(family int, pkts []Packet) (n int, err error)
	// Recv appends to into the segments to the reserved ports that have
	// arrived (family 4 or 6), without waiting; it returns into unchanged
	// when none has.
	Recv(family int, into []Segment) ([]Segment, error)
	// Has says whether the family can be used.
	Has(family int) bool
	// Describe says, for the log, which sockets the wire uses.
	Describe() string
	Close() error
}

// Packet is one SYN: its source and destination addresses and its TCP
// header (a wire that writes the IP header itself needs the source).
type Packet struct {
	Src, Dst netip.Addr
	Data     []byte
}

// Target is where checks go, with the route lookup's answer kept for
// sourceTTL; its owner (one per checked port) keeps it between checks.
type Target struct {
	Dst   netip.AddrPort
	src   netip.Addr
	srcAt time.Time
}

// NewTarget is the Target of dst (its address unmapped).
func NewTarget(dst netip.AddrPort) *Target {
	return &Target{Dst: netip.AddrPortFrom(dst.Addr().Unmap(), dst.Port())}
}

// Outcome is a check's end, given back with the caller's tag and gen.
type Outcome struct {
	Tag any
	Gen uint64
	// Err is nil when the handshake was answered (SYN-ACK); a refusal
	// (RST) is ECONNREFUSED, a send failure its errno.
	Err error
}

// ErrBusy says that every source port has a check to the same target in
// progress: the caller checks another way.
var ErrBusy = errors.New("rawsyn: every source port is in use for this target")

// ErrFamily says the wire has no socket of the target's family.
var ErrFamily = errors.New("rawsyn: address family not available")

// refused is the error of a check answered with a reset, worded as a
// connect that failed.
var refused = os.NewSyscallError("connect", syscall.ECONNREFUSED)

// key identifies a check in progress: the target and the source port.
type key struct {
	addr  [16]byte
	port  uint16
	lport uint16
}

func keyOf(dst netip.AddrPort, lport uint16) key {
	return key{addr: dst.Addr().As16(), port: dst.Port(), lport: lport}
}

// entry is a check in progress.
type entry struct {
	t        *Target
	tag      any
	gen      uint64
	isn      uint32
	lport    uint16
	tries    uint8
	deadline time.Time
	resend   time.Time
}

// synRTO is the first retransmission timeout of a SYN, the kernel's
// (TCP_TIMEOUT_INIT), doubled at each retransmission as the kernel does:
// a lost SYN is sent again within connect_timeout as a connect(2) would.
const synRTO = time.Second

// sourceTTL is how long a route lookup is kept: a changed route (a new
// source address) is seen within it.
const sourceTTL = 30 * time.Second

// SweepEvery is how often the owner should call Sweep while checks are
// pending (SYN retransmissions, checks past their deadline): a check
// nobody answers fails within SweepEvery of its deadline.
const SweepEvery = 100 * time.Millisecond

// Engine runs checks for one owner goroutine, with no goroutine of its
// own: Queue the checks due, Flush sends them at once, Poll takes the
// answers that came (on loopback and local addresses the host answered
// within the send: a Poll right after a Flush finds them all), Sweep
// retransmits and times out. Every queued check ends in exactly one
// Outcome: an answer, a send that failed, or its deadline.
type Engine struct {
	w       Wire
	ports   []uint16
	pending map[key]*entry
	queued  [2][]Packet
	bufs    [2][]byte
	segs    []Segment
	free    []*entry
}

// New makes an Engine on w.
func New(w Wire) *Engine {
	return &Engine{w: w, ports: w.Ports(), pending: map[key]*entry{}}
}

// Close closes the Engine's wire.
func (e *Engine) Close() error { return e.w.Close() }

func familyOf(a netip.Addr) int {
	if a.Is4() {
		return 4
	}
	return 6
}

// Queue prepares the SYN of a check to t that ends at deadline; Flush
// sends it. An error is the check's failure (a route lookup that failed),
// or ErrBusy / ErrFamily: the check cannot be made here.
func (e *Engine) Queue(now time.Time, t *Target, deadline time.Time, tag any, gen uint64) error {
	f := familyOf(t.Dst.Addr())
	if !e.w.Has(f) {
		return ErrFamily
	}
	src, err := e.source(now, t)
	if err != nil {
		return err
	}
	for _, lp := range e.ports {
		k := keyOf(t.Dst, lp)
		if _, busy := e.pending[k]; busy {
			continue
		}
		en := e.newEntry()
		*en = entry{t: t, tag: tag, gen: gen, isn: rand.Uint32(), lport: lp, deadline: deadline, resend: now.Add(synRTO)}
		e.pending[k] = en
		e.queue(f, src, t.Dst, lp, en.isn)
		return nil
	}
	return ErrBusy
}

func (e *Engine) newEntry() *entry {
	if n := len(e.free); n > 0 {
		en := e.free[n-1]
		e.free = e.free[:n-1]
		return en
	}
	return new(entry)
}

func (e *Engine) release(k key, en *entry) {
	delete(e.pending, k)
	*en = entry{}
	if len(e.free) < 1024 {
		e.free = append(e.free, en)
	}
}

// queue encodes a SYN into the family's buffer.
func (e *Engine) queue(f int, src netip.Addr, dst netip.AddrPort, lport uint16, isn uint32) {
	i := f / 6 // 4 → 0, 6 → 1
	b := e.bufs[i]
	if cap(b)-len(b) < synLen {
		// A new buffer: the queued packets keep pointing into the old one.
		b = make([]byte, 0, max(2*cap(b), 64*synLen))
	}
	seg := EncodeSYN(b[len(b):len(b)+synLen], netip.AddrPortFrom(src, lport), dst, isn)
	e.bufs[i] = b[:len(b)+synLen]
	e.queued[i] = append(e.queued[i], Packet{Src: src, Dst: dst.Addr(), Data: seg})
}

// source is t's route lookup, kept for sourceTTL.
func (e *Engine) source(now time.Time, t *Target) (netip.Addr, error) {
	if t.src.IsValid() && now.Sub(t.srcAt) < sourceTTL {
		return t.src, nil
	}
	s, err := e.w.Source(t.Dst.Addr())
	if err != nil {
		t.src = netip.Addr{}
		return netip.Addr{}, err
	}
	t.src, t.srcAt = s, now
	return s, nil
}

// Flush sends every queued SYN; it appends to out the outcomes of those
// that could not be sent (their checks failed).
func (e *Engine) Flush(out []Outcome) []Outcome {
	for i, f := range []int{4, 6} {
		pkts := e.queued[i]
		for len(pkts) > 0 {
			n, err := e.w.Send(f, pkts)
			if n >= len(pkts) {
				break
			}
			if err == nil {
				if n == 0 {
					break
				}
				pkts = pkts[n:]
				continue
			}
			if errors.Is(err, syscall.EAGAIN) {
				// A full socket buffer leaves the rest to their
				// retransmission.
				break
			}
			// The packet was refused (no route, ...): its check fails.
			if k, en, ok := e.find(pkts[n]); ok {
				out = append(out, Outcome{Tag: en.tag, Gen: en.gen, Err: os.NewSyscallError("connect", err)})
				e.release(k, en)
			}
			pkts = pkts[n+1:]
		}
		clear(e.queued[i])
		e.queued[i] = e.queued[i][:0]
		e.bufs[i] = e.bufs[i][:0]
	}
	return out
}

// find is the entry of a queued packet.
func (e *Engine) find(p Packet) (key, *entry, bool) {
	var sp, dp uint16
	if len(p.Data) >= 4 {
		sp, dp = uint16(p.Data[0])<<8|uint16(p.Data[1]), uint16(p.Data[2])<<8|uint16(p.Data[3])
	}
	k := keyOf(netip.AddrPortFrom(p.Dst, dp), sp)
	en, ok := e.pending[k]
	return k, en, ok
}

// Poll appends to out the outcomes of the checks answered since the last
// Poll.
func (e *Engine) Poll(out []Outcome) []Outcome {
	for _, f := range []int{4, 6} {
		if !e.w.Has(f) {
			continue
		}
		for range 1 << 10 { // bounded: never more than a burst's worth per Poll
			segs, err := e.w.Recv(f, e.segs[:0])
			e.segs = segs
			for _, s := range segs {
				out = e.Match(s, out)
			}
			if err != nil || len(segs) == 0 {
				break
			}
		}
	}
	clear(e.segs)
	return out
}

// Match ends the check a segment answers, if any, appending its outcome
// to out: a SYN-ACK or a reset from the target to the port the check was
// sent from that acknowledges the check's SYN (its random sequence number
// plus one). Anything else is not an answer and changes nothing.
func (e *Engine) Match(s Segment, out []Outcome) []Outcome {
	if !s.SynAck() && !s.Reset() {
		return out
	}
	k := keyOf(netip.AddrPortFrom(s.Src.Addr().Unmap(), s.Src.Port()), s.Dst.Port())
	en, ok := e.pending[k]
	if !ok || s.Flags&FlagACK == 0 || s.Ack != en.isn+1 {
		return out
	}
	o := Outcome{Tag: en.tag, Gen: en.gen}
	if s.Reset() {
		o.Err = refused
	}
	e.release(k, en)
	return append(out, o)
}

// Sweep ends the checks past their deadline (context.DeadlineExceeded:
// nobody answered, as a connect that timed out) and sends again the SYN of
// one past its retransmission time, the next time twice as far. It appends
// to out those outcomes and those of SYNs that could not be sent again.
func (e *Engine) Sweep(now time.Time, out []Outcome) []Outcome {
	for k, en := range e.pending {
		switch {
		case !now.Before(en.deadline):
			out = append(out, Outcome{Tag: en.tag, Gen: en.gen, Err: context.DeadlineExceeded})
			e.release(k, en)
		case !now.Before(en.resend):
			en.tries++
			en.resend = now.Add(synRTO << en.tries)
			src, err := e.source(now, en.t)
			if err != nil {
				continue // the deadline will fail it
			}
			e.queue(familyOf(en.t.Dst.Addr()), src, en.t.Dst, en.lport, en.isn)
		}
	}
	return e.Flush(out)
}

// Pending is the number of checks in progress.
func (e *Engine) Pending() int { return len(e.pending) }
