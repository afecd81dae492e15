package chaos

import (
	"net/netip"
	"slices"
	"strings"
	"testing"
	"time"

	"vigil/internal/config"
)

// Node indexes of Default: a and b run Vigil, k keepalived (highest address).
const (
	na = 0
	nb = 1
	nk = 2
)

func TestMasters(t *testing.T) {
	tests := []struct {
		name    string
		prio    []int // VI_1 priorities of a, b, k
		running []bool
		faults  []Fault
		absent  bool
		want    []int
	}{
		{name: "all up: highest priority", prio: []int{150, 100, 120}, want: []int{na}},
		{name: "highest stopped: next one", prio: []int{150, 100, 120}, running: []bool{false, true, true}, want: []int{nk}},
		{name: "all stopped: nobody", prio: []int{150, 100, 120}, running: []bool{false, false, false}, want: nil},
		{name: "wire cut: the node is in FAULT", prio: []int{150, 100, 120}, faults: []Fault{{Kind: Wire, A: na}}, want: []int{nk}},
		{name: "isolated master keeps it, the rest elect", prio: []int{150, 100, 120}, faults: []Fault{{Kind: Isolate, A: na}}, want: []int{na, nk}},
		{name: "isolated backup takes it too", prio: []int{150, 100, 120}, faults: []Fault{{Kind: Isolate, A: nb}}, want: []int{na, nb}},
		{name: "master's adverts lost: next takes over, master keeps it", prio: []int{150, 100, 120}, faults: []Fault{{Kind: Egress, A: na}}, want: []int{na, nk}},
		{name: "master deaf: nothing changes", prio: []int{150, 100, 120}, faults: []Fault{{Kind: Ingress, A: na}}, want: []int{na}},
		{name: "backup deaf: it becomes master", prio: []int{150, 100, 120}, faults: []Fault{{Kind: Ingress, A: nb}}, want: []int{na, nb}},
		{name: "backup mute: nothing changes", prio: []int{150, 100, 120}, faults: []Fault{{Kind: Egress, A: nk}}, want: []int{na}},
		{name: "partition master|second: both master", prio: []int{150, 100, 120}, faults: []Fault{{Kind: Partition, A: na, B: nk}}, want: []int{na, nk}},
		{name: "partition master|third: third is master", prio: []int{150, 100, 120}, faults: []Fault{{Kind: Partition, A: na, B: nb}}, want: []int{na, nb}},
		{name: "partition of the backups: one master", prio: []int{150, 100, 120}, faults: []Fault{{Kind: Partition, A: nb, B: nk}}, want: []int{na}},
		{name: "equal priorities: highest address", prio: []int{100, 100, 100}, want: []int{nk}},
		{name: "equal top two: higher address of those", prio: []int{200, 200, 100}, want: []int{nb}},
		{name: "two faults: a mute, k deaf", prio: []int{150, 100, 120},
			faults: []Fault{{Kind: Egress, A: na}, {Kind: Ingress, A: nk}}, want: []int{na, nk}},
		{name: "wire cut and stopped: the third", prio: []int{150, 100, 120}, running: []bool{true, true, false},
			faults: []Fault{{Kind: Wire, A: na}}, want: []int{nb}},
		{name: "absent instance: nobody", prio: []int{150, 100, 120}, absent: true, want: nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			w := Default()
			in := w.Instance("VI_1")
			in.Prio = tt.prio
			in.Present = !tt.absent
			if tt.running != nil {
				w.Running = tt.running
			}
			w.Faults = tt.faults
			if got := w.Masters(in); !slices.Equal(got, tt.want) {
				t.Errorf("Masters = %v, want %v", got, tt.want)
			}
		})
	}
}

func TestReach(t *testing.T) {
	w := Default()
	w.Faults = []Fault{{Kind: Egress, A: na}, {Kind: Partition, A: nb, B: nk}}
	want := map[[2]int]bool{
		{na, nb}: false, {na, nk}: false, {nb, na}: true, {nk, na}: true,
		{nb, nk}: false, {nk, nb}: false,
	}
	for pair, reach := range want {
		if got := w.Reach(pair[0], pair[1]); got != reach {
			t.Errorf("Reach(%d, %d) = %v, want %v", pair[0], pair[1], got, reach)
		}
	}
}

func TestExpectedFollowsVIPsAndPresence(t *testing.T) {
	w := Default()
	Event{Kind: EvHupChange, Change: Change{Kind: ChAddVIP, Inst: "VI_2", VIP: netip.MustParsePrefix("10.77.0.123/24")}}.Apply(w)
	Event{Kind: EvHupChange, Change: Change{Kind: ChDelInst, Inst: "VI_3"}}.Apply(w)
	got := w.Expected()
	want := map[string][]int{
		"VIP 10.77.0.101":    {na}, // VI_1
		"route 10.78.1.0/24": {na},
		"VIP 10.77.0.102":    {nb}, // VI_2
		"VIP 10.77.0.123":    {nb}, // VI_2's extra
	}
	if len(got) != len(want) {
		t.Errorf("Expected = %v, want %d items", got, len(want))
	}
	for it, ns := range want {
		if !slices.Equal(got[it], ns) {
			t.Errorf("Expected[%s] = %v, want %v", it, got[it], ns)
		}
	}
}

func TestSettleBound(t *testing.T) {
	w := Default()
	if got, want := w.SettleBound(), 5*time.Second; got != want {
		t.Errorf("SettleBound with the 1 s instance = %v, want %v", got, want)
	}
	// A partition between two of the three live nodes: a takeover can
	// silence the master that only one side hears, so two links.
	w.Faults = append(w.Faults, Fault{Kind: Partition, A: 0, B: 1})
	if got, want := w.SettleBound(), 9*time.Second; got != want {
		t.Errorf("SettleBound under a partition = %v, want %v", got, want)
	}
	// One side of it stopped: the live nodes hear each other again.
	w.Running[0] = false
	if got, want := w.SettleBound(), 5*time.Second; got != want {
		t.Errorf("SettleBound under a partition with a side stopped = %v, want %v", got, want)
	}
	w.Running[0] = true
	w.Faults = nil
	w.Instance("VI_1").Present = false
	if got, want := w.SettleBound(), 1400*time.Millisecond; got != want {
		t.Errorf("SettleBound with 100 ms and 10 ms instances = %v, want %v", got, want)
	}
}

// TestConfLoads: every node's file, after a series of changes, is one
// Vigil's own parser accepts without a diagnostic, with the instances,
// priorities and addresses of the world.
func TestConfLoads(t *testing.T) {
	for _, known := range []bool{false, true} {
		w := Default()
		if known {
			w = WithKnownDefects(w)
		}
		confLoads(t, w)
	}
}

func confLoads(t *testing.T, w *World) {
	for _, ev := range Generate(7, 200, Default()) {
		ev.Apply(w)
	}
	for n := range w.Nodes {
		text := w.Conf(n)
		cfg, diags := config.LoadBytes("node.conf", []byte(text), config.LoadOptions{})
		if len(diags) > 0 {
			t.Fatalf("node %s: diagnostics %v for\n%s", w.Nodes[n].Name, diags, text)
		}
		var present []string
		for _, in := range w.Instances {
			if in.Present {
				present = append(present, in.Spec.Name)
			}
		}
		if len(cfg.Instances) != len(present) {
			t.Fatalf("node %s: %d instances parsed, want %v", w.Nodes[n].Name, len(cfg.Instances), present)
		}
		for _, ic := range cfg.Instances {
			in := w.Instance(ic.Name)
			if in == nil || !in.Present {
				t.Fatalf("node %s: unexpected instance %s", w.Nodes[n].Name, ic.Name)
			}
			if ic.Priority != in.Prio[n] || ic.VRID != in.Spec.VRID || ic.AdvertInt != in.Spec.AdvertInt {
				t.Errorf("node %s %s: priority %d vrid %d advert %v, want %d %d %v", w.Nodes[n].Name, ic.Name,
					ic.Priority, ic.VRID, ic.AdvertInt, in.Prio[n], in.Spec.VRID, in.Spec.AdvertInt)
			}
			if len(ic.VirtualAddresses) != len(in.VIPs()) {
				t.Errorf("node %s %s: %d VIPs, want %v", w.Nodes[n].Name, ic.Name, len(ic.VirtualAddresses), in.VIPs())
			}
		}
	}
}

func TestConfText(t *testing.T) {
	got := Default().Conf(nk)
	for _, want := range []string{
		"router_id k\n",
		"vrrp_instance VI_1 {\n    state BACKUP\n    interface eth0\n    virtual_router_id 51\n    priority 120\n    advert_int 1\n    version 2\n",
		"auth_type PASS\n        auth_pass chaos1\n",
		"virtual_router_id 52\n    priority 120\n    advert_int 0.01\n    version 3\n",
		"advert_int 0.1\n",
		"        10.77.0.103/24\n",
		"    virtual_routes {\n        10.78.1.0/24 dev eth0\n    }\n}\n",
	} {
		if !strings.Contains(got, want) {
			t.Errorf("configuration lacks %q:\n%s", want, got)
		}
	}
	if strings.Contains(got, "use_vmac") || strings.Contains(got, "virtual_rules") {
		t.Errorf("configuration uses a VMAC or a rule:\n%s", got)
	}
	known := WithKnownDefects(Default()).Conf(nk)
	for _, want := range []string{
		"virtual_rules {\n        from 10.77.0.101 table 101 preference 101\n    }\n",
		"virtual_router_id 53\n    priority 130\n    advert_int 0.1\n    version 3\n    use_vmac\n",
	} {
		if !strings.Contains(known, want) {
			t.Errorf("configuration with the known defects lacks %q:\n%s", want, known)
		}
	}
}
