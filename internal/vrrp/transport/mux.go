package transport

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"slices"
	"sync"
	"sync/atomic"
	"time"
)

// readBufSize holds any IP datagram, so ErrTruncated never fires for a
// well-formed one.
const readBufSize = 64 << 10

// maxReadErrors is how many read errors in a row Run takes as passing trouble
// before it gives up and reports the last one.
const maxReadErrors = 100

// reader is what the Mux needs from a Conn; tests give it a fake.
type reader interface {
	ReadFrom(b []byte) (int, Meta, error)
	SetReadDeadline(t time.Time) error
}

// Received is one packet handed to a subscriber.
type Received struct {
	Meta
	Payload []byte // a private copy: the subscriber may keep or change it
}

// MuxStats counts what the Mux did with the packets it read.
type MuxStats struct {
	Read        uint64 // datagrams read from the socket
	Delivered   uint64 // copies queued to subscribers
	UnknownVRID uint64 // dropped: no subscriber for the VRID
	QueueFull   uint64 // dropped for one subscriber: it could not take it (its queue full, or not running)
	Short       uint64 // dropped: too short to hold a VRID, or truncated
	ReadErrors  uint64 // failed reads (other than the Mux being stopped)
	// NotVRRP counts, on an AH socket, datagrams whose AH header protects
	// something other than VRRP (IPsec traffic of the host): not ours.
	NotVRRP uint64
}

// Mux shares one Conn among all instances on an interface+family: it reads in one goroutine and
// dispatches by VRID (byte 1 of the payload) to subscribers; packets for no subscriber are counted
// (unknown VRID) and dropped. On an AH socket it finds the VRID behind the
// IPv4 and AH headers, and subscribers get the whole datagram.
//
// Several subscribers may share a VRID (e.g. a reload overlapping old and
// new instance); each gets its own copy. A subscriber that does not keep up
// loses packets (counted as QueueFull) rather than stalling the others.
type Mux struct {
	r   reader
	log *slog.Logger
	ah  bool // the reader returns whole IPv4 datagrams carrying AH
	// borrow: subscribers get the read buffer itself, not a copy (Lend).
	borrow bool

	mu    sync.RWMutex
	subs  [256][]*subscriber // by VRID
	nvrid int                // VRIDs with a subscriber

	read, delivered, unknown, queueFull, short, readErrors, notVRRP atomic.Uint64
}

// NewMux makes a Mux reading from c. log may be nil.
func NewMux(c *Conn, log *slog.Logger) *Mux {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	m := newMux(c, log.With("interface", c.Interface().Name, "family", c.Family(), "ah", c.AH()))
	m.ah = c.AH()
	return m
}

func newMux(r reader, log *slog.Logger) *Mux {
	return &Mux{r: r, log: log}
}

// Subscribe returns a channel that receives every packet for vrid, with room
// for buffer packets (at least 1), and the function that ends the
// subscription. The channel is never closed, so that a reader selecting on it
// cannot mistake the end for a packet; after unsubscribing, stop reading it.
// Unsubscribing twice is harmless.
func (m *Mux) Subscribe(vrid uint8, buffer int) (<-chan Received, func()) {
	ch := make(chan Received, max(buffer, 1))
	unsub := m.SubscribeFunc(vrid, func(r Received) bool {
		select {
		case ch <- r:
			return true
		default:
			return false
		}
	})
	return ch, unsub
}

// subscriber is one delivery function; the pointer identifies it for
// unsubscribing.
type subscriber struct{ deliver func(Received) bool }

// SubscribeFunc registers deliver for the adverts of vrid: the reader calls
// it for each packet, so it must never block; it returns false when it
// could not take the packet (counted as a full queue). This saves the hop
// through a channel and a goroutine of its own for subscribers that have a
// queue already (an instance's input channel). The returned function
// unsubscribes; after it returns deliver is not called again.
func (m *Mux) SubscribeFunc(vrid uint8, deliver func(Received) bool) func() {
	s := &subscriber{deliver: deliver}
	m.mu.Lock()
	if len(m.subs[vrid]) == 0 {
		m.nvrid++
	}
	m.subs[vrid] = append(m.subs[vrid], s)
	m.mu.Unlock()
	var once sync.Once
	return func() {
		once.Do(func() {
			m.mu.Lock()
			defer m.mu.Unlock()
			rest := slices.DeleteFunc(m.subs[vrid], func(x *subscriber) bool { return x == s })
			if len(rest) == 0 {
				m.subs[vrid] = nil
				m.nvrid--
			} else {
				m.subs[vrid] = rest
			}
		})
	}
}

// Run reads and dispatches until ctx is done or the Conn closes, both of
// which return nil. It gives up with an error only after many read errors in
// a row. Run one at a time.
func (m *Mux) Run(ctx context.Context) error {
	// A deadline left over from an earlier Run would end this one at once.
	if err := m.r.SetReadDeadline(time.Time{}); err != nil && !errors.Is(err, net.ErrClosed) {
		return fmt.Errorf("transport: mux: clear read deadline: %w", err)
	}
	stop := context.AfterFunc(ctx, func() {
		// A deadline in the past wakes the blocked read; closing the Conn
		// would work too, but it is not the Mux's to close.
		_ = m.r.SetReadDeadline(time.Unix(1, 0))
	})
	defer stop()
	buf := make([]byte, readBufSize)
	errorsInRow := 0
	for {
		n, meta, err := m.r.ReadFrom(buf)
		switch {
		case ctx.Err() != nil:
			return nil
		case errors.Is(err, net.ErrClosed):
			m.log.Debug("socket closed, mux stops")
			return nil
		case errors.Is(err, ErrTruncated):
			m.read.Add(1)
			m.short.Add(1)
			m.log.Debug("dropped truncated packet", "src", meta.Src, "size", n)
			continue
		case err != nil:
			m.readErrors.Add(1)
			errorsInRow++
			if errorsInRow >= maxReadErrors {
				return fmt.Errorf("transport: mux: %d read errors in a row, last: %w", errorsInRow, err)
			}
			m.log.Warn("read failed", "err", err)
			continue
		}
		errorsInRow = 0
		m.read.Add(1)
		m.dispatch(buf[:n], meta)
	}
}

// ahHeaderLen is the length of the AH header in front of VRRP (keepalived's:
// 12 bytes and a 96-bit ICV).
const ahHeaderLen = 24

// vridAt returns where the VRID is in p and whether p is long enough to hold
// it.
func (m *Mux) vridAt(p []byte) (int, bool) {
	if !m.ah {
		return 1, len(p) >= 2
	}
	if len(p) < 1 {
		return -1, false
	}
	ihl := int(p[0]&0x0f) * 4
	return ihl + ahHeaderLen + 1, len(p) >= ihl+ahHeaderLen+2
}

func (m *Mux) dispatch(p []byte, meta Meta) {
	at, ok := m.vridAt(p)
	if !ok {
		m.short.Add(1)
		m.log.Debug("dropped packet too short for a VRID", "src", meta.Src, "size", len(p))
		return
	}
	if m.ah && p[at-ahHeaderLen-1] != ipProtocol {
		// The AH header's next header: not a VRRP advert.
		m.notVRRP.Add(1)
		m.log.Debug("dropped AH datagram that does not carry VRRP", "src", meta.Src, "next_header", p[at-ahHeaderLen-1])
		return
	}
	vrid := p[at]
	// The read lock is held across the sends so that an unsubscribe cannot
	// slip between looking a channel up and using it; sends never block.
	m.mu.RLock()
	defer m.mu.RUnlock()
	subs := m.subs[vrid]
	if len(subs) == 0 {
		m.unknown.Add(1)
		m.log.Debug("dropped packet for unknown VRID", "vrid", vrid, "src", meta.Src, "dst", meta.Dst)
		return
	}
	for _, sub := range subs {
		payload := p
		if !m.borrow {
			payload = bytes.Clone(p)
		}
		if sub.deliver(Received{Meta: meta, Payload: payload}) {
			m.delivered.Add(1)
		} else {
			m.queueFull.Add(1)
			m.log.Warn("dropped packet: the instance could not take it (queue full, or not running)", "vrid", vrid, "src", meta.Src)
		}
	}
}

// UnknownVRID returns how many packets had no subscriber for their VRID.
func (m *Mux) UnknownVRID() uint64 { return m.unknown.Load() }

// Stats returns all counters. Safe to call from any goroutine.
func (m *Mux) Stats() MuxStats {
	return MuxStats{
		Read:        m.read.Load(),
		Delivered:   m.delivered.Load(),
		UnknownVRID: m.unknown.Load(),
		QueueFull:   m.queueFull.Load(),
		Short:       m.short.Load(),
		ReadErrors:  m.readErrors.Load(),
		NotVRRP:     m.notVRRP.Load(),
	}
}

// Lend makes the Mux hand subscribers the read buffer itself rather than a
// copy of each packet: the payload is then valid only during the delivery
// call, and must not be changed. For subscribers that handle each packet
// at once (an event loop reading the socket itself), it saves an allocation
// per packet. Not on an AH socket, whose payloads are checked in place.
// Call it before the first read.
func (m *Mux) Lend() {
	if !m.ah {
		m.borrow = true
	}
}

// VRIDs returns how many VRIDs have a subscriber.
func (m *Mux) VRIDs() int {
	m.mu.RLock()
	defer m.mu.RUnlock()
	return m.nvrid
}

// Drain reads what is queued on r without blocking, up to limit datagrams
// (rounded up to whole batches), and dispatches it as Run does. It returns
// how many datagrams it read; fewer than limit means the socket is empty.
// It is the Mux's reader for an event loop that waits on r.Fd itself; do not
// run it alongside Run.
func (m *Mux) Drain(r *Receiver, limit int) (int, error) {
	total := 0
	for total < limit {
		n, err := r.ReadBatch(func(p []byte, meta Meta, err error) {
			m.read.Add(1)
			if err != nil {
				m.short.Add(1)
				m.log.Debug("dropped truncated or malformed packet", "src", meta.Src, "err", err)
				return
			}
			m.dispatch(p, meta)
		})
		total += n
		if err != nil {
			m.readErrors.Add(1)
			m.log.Debug("read failed", "err", err)
			return total, fmt.Errorf("transport: mux: read: %w", err)
		}
		if n < receiverBatch {
			break
		}
	}
	return total, nil
}
