package host

// Namespace tests for routes, rules, VMACs and the strict-mode filter: the
// real netlink, sysctl and nftables paths, in namespaces built by netlab.

import (
	"context"
	"encoding/json"
	"errors"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"vigil/internal/netlab"
)

// ipJSON runs "ip -j ARGS" in h and decodes the output into a list of
// objects.
func ipJSON(t *testing.T, h *netlab.Host, args ...string) []map[string]any {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	out, err := h.Exec(ctx, "ip", append([]string{"-j"}, args...)...)
	if err != nil {
		t.Fatal(err)
	}
	var v []map[string]any
	if len(strings.TrimSpace(string(out))) == 0 {
		return nil
	}
	if err := json.Unmarshal(out, &v); err != nil {
		t.Fatalf("ip -j %v: %v: %s", args, err, out)
	}
	return v
}

// ipText runs "ip ARGS" in h and returns its output.
func ipText(t *testing.T, h *netlab.Host, args ...string) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	out, err := h.Exec(ctx, "ip", args...)
	if err != nil {
		t.Fatal(err)
	}
	return string(out)
}

// routeLines returns "ip route show table all" for a family, one route a
// line, without the kernel's own local/multicast/link-local routes.
func routeLines(t *testing.T, h *netlab.Host, fam string) []string {
	t.Helper()
	var out []string
	for _, l := range strings.Split(ipText(t, h, fam, "route", "show", "table", "all"), "\n") {
		l = strings.TrimSpace(l)
		if l == "" || strings.HasPrefix(l, "local ") || strings.HasPrefix(l, "multicast ") ||
			strings.HasPrefix(l, "fe80::") || strings.HasPrefix(l, "broadcast ") || strings.Contains(l, "proto kernel") {
			continue
		}
		out = append(out, l)
	}
	return out
}

// ruleLines returns "ip rule show" for a family.
func ruleLines(t *testing.T, h *netlab.Host, fam string) []string {
	t.Helper()
	var out []string
	for _, l := range strings.Split(ipText(t, h, fam, "rule", "show"), "\n") {
		if l = strings.TrimSpace(l); l != "" {
			out = append(out, l)
		}
	}
	return out
}

func hasLine(lines []string, parts ...string) bool {
	return slices.ContainsFunc(lines, func(l string) bool {
		for _, p := range parts {
			if !strings.Contains(l, p) {
				return false
			}
		}
		return true
	})
}

func u32(v uint32) *uint32 { return &v }

func TestNSRoutesAndRules(t *testing.T) {
	lab := netlab.New(t)
	h := lab.AddHost("a", "10.98.0.2/24", "fd00:98::2/64")
	state := filepath.Join(t.TempDir(), "state.json")
	var m *Manager
	if err := h.Do(func() (err error) { m, err = NewManager(state, nil); return err }); err != nil {
		t.Fatal(err)
	}
	baseRules4, baseRules6 := ruleLines(t, h, "-4"), ruleLines(t, h, "-6")
	baseRoutes4, baseRoutes6 := routeLines(t, h, "-4"), routeLines(t, h, "-6")

	p := mustPrefix
	routes := []Route{
		{Dst: p("10.99.1.0/24"), Via: mustAddr("10.98.0.1"), Dev: "eth0", Metric: 10, Protocol: 18,
			Metrics: RouteMetrics{MTU: 1400, MTULock: true, AdvMSS: 1360}},
		{Dst: p("10.99.2.0/24"), Dev: "eth0", Table: 100, Src: mustAddr("10.98.0.2")},
		{Dst: p("10.99.3.0/24"), Type: "blackhole"},
		{Dst: p("fd00:99::/64"), Via: mustAddr("fd00:98::1"), Dev: "eth0", Protocol: 18},
		{Dst: p("10.99.4.0/24"), Nexthops: []Nexthop{
			{Via: mustAddr("10.98.0.1"), Dev: "eth0", Weight: 2},
			{Via: mustAddr("10.98.0.3"), Dev: "eth0"},
		}},
		{Dst: p("0.0.0.0/0"), Via: mustAddr("10.98.0.1"), Table: 100},
	}
	rules := []Rule{
		{Family: 4, Priority: u32(1000), From: p("10.99.0.0/16"), Action: "table", Table: 100},
		{Family: 6, Priority: u32(1001), To: p("fd00:99::/64"), Action: "blackhole"},
		{Family: 4, Priority: u32(1002), FWMark: 0x10, FWMask: u32(0xff), Action: "table", Table: 254},
		{Family: 4, Priority: u32(1003), IPProto: 6, DPort: &Range{80, 90}, UIDRange: &Range{100, 200}, Action: "table", Table: 100},
		{Family: 4, Priority: u32(1004), IIF: "eth0", Action: "goto", Goto: 1010},
		{Family: 4, Priority: u32(1005), Action: "table", Table: 100, SuppressPrefixLength: func() *int { v := 0; return &v }()},
	}
	err := h.Do(func() error {
		for _, r := range routes {
			if err := m.AddRoute(r); err != nil {
				return err
			}
			if err := m.AddRoute(r); err != nil {
				return errors.New("second AddRoute: " + err.Error())
			}
		}
		for _, r := range rules {
			if err := m.AddRule(r); err != nil {
				return err
			}
			if err := m.AddRule(r); err != nil {
				return errors.New("second AddRule: " + err.Error())
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	r4, r6 := routeLines(t, h, "-4"), routeLines(t, h, "-6")
	for _, want := range [][]string{
		{"10.99.1.0/24 via 10.98.0.1 dev eth0", "proto keepalived", "metric 10", "mtu lock 1400", "advmss 1360"},
		{"10.99.2.0/24 dev eth0 table 100", "scope link", "src 10.98.0.2"},
		{"blackhole 10.99.3.0/24"},
		{"10.99.4.0/24"},
		{"default via 10.98.0.1 dev eth0 table 100"},
	} {
		if !hasLine(r4, want...) {
			t.Errorf("no IPv4 route with %q in\n%s", want, strings.Join(r4, "\n"))
		}
	}
	if !hasLine(r6, "fd00:99::/64 via fd00:98::1 dev eth0", "proto keepalived", "metric 1024") {
		t.Errorf("IPv6 route missing:\n%s", strings.Join(r6, "\n"))
	}
	mp := ipText(t, h, "route", "show", "10.99.4.0/24")
	if !strings.Contains(mp, "nexthop via 10.98.0.1 dev eth0 weight 2") || !strings.Contains(mp, "nexthop via 10.98.0.3 dev eth0 weight 1") {
		t.Errorf("multipath route:\n%s", mp)
	}
	ru4, ru6 := ruleLines(t, h, "-4"), ruleLines(t, h, "-6")
	for _, want := range [][]string{
		{"1000:", "from 10.99.0.0/16 lookup 100"},
		{"1002:", "fwmark 0x10/0xff lookup main"},
		{"1003:", "ipproto tcp", "dport 80-90", "uidrange 100-200", "lookup 100"},
		{"1004:", "iif eth0", "goto 1010"},
		{"1005:", "lookup 100 suppress_prefixlength 0"},
	} {
		if !hasLine(ru4, want...) {
			t.Errorf("no IPv4 rule with %q in\n%s", want, strings.Join(ru4, "\n"))
		}
	}
	if !hasLine(ru6, "1001:", "to fd00:99::/64 blackhole") {
		t.Errorf("IPv6 rule missing:\n%s", strings.Join(ru6, "\n"))
	}

	// A different route with the same key is a clear error, and changes
	// nothing.
	err = h.Do(func() error {
		return m.AddRoute(Route{Dst: p("10.99.1.0/24"), Via: mustAddr("10.98.0.3"), Dev: "eth0", Metric: 10, Protocol: 18})
	})
	if err == nil || !strings.Contains(err.Error(), "different route") {
		t.Errorf("conflicting route: %v", err)
	}
	// An identical route someone else added is used but stays theirs.
	ipText(t, h, "route", "add", "10.99.5.0/24", "via", "10.98.0.1", "dev", "eth0")
	ipText(t, h, "rule", "add", "pref", "1100", "from", "10.99.5.0/24", "lookup", "100")
	foreignRoute := Route{Dst: p("10.99.5.0/24"), Via: mustAddr("10.98.0.1"), Dev: "eth0"}
	foreignRule := Rule{Family: 4, Priority: u32(1100), From: p("10.99.5.0/24"), Action: "table", Table: 100}
	if err := h.Do(func() error { return errors.Join(m.AddRoute(foreignRoute), m.AddRule(foreignRule)) }); err != nil {
		t.Fatal(err)
	}
	if len(m.OwnedRoutes()) != len(routes) || len(m.OwnedRules()) != len(rules) {
		t.Errorf("owned %d routes, %d rules; want %d, %d", len(m.OwnedRoutes()), len(m.OwnedRules()), len(routes), len(rules))
	}
	// Removing one of each.
	if err := h.Do(func() error { return errors.Join(m.RemoveRoute(routes[2]), m.RemoveRule(rules[1])) }); err != nil {
		t.Fatal(err)
	}
	if hasLine(routeLines(t, h, "-4"), "blackhole 10.99.3.0/24") || hasLine(ruleLines(t, h, "-6"), "1001:") {
		t.Error("route or rule still present after Remove")
	}

	if err := h.Do(m.RemoveAll); err != nil {
		t.Fatal(err)
	}
	wantRoutes4 := append(slices.Clone(baseRoutes4), "10.99.5.0/24 via 10.98.0.1 dev eth0")
	if got := routeLines(t, h, "-4"); !slices.Equal(got, wantRoutes4) {
		t.Errorf("IPv4 routes after RemoveAll:\n%s\nwant\n%s", strings.Join(got, "\n"), strings.Join(wantRoutes4, "\n"))
	}
	if got := routeLines(t, h, "-6"); !slices.Equal(got, baseRoutes6) {
		t.Errorf("IPv6 routes after RemoveAll:\n%s\nwant\n%s", strings.Join(got, "\n"), strings.Join(baseRoutes6, "\n"))
	}
	wantRules4 := slices.Insert(slices.Clone(baseRules4), 1, "1100:\tfrom 10.99.5.0/24 lookup 100")
	if got := ruleLines(t, h, "-4"); !slices.Equal(got, wantRules4) {
		t.Errorf("IPv4 rules after RemoveAll:\n%s\nwant\n%s", strings.Join(got, "\n"), strings.Join(wantRules4, "\n"))
	}
	if got := ruleLines(t, h, "-6"); !slices.Equal(got, baseRules6) {
		t.Errorf("IPv6 rules after RemoveAll:\n%s\nwant\n%s", strings.Join(got, "\n"), strings.Join(baseRules6, "\n"))
	}
}

func TestNSRoutesCleanupStale(t *testing.T) {
	lab := netlab.New(t)
	h := lab.AddHost("a", "10.96.0.2/24")
	state := filepath.Join(t.TempDir(), "state.json")
	baseRules, baseRoutes := ruleLines(t, h, "-4"), routeLines(t, h, "-4")
	p := mustPrefix
	gone := Route{Dst: p("10.95.2.0/24"), Dev: "eth0"}
	err := h.Do(func() error {
		crashed, err := NewManager(state, nil)
		if err != nil {
			return err
		}
		return errors.Join(
			crashed.AddRoute(Route{Dst: p("10.95.1.0/24"), Via: mustAddr("10.96.0.1"), Dev: "eth0", Protocol: 18}),
			crashed.AddRoute(gone),
			crashed.AddRule(Rule{Family: 4, Priority: u32(500), To: p("10.95.0.0/16"), Action: "unreachable"}),
			crashed.AddRule(Rule{Family: 4, From: p("10.95.0.0/16"), Action: "table", Table: 200}),
		)
	})
	if err != nil {
		t.Fatal(err)
	}
	// In the meantime an operator replaced one route with their own.
	ipText(t, h, "route", "replace", "10.95.2.0/24", "via", "10.96.0.1", "dev", "eth0")
	err = h.Do(func() error {
		next, err := NewManager(state, nil)
		if err != nil {
			return err
		}
		_, err = next.CleanupStale()
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	if got := ruleLines(t, h, "-4"); !slices.Equal(got, baseRules) {
		t.Errorf("rules after cleanup:\n%s\nwant\n%s", strings.Join(got, "\n"), strings.Join(baseRules, "\n"))
	}
	want := append(slices.Clone(baseRoutes), "10.95.2.0/24 via 10.96.0.1 dev eth0")
	if got := routeLines(t, h, "-4"); !slices.Equal(got, want) {
		t.Errorf("routes after cleanup:\n%s\nwant\n%s (the operator's route kept)", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
}
