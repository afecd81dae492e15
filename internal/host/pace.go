package host

import (
	"bytes"
	"net/netip"
	"time"
)

// Pacing of announcements (keepalived's vrrp_garp_interval,
// vrrp_gna_interval and garp_group): on a paced interface consecutive
// gratuitous ARPs are at least the ARP interval apart, and consecutive
// neighbour advertisements at least the NA interval apart, whichever
// instance asked for them. The two kinds are paced independently. An
// interface group (garp_group's "interfaces") shares one pacer, so the
// interval holds across all of its interfaces, which is how keepalived
// spares a switch that every interface of the group is plugged into.

// msgKind is the kind of an announcement; each kind has its own interval.
type msgKind int

const (
	kindARP msgKind = iota
	kindNA
	numKinds
)

func (k msgKind) String() string {
	if k == kindARP {
		return "gratuitous ARP"
	}
	return "neighbour advertisement"
}

// paceQueueLimit bounds the messages of one kind waiting in one pacer.
// Identical messages are coalesced, so the queue holds at most one message
// per address and source MAC; the bound only matters for a flood of
// distinct addresses on a slow interval.
const paceQueueLimit = 1024

// pacedMsg is one announcement waiting for its turn: the frame is built and
// the socket opened by Announce, in the caller's network namespace, so the
// sending goroutine only writes.
type pacedMsg struct {
	kind   msgKind
	key    connKey
	conn   frameConn
	frame  []byte
	addr   netip.Addr // for logs
	ifname string     // the interface the frame leaves from
}

// same reports whether m and o announce the same thing on the same
// interface; a message identical to one already waiting is absorbed by it,
// as keepalived keeps a single pending flag per address.
func (m pacedMsg) same(o pacedMsg) bool {
	return m.kind == o.kind && m.key == o.key && bytes.Equal(m.frame, o.frame)
}

// pacer is the pure scheduling logic of one pacing group: queues per kind,
// the intervals, and when each kind last sent. It is driven with explicit
// times and holds no lock; its owner serialises access.
type pacer struct {
	interval [numKinds]time.Duration
	last     [numKinds]time.Time // zero: nothing sent yet
	queue    [numKinds][]pacedMsg
	limit    int
}

func newPacer(garp, gna time.Duration) *pacer {
	return &pacer{interval: [numKinds]time.Duration{garp, gna}, limit: paceQueueLimit}
}

// setIntervals changes the intervals; the next message of a kind is then
// due the new interval after the last one sent.
func (p *pacer) setIntervals(garp, gna time.Duration) {
	p.interval = [numKinds]time.Duration{garp, gna}
}

// add queues m. It reports false when the queue of m's kind is full and m
// was dropped; a message identical to one already waiting is absorbed.
func (p *pacer) add(m pacedMsg) bool {
	q := p.queue[m.kind]
	for _, w := range q {
		if w.same(m) {
			return true
		}
	}
	if len(q) >= p.limit {
		return false
	}
	p.queue[m.kind] = append(q, m)
	return true
}

// offer hands m to the pacer at now. When m's kind may send now and
// nothing of its kind is waiting, offer records the send and returns true:
// the caller sends m at once, as keepalived does. Otherwise m is queued;
// ok is false when it was dropped because the queue was full.
func (p *pacer) offer(now time.Time, m pacedMsg) (sendNow, ok bool) {
	if len(p.queue[m.kind]) == 0 && !now.Before(p.dueAt(m.kind)) {
		p.last[m.kind] = now
		return true, true
	}
	return false, p.add(m)
}

// dueAt is when the next message of kind k may leave.
func (p *pacer) dueAt(k msgKind) time.Time {
	if p.last[k].IsZero() || p.interval[k] <= 0 {
		return time.Time{}
	}
	return p.last[k].Add(p.interval[k])
}

// due removes and returns the messages to send at now, in order: for a
// paced kind at most one (the next is due a whole interval after it), for a
// kind without an interval all of them. It records now as the time they
// were sent.
func (p *pacer) due(now time.Time) []pacedMsg {
	var out []pacedMsg
	for k := range numKinds {
		for len(p.queue[k]) > 0 && !now.Before(p.dueAt(k)) {
			out = append(out, p.queue[k][0])
			p.queue[k][0] = pacedMsg{}
			p.queue[k] = p.queue[k][1:]
			p.last[k] = now
			if p.interval[k] > 0 {
				break
			}
		}
		if len(p.queue[k]) == 0 {
			p.queue[k] = nil // let the backing array go
		}
	}
	return out
}

// wake returns when the next queued message is due; ok is false when
// nothing is queued.
func (p *pacer) wake() (at time.Time, ok bool) {
	for k := range numKinds {
		if len(p.queue[k]) == 0 {
			continue
		}
		t := p.dueAt(k)
		if !ok || t.Before(at) {
			at, ok = t, true
		}
	}
	return at, ok
}

// pending returns the number of messages waiting.
func (p *pacer) pending() int {
	n := 0
	for k := range numKinds {
		n += len(p.queue[k])
	}
	return n
}

// drain removes and returns every waiting message, for a pacer that is
// being retired: its messages leave at once rather than being lost.
func (p *pacer) drain() []pacedMsg {
	var out []pacedMsg
	for k := range numKinds {
		out = append(out, p.queue[k]...)
		p.queue[k] = nil
	}
	return out
}
