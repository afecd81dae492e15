package daemon

import (
	"errors"
	"log/slog"
	"net"
	"net/netip"
	"reflect"
	"slices"

	"vigil/internal/config"
	"vigil/internal/host"
	"vigil/internal/vrrp"
)

// instExtras is what an instance needs from the host beyond its VIPs: the
// routes and rules a master holds, its virtual MAC, and whether its VIPs
// are filtered (strict mode without accept).
type instExtras struct {
	Routes   []host.Route
	Rules    []host.Rule
	VMAC     *host.VMAC
	XmitBase bool // vmac_xmit_base: adverts go out on the base interface
	Filter   bool
	// DontTrackPrimary ignores the instance's interface going down.
	DontTrackPrimary bool
}

// extrasOf converts an instance's routes, rules and VMAC, collecting every
// problem with its file:line.
func extrasOf(in *config.VRRPInstance, g config.GlobalDefs) (*instExtras, error) {
	ex := &instExtras{Filter: filterNeeded(in), XmitBase: in.VMACXmitBase, DontTrackPrimary: in.DontTrackPrimary}
	var errs []error
	for _, r := range in.Routes {
		hr, err := hostRoute(r)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		ex.Routes = append(ex.Routes, hr)
	}
	for _, r := range in.Rules {
		hr, err := hostRule(r)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		ex.Rules = append(ex.Rules, hr)
	}
	v, ok, err := hostVMAC(in, g.VMACPrefix)
	if err != nil {
		errs = append(errs, err)
	} else if ok {
		ex.VMAC = &v
	}
	return ex, errors.Join(errs...)
}

// staticSet is what static_ipaddress, static_routes and static_rules ask
// for: installed at start, kept while Vigil runs, removed on stop.
type staticSet struct {
	Addrs  []host.Address
	Routes []host.Route
	Rules  []host.Rule
}

// staticOf converts the static blocks, collecting every problem.
func staticOf(cfg *config.Config) (staticSet, error) {
	var s staticSet
	var errs []error
	for _, a := range cfg.StaticAddresses {
		ha, err := hostStaticAddress(a)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		s.Addrs = append(s.Addrs, ha)
	}
	for _, r := range cfg.StaticRoutes {
		hr, err := hostRoute(r)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		s.Routes = append(s.Routes, hr)
	}
	for _, r := range cfg.StaticRules {
		hr, err := hostRule(r)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		s.Rules = append(s.Rules, hr)
	}
	return s, errors.Join(errs...)
}

// applyStatic moves the host from the static set old to new: what left is
// removed (rules first, addresses last), what is new is added (addresses
// first). Unchanged entries are not touched.
func applyStatic(mgr *host.Manager, old, new staticSet, log *slog.Logger) error {
	var errs []error
	for _, r := range old.Rules {
		if !containsEq(new.Rules, r) {
			errs = append(errs, mgr.RemoveRule(r))
		}
	}
	for _, r := range old.Routes {
		if !containsEq(new.Routes, r) {
			errs = append(errs, mgr.RemoveRoute(r))
		}
	}
	for _, a := range old.Addrs {
		if !containsEq(new.Addrs, a) {
			errs = append(errs, mgr.Remove(a))
		}
	}
	for _, a := range new.Addrs {
		if !containsEq(old.Addrs, a) {
			errs = append(errs, mgr.Add(a))
		}
	}
	for _, r := range new.Routes {
		if !containsEq(old.Routes, r) {
			errs = append(errs, mgr.AddRoute(r))
		}
	}
	for _, r := range new.Rules {
		if !containsEq(old.Rules, r) {
			errs = append(errs, mgr.AddRule(r))
		}
	}
	err := errors.Join(errs...)
	if err == nil && (len(new.Addrs)+len(new.Routes)+len(new.Rules) > 0) {
		log.Info("static addresses, routes and rules in place", "addresses", len(new.Addrs), "routes", len(new.Routes), "rules", len(new.Rules))
	}
	return err
}

func containsEq[T any](list []T, v T) bool {
	return slices.ContainsFunc(list, func(x T) bool { return reflect.DeepEqual(x, v) })
}

// masterHooks installs an instance's virtual_routes and virtual_rules while
// it is master.
type masterHooks struct {
	mgr    *host.Manager
	routes []host.Route
	rules  []host.Rule
}

// Acquire adds the routes, then the rules (a rule may point at a table the
// routes fill).
func (h masterHooks) Acquire() error {
	var errs []error
	for _, r := range h.routes {
		errs = append(errs, h.mgr.AddRoute(r))
	}
	for _, r := range h.rules {
		errs = append(errs, h.mgr.AddRule(r))
	}
	return errors.Join(errs...)
}

// Release removes them in the reverse order.
func (h masterHooks) Release() error {
	var errs []error
	for _, r := range slices.Backward(h.rules) {
		errs = append(errs, h.mgr.RemoveRule(r))
	}
	for _, r := range slices.Backward(h.routes) {
		errs = append(errs, h.mgr.RemoveRoute(r))
	}
	return errors.Join(errs...)
}

// hostAddresses adapts the host manager to an instance's Addresses, filling
// in the instance's interface for VIPs that name no device. With a filter
// (strict mode without accept), a VIP is blocked before it is added and
// unblocked after it is removed, so it never answers in between.
type hostAddresses struct {
	mgr    *host.Manager
	dev    string
	filter *host.Filter
}

func (h hostAddresses) Add(v vrrp.VIP) error {
	if h.filter != nil && filterable(v.Prefix.Addr()) {
		if err := h.filter.Block([]netip.Addr{v.Prefix.Addr()}); err != nil {
			return err
		}
	}
	return h.mgr.Add(hostAddress(v, h.dev))
}

func (h hostAddresses) Remove(v vrrp.VIP) error {
	err := h.mgr.Remove(hostAddress(v, h.dev))
	if h.filter != nil && filterable(v.Prefix.Addr()) {
		err = errors.Join(err, h.filter.Unblock([]netip.Addr{v.Prefix.Addr()}))
	}
	return err
}

// filterable reports whether the filter can hold a: a link-local IPv6
// address is the same on every interface, so keepalived leaves it out too.
func filterable(a netip.Addr) bool { return !a.IsLinkLocalUnicast() }

// vmacAnnouncer announces from the virtual MAC, so that neighbours learn
// the MAC that moves with the VIPs, not the node's own.
type vmacAnnouncer struct {
	ann *host.Announcer
	mac net.HardwareAddr
}

func (v vmacAnnouncer) Announce(ifname string, addrs []netip.Addr) error {
	return v.ann.AnnounceFrom(ifname, v.mac, addrs)
}
