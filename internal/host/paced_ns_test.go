package host

// Namespace test of announcement pacing: the gaps between gratuitous ARPs
// as another host on the wire sees them.

import (
	"net/netip"
	"testing"
	"time"

	"github.com/mdlayher/packet"

	"vigil/internal/netlab"
)

// arrivals reads gratuitous ARPs for the addresses in want from c until it
// has seen n of them or the deadline passes, and returns when each arrived.
func arrivals(t *testing.T, c *packet.Conn, want []netip.Addr, n int) []time.Time {
	t.Helper()
	if err := c.SetReadDeadline(time.Now().Add(5 * time.Second)); err != nil {
		t.Fatal(err)
	}
	var at []time.Time
	buf := make([]byte, 1500)
	for range 1000 {
		if len(at) == n {
			break
		}
		k, _, err := c.ReadFrom(buf)
		if err != nil {
			t.Fatalf("after %d of %d announcements: %v", len(at), n, err)
		}
		now := time.Now()
		p, err := ParseARP(buf[:k])
		if err != nil || !p.Gratuitous() {
			continue
		}
		for _, w := range want {
			if p.SenderIP == w {
				at = append(at, now)
			}
		}
	}
	if len(at) != n {
		t.Fatalf("saw %d of %d announcements", len(at), n)
	}
	return at
}

func TestNSAnnouncePacing(t *testing.T) {
	lab := netlab.New(t)
	a := lab.AddHost("a", "10.146.0.2/24")
	b := lab.AddHost("b", "10.146.0.3/24")
	arpc := capture(t, b, "eth0", etherTypeARP)
	var vips []netip.Addr
	for i := range 5 {
		vips = append(vips, netip.AddrFrom4([4]byte{10, 146, 0, byte(10 + i)}))
	}
	ann := NewAnnouncer(nil)
	defer ann.Close()

	// Unpaced: the five leave back to back.
	if err := a.Do(func() error { return ann.Announce("eth0", vips) }); err != nil {
		t.Fatal(err)
	}
	at := arrivals(t, arpc, vips, len(vips))
	if span := at[len(at)-1].Sub(at[0]); span > 90*time.Millisecond {
		t.Errorf("unpaced announcements spread over %v", span)
	}

	// Paced at 100 ms: Announce returns at once, and the frames arrive at
	// least about 100 ms apart (the tolerance covers the reader's wake-up
	// jitter; the sender's own spacing is exact to its clock).
	const interval = 100 * time.Millisecond
	ann.SetDefaultPacing(interval, 0)
	start := time.Now()
	if err := a.Do(func() error { return ann.Announce("eth0", vips) }); err != nil {
		t.Fatal(err)
	}
	if d := time.Since(start); d > 50*time.Millisecond {
		t.Errorf("Announce took %v on a paced interface; it must not wait", d)
	}
	at = arrivals(t, arpc, vips, len(vips))
	for i := 1; i < len(at); i++ {
		if gap := at[i].Sub(at[i-1]); gap < interval*6/10 || gap > interval*5 {
			t.Errorf("gap %d: %v, want about %v", i, gap, interval)
		}
	}
	want := interval * time.Duration(len(vips)-1)
	if span := at[len(at)-1].Sub(at[0]); span < want-20*time.Millisecond || span > want+2*time.Second {
		t.Errorf("paced announcements spread over %v, want about %v", span, want)
	}
	t.Logf("paced arrivals: %v", gaps(at))
}

func gaps(at []time.Time) []time.Duration {
	var out []time.Duration
	for i := 1; i < len(at); i++ {
		out = append(out, at[i].Sub(at[i-1]).Round(time.Millisecond))
	}
	return out
}
