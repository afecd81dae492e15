package transport

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"os"
	"testing"
	"time"
)

// fakeRead is one scripted result of ReadFrom.
type fakeRead struct {
	payload []byte
	meta    Meta
	err     error
}

// fakeConn hands out scripted reads one at a time. Reads are unbuffered, so
// once the test has handed over read k+1, read k has been fully dispatched.
type fakeConn struct {
	reads chan fakeRead
	wake  chan struct{} // a deadline in the past was set
}

func newFakeConn() *fakeConn {
	return &fakeConn{reads: make(chan fakeRead), wake: make(chan struct{}, 1)}
}

func (f *fakeConn) ReadFrom(b []byte) (int, Meta, error) {
	select {
	case r := <-f.reads:
		n := copy(b, r.payload)
		return n, r.meta, r.err
	case <-f.wake:
		return 0, Meta{}, os.ErrDeadlineExceeded
	}
}

func (f *fakeConn) SetReadDeadline(t time.Time) error {
	if !t.IsZero() && t.Before(time.Now()) {
		select {
		case f.wake <- struct{}{}:
		default:
		}
	}
	return nil
}

// feed hands r to the Mux, failing the test if it does not take it in time.
func (f *fakeConn) feed(t *testing.T, r fakeRead) {
	t.Helper()
	select {
	case f.reads <- r:
	case <-time.After(5 * time.Second):
		t.Fatal("mux did not read")
	}
}

var testMeta = Meta{
	Src: netip.MustParseAddr("10.0.0.1"), Dst: netip.MustParseAddr("224.0.0.18"), TTL: 255, IfIndex: 7,
}

func advert(vrid uint8, tag byte) []byte { return []byte{0x21, vrid, tag, 0, 0, 1, 0, 0} }

// startMux runs a Mux over a fake and returns a function that closes the
// fake connection and returns Run's result, so that everything fed before
// has been dispatched.
func startMux(t *testing.T) (*Mux, *fakeConn, func() error) {
	t.Helper()
	return startMuxMode(t, false)
}

// startMuxMode is startMux for a plain or (ah) an AH socket.
func startMuxMode(t *testing.T, ah bool) (*Mux, *fakeConn, func() error) {
	t.Helper()
	f := newFakeConn()
	m := newMux(f, slog.New(slog.DiscardHandler))
	m.ah = ah
	done := make(chan error, 1)
	go func() { done <- m.Run(context.Background()) }()
	finished := false
	finish := func() error {
		t.Helper()
		if finished {
			t.Fatal("finish called twice")
		}
		finished = true
		f.feed(t, fakeRead{err: fmt.Errorf("read: %w", net.ErrClosed)})
		select {
		case err := <-done:
			return err
		case <-time.After(5 * time.Second):
			t.Fatal("Run did not return after the conn closed")
			return nil
		}
	}
	t.Cleanup(func() {
		if !finished {
			_ = finish()
		}
	})
	return m, f, finish
}

// drain returns what is queued on ch without waiting.
func drain(ch <-chan Received) []Received {
	var out []Received
	for {
		select {
		case r := <-ch:
			out = append(out, r)
		default:
			return out
		}
	}
}

func TestMuxDispatch(t *testing.T) {
	m, f, finish := startMux(t)
	ch1, _ := m.Subscribe(1, 8)
	ch2, _ := m.Subscribe(2, 8)
	ch2b, _ := m.Subscribe(2, 8)

	f.feed(t, fakeRead{payload: advert(1, 10), meta: testMeta})
	f.feed(t, fakeRead{payload: advert(2, 20), meta: testMeta})
	f.feed(t, fakeRead{payload: advert(3, 30), meta: testMeta}) // nobody
	f.feed(t, fakeRead{payload: advert(1, 11), meta: testMeta})
	f.feed(t, fakeRead{payload: []byte{0x21}, meta: testMeta}) // no VRID byte
	f.feed(t, fakeRead{payload: nil, meta: testMeta})
	if err := finish(); err != nil {
		t.Fatalf("Run = %v, want nil after the conn closed", err)
	}

	got1, got2, got2b := drain(ch1), drain(ch2), drain(ch2b)
	if len(got1) != 2 || got1[0].Payload[2] != 10 || got1[1].Payload[2] != 11 {
		t.Fatalf("VRID 1 got %v, want the two VRID 1 packets in order", got1)
	}
	if got1[0].Meta != testMeta {
		t.Errorf("meta %+v, want %+v", got1[0].Meta, testMeta)
	}
	// The Mux reuses its read buffer: the first copy must not have changed
	// when the second packet was read into it.
	if string(got1[0].Payload) != string(advert(1, 10)) {
		t.Errorf("first payload changed to %x", got1[0].Payload)
	}
	if len(got2) != 1 || len(got2b) != 1 || got2[0].Payload[2] != 20 || got2b[0].Payload[2] != 20 {
		t.Fatalf("VRID 2 subscribers got %v and %v, want one copy each", got2, got2b)
	}
	got2[0].Payload[2] = 99
	if got2b[0].Payload[2] != 20 {
		t.Error("subscribers of one VRID share a payload")
	}
	want := MuxStats{Read: 6, Delivered: 4, UnknownVRID: 1, Short: 2}
	if s := m.Stats(); s != want {
		t.Fatalf("Stats = %+v, want %+v", s, want)
	}
	if m.UnknownVRID() != 1 {
		t.Fatalf("UnknownVRID = %d, want 1", m.UnknownVRID())
	}
}

func TestMuxUnsubscribe(t *testing.T) {
	m, f, finish := startMux(t)
	ch, unsub := m.Subscribe(5, 4)
	other, _ := m.Subscribe(5, 4)
	f.feed(t, fakeRead{payload: advert(5, 1), meta: testMeta})
	// feed returns once the Mux has read the packet, not once it has
	// dispatched it: wait for the delivery before unsubscribing.
	select {
	case r := <-ch:
		if r.Payload[2] != 1 {
			t.Fatalf("first packet %v, want the one fed", r.Payload)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("the packet fed before unsubscribing never arrived")
	}
	unsub()
	unsub() // harmless
	f.feed(t, fakeRead{payload: advert(5, 2), meta: testMeta})
	if err := finish(); err != nil {
		t.Fatal(err)
	}
	if got := drain(ch); len(got) != 0 {
		t.Fatalf("unsubscribed channel got %v after unsubscribing, want nothing", got)
	}
	if got := drain(other); len(got) != 2 {
		t.Fatalf("remaining subscriber got %d packets, want 2", len(got))
	}
	if m.UnknownVRID() != 0 {
		t.Fatalf("UnknownVRID = %d with a subscriber left", m.UnknownVRID())
	}
}

func TestMuxUnsubscribeLast(t *testing.T) {
	m, f, finish := startMux(t)
	_, unsub := m.Subscribe(5, 4)
	unsub()
	f.feed(t, fakeRead{payload: advert(5, 1), meta: testMeta})
	if err := finish(); err != nil {
		t.Fatal(err)
	}
	if m.UnknownVRID() != 1 {
		t.Fatalf("UnknownVRID = %d, want 1 once the last subscriber left", m.UnknownVRID())
	}
}

func TestMuxQueueFull(t *testing.T) {
	m, f, finish := startMux(t)
	slow, _ := m.Subscribe(9, 0) // rounded up to 1
	fast, _ := m.Subscribe(9, 10)
	for i := range 3 {
		f.feed(t, fakeRead{payload: advert(9, byte(i)), meta: testMeta})
	}
	if err := finish(); err != nil {
		t.Fatal(err)
	}
	if got := drain(slow); len(got) != 1 || got[0].Payload[2] != 0 {
		t.Fatalf("slow subscriber got %v, want just the first packet", got)
	}
	if got := drain(fast); len(got) != 3 {
		t.Fatalf("fast subscriber got %d packets, want 3: a slow one must not stall it", len(got))
	}
	if s := m.Stats(); s.QueueFull != 2 || s.Delivered != 4 {
		t.Fatalf("Stats = %+v, want QueueFull 2, Delivered 4", s)
	}
}

func TestMuxRunEnds(t *testing.T) {
	t.Run("context cancelled", func(t *testing.T) {
		f := newFakeConn()
		m := newMux(f, slog.New(slog.DiscardHandler))
		ctx, cancel := context.WithCancel(context.Background())
		done := make(chan error, 1)
		go func() { done <- m.Run(ctx) }()
		f.feed(t, fakeRead{payload: advert(1, 0), meta: testMeta})
		cancel()
		select {
		case err := <-done:
			if err != nil {
				t.Fatalf("Run = %v, want nil", err)
			}
		case <-time.After(5 * time.Second):
			t.Fatal("Run did not return after cancel")
		}
	})
	t.Run("already cancelled", func(t *testing.T) {
		f := newFakeConn()
		m := newMux(f, slog.New(slog.DiscardHandler))
		ctx, cancel := context.WithCancel(context.Background())
		cancel()
		if err := m.Run(ctx); err != nil {
			t.Fatalf("Run = %v, want nil", err)
		}
	})
	t.Run("persistent read errors", func(t *testing.T) {
		f := newFakeConn()
		m := newMux(f, slog.New(slog.DiscardHandler))
		done := make(chan error, 1)
		go func() { done <- m.Run(context.Background()) }()
		boom := errors.New("boom")
		f.feed(t, fakeRead{err: boom})
		f.feed(t, fakeRead{payload: advert(1, 0), meta: testMeta}) // a good read resets the run of errors
		for range maxReadErrors {
			f.feed(t, fakeRead{err: boom})
		}
		select {
		case err := <-done:
			if !errors.Is(err, boom) {
				t.Fatalf("Run = %v, want it to wrap %v", err, boom)
			}
		case <-time.After(5 * time.Second):
			t.Fatal("Run did not give up")
		}
		if s := m.Stats(); s.ReadErrors != maxReadErrors+1 || s.Read != 1 {
			t.Fatalf("Stats = %+v", s)
		}
	})
	t.Run("truncated", func(t *testing.T) {
		m, f, finish := startMux(t)
		ch, _ := m.Subscribe(1, 1)
		f.feed(t, fakeRead{payload: advert(1, 0), meta: testMeta, err: ErrTruncated})
		if err := finish(); err != nil {
			t.Fatal(err)
		}
		if got := drain(ch); len(got) != 0 {
			t.Fatalf("truncated packet delivered: %v", got)
		}
		if s := m.Stats(); s.Short != 1 {
			t.Fatalf("Stats = %+v, want Short 1", s)
		}
	})
}

// ahDatagram wraps a VRRP payload in an IPv4 header of ihl bytes and an AH
// header with next header next; the ICV does not matter to the Mux.
func ahDatagram(ihl int, next byte, payload []byte) []byte {
	b := make([]byte, ihl+ahHeaderLen, ihl+ahHeaderLen+len(payload))
	b[0] = 0x40 | byte(ihl/4)
	b[9] = ahProtocol
	b[ihl] = next
	b[ihl+1] = 4
	return append(b, payload...)
}

// TestMuxDispatchAH: on an AH socket the VRID sits behind the IPv4 header
// (options included) and the AH header, and subscribers get the whole
// datagram.
func TestMuxDispatchAH(t *testing.T) {
	m, f, finish := startMuxMode(t, true)
	ch7, _ := m.Subscribe(7, 8)
	withOpts := ahDatagram(24, ipProtocol, advert(7, 2))
	tests := []struct {
		name string
		b    []byte
	}{
		{"plain header", ahDatagram(20, ipProtocol, advert(7, 1))},
		{"header with options", withOpts},
		{"other VRID", ahDatagram(20, ipProtocol, advert(8, 3))},
		{"AH for TCP", ahDatagram(20, 6, advert(7, 4))},
		{"cut before the VRID", ahDatagram(20, ipProtocol, advert(7, 5))[:45]},
		{"empty", nil},
		{"a bare VRRP advert", advert(7, 6)},
	}
	for _, tt := range tests {
		f.feed(t, fakeRead{payload: tt.b, meta: testMeta})
	}
	if err := finish(); err != nil {
		t.Fatal(err)
	}
	got := drain(ch7)
	if len(got) != 2 || len(got[0].Payload) != 52 || got[0].Payload[46] != 1 || string(got[1].Payload) != string(withOpts) {
		t.Fatalf("VRID 7 got %x, want the first two datagrams whole", got)
	}
	want := MuxStats{Read: 7, Delivered: 2, UnknownVRID: 1, NotVRRP: 1, Short: 3}
	if s := m.Stats(); s != want {
		t.Fatalf("Stats = %+v, want %+v", s, want)
	}
}
