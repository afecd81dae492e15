package host

import (
	"context"
	"net/netip"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/google/nftables"

	"vigil/internal/netlab"
)

// reachable reports whether one ping from h to ip is answered, retrying
// a few times when want is true so a slow neighbour resolution does not
// count as loss.
func reachable(h *netlab.Host, ip netip.Addr, want bool) bool {
	tries := 1
	if want {
		tries = 3
	}
	for range tries {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		_, err := h.Exec(ctx, "ping", "-c", "1", "-W", "1", ip.String())
		cancel()
		if err == nil {
			return true
		}
	}
	return false
}

// tablesIn lists the nftables tables of h as "family name".
func tablesIn(t *testing.T, h *netlab.Host) []string {
	t.Helper()
	var out []string
	err := h.Do(func() error {
		c, err := nftables.New()
		if err != nil {
			return err
		}
		ts, err := c.ListTables()
		for _, tb := range ts {
			out = append(out, tb.Name)
		}
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	slices.Sort(out)
	return out
}

func TestNSFilter(t *testing.T) {
	lab := netlab.New(t)
	a := lab.AddHost("a", "10.86.0.2/24", "fd00:86::2/64")
	b := lab.AddHost("b", "10.86.0.3/24", "fd00:86::3/64")
	vip4, vip6, other := mustAddr("10.86.0.10"), mustAddr("fd00:86::10"), mustAddr("10.86.0.11")
	for _, p := range []string{"10.86.0.10/24", "10.86.0.11/24", "fd00:86::10/64"} {
		ipText(t, a, "addr", "add", p, "dev", "eth0", "nodad")
	}
	// A crashed run left its table with a VIP blocked.
	var f *Filter
	err := a.Do(func() error {
		crashed, err := NewFilter(nil)
		if err != nil {
			return err
		}
		return crashed.Block([]netip.Addr{other})
	})
	if err != nil {
		t.Fatal(err)
	}
	if reachable(b, other, false) {
		t.Fatal("the crashed run's block is not in effect")
	}
	if err := a.Do(func() (err error) { f, err = NewFilter(nil); return err }); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = f.Close() })
	if !reachable(b, other, true) {
		t.Error("the crashed run's block survived NewFilter")
	}
	for _, ip := range []netip.Addr{vip4, vip6} {
		if !reachable(b, ip, true) {
			t.Fatalf("%s unreachable before blocking", ip)
		}
	}

	if err := f.Block([]netip.Addr{vip4, vip6, vip4}); err != nil {
		t.Fatal(err)
	}
	if err := f.Block([]netip.Addr{vip4}); err != nil {
		t.Fatalf("blocking again: %v", err)
	}
	for _, ip := range []netip.Addr{vip4, vip6} {
		if reachable(b, ip, false) {
			t.Errorf("%s answered while blocked", ip)
		}
	}
	if !reachable(b, other, true) {
		t.Error("an address not blocked is unreachable")
	}
	// Neighbour discovery for a blocked IPv6 address still works.
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	ipText(t, b, "neigh", "flush", "dev", "eth0")
	_, _ = b.Exec(ctx, "ping", "-c", "1", "-W", "1", vip6.String())
	if neighMAC(t, b, vip6) == "" {
		t.Error("no neighbour entry for a blocked IPv6 address: ND is dropped too")
	}
	if got := f.Blocked(); !slices.Equal(got, []netip.Addr{vip4, vip6}) {
		t.Errorf("Blocked() = %v", got)
	}
	// Bad input changes nothing.
	if err := f.Block([]netip.Addr{other, mustAddr("fe80::1")}); err == nil || !strings.Contains(err.Error(), "link-local") {
		t.Errorf("Block of a link-local address: %v", err)
	}
	if !reachable(b, other, true) {
		t.Error("a failed Block blocked part of its input")
	}

	if err := f.Unblock([]netip.Addr{vip6, other}); err != nil {
		t.Fatal(err)
	}
	if !reachable(b, vip6, true) {
		t.Error("unblocked address unreachable")
	}
	if reachable(b, vip4, false) {
		t.Error("address still blocked answered")
	}
	if got := tablesIn(t, a); !slices.Equal(got, []string{FilterTable}) {
		t.Errorf("tables %v, want only ours", got)
	}
	if err := f.Close(); err != nil {
		t.Fatal(err)
	}
	if got := tablesIn(t, a); len(got) != 0 {
		t.Errorf("tables after Close: %v", got)
	}
	if !reachable(b, vip4, true) {
		t.Error("address unreachable after Close")
	}
	if err := f.Block([]netip.Addr{vip4}); err == nil {
		t.Error("Block after Close succeeded")
	}
}
