package chaos

import (
	"bytes"
	"net/netip"
	"slices"
	"testing"

	"vigil/internal/vrrp"
)

func TestGenerateIsReproducible(t *testing.T) {
	a := Generate(42, 500, Default())
	b := Generate(42, 500, Default())
	if !slices.Equal(a, b) {
		t.Fatal("the same seed gave two different campaigns")
	}
	c := Generate(43, 500, Default())
	if slices.Equal(a, c) {
		t.Fatal("seeds 42 and 43 gave the same campaign")
	}
}

// TestGenerateIsValid replays generated campaigns on a world and checks
// that every event makes sense where it comes, that the limits hold, and
// that every kind of event and change is drawn.
func TestGenerateIsValid(t *testing.T) {
	kinds := map[EventKind]int{}
	changes := map[ChangeKind]int{}
	faults := map[FaultKind]int{}
	for seed := uint64(1); seed <= 20; seed++ {
		w := Default()
		for i, ev := range Generate(seed, 500, w) {
			kinds[ev.Kind]++
			_ = ev.Describe(w) // must not panic: it reads the world before the event
			switch ev.Kind {
			case EvFault:
				faults[ev.Fault.Kind]++
				if slices.Contains(w.Faults, ev.Fault) {
					t.Fatalf("seed %d event %d: fault %v already in place", seed, i, ev.Fault)
				}
				if ev.Fault.Kind == Partition && ev.Fault.A >= ev.Fault.B {
					t.Fatalf("seed %d event %d: partition %v not ordered", seed, i, ev.Fault)
				}
			case EvHeal:
				if ev.Index >= len(w.Faults) {
					t.Fatalf("seed %d event %d: heal of fault %d, %d in place", seed, i, ev.Index, len(w.Faults))
				}
			case EvKill:
				if w.Nodes[ev.Node].Kind != Vigil || !w.Running[ev.Node] {
					t.Fatalf("seed %d event %d: kill of %s (running %v)", seed, i, w.Nodes[ev.Node].Name, w.Running[ev.Node])
				}
			case EvStop, EvHupSame:
				if !w.Running[ev.Node] {
					t.Fatalf("seed %d event %d: %v of stopped %s", seed, i, ev.Kind, w.Nodes[ev.Node].Name)
				}
			case EvStart:
				if w.Running[ev.Node] {
					t.Fatalf("seed %d event %d: start of running %s", seed, i, w.Nodes[ev.Node].Name)
				}
			case EvHupChange:
				changes[ev.Change.Kind]++
				after := w.Clone()
				ev.Apply(after)
				if len(Reloaded(w, after)) == 0 {
					t.Fatalf("seed %d event %d: %s changes no running node's file", seed, i, ev.Describe(w))
				}
			case EvCPU:
				if ev.Dur <= 0 {
					t.Fatalf("seed %d event %d: CPU burst of %v", seed, i, ev.Dur)
				}
			case EvGarbage:
				if ev.Count < 1 || ev.Count > 200 {
					t.Fatalf("seed %d event %d: %d packets, want 1..200", seed, i, ev.Count)
				}
			}
			ev.Apply(w)
			stopped := 0
			for _, r := range w.Running {
				if !r {
					stopped++
				}
			}
			if stopped > maxStopped || len(w.Faults) > maxFaults {
				t.Fatalf("seed %d event %d: %d stopped, %d faults", seed, i, stopped, len(w.Faults))
			}
			for _, in := range w.Instances {
				if in.Spec.Name != toggledInstance && !in.Present {
					t.Fatalf("seed %d event %d: %s removed", seed, i, in.Spec.Name)
				}
			}
		}
	}
	for k := EvFault; k <= EvGarbage; k++ {
		if kinds[k] == 0 {
			t.Errorf("event kind %s never drawn", kindNames[k])
		}
	}
	for k := ChPrio; k <= ChDelInst; k++ {
		if changes[k] == 0 {
			t.Errorf("change kind %d never drawn", k)
		}
	}
	for k := Wire; k <= Partition; k++ {
		if faults[k] == 0 {
			t.Errorf("fault %s never drawn", k)
		}
	}
}

func TestReloaded(t *testing.T) {
	w := Default()
	w.Running[nk] = false
	prio := w.Clone()
	Event{Kind: EvHupChange, Change: Change{Kind: ChPrio, Inst: "VI_2", Node: nb, Prio: 77}}.Apply(prio)
	if got := Reloaded(w, prio); !slices.Equal(got, []int{nb}) {
		t.Errorf("priority change on b reloads %v, want [b]", got)
	}
	vip := w.Clone()
	Event{Kind: EvHupChange, Change: Change{Kind: ChAddVIP, Inst: "VI_1", VIP: netip.MustParsePrefix("10.77.0.112/24")}}.Apply(vip)
	if got := Reloaded(w, vip); !slices.Equal(got, []int{na, nb}) {
		t.Errorf("VIP added reloads %v, want the running nodes [a b]", got)
	}
	if got := Reloaded(w, w.Clone()); got != nil {
		t.Errorf("no change reloads %v", got)
	}
}

func TestDescribe(t *testing.T) {
	w := Default()
	w.Faults = []Fault{{Kind: Partition, A: na, B: nk}}
	tests := []struct {
		ev   Event
		want string
	}{
		{Event{Kind: EvFault, Fault: Fault{Kind: Egress, A: nb}}, "fault egress b"},
		{Event{Kind: EvHeal, Index: 0}, "heal partition a|k"},
		{Event{Kind: EvKill, Node: na}, "SIGKILL+restart a"},
		{Event{Kind: EvHupSame, Node: nk}, "SIGHUP (unchanged) k"},
		{Event{Kind: EvHupChange, Change: Change{Kind: ChPrio, Inst: "VI_1", Node: nb, Prio: 180}}, "SIGHUP (priority VI_1 on b 100 -> 180)"},
		{Event{Kind: EvHupChange, Change: Change{Kind: ChDelInst, Inst: "VI_3"}}, "SIGHUP (remove instance VI_3)"},
		{Event{Kind: EvGarbage, Count: 30, Seed: 5}, "30 malformed VRRP packets (seed 5)"},
	}
	for _, tt := range tests {
		if got := tt.ev.Describe(w); got != tt.want {
			t.Errorf("Describe = %q, want %q", got, tt.want)
		}
	}
}

// TestGarbageIsRefused: every datagram is one a correct node drops: Vigil's
// own decoder refuses it, or its TTL is not 255, or it is a VRRPv2 advert
// whose PASS data is not the instance's password.
func TestGarbageIsRefused(t *testing.T) {
	w := Default()
	src := netip.MustParseAddr("10.77.0.9")
	ds := Garbage(99, 2000, src, w)
	if len(ds) != 2000 {
		t.Fatalf("%d datagrams, want 2000", len(ds))
	}
	again := Garbage(99, 2000, src, w)
	for i := range ds {
		if !bytes.Equal(ds[i].Data, again[i].Data) || ds[i].TTL != again[i].TTL {
			t.Fatalf("datagram %d differs between two runs of the same seed", i)
		}
	}
	whats := map[string]int{}
	for i, d := range ds {
		whats[d.What]++
		if len(d.Data) == 0 {
			t.Fatalf("datagram %d (%s) is empty", i, d.What)
		}
		p, err := vrrp.Parse(d.Data, src, vrrpGroup, vrrp.CodecOptions{})
		switch {
		case err != nil:
		case d.TTL != 255:
		case p.Version == 2:
			in := instanceByVRID(w, int(p.VRID))
			var want [8]byte
			copy(want[:], in.Spec.Pass)
			if p.AuthType == vrrp.AuthPass && p.AuthData == want {
				t.Fatalf("datagram %d (%s) is a valid advert with the right password", i, d.What)
			}
		default:
			t.Fatalf("datagram %d (%s) is a valid advert: %+v", i, d.What, p)
		}
	}
	if len(whats) != 9 {
		t.Errorf("kinds of garbage drawn: %v, want 9", whats)
	}
}

func instanceByVRID(w *World, vrid int) *Instance {
	for i := range w.Instances {
		if w.Instances[i].Spec.VRID == vrid {
			return &w.Instances[i]
		}
	}
	return nil
}
