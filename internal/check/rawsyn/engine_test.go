package rawsyn

import (
	"context"
	"errors"
	"net/netip"
	"syscall"
	"testing"
	"testing/synctest"
	"time"
)

var (
	tOpen    = netip.MustParseAddrPort("10.1.0.1:80")
	tClosed  = netip.MustParseAddrPort("10.1.0.2:80")
	tSilent  = netip.MustParseAddrPort("10.1.0.3:80")
	tUnreach = netip.MustParseAddrPort("10.1.0.4:80")
	tNoRoute = netip.MustParseAddrPort("10.1.0.5:80")
	tOpen6   = netip.MustParseAddrPort("[fd00:1::1]:443")
)

func fakeFor(m map[netip.AddrPort]Behaviour) *Fake {
	return &Fake{Behave: func(dst netip.AddrPort) Behaviour {
		if dst.Port() == 0 { // a route lookup
			for k, b := range m {
				if k.Addr() == dst.Addr() {
					return b
				}
			}
		}
		return m[dst]
	}}
}

// Each kind of answer gives its outcome, all SYNs of a Flush leave in one
// Send per family, and the outcomes carry the caller's tag and gen.
func TestEngineOutcomes(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		f := fakeFor(map[netip.AddrPort]Behaviour{
			tClosed: {Answer: Closed}, tSilent: {Answer: Silent}, tUnreach: {Answer: Unreachable}, tNoRoute: {Answer: NoRoute},
		})
		e := New(f)
		now := time.Now()
		dl := now.Add(3 * time.Second)
		if err := e.Queue(now, NewTarget(tNoRoute), dl, "noroute", 1); !errors.Is(err, syscall.ENETUNREACH) {
			t.Fatalf("queue to a target with no route: %v, want ENETUNREACH", err)
		}
		for i, dst := range []netip.AddrPort{tOpen, tClosed, tUnreach, tSilent, tOpen6} {
			if err := e.Queue(now, NewTarget(dst), dl, dst.String(), uint64(i+10)); err != nil {
				t.Fatalf("queue %s: %v", dst, err)
			}
		}
		failed := e.Flush(nil)
		if len(failed) != 1 || failed[0].Tag != tUnreach.String() || failed[0].Gen != 12 || !errors.Is(failed[0].Err, syscall.ENETUNREACH) {
			t.Fatalf("flush: %+v, want the unreachable target's failure", failed)
		}
		// One Send for IPv4 up to the failed packet, one for the rest of
		// IPv4 after it, one for IPv6.
		if n := f.Sends(); n != 3 {
			t.Errorf("%d Send calls, want 3", n)
		}
		got := map[any]error{}
		for _, o := range e.Poll(nil) {
			got[o.Tag] = o.Err
		}
		want := map[any]error{tOpen.String(): nil, tClosed.String(): syscall.ECONNREFUSED, tOpen6.String(): nil}
		if len(got) != len(want) {
			t.Fatalf("outcomes %v, want %v", got, want)
		}
		for k, w := range want {
			if g, ok := got[k]; !ok || (w == nil) != (g == nil) || (w != nil && !errors.Is(g, w)) {
				t.Errorf("%v: outcome %v, want %v", k, g, w)
			}
		}
		if n := e.Pending(); n != 1 {
			t.Errorf("%d checks pending, want 1 (the silent one)", n)
		}
	})
}

// A SYN nobody answers is sent again after 1 s, then 2 s later, as the
// kernel retransmits; at its deadline the check ends, timed out. An
// answer that comes after a lost SYN ends the check.
func TestEngineRetransmitsAndForgets(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		f := fakeFor(map[netip.AddrPort]Behaviour{tSilent: {Answer: Silent}, tOpen: {Lose: 1}})
		e := New(f)
		start := time.Now()
		e.Queue(start, NewTarget(tSilent), start.Add(5*time.Second), "s", 1)
		e.Queue(start, NewTarget(tOpen), start.Add(5*time.Second), "o", 2)
		e.Flush(nil)
		var out []Outcome
		for now := start; now.Before(start.Add(6 * time.Second)); now = now.Add(SweepEvery) {
			time.Sleep(now.Sub(time.Now()))
			out = e.Poll(out)
			out = e.Sweep(now, out)
		}
		if n := f.SYNs(tSilent); n != 3 {
			t.Errorf("%d SYNs to the silent target in 5 s, want 3 (at 0, 1 and 3 s)", n)
		}
		if n := f.SYNs(tOpen); n != 2 {
			t.Errorf("%d SYNs to the target that lost the first, want 2", n)
		}
		if len(out) != 2 || out[0].Tag != "o" || out[0].Err != nil || out[1].Tag != "s" || !errors.Is(out[1].Err, context.DeadlineExceeded) {
			t.Errorf("outcomes %+v, want a pass of o, then s timed out", out)
		}
		if n := e.Pending(); n != 0 {
			t.Errorf("%d checks pending after their deadline, want 0", n)
		}
	})
}

// Only an answer to a check's own SYN ends it: the right target, port,
// source port, and acknowledgement of its sequence number.
func TestEngineMatch(t *testing.T) {
	f := fakeFor(map[netip.AddrPort]Behaviour{tSilent: {Answer: Silent}})
	e := New(f)
	now := time.Now()
	e.Queue(now, NewTarget(tSilent), now.Add(time.Second), "s", 1)
	e.Flush(nil)
	var en *entry
	for _, v := range e.pending {
		en = v
	}
	src := netip.MustParseAddr("10.255.255.1")
	good := Segment{Src: tSilent, Dst: netip.AddrPortFrom(src, en.lport), Ack: en.isn + 1, Flags: FlagSYN | FlagACK}
	for _, c := range []struct {
		name string
		mod  func(*Segment)
	}{
		{"wrong ack", func(s *Segment) { s.Ack++ }},
		{"no ACK flag", func(s *Segment) { s.Flags = FlagSYN }},
		{"bare ACK", func(s *Segment) { s.Flags = FlagACK }},
		{"FIN", func(s *Segment) { s.Flags = FlagFIN | FlagACK }},
		{"other source port", func(s *Segment) { s.Src = netip.AddrPortFrom(s.Src.Addr(), 81) }},
		{"other address", func(s *Segment) { s.Src = netip.AddrPortFrom(netip.MustParseAddr("10.1.0.9"), 80) }},
		{"other local port", func(s *Segment) { s.Dst = netip.AddrPortFrom(src, en.lport+1000) }},
	} {
		s := good
		c.mod(&s)
		if out := e.Match(s, nil); len(out) != 0 {
			t.Errorf("%s: matched %+v", c.name, out)
		}
	}
	if out := e.Match(good, nil); len(out) != 1 || out[0].Err != nil || out[0].Tag != "s" {
		t.Fatalf("the answer: %+v, want a pass", out)
	}
	if out := e.Match(good, nil); len(out) != 0 {
		t.Errorf("the same answer twice: %+v, want nothing the second time", out)
	}
}

// Two checks of one target at once take two source ports; a third, with
// both in use, is refused with ErrBusy. A family the wire lacks is
// ErrFamily.
func TestEngineBusyAndFamily(t *testing.T) {
	f := fakeFor(map[netip.AddrPort]Behaviour{tSilent: {Answer: Silent}})
	f.NoIPv6 = true
	e := New(f)
	now := time.Now()
	for i := range 2 {
		if err := e.Queue(now, NewTarget(tSilent), now.Add(time.Second), i, uint64(i)); err != nil {
			t.Fatalf("check %d: %v", i, err)
		}
	}
	if err := e.Queue(now, NewTarget(tSilent), now.Add(time.Second), 2, 2); !errors.Is(err, ErrBusy) {
		t.Errorf("third check of one target: %v, want ErrBusy", err)
	}
	if err := e.Queue(now, NewTarget(tOpen6), now.Add(time.Second), 3, 3); !errors.Is(err, ErrFamily) {
		t.Errorf("IPv6 without IPv6: %v, want ErrFamily", err)
	}
}
