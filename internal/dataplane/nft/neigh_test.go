package nft

import (
	"context"
	"net"
	"net/netip"
	"sync"
	"testing"

	"golang.org/x/sys/unix"
)

func mustMAC(s string) net.HardwareAddr {
	m, err := net.ParseMAC(s)
	if err != nil {
		panic(err)
	}
	return m
}

func TestNextMAC(t *testing.T) {
	a, b := mustMAC("02:00:00:00:00:0a"), mustMAC("02:00:00:00:00:0b")
	for _, tc := range []struct {
		name        string
		cur         net.HardwareAddr
		ev          NeighEvent
		want        net.HardwareAddr
		wantResolve bool
	}{
		{"resolved", nil, NeighEvent{MAC: a, State: unix.NUD_REACHABLE}, a, false},
		{"changed", a, NeighEvent{MAC: b, State: unix.NUD_REACHABLE}, b, false},
		{"stale keeps sending", a, NeighEvent{MAC: a, State: unix.NUD_STALE}, a, false},
		{"probe", a, NeighEvent{MAC: a, State: unix.NUD_PROBE}, a, false},
		{"permanent", nil, NeighEvent{MAC: b, State: unix.NUD_PERMANENT}, b, false},
		{"being resolved keeps the last", a, NeighEvent{State: unix.NUD_INCOMPLETE}, a, false},
		{"being resolved, still unknown", nil, NeighEvent{State: unix.NUD_INCOMPLETE}, nil, false},
		{"failed", a, NeighEvent{State: unix.NUD_FAILED}, nil, false},
		{"deleted keeps the last, resolves", a, NeighEvent{Gone: true}, a, true},
		{"deleted while unknown", nil, NeighEvent{Gone: true}, nil, true},
		{"not Ethernet", nil, NeighEvent{MAC: net.HardwareAddr{1, 2}, State: unix.NUD_REACHABLE}, nil, false},
	} {
		got, resolve := nextMAC(tc.cur, tc.ev)
		if got.String() != tc.want.String() || resolve != tc.wantResolve {
			t.Errorf("%s: got %v, %v; want %v, %v", tc.name, got, resolve, tc.want, tc.wantResolve)
		}
	}
}

// fakeNeighbours routes every address to the director's eth0, knows no
// MAC, counts resolutions and delivers the events the test sends.
type fakeNeighbours struct {
	link   Link
	events chan NeighEvent
	mu     sync.Mutex
	n      int
}

func newFakeNeighbours() *fakeNeighbours {
	return &fakeNeighbours{link: Link{Index: 2, Name: "eth0", MAC: mustMAC("02:00:00:00:00:01")}, events: make(chan NeighEvent)}
}

func (f *fakeNeighbours) Route(netip.Addr) (Link, error)                   { return f.link, nil }
func (f *fakeNeighbours) Lookup(int, netip.Addr) (net.HardwareAddr, error) { return nil, nil }
func (f *fakeNeighbours) Resolve(int, netip.Addr) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.n++
	return nil
}
func (f *fakeNeighbours) resolves() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.n
}
func (f *fakeNeighbours) Watch(ctx context.Context, ch chan<- NeighEvent) error {
	for {
		select {
		case <-ctx.Done():
			return nil
		case ev := <-f.events:
			select {
			case ch <- ev:
			case <-ctx.Done():
				return nil
			}
		}
	}
}
