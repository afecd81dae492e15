package nft

import (
	"errors"
	"flag"
	"fmt"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"vigil/internal/dataplane"
)

var update = flag.Bool("update", false, "rewrite the golden files")

func entry(s dataplane.Service, ds ...dataplane.Destination) dataplane.Entry {
	e := dataplane.Entry{Service: s, Dests: map[dataplane.DestKey]dataplane.Destination{}}
	for _, d := range ds {
		e.Dests[d.Key] = d
	}
	return e
}

func dst(addr string, port uint16, w int32) dataplane.Destination {
	return dataplane.Destination{Key: dataplane.DestKey{Addr: netip.MustParseAddr(addr), Port: port}, Weight: w}
}

func service(addr string, proto dataplane.Protocol, port uint16, sched string) dataplane.Service {
	a := netip.MustParseAddr(addr)
	return dataplane.Service{Key: dataplane.ServiceKey{Family: dataplane.FamilyOf(a), Protocol: proto, Addr: a, Port: port}, Scheduler: sched}
}

func with(s dataplane.Service, f func(*dataplane.Service)) dataplane.Service { f(&s); return s }

// drDst is a DR real server.
func drDst(addr string, port uint16, w int32) dataplane.Destination {
	d := dst(addr, port, w)
	d.Forwarding.Method = dataplane.DR
	return d
}

// goldenConns are the golden cases' connection counts.
func goldenConns(d dataplane.DestKey) Conns {
	switch d.Addr.String() {
	case "10.1.0.1":
		return Conns{Active: 2}
	case "10.1.0.2":
		return Conns{Active: 1, Inactive: 300}
	}
	return Conns{}
}

// unresolved are the real servers of the golden cases whose MAC is unknown.
var unresolved = []string{"10.1.0.9", "fd00:1::9"}

func notReady(addrs []string) func(netip.Addr) bool {
	return func(a netip.Addr) bool {
		for _, s := range addrs {
			if netip.MustParseAddr(s) == a {
				return false
			}
		}
		return true
	}
}

// compileCases are the services whose rules the golden files pin, one file
// each under testdata/compile.
var compileCases = []struct {
	name string
	e    dataplane.Entry
}{
	{"rr_ipv4", entry(service("10.0.0.1", dataplane.ProtoTCP, 80, "rr"),
		dst("10.1.0.1", 8080, 1), dst("10.1.0.2", 8080, 3), dst("10.1.0.3", 0, 1))},
	{"wrr_drain_ipv4_udp", entry(service("10.0.0.1", dataplane.ProtoUDP, 53, "wrr"),
		dst("10.1.0.1", 53, 4), dst("10.1.0.2", 53, 3), dst("10.1.0.3", 53, 2), dst("10.1.0.4", 53, 0))},
	{"sh_port_ipv6", entry(with(service("fd00::1", dataplane.ProtoTCP, 443, "sh"), func(s *dataplane.Service) { s.Flags = dataplane.SHPort }),
		dst("fd00:1::1", 443, 1), dst("fd00:1::2", 443, 1))},
	{"dh_fwmark_keep_port", entry(dataplane.Service{Key: dataplane.ServiceKey{Family: dataplane.IPv4, Fwmark: 7}, Scheduler: "dh"},
		dst("10.1.0.1", 0, 1), dst("10.1.0.2", 0, 1))},
	{"mh_ipv4", entry(service("10.0.0.1", dataplane.ProtoTCP, 80, "mh"),
		dst("10.1.0.1", 80, 1), dst("10.1.0.2", 80, 1), dst("10.1.0.3", 80, 1))},
	{"fo_ipv6", entry(service("fd00::1", dataplane.ProtoTCP, 80, "fo"),
		dst("fd00:1::1", 80, 1), dst("fd00:1::2", 80, 5), dst("fd00:1::3", 80, 5))},
	{"persistence_24_rr", entry(with(service("10.0.0.1", dataplane.ProtoTCP, 80, "rr"), func(s *dataplane.Service) {
		s.Persistence, s.PersistenceBits = 5*time.Minute, 24
	}), dst("10.1.0.1", 80, 1), dst("10.1.0.2", 80, 1))},
	{"persistence_64_ipv6_wrr", entry(with(service("fd00::1", dataplane.ProtoTCP, 80, "wrr"), func(s *dataplane.Service) {
		s.Persistence, s.PersistenceBits = 30*time.Second, 64
	}), dst("fd00:1::1", 80, 2), dst("fd00:1::2", 80, 1))},
	{"persistence_all_drained", entry(with(service("10.0.0.1", dataplane.ProtoTCP, 80, "rr"), func(s *dataplane.Service) {
		s.Persistence = time.Minute
	}), dst("10.1.0.1", 80, 0))},
	{"no_dests", entry(service("10.0.0.1", dataplane.ProtoTCP, 80, "wrr"))},
	// DR: 10.1.0.9's MAC is unknown, so it is left out of the map.
	{"dr_rr_ipv4", entry(service("10.0.0.1", dataplane.ProtoTCP, 80, "rr"),
		drDst("10.1.0.1", 80, 1), drDst("10.1.0.2", 80, 1), drDst("10.1.0.9", 80, 1))},
	{"dr_persistence_sh_ipv6_udp", entry(with(service("fd00::1", dataplane.ProtoUDP, 53, "sh"), func(s *dataplane.Service) {
		s.Persistence, s.PersistenceBits = time.Minute, 64
	}), drDst("fd00:1::1", 53, 2), drDst("fd00:1::2", 53, 1))},
	// wlc 1:2:3 with r1 at 2 active, r2 at 1 active and 300 inactive:
	// the plan IPVS's formula gives for the next 64 connections.
	{"wlc_counts", entry(service("10.0.0.3", dataplane.ProtoTCP, 80, "wlc"),
		dst("10.1.0.1", 80, 1), dst("10.1.0.2", 80, 2), dst("10.1.0.3", 80, 3))},
	{"dr_all_drained", entry(service("10.0.0.1", dataplane.ProtoTCP, 80, "wrr"), drDst("10.1.0.1", 80, 0), drDst("10.1.0.9", 80, 1))},
}

func TestCompileGolden(t *testing.T) {
	for i, tc := range compileCases {
		t.Run(tc.name, func(t *testing.T) {
			p, err := compile(tc.e, uint32(i+1), facts{ready: notReady(unresolved), conns: goldenConns})
			if err != nil {
				t.Fatal(err)
			}
			set, key := dispatchKey(tc.e.Service.Key, p.DR)
			got := fmt.Sprintf("# %s %s\ndispatch %s key %x\n%s", tc.e.Service.Key, tc.e.Service.Scheduler, set, key, render(p))
			golden(t, filepath.Join("testdata", "compile", tc.name+".golden"), got)
		})
	}
}

func TestDispatchGolden(t *testing.T) {
	var b strings.Builder
	for _, s := range dispatchSets() {
		b.WriteString(renderSet(s))
	}
	for i, r := range dispatchRules() {
		fmt.Fprintf(&b, "rule %d\n", i)
		for _, e := range r.Exprs {
			fmt.Fprintf(&b, "  [ %s ]\n", renderExpr(e))
		}
	}
	golden(t, filepath.Join("testdata", "dispatch.golden"), b.String())
}

// TestNetdevGolden pins the DR side's fixed part: its maps, dispatch
// rules.
func TestNetdevGolden(t *testing.T) {
	var b strings.Builder
	for _, s := range drSets() {
		b.WriteString(renderSet(s))
	}
	rules := func(name string, rs []ruleDef) {
		fmt.Fprintf(&b, "chain %s\n", name)
		for i, r := range rs {
			fmt.Fprintf(&b, "rule %d\n", i)
			for _, e := range r.Exprs {
				fmt.Fprintf(&b, "  [ %s ]\n", renderExpr(e))
			}
		}
	}
	rules(chainDRDispatch, drDispatchRules())
	golden(t, filepath.Join("testdata", "netdev.golden"), b.String())
}

func golden(t *testing.T, path, got string) {
	t.Helper()
	if *update {
		if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, []byte(got), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run with -update to create it)", err)
	}
	if got != string(want) {
		t.Errorf("%s differs (run with -update to rewrite)\ngot:\n%s\nwant:\n%s", path, got, want)
	}
}

func TestCompileRefuses(t *testing.T) {
	for _, tc := range []struct {
		name string
		e    dataplane.Entry
		want string
	}{
		{"lblc", entry(service("10.0.0.1", dataplane.ProtoTCP, 80, "lblc"), dst("10.1.0.1", 80, 1)), "use IPVS or the proxy plane"},
		{"wlc fwmark", entry(dataplane.Service{Key: dataplane.ServiceKey{Family: dataplane.IPv4, Fwmark: 1}, Scheduler: "wlc"}, dst("10.1.0.1", 0, 1)), "NAT address virtual servers only"},
		{"lc DR", entry(service("10.0.0.1", dataplane.ProtoTCP, 80, "lc"), drDst("10.1.0.1", 80, 1)), "NAT address virtual servers only"},
		{"fwmark mixed ports", entry(dataplane.Service{Key: dataplane.ServiceKey{Family: dataplane.IPv4, Fwmark: 1}, Scheduler: "rr"},
			dst("10.1.0.1", 0, 1), dst("10.1.0.2", 80, 1)), "mixes real servers"},
		{"dr fwmark", entry(dataplane.Service{Key: dataplane.ServiceKey{Family: dataplane.IPv4, Fwmark: 1}, Scheduler: "rr"},
			drDst("10.1.0.1", 0, 1)), "after the ingress hook"},
		{"dr mixed with nat", entry(service("10.0.0.1", dataplane.ProtoTCP, 80, "rr"), drDst("10.1.0.1", 80, 1), dst("10.1.0.2", 80, 1)), "mixes lb_kind DR"},
		{"wrr cycle too long", entry(service("10.0.0.1", dataplane.ProtoTCP, 80, "wrr"), dst("10.1.0.1", 80, 65535), dst("10.1.0.2", 80, 65534), dst("10.1.0.3", 80, 3)), "cycle longer"},
	} {
		_, err := compile(tc.e, 1, facts{})
		if !errors.Is(err, dataplane.ErrUnsupported) || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: got %v, want ErrUnsupported with %q", tc.name, err, tc.want)
		}
	}
}

func TestExplain(t *testing.T) {
	tun := dst("10.1.0.1", 80, 1)
	tun.Forwarding.Method = dataplane.Tunnel
	dr := drDst("10.1.0.2", 0, 1)
	for _, tc := range []struct {
		name string
		e    dataplane.Entry
		want []string
	}{
		{"tun", entry(service("10.0.0.1", dataplane.ProtoTCP, 80, "rr"), tun), []string{"forwarding method Tunnel", "lb_kind TUN needs IPVS; nftables cannot encapsulate here"}},
		{"dr fwmark", entry(dataplane.Service{Key: dataplane.ServiceKey{Family: dataplane.IPv4, Fwmark: 3}, Scheduler: "rr"}, dr), []string{"lb_kind DR", "use an address virtual server, or lb_kind NAT"}},
		{"dr mixed", entry(service("10.0.0.1", dataplane.ProtoTCP, 80, "rr"), dr, dst("10.1.0.3", 80, 1)), []string{"mixes lb_kind DR"}},
		{"lblcr", entry(service("10.0.0.1", dataplane.ProtoTCP, 80, "lblcr")), []string{"scheduler lblcr", "--dataplane proxy"}},
		{"sctp ops thresholds", entry(with(service("10.0.0.1", dataplane.ProtoSCTP, 80, "rr"), func(s *dataplane.Service) { s.OnePacket = true }),
			dataplane.Destination{Key: dataplane.DestKey{Addr: netip.MustParseAddr("10.1.0.1"), Port: 80}, Weight: 1, UpperThreshold: 10}),
			[]string{"protocol SCTP", "one-packet", "connection thresholds"}},
		{"mixed family", entry(service("fd00::1", dataplane.ProtoTCP, 80, "rr"), dst("10.1.0.1", 80, 1)), []string{"another family"}},
	} {
		err := Explain(tc.e)
		if !errors.Is(err, dataplane.ErrUnsupported) {
			t.Errorf("%s: got %v, want ErrUnsupported", tc.name, err)
			continue
		}
		for _, w := range tc.want {
			if !strings.Contains(err.Error(), w) {
				t.Errorf("%s: %q lacks %q", tc.name, err, w)
			}
		}
	}
	for _, i := range []int{0, 10} {
		if err := Explain(compileCases[i].e); err != nil {
			t.Errorf("a supported service (%s) is refused: %v", compileCases[i].name, err)
		}
	}
}
