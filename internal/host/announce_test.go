package host

import (
	"bytes"
	"errors"
	"net"
	"net/netip"
	"sync"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// fakeConn records written frames and when they were written. It is
// written to by the pacing goroutines too, hence the lock; tests read its
// fields only once those goroutines are idle or stopped.
type fakeConn struct {
	mu       sync.Mutex
	frames   [][]byte
	at       []time.Time
	closed   bool
	writeErr error
}

func (c *fakeConn) WriteTo(b []byte, _ net.Addr) (int, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.writeErr != nil {
		return 0, c.writeErr
	}
	c.frames = append(c.frames, append([]byte(nil), b...))
	c.at = append(c.at, time.Now())
	return len(b), nil
}

func (c *fakeConn) Close() error { c.mu.Lock(); c.closed = true; c.mu.Unlock(); return nil }

type fakeNet struct {
	index   int
	mac     net.HardwareAddr
	forward bool
	base    map[string]string // lower interfaces of macvlans
	others  map[string]int    // interfaces besides eth0, by index
	opened  []connKey
	conns   []*fakeConn
}

func newTestAnnouncer(fn *fakeNet) *Announcer {
	a := NewAnnouncer(nil)
	a.listen = func(ifi *net.Interface, proto int) (frameConn, error) {
		fn.opened = append(fn.opened, connKey{ifi.Name, ifi.Index, proto})
		c := &fakeConn{}
		fn.conns = append(fn.conns, c)
		return c, nil
	}
	a.hwaddr = func(ifname string) (int, net.HardwareAddr, error) {
		switch {
		case ifname == "eth0":
			return fn.index, fn.mac, nil
		case fn.others[ifname] != 0:
			return fn.others[ifname], fn.mac, nil
		}
		return 0, nil, errors.New("no such interface")
	}
	a.forwarding = func(string) bool { return fn.forward }
	a.base = func(ifname string) string {
		if b, ok := fn.base[ifname]; ok {
			return b
		}
		return ifname
	}
	return a
}

func TestAnnouncerFrames(t *testing.T) {
	fn := &fakeNet{index: 7, mac: testMAC, forward: true}
	a := newTestAnnouncer(fn)
	addrs := []netip.Addr{netip.MustParseAddr("10.0.0.10"), netip.MustParseAddr("fd00::10"), netip.MustParseAddr("10.0.0.11")}
	if err := a.Announce("eth0", addrs); err != nil {
		t.Fatal(err)
	}
	if len(fn.opened) != 2 {
		t.Fatalf("opened %v, want one ARP and one IPv6 socket", fn.opened)
	}
	arp, v6 := fn.conns[0], fn.conns[1]
	want0, _ := garpFrame(testMAC, addrs[0])
	want2, _ := garpFrame(testMAC, addrs[2])
	wantNA, _ := naFrame(testMAC, addrs[1], true)
	if len(arp.frames) != 2 || !bytes.Equal(arp.frames[0], want0) || !bytes.Equal(arp.frames[1], want2) {
		t.Errorf("ARP frames %x", arp.frames)
	}
	if len(v6.frames) != 1 || !bytes.Equal(v6.frames[0], wantNA) {
		t.Errorf("NA frames %x, want %x (with Router flag)", v6.frames, wantNA)
	}

	// Again: the sockets are reused.
	if err := a.Announce("eth0", addrs[:1]); err != nil {
		t.Fatal(err)
	}
	if len(fn.opened) != 2 || len(arp.frames) != 3 {
		t.Errorf("second announce opened %v, ARP frames %d", fn.opened, len(arp.frames))
	}

	// A VMAC source.
	vmac := net.HardwareAddr{0x00, 0x00, 0x5e, 0x00, 0x01, 0x33}
	if err := a.AnnounceFrom("eth0", vmac, addrs[:1]); err != nil {
		t.Fatal(err)
	}
	if p, err := ParseARP(arp.frames[3]); err != nil || p.SenderMAC.String() != vmac.String() || p.EthSrc.String() != vmac.String() {
		t.Errorf("VMAC announcement %+v, %v", p, err)
	}

	// The interface was re-created with a new index: new sockets.
	fn.index = 8
	if err := a.Announce("eth0", addrs[:1]); err != nil {
		t.Fatal(err)
	}
	if !arp.closed || len(fn.opened) != 3 || fn.opened[2].index != 8 {
		t.Errorf("after re-creation: old closed %v, opened %v", arp.closed, fn.opened)
	}

	if err := a.Close(); err != nil {
		t.Fatal(err)
	}
	if !v6.closed || !fn.conns[2].closed {
		t.Error("Close left sockets open")
	}
}

func TestAnnouncerErrors(t *testing.T) {
	fn := &fakeNet{index: 3, mac: testMAC}
	a := newTestAnnouncer(fn)
	defer a.Close()
	if err := a.Announce("eth9", []netip.Addr{netip.MustParseAddr("10.0.0.1")}); err == nil {
		t.Error("unknown interface: no error")
	}
	if err := a.AnnounceFrom("eth0", net.HardwareAddr{1, 2}, []netip.Addr{netip.MustParseAddr("10.0.0.1")}); err == nil {
		t.Error("short MAC: no error")
	}
	fn.mac = nil // e.g. a tunnel without link-layer address
	if err := a.Announce("eth0", []netip.Addr{netip.MustParseAddr("10.0.0.1")}); err == nil {
		t.Error("interface without MAC: no error")
	}
	fn.mac = testMAC

	// A failed send drops the socket and the next call opens a new one;
	// the other addresses are still sent.
	if err := a.Announce("eth0", []netip.Addr{netip.MustParseAddr("10.0.0.1")}); err != nil {
		t.Fatal(err)
	}
	fn.conns[0].writeErr = unix.ENETDOWN
	err := a.Announce("eth0", []netip.Addr{netip.MustParseAddr("10.0.0.1"), netip.MustParseAddr("10.0.0.2"), {}})
	if !errors.Is(err, unix.ENETDOWN) {
		t.Fatalf("err = %v, want ENETDOWN", err)
	}
	if !fn.conns[0].closed || len(fn.conns) != 2 || len(fn.conns[1].frames) != 1 {
		t.Errorf("after a failed send: closed %v, conns %d", fn.conns[0].closed, len(fn.conns))
	}
}
