package chaos

import (
	"net/netip"
	"slices"
	"testing"
	"time"
)

// settled is an observation of Default where everything is as it must be:
// a holds VI_1, b VI_2, k VI_3, every daemon runs and reports so.
func settled() Observed {
	vip := func(s string) string { return VIPItem(netip.MustParseAddr(s)) }
	vigil := func(prios [3]int, master string) map[string]InstanceObs {
		st := map[string]InstanceObs{}
		for i, name := range []string{"VI_1", "VI_2", "VI_3"} {
			s := "BACKUP"
			if name == master {
				s = "MASTER"
			}
			st[name] = InstanceObs{State: s, BasePriority: prios[i], VIPs: []string{"10.77.0.10" + string(rune('1'+i)) + "/24"}}
		}
		return st
	}
	return Observed{Nodes: []NodeObs{
		{Running: true, Items: []string{vip("10.77.0.2"), vip("10.77.0.101"), "route 10.78.1.0/24", "rule from 10.77.0.101 table 101"}, Status: vigil([3]int{150, 100, 110}, "VI_1")},
		{Running: true, Items: []string{vip("10.77.0.3"), vip("10.77.0.102"), "route 10.77.0.0/24"}, Status: vigil([3]int{100, 150, 90}, "VI_2")},
		{Running: true, Items: []string{vip("10.77.0.4"), vip("10.77.0.103"), "route 10.78.3.0/24"}},
	}}
}

// add and del put items on node n and take them away.
func add(o *Observed, n int, items ...string) { o.Nodes[n].Items = append(o.Nodes[n].Items, items...) }
func del(o *Observed, n int, items ...string) {
	o.Nodes[n].Items = slices.DeleteFunc(o.Nodes[n].Items, func(s string) bool { return slices.Contains(items, s) })
}

// vi1 is what the master of VI_1 carries.
var vi1 = []string{"VIP 10.77.0.101", "route 10.78.1.0/24", "rule from 10.77.0.101 table 101"}

func TestCheck(t *testing.T) {
	tests := []struct {
		name   string
		world  func(*World)
		change func(*Observed)
		want   []string
	}{
		{name: "settled", want: nil},
		{name: "VIP on two nodes",
			change: func(o *Observed) { add(o, nk, "VIP 10.77.0.101") },
			want:   []string{"VIP 10.77.0.101 held by [a k], want [a]"}},
		{name: "VIP nowhere",
			change: func(o *Observed) { del(o, nk, "VIP 10.77.0.103", "route 10.78.3.0/24") },
			want:   []string{"VIP 10.77.0.103 held by [], want [k]", "route 10.78.3.0/24 held by [], want [k]"}},
		{name: "removed VIP still there",
			change: func(o *Observed) { add(o, na, "VIP 10.77.0.111") },
			want:   []string{"VIP 10.77.0.111 held by [a], want []"}},
		{name: "route and rule left on a backup",
			change: func(o *Observed) { add(o, nb, vi1[1:]...) },
			want: []string{"route 10.78.1.0/24 held by [a b], want [a]",
				"rule from 10.77.0.101 table 101 held by [a b], want [a]"}},
		{name: "daemon died",
			change: func(o *Observed) { o.Nodes[nk].Running = false },
			want:   []string{"k: keepalived is not running but should be"}},
		{name: "daemon runs that was stopped",
			world:  func(w *World) { w.Running[nb] = false },
			change: func(o *Observed) { del(o, nb, "VIP 10.77.0.102") },
			want: []string{"b: vigil is running but should be stopped",
				// With b stopped, k (120) must hold VI_2; b's status is not
				// checked since it should not run.
				"VIP 10.77.0.102 held by [], want [k]"}},
		{name: "no status",
			change: func(o *Observed) { o.Nodes[na].Status, o.Nodes[na].StatusErr = nil, "connection refused" },
			want:   []string{"a: no status from the control socket: connection refused"}},
		{name: "wrong state, priority, VIPs",
			change: func(o *Observed) {
				o.Nodes[nb].Status["VI_1"] = InstanceObs{State: "MASTER", BasePriority: 99, VIPs: []string{"10.77.0.101/24", "10.77.0.111/24"}}
			},
			want: []string{
				"b: VI_1 base priority 99, configured 100",
				"b: VI_1 VIPs [10.77.0.101/24 10.77.0.111/24], configured [10.77.0.101/24]",
				"b: VI_1 in MASTER, want BACKUP",
			}},
		{name: "instance missing and one too many",
			change: func(o *Observed) {
				o.Nodes[na].Status["VI_9"] = o.Nodes[na].Status["VI_3"]
				delete(o.Nodes[na].Status, "VI_3")
			},
			want: []string{"a: VI_3 is configured but not running", "a: VI_9 runs but is not configured"}},
		{name: "carrier down: FAULT and nothing held",
			world: func(w *World) { w.Faults = []Fault{{Kind: Wire, A: na}} },
			change: func(o *Observed) {
				del(o, na, vi1...)
				add(o, nk, vi1...)
				for _, n := range []string{"VI_1", "VI_2", "VI_3"} {
					s := o.Nodes[na].Status[n]
					s.State = "FAULT"
					o.Nodes[na].Status[n] = s
				}
			},
			want: nil},
		{name: "carrier down but still BACKUP",
			world: func(w *World) { w.Faults = []Fault{{Kind: Wire, A: nb}} },
			change: func(o *Observed) {
				del(o, nb, "VIP 10.77.0.102")
				add(o, nk, "VIP 10.77.0.102")
				for _, n := range []string{"VI_1", "VI_2"} {
					s := o.Nodes[nb].Status[n]
					s.State = "FAULT"
					o.Nodes[nb].Status[n] = s
				}
			},
			want: []string{"b: VI_3 in BACKUP, want FAULT"}},
		{name: "leftovers on a stopped node",
			world: func(w *World) { w.Running[na] = false },
			change: func(o *Observed) {
				o.Nodes[na] = NodeObs{Items: []string{"VIP 10.77.0.2"}, Leftovers: []string{"nft: table inet vigil"}}
				add(o, nk, vi1...)
			},
			want: []string{"a (stopped): left behind: nft: table inet vigil"}},
		{name: "leftovers on a running node are not looked at",
			change: func(o *Observed) { o.Nodes[na].Leftovers = []string{"addr: eth0 inet 10.77.0.101/24"} },
			want:   nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			w := WithKnownDefects(Default()) // with the rule
			if tt.world != nil {
				tt.world(w)
			}
			o := settled()
			if tt.change != nil {
				tt.change(&o)
			}
			if got := Check(w, o); !slices.Equal(got, tt.want) {
				t.Errorf("Check:\n got %q\nwant %q", got, tt.want)
			}
		})
	}
}

func TestLeftovers(t *testing.T) {
	base := Snapshot{
		"addr":  {"eth0 inet 10.77.0.2/24", "lo inet 127.0.0.1/8"},
		"route": {"10.77.0.0/24 dev eth0 proto kernel scope link src 10.77.0.2"},
	}
	cur := Snapshot{
		"addr":  {"eth0 inet 10.77.0.2/24", "eth0 inet 10.77.0.101/24", "lo inet 127.0.0.1/8"},
		"route": {"10.77.0.0/24 dev eth0 proto kernel scope link src 10.77.0.2"},
		"nft":   {"table inet vigil"},
		"link":  {"lo", "eth0", "vrrp.51"},
	}
	got := Leftovers(base, cur)
	want := []string{"addr: eth0 inet 10.77.0.101/24", "link: lo", "link: eth0", "link: vrrp.51", "nft: table inet vigil"}
	if !slices.Equal(got, want) {
		t.Errorf("Leftovers:\n got %q\nwant %q", got, want)
	}
	if got := Leftovers(base, base); got != nil {
		t.Errorf("Leftovers of the base itself = %q, want none", got)
	}
}

func TestRestartedAndStranger(t *testing.T) {
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	stranger := netip.MustParseAddr("10.77.0.9")
	trs := []Transition{
		{Node: "a", At: t0.Add(-time.Millisecond), Instance: "VI_1", From: "MASTER", To: "STOP", Reason: "shutdown"},
		{Node: "a", At: t0.Add(time.Second), Instance: "VI_1", From: "MASTER", To: "STOP", Reason: "shutdown"},
		{Node: "a", At: t0.Add(time.Second), Instance: "VI_1", From: "STOP", To: "BACKUP"},
		{Node: "b", At: t0.Add(time.Second), Instance: "VI_1", From: "INIT", To: "BACKUP"},
		{Node: "a", At: t0.Add(time.Second), Instance: "VI_2", From: "BACKUP", To: "MASTER", Reason: "master down timer expired"},
		{Node: "b", At: t0.Add(time.Second), Instance: "VI_2", From: "MASTER", To: "BACKUP", Reason: "higher priority 254 from 10.77.0.9"},
		{Node: "b", At: t0.Add(time.Second), Instance: "VI_2", From: "MASTER", To: "BACKUP", Reason: "higher priority 254 from 10.77.0.99"},
		{Node: "b", At: t0.Add(3 * time.Second), Instance: "VI_3", From: "MASTER", To: "BACKUP", Reason: "higher priority 254 from 10.77.0.9"},
	}
	from, to := t0, t0.Add(2*time.Second)
	got := Restarted("reload", "a", trs, from, to)
	want := []string{
		"transition after reload: a VI_1 MASTER -> STOP (shutdown)",
		"transition after reload: a VI_1 STOP -> BACKUP",
	}
	if !slices.Equal(got, want) {
		t.Errorf("Restarted = %q, want %q", got, want)
	}
	got = ObeyedStranger(stranger, trs, from, to)
	want = []string{"transition caused by a malformed packet: b VI_2 MASTER -> BACKUP (higher priority 254 from 10.77.0.9)"}
	if !slices.Equal(got, want) {
		t.Errorf("ObeyedStranger = %q, want %q", got, want)
	}
	if got := Between(trs, from, to); len(got) != 6 || got[0] != trs[1] || got[5] != trs[6] {
		t.Errorf("Between = %v, want the 6 transitions in the range", got)
	}
}

func TestHearsStranger(t *testing.T) {
	w := Default()
	w.Running[nk] = false
	w.Faults = []Fault{{Kind: Egress, A: na}, {Kind: Ingress, A: nb}}
	for n, want := range []bool{true, false, false} {
		if got := w.HearsStranger(n); got != want {
			t.Errorf("HearsStranger(%d) = %v, want %v", n, got, want)
		}
	}
	w.Faults = []Fault{{Kind: Wire, A: na}, {Kind: Partition, A: nb, B: nk}}
	if w.HearsStranger(na) || !w.HearsStranger(nb) {
		t.Errorf("wire cut a / partition b|k: HearsStranger = %v %v, want false true", w.HearsStranger(na), w.HearsStranger(nb))
	}
}
