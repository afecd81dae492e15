package daemon

import (
	"reflect"
	"slices"

	"vigil/internal/host"
	"vigil/internal/vrrp"
)

// This file decides what a reload does to each VRRP instance. It is a pure
// function of the running instances and the new configuration, so every
// case is table-tested (reloadplan_test.go) without sockets or netlink; the
// runner (vrrp.go) carries the plan out.

// planInstance is one instance as the planner sees it: its configuration,
// what it needs from the host, and the key of its sync group ("" for none).
type planInstance struct {
	Config   vrrp.InstanceConfig
	Extras   instExtras
	GroupKey string
}

// planAction is what a reload does to one instance.
type planAction int

const (
	// planKeep: nothing changed; the instance is not touched.
	planKeep planAction = iota
	// planAddresses: only its address lists changed; updated in place.
	planAddresses
	// planPriority: its priority (and maybe its address lists) changed;
	// updated in place, keeping its state, as keepalived does.
	planPriority
	// planRestart: anything else changed; stopped and started again.
	planRestart
	// planAdd: a new instance.
	planAdd
	// planRemove: no longer configured; released.
	planRemove
)

var planActionNames = [...]string{"keep", "addresses", "priority", "restart", "add", "remove"}

func (a planAction) String() string { return planActionNames[a] }

// planStep is the fate of one instance. Config is the new configuration
// (the running one for planRemove).
type planStep struct {
	Key    instKey
	Action planAction
	Config vrrp.InstanceConfig
}

// reloadPlan is what a reload does: the instances it removes (in start
// order), then every configured instance (in configuration order).
type reloadPlan struct {
	Removed []planStep
	Steps   []planStep
}

// planInstances is the new configuration as the planner sees it, in
// configuration order.
func planInstances(icfgs []vrrp.InstanceConfig, extras map[string]*instExtras, groups map[string]*groupSpec) []planInstance {
	out := make([]planInstance, 0, len(icfgs))
	for _, ic := range icfgs {
		w := planInstance{Config: ic}
		if ex := extras[ic.Name]; ex != nil {
			w.Extras = *ex
		}
		if g := groups[ic.Name]; g != nil {
			w.GroupKey = g.key
		}
		out = append(out, w)
	}
	return out
}

// planReload compares the running instances (by key, and their start
// order) with the wanted ones (in configuration order) and returns what
// must happen to each. Instances are matched by instKey as keepalived
// matches them. Everything is compared by value: an unchanged configuration
// plans nothing but planKeep.
//
// A restarted or added member of a sync group restarts the running members
// of its group (old or new): a group binds its members' state machines, so
// it is formed anew whenever one of them is made anew.
func planReload(running map[instKey]planInstance, order []instKey, want []planInstance) reloadPlan {
	var p reloadPlan
	wanted := map[instKey]bool{}
	for _, w := range want {
		wanted[keyOf(w.Config)] = true
	}
	for _, k := range order {
		if old, ok := running[k]; ok && !wanted[k] {
			p.Removed = append(p.Removed, planStep{Key: k, Action: planRemove, Config: old.Config})
		}
	}
	actions := make([]planAction, len(want))
	for n, w := range want {
		old, ok := running[keyOf(w.Config)]
		switch {
		case !ok:
			actions[n] = planAdd
		case old.GroupKey != w.GroupKey || !old.Extras.equal(w.Extras):
			actions[n] = planRestart
		case sameConfig(old.Config, w.Config):
			actions[n] = planKeep
		case sameButAddresses(old.Config, w.Config):
			actions[n] = planAddresses
		case priorityInPlace(old.Config, w.Config):
			actions[n] = planPriority
		default:
			actions[n] = planRestart
		}
	}
	// Widen restarts to whole groups until nothing more changes: a group
	// key is touched by a restarted or added member under its new key, and
	// by a restarted member under its old one.
	for changed := true; changed; {
		changed = false
		touched := map[string]bool{}
		for n, w := range want {
			if a := actions[n]; a == planRestart || a == planAdd {
				touched[w.GroupKey] = true
				if old, ok := running[keyOf(w.Config)]; ok {
					touched[old.GroupKey] = true
				}
			}
		}
		delete(touched, "")
		for n, w := range want {
			old, ok := running[keyOf(w.Config)]
			if !ok || actions[n] == planRestart {
				continue
			}
			if touched[w.GroupKey] || touched[old.GroupKey] {
				actions[n] = planRestart
				changed = true
			}
		}
	}
	for n, w := range want {
		p.Steps = append(p.Steps, planStep{Key: keyOf(w.Config), Action: actions[n], Config: w.Config})
	}
	return p
}

// summary counts and names the plan's instances by action.
func (p reloadPlan) summary() reloadSummary {
	var s reloadSummary
	for _, st := range slices.Concat(p.Removed, p.Steps) {
		name := st.Config.Name
		switch st.Action {
		case planKeep:
			s.Unchanged++
			s.UnchangedNames = append(s.UnchangedNames, name)
		case planAddresses:
			s.AddressesChanged++
			s.AddressesChangedNames = append(s.AddressesChangedNames, name)
		case planPriority:
			s.PriorityChanged++
			s.PriorityChangedNames = append(s.PriorityChangedNames, name)
		case planRestart:
			s.Restarted++
			s.RestartedNames = append(s.RestartedNames, name)
		case planAdd:
			s.Added++
			s.AddedNames = append(s.AddedNames, name)
		case planRemove:
			s.Removed++
			s.RemovedNames = append(s.RemovedNames, name)
		}
	}
	return s
}

// reloadSummary counts what a reload did, with the names of the instances
// in each category (configuration order; removed ones in start order), for
// the log and the reply to `vigil reload`.
type reloadSummary struct {
	Unchanged, AddressesChanged, PriorityChanged, Restarted, Added, Removed int

	UnchangedNames, AddressesChangedNames, PriorityChangedNames []string
	RestartedNames, AddedNames, RemovedNames                    []string
}

// equal reports whether e and o ask the same of the host, comparing the
// values of routes, rules and VMAC (never their pointers or renderings).
func (e instExtras) equal(o instExtras) bool {
	return slices.EqualFunc(e.Routes, o.Routes, func(a, b host.Route) bool { return a.Equal(b) }) &&
		slices.EqualFunc(e.Rules, o.Rules, func(a, b host.Rule) bool { return a.Equal(b) }) &&
		(e.VMAC == nil) == (o.VMAC == nil) && (e.VMAC == nil || e.VMAC.Equal(*o.VMAC)) &&
		e.XmitBase == o.XmitBase && e.Filter == o.Filter && e.DontTrackPrimary == o.DontTrackPrimary
}

// sameConfig reports whether two instance configurations are equal. The
// lists are compared element by element (an empty list equals a missing
// one); every other field is a plain value.
func sameConfig(a, b vrrp.InstanceConfig) bool {
	if !slices.Equal(a.VIPs, b.VIPs) || !slices.Equal(a.ExcludedVIPs, b.ExcludedVIPs) || !slices.Equal(a.Peers, b.Peers) {
		return false
	}
	a.VIPs, a.ExcludedVIPs, a.Peers = nil, nil, nil
	b.VIPs, b.ExcludedVIPs, b.Peers = nil, nil, nil
	// No lists are left: DeepEqual compares the remaining values (numbers,
	// strings, addresses) as values.
	return reflect.DeepEqual(a, b)
}

// sameButAddresses reports whether a and b differ at most in their address
// lists.
func sameButAddresses(a, b vrrp.InstanceConfig) bool {
	a.VIPs, a.ExcludedVIPs, b.VIPs, b.ExcludedVIPs = nil, nil, nil, nil
	return sameConfig(a, b)
}

// priorityInPlace reports whether a and b differ at most in priority and
// address lists, in a way a running instance can take without a restart:
// keepalived keeps an instance's state across such a reload, and so do we.
// The address owner's 255 changes the protocol role, so a change to or
// from it restarts the instance.
func priorityInPlace(a, b vrrp.InstanceConfig) bool {
	if a.Priority == vrrp.PriorityOwner || b.Priority == vrrp.PriorityOwner {
		return false
	}
	a.Priority = b.Priority
	return sameButAddresses(a, b)
}
