package proxy

import (
	"bufio"
	"fmt"
	"net"
	"net/netip"
	"slices"
	"strings"
	"testing"
	"time"

	"vigil/internal/dataplane"
	"vigil/internal/netlab"
)

// TestFreebindVIPAppearsLater binds services on virtual addresses a
// namespace does not have yet (as a VRRP backup would), then adds the
// addresses and connects: the listeners serve without being re-made.
func TestFreebindVIPAppearsLater(t *testing.T) {
	lab := netlab.New(t)
	h := lab.AddHost("lb", "10.77.0.1/24", "fd00:77::1/64")
	p := New(Options{Logger: quiet()})
	t.Cleanup(func() { p.Close() })
	real4 := realTCP(t, "127.0.0.1:0", "A") // in the test's own namespace: the proxy dials from there
	vips := []string{"10.77.0.100", "fd00:77::100"}
	var keys []dataplane.ServiceKey
	for _, v := range vips {
		a := netip.MustParseAddr(v)
		k := dataplane.ServiceKey{Family: dataplane.FamilyOf(a), Protocol: dataplane.ProtoTCP, Addr: a, Port: 8080}
		keys = append(keys, k)
		if err := h.Do(func() error { return p.AddService(ctx, dataplane.Service{Key: k, Scheduler: "rr"}) }); err != nil {
			t.Fatalf("bind %s before it is present: %v", v, err)
		}
		if err := p.AddDestination(ctx, k, dataplane.Destination{Key: real4, Weight: 1}); err != nil {
			t.Fatal(err)
		}
	}
	have, err := h.Addrs("eth0")
	if err != nil {
		t.Fatal(err)
	}
	for _, k := range keys {
		if slices.ContainsFunc(have, func(p netip.Prefix) bool { return p.Addr() == k.Addr }) {
			t.Fatalf("%s present before the test added it", k.Addr)
		}
	}
	for i, v := range vips {
		bits := "/32"
		if keys[i].Family == dataplane.IPv6 {
			bits = "/128"
		}
		if _, err := h.Exec(ctx, "ip", "addr", "add", v+bits, "dev", "eth0"); err != nil {
			t.Fatal(err)
		}
	}
	for _, k := range keys {
		var name string
		err := h.Do(func() error {
			// The kernel may take a moment to route a new IPv6 address
			// (EHOSTUNREACH meanwhile): retry, bounded.
			var c net.Conn
			var err error
			for deadline := time.Now().Add(ioTimeout); ; {
				c, err = net.DialTimeout("tcp", netip.AddrPortFrom(k.Addr, k.Port).String(), ioTimeout)
				if err == nil || time.Now().After(deadline) {
					break
				}
				time.Sleep(20 * time.Millisecond)
			}
			if err != nil {
				return err
			}
			defer c.Close()
			c.SetDeadline(time.Now().Add(ioTimeout))
			l, err := bufio.NewReader(c).ReadString('\n')
			if err != nil {
				return fmt.Errorf("read: %w", err)
			}
			name = strings.TrimSpace(l)
			return nil
		})
		if err != nil || name != "A" {
			t.Errorf("%s after the address appeared: %q, %v", k, name, err)
		}
	}
}
