package chaos

import (
	"fmt"
	"math/rand/v2"
	"net/netip"
	"slices"
	"time"
)

// EventKind is one kind of thing the campaign does to the network.
type EventKind int

// The events. Kill is SIGKILL and an immediate restart: a killed daemon
// leaves its addresses behind by design, and the restart must clean them
// up. Stop (SIGTERM) and Start are separate events, so that the network is
// checked with the node down.
const (
	EvFault     EventKind = iota // a network fault (Event.Fault)
	EvHeal                       // remove fault number Event.Index
	EvKill                       // SIGKILL node, then restart it
	EvStop                       // SIGTERM node
	EvStart                      // start the stopped node
	EvHupSame                    // SIGHUP node, configuration file unchanged
	EvHupChange                  // change the configuration (Event.Change), SIGHUP every running node whose file changed
	EvCPU                        // busy loops on every CPU for Event.Dur
	EvGarbage                    // Event.Count malformed VRRP packets from a stranger on the segment
)

// ChangeKind is a configuration change of an EvHupChange.
type ChangeKind int

// The configuration changes.
const (
	ChPrio    ChangeKind = iota // priority of Inst on Node becomes Prio
	ChAddVIP                    // VIP added to Inst on every node
	ChDelVIP                    // VIP removed from Inst on every node
	ChAddInst                   // Inst added on every node
	ChDelInst                   // Inst removed from every node
)

// Change is one configuration change.
type Change struct {
	Kind ChangeKind
	Inst string
	Node int
	Prio int
	VIP  netip.Prefix
}

// Event is one step of a campaign.
type Event struct {
	Kind   EventKind
	Node   int
	Fault  Fault
	Index  int
	Change Change
	Dur    time.Duration
	Count  int
	Seed   uint64 // contents of the malformed packets
}

// Describe renders e for the event log, with node names from w.
func (e Event) Describe(w *World) string {
	name := func(n int) string { return w.Nodes[n].Name }
	switch e.Kind {
	case EvFault:
		return "fault " + describeFault(w, e.Fault)
	case EvHeal:
		return "heal " + describeFault(w, w.Faults[e.Index])
	case EvKill:
		return "SIGKILL+restart " + name(e.Node)
	case EvStop:
		return "SIGTERM " + name(e.Node)
	case EvStart:
		return "start " + name(e.Node)
	case EvHupSame:
		return "SIGHUP (unchanged) " + name(e.Node)
	case EvHupChange:
		c := e.Change
		switch c.Kind {
		case ChPrio:
			return fmt.Sprintf("SIGHUP (priority %s on %s %d -> %d)", c.Inst, name(c.Node), w.Instance(c.Inst).Prio[c.Node], c.Prio)
		case ChAddVIP:
			return fmt.Sprintf("SIGHUP (add VIP %s to %s)", c.VIP, c.Inst)
		case ChDelVIP:
			return fmt.Sprintf("SIGHUP (remove VIP %s from %s)", c.VIP, c.Inst)
		case ChAddInst:
			return fmt.Sprintf("SIGHUP (add instance %s)", c.Inst)
		case ChDelInst:
			return fmt.Sprintf("SIGHUP (remove instance %s)", c.Inst)
		}
	case EvCPU:
		return fmt.Sprintf("CPU burst %v", e.Dur)
	case EvGarbage:
		return fmt.Sprintf("%d malformed VRRP packets (seed %d)", e.Count, e.Seed)
	}
	return fmt.Sprintf("event kind %d", e.Kind)
}

func describeFault(w *World, f Fault) string {
	if f.Kind == Partition {
		return fmt.Sprintf("partition %s|%s", w.Nodes[f.A].Name, w.Nodes[f.B].Name)
	}
	return f.Kind.String() + " " + w.Nodes[f.A].Name
}

// Apply changes w as e does. Events that change nothing in the model
// (unchanged reload, CPU, garbage, kill and restart) leave it as it is.
func (e Event) Apply(w *World) {
	switch e.Kind {
	case EvFault:
		w.Faults = append(w.Faults, e.Fault)
	case EvHeal:
		w.Faults = slices.Delete(w.Faults, e.Index, e.Index+1)
	case EvStop:
		w.Running[e.Node] = false
	case EvStart:
		w.Running[e.Node] = true
	case EvHupChange:
		c := e.Change
		in := w.Instance(c.Inst)
		switch c.Kind {
		case ChPrio:
			in.Prio[c.Node] = c.Prio
		case ChAddVIP:
			in.Extra = append(in.Extra, c.VIP)
			// Pool order, so that the rendered file does not depend on
			// the order of additions.
			slices.SortFunc(in.Extra, func(a, b netip.Prefix) int {
				return slices.Index(in.Spec.ExtraVIPs, a) - slices.Index(in.Spec.ExtraVIPs, b)
			})
		case ChDelVIP:
			in.Extra = slices.DeleteFunc(in.Extra, func(p netip.Prefix) bool { return p == c.VIP })
		case ChAddInst:
			in.Present = true
		case ChDelInst:
			in.Present = false
		}
	}
}

// Limits of the generator.
const (
	maxFaults  = 2 // network faults in place at once
	maxStopped = 1 // nodes stopped at once: two stay up
	// toggledInstance is the instance reload events remove and add again.
	toggledInstance = "VI_3"
)

// Generate returns n events drawn from seed, each valid in the world the
// previous ones leave (a heal only when a fault is in place, a start only
// for a stopped node, ...). start is not changed. The same seed and start
// always give the same events, which is what makes a run replayable.
func Generate(seed uint64, n int, start *World) []Event {
	r := rand.New(rand.NewPCG(seed, seed^0x9e3779b97f4a7c15))
	w := start.Clone()
	evs := make([]Event, 0, n)
	for len(evs) < n {
		e, ok := draw(r, w)
		if !ok {
			continue
		}
		e.Apply(w)
		evs = append(evs, e)
	}
	return evs
}

// weights of the event kinds, in EventKind order.
var weights = [...]int{
	EvFault:     12,
	EvHeal:      16,
	EvKill:      8,
	EvStop:      6,
	EvStart:     20,
	EvHupSame:   12,
	EvHupChange: 16,
	EvCPU:       5,
	EvGarbage:   8,
}

// draw picks one event valid in w; ok is false when the kind drawn has no
// valid event now (the caller draws again).
func draw(r *rand.Rand, w *World) (Event, bool) {
	total := 0
	for _, x := range weights {
		total += x
	}
	x := r.IntN(total)
	kind := EventKind(0)
	for ; x >= weights[kind]; kind++ {
		x -= weights[kind]
	}
	nodes := len(w.Nodes)
	var running, stopped, vigils []int
	for n := range nodes {
		if w.Running[n] {
			running = append(running, n)
		} else {
			stopped = append(stopped, n)
		}
		if w.Nodes[n].Kind == Vigil && w.Running[n] {
			vigils = append(vigils, n)
		}
	}
	pick := func(s []int) int { return s[r.IntN(len(s))] }
	e := Event{Kind: kind}
	switch kind {
	case EvFault:
		if len(w.Faults) >= maxFaults {
			return e, false
		}
		f := Fault{Kind: FaultKind(r.IntN(int(Partition) + 1)), A: r.IntN(nodes)}
		if f.Kind == Partition {
			f.B = (f.A + 1 + r.IntN(nodes-1)) % nodes
			if f.A > f.B {
				f.A, f.B = f.B, f.A
			}
		}
		if slices.Contains(w.Faults, f) {
			return e, false
		}
		e.Fault = f
	case EvHeal:
		if len(w.Faults) == 0 {
			return e, false
		}
		e.Index = r.IntN(len(w.Faults))
	case EvKill:
		// keepalived is the reference, not the subject: only Vigil is
		// killed (a killed keepalived leaves addresses a restart of it does
		// not remove).
		if len(vigils) == 0 {
			return e, false
		}
		e.Node = pick(vigils)
	case EvStop:
		if len(stopped) >= maxStopped {
			return e, false
		}
		e.Node = pick(running)
	case EvStart:
		if len(stopped) == 0 {
			return e, false
		}
		e.Node = pick(stopped)
	case EvHupSame:
		e.Node = pick(running)
	case EvHupChange:
		c, ok := drawChange(r, w, running)
		if !ok {
			return e, false
		}
		e.Change = c
	case EvCPU:
		e.Dur = time.Duration(100+r.IntN(900)) * time.Millisecond
	case EvGarbage:
		e.Count = 20 + r.IntN(181)
		e.Seed = r.Uint64()
	}
	return e, true
}

// drawChange picks a configuration change that changes something.
func drawChange(r *rand.Rand, w *World, running []int) (Change, bool) {
	var present []*Instance
	for i := range w.Instances {
		if w.Instances[i].Present {
			present = append(present, &w.Instances[i])
		}
	}
	toggled := w.Instance(toggledInstance)
	switch r.IntN(4) {
	case 0, 1: // priority, twice as often: it moves masters
		in := present[r.IntN(len(present))]
		n := running[r.IntN(len(running))]
		p := 50 + r.IntN(151)
		if p == in.Prio[n] {
			return Change{}, false
		}
		return Change{Kind: ChPrio, Inst: in.Spec.Name, Node: n, Prio: p}, true
	case 2:
		in := present[r.IntN(len(present))]
		v := in.Spec.ExtraVIPs[r.IntN(len(in.Spec.ExtraVIPs))]
		if slices.Contains(in.Extra, v) {
			return Change{Kind: ChDelVIP, Inst: in.Spec.Name, VIP: v}, true
		}
		return Change{Kind: ChAddVIP, Inst: in.Spec.Name, VIP: v}, true
	default:
		if toggled == nil {
			return Change{}, false
		}
		if toggled.Present {
			return Change{Kind: ChDelInst, Inst: toggledInstance}, true
		}
		return Change{Kind: ChAddInst, Inst: toggledInstance}, true
	}
}

// Reloaded returns the running nodes whose configuration file differs
// between before and after: those an EvHupChange sends SIGHUP to.
func Reloaded(before, after *World) []int {
	var out []int
	for n := range after.Nodes {
		if after.Running[n] && before.Conf(n) != after.Conf(n) {
			out = append(out, n)
		}
	}
	return out
}
