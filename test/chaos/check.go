package chaos

import (
	"fmt"
	"net/netip"
	"slices"
	"sort"
	"strings"
	"time"
)

// InstanceObs is one instance as a Vigil node's status reports it.
type InstanceObs struct {
	State        string
	BasePriority int
	VIPs         []string
}

// NodeObs is what was observed on one node at one moment.
type NodeObs struct {
	// Running: the daemon's process has not exited.
	Running bool
	// Items are what the node carries of World.Items: addresses on eth0,
	// routes and rules.
	Items []string
	// Status is the reply of a Vigil node's control socket, by instance
	// name; nil when it did not answer (StatusErr says why) or the node
	// runs keepalived.
	Status    map[string]InstanceObs
	StatusErr string
	// Leftovers are what the node carries beyond its state before any
	// daemon ran (see Leftovers); observed on stopped nodes only.
	Leftovers []string
}

// Observed is one observation of every node, indexed like World.Nodes.
type Observed struct {
	Nodes []NodeObs
}

// Check returns every invariant o breaks in w, one line each, in a stable
// order; none means the network is where it must be:
//   - each daemon runs exactly when it should;
//   - each address of a present instance is on the nodes Masters names and
//     nowhere else (so exactly one node when nothing is partitioned), and no
//     address of an absent instance or removed VIP is anywhere;
//   - each running Vigil answers on its control socket with the instances,
//     base priorities and VIPs of its file, in the state VRRP dictates;
//   - a stopped node carries nothing beyond its state before the run.
func Check(w *World, o Observed) []string {
	var v []string
	name := func(n int) string { return w.Nodes[n].Name }
	for n := range w.Nodes {
		if o.Nodes[n].Running != w.Running[n] {
			if w.Running[n] {
				v = append(v, fmt.Sprintf("%s: %s is not running but should be", name(n), w.Nodes[n].Kind))
			} else {
				v = append(v, fmt.Sprintf("%s: %s is running but should be stopped", name(n), w.Nodes[n].Kind))
			}
		}
	}
	want := w.Expected()
	for _, it := range w.Items() {
		var got []int
		for n := range w.Nodes {
			if slices.Contains(o.Nodes[n].Items, it) {
				got = append(got, n)
			}
		}
		exp := want[it]
		if !slices.Equal(got, exp) {
			v = append(v, fmt.Sprintf("%s held by %s, want %s", it, names(w, got), names(w, exp)))
		}
	}
	for n := range w.Nodes {
		if w.Nodes[n].Kind != Vigil || !w.Running[n] || !o.Nodes[n].Running {
			continue
		}
		v = append(v, checkStatus(w, n, o.Nodes[n])...)
	}
	for n := range w.Nodes {
		if w.Running[n] {
			continue
		}
		for _, l := range o.Nodes[n].Leftovers {
			v = append(v, fmt.Sprintf("%s (stopped): left behind: %s", name(n), l))
		}
	}
	return v
}

// checkStatus compares a running Vigil node's status with its file and the
// state VRRP dictates.
func checkStatus(w *World, n int, o NodeObs) []string {
	node := w.Nodes[n].Name
	if o.Status == nil {
		return []string{fmt.Sprintf("%s: no status from the control socket: %s", node, o.StatusErr)}
	}
	var v []string
	seen := map[string]bool{}
	for i := range w.Instances {
		in := &w.Instances[i]
		if !in.Present {
			continue
		}
		seen[in.Spec.Name] = true
		got, ok := o.Status[in.Spec.Name]
		if !ok {
			v = append(v, fmt.Sprintf("%s: %s is configured but not running", node, in.Spec.Name))
			continue
		}
		if got.BasePriority != in.Prio[n] {
			v = append(v, fmt.Sprintf("%s: %s base priority %d, configured %d", node, in.Spec.Name, got.BasePriority, in.Prio[n]))
		}
		var vips []string
		for _, p := range in.VIPs() {
			vips = append(vips, p.String())
		}
		if !sameSet(got.VIPs, vips) {
			v = append(v, fmt.Sprintf("%s: %s VIPs %v, configured %v", node, in.Spec.Name, got.VIPs, vips))
		}
		state := "BACKUP"
		switch {
		case w.CarrierDown(n):
			state = "FAULT"
		case slices.Contains(w.Masters(in), n):
			state = "MASTER"
		}
		if got.State != state {
			v = append(v, fmt.Sprintf("%s: %s in %s, want %s", node, in.Spec.Name, got.State, state))
		}
	}
	var extra []string
	for name := range o.Status {
		if !seen[name] {
			extra = append(extra, name)
		}
	}
	sort.Strings(extra)
	for _, name := range extra {
		v = append(v, fmt.Sprintf("%s: %s runs but is not configured", node, name))
	}
	return v
}

func sameSet(a, b []string) bool {
	a, b = slices.Clone(a), slices.Clone(b)
	slices.Sort(a)
	slices.Sort(b)
	return slices.Equal(a, b)
}

func names(w *World, ns []int) string {
	s := make([]string, len(ns))
	for i, n := range ns {
		s[i] = w.Nodes[n].Name
	}
	return "[" + strings.Join(s, " ") + "]"
}

// Snapshot is a node's network state by category ("link", "addr",
// "route", "rule", "nft"), each a list of lines as the tools print them.
type Snapshot map[string][]string

// Leftovers returns the lines of cur that base does not have, prefixed
// with their category: what a daemon added and did not remove.
func Leftovers(base, cur Snapshot) []string {
	var cats []string
	for c := range cur {
		cats = append(cats, c)
	}
	sort.Strings(cats)
	var out []string
	for _, c := range cats {
		for _, l := range cur[c] {
			if !slices.Contains(base[c], l) {
				out = append(out, c+": "+l)
			}
		}
	}
	return out
}

// Transition is a state change a Vigil node reported on its event stream,
// with the time the campaign received it.
type Transition struct {
	Node     string
	At       time.Time
	Instance string
	From, To string
	Reason   string
}

func (t Transition) String() string {
	s := fmt.Sprintf("%s %s %s -> %s", t.Node, t.Instance, t.From, t.To)
	if t.Reason != "" {
		s += " (" + t.Reason + ")"
	}
	return s
}

// Restarted returns a violation for every transition of node received in
// [from, to] that enters or leaves STOP or INIT: an instance stopped or
// started again. After a reload with an unchanged file no instance may
// restart. Other transitions in the range are not the reload's doing by
// themselves (a 10 ms instance on a loaded machine flaps now and then);
// the campaign reports them.
func Restarted(what, node string, trs []Transition, from, to time.Time) []string {
	var v []string
	for _, t := range Between(trs, from, to) {
		if t.Node == node && (isStopInit(t.From) || isStopInit(t.To)) {
			v = append(v, fmt.Sprintf("transition after %s: %s", what, t))
		}
	}
	return v
}

func isStopInit(s string) bool { return s == "STOP" || s == "INIT" }

// ObeyedStranger returns a violation for every transition received in
// [from, to] whose reason names the address of the host that only ever sends
// malformed packets: a node acted on one of them.
func ObeyedStranger(stranger netip.Addr, trs []Transition, from, to time.Time) []string {
	var v []string
	for _, t := range Between(trs, from, to) {
		for _, f := range strings.FieldsFunc(t.Reason, func(r rune) bool { return r == ' ' || r == ',' || r == '(' || r == ')' }) {
			if a, err := netip.ParseAddr(f); err == nil && a == stranger {
				v = append(v, fmt.Sprintf("transition caused by a malformed packet: %s", t))
				break
			}
		}
	}
	return v
}

// Between returns the transitions received in [from, to].
func Between(trs []Transition, from, to time.Time) []Transition {
	var out []Transition
	for _, t := range trs {
		if !t.At.Before(from) && !t.At.After(to) {
			out = append(out, t)
		}
	}
	return out
}

// HearsStranger reports whether node n receives what the stranger host
// sends: it runs, has carrier and no fault stops frames towards it.
func (w *World) HearsStranger(n int) bool {
	if !w.Live(n) {
		return false
	}
	for _, f := range w.Faults {
		if (f.Kind == Isolate || f.Kind == Ingress) && f.A == n {
			return false
		}
	}
	return true
}
