package track

import (
	"fmt"
	"slices"
)

// Kind names the sort of tracked object, as the track_* keyword spells it.
type Kind string

// Kinds of tracked objects.
const (
	KindInterface Kind = "track_interface"
	KindScript    Kind = "track_script"
	KindFile      Kind = "track_file"
	KindProcess   Kind = "track_process"
)

// Update is a tracker's news about one object.
type Update struct {
	Kind Kind
	Name string
	// Status is the state of a script, interface or process; unused for
	// files.
	Status Status
	// Value is the number read from a tracked file.
	Value int64
	// Reason says why, for logs (exit status, process count, ...).
	Reason string
}

// OK reports whether an up/down object is up.
func (u Update) OK() bool { return u.Status == Good }

// Ref is one line of an instance's (or its sync group's) track_* block with
// the weight and reverse that apply, defaults filled in.
type Ref struct {
	Kind    Kind
	Name    string
	Weight  int
	Reverse bool
}

// Source is the fault source name an instance sees for this reference.
func (r Ref) Source() string { return string(r.Kind) + " " + r.Name }

// Target is what an aggregator drives: a VRRP instance.
type Target interface {
	SetPriorityDelta(delta int)
	SetFault(source string, fault bool)
}

type objKey struct {
	kind Kind
	name string
}

// Aggregator combines the tracked objects of one instance into a priority
// delta and faults, and tells its Target only what changed. It is not safe
// for concurrent use: the Set's goroutine owns it.
type Aggregator struct {
	refs   []Ref
	last   map[objKey]Update
	target Target
	delta  int
	faults map[string]bool
}

// NewAggregator returns an aggregator for refs driving t. Every object
// starts with no result, which has no effect.
func NewAggregator(refs []Ref, t Target) *Aggregator {
	return &Aggregator{
		refs:   slices.Clone(refs),
		last:   map[objKey]Update{},
		target: t,
		faults: map[string]bool{},
	}
}

// Tracks reports whether the aggregator has a reference to the object.
func (a *Aggregator) Tracks(kind Kind, name string) bool {
	return slices.ContainsFunc(a.refs, func(r Ref) bool { return r.Kind == kind && r.Name == name })
}

// Apply records u and updates the target if the delta or a fault changed.
// Updates about objects the instance does not track are ignored.
func (a *Aggregator) Apply(u Update) {
	if !a.Tracks(u.Kind, u.Name) {
		return
	}
	a.last[objKey{u.Kind, u.Name}] = u
	delta, faults := a.compute()
	if delta != a.delta {
		a.delta = delta
		a.target.SetPriorityDelta(delta)
	}
	for src := range a.faults {
		if !faults[src] {
			delete(a.faults, src)
			a.target.SetFault(src, false)
		}
	}
	for _, src := range sortedKeys(faults) {
		if !a.faults[src] {
			a.faults[src] = true
			a.target.SetFault(src, true)
		}
	}
}

// State returns the current delta and the fault sources, sorted.
func (a *Aggregator) State() (delta int, faults []string) {
	return a.delta, sortedKeys(a.faults)
}

// Describe returns one line per reference with its last news, for logs
// and status.
func (a *Aggregator) Describe() []string {
	var out []string
	for _, r := range a.refs {
		u, ok := a.last[objKey{r.Kind, r.Name}]
		st := "PENDING"
		if ok {
			if r.Kind == KindFile {
				st = fmt.Sprintf("value %d", u.Value)
			} else {
				st = u.Status.String()
			}
		}
		e := a.effect(r)
		out = append(out, fmt.Sprintf("%s weight %d reverse %v: %s (delta %d, fault %v)", r.Source(), r.Weight, r.Reverse, st, e.Delta, e.Fault))
	}
	return out
}

func (a *Aggregator) compute() (int, map[string]bool) {
	delta := 0
	faults := map[string]bool{}
	for _, r := range a.refs {
		e := a.effect(r)
		if e.Fault {
			faults[r.Source()] = true
		} else {
			delta += e.Delta
		}
	}
	return delta, faults
}

// effect is what r does now; an object without news does nothing.
func (a *Aggregator) effect(r Ref) Effect {
	u, ok := a.last[objKey{r.Kind, r.Name}]
	if !ok {
		return Effect{}
	}
	if r.Kind == KindFile {
		return FileEffect(u.Value, r.Weight, r.Reverse)
	}
	if u.Status == Pending {
		return Effect{}
	}
	return BinaryEffect(u.Status == Good, r.Weight, r.Reverse)
}

func sortedKeys(m map[string]bool) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	slices.Sort(out)
	return out
}
