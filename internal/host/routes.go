package host

import (
	"errors"
	"fmt"
	"net"

	"golang.org/x/sys/unix"
)

// errNoKernel is what noOps returns: a Manager built for tests without
// route, rule or link operations must never reach the real kernel.
var errNoKernel = errors.New("host: operation not available")

// noOps stands in for route, rule and link operations a test did not give.
type noOps struct{}

func (noOps) addRoute(Route) error                              { return errNoKernel }
func (noOps) delRoute(Route) error                              { return errNoKernel }
func (noOps) findRoute(Route) (bool, bool, error)               { return false, false, errNoKernel }
func (noOps) addRule(Rule) error                                { return errNoKernel }
func (noOps) delRule(Rule) error                                { return errNoKernel }
func (noOps) hasRule(Rule) (bool, error)                        { return false, errNoKernel }
func (noOps) linkInfo(string) (linkInfo, error)                 { return linkInfo{}, errNoKernel }
func (noOps) addMacvlan(string, string, net.HardwareAddr) error { return errNoKernel }
func (noOps) delLink(string) error                              { return errNoKernel }
func (noOps) setupVMAC(VMAC) error                              { return errNoKernel }
func (noOps) readSysctl(string) (string, error)                 { return "", errNoKernel }
func (noOps) writeSysctl(string, string) error                  { return errNoKernel }

// AddRoute installs r. Like Add it is idempotent: a route this Manager
// added, or that an earlier run recorded, is (re)adopted; an identical route
// someone else installed is left unowned so that RemoveRoute and RemoveAll
// will not take it away. A different route with the same key (table,
// destination, TOS, metric) is an error: ours would not be in effect. If the
// state file cannot be written the route is removed again.
func (m *Manager) AddRoute(r Route) error {
	if err := r.Validate(); err != nil {
		return err
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	k := r.key()
	log := m.log.With("route", r.String())
	err := m.kern.route.addRoute(r)
	switch {
	case err == nil:
	case errors.Is(err, unix.EEXIST):
		_, same, ferr := m.kern.route.findRoute(r)
		if ferr != nil {
			return fmt.Errorf("host: add route %s: %w", r, ferr)
		}
		if !same {
			return fmt.Errorf("host: add route %s: a different route with the same table, destination, tos and metric is present: %w", r, err)
		}
		if _, ok := m.routes.get(k); ok {
			return nil
		}
		if m.routes.takeStale(k) {
			m.routes.own(r)
			log.Info("route from an earlier run adopted")
			return m.saveLocked()
		}
		log.Warn("route already present, not taking ownership")
		return nil
	default:
		return fmt.Errorf("host: add route %s: %w", r, err)
	}
	if _, ok := m.routes.get(k); ok {
		log.Info("route re-added")
		return nil
	}
	m.routes.own(r)
	if err := m.saveLocked(); err != nil {
		m.routes.forget(k)
		if derr := m.kern.route.delRoute(r); derr != nil && !isGone(derr) {
			return errors.Join(err, fmt.Errorf("host: rollback of route %s: %w", r, derr))
		}
		return err
	}
	log.Info("route added")
	return nil
}

// RemoveRoute removes r if this Manager added it; a route that is not ours,
// or is gone already, is not an error.
func (m *Manager) RemoveRoute(r Route) error {
	if err := r.Validate(); err != nil {
		return err
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.removeRouteLocked(r.key())
}

func (m *Manager) removeRouteLocked(k string) error {
	r, ok := m.routes.get(k)
	if !ok {
		return nil
	}
	if err := m.kern.route.delRoute(r); err != nil && !isGone(err) {
		return fmt.Errorf("host: remove route %s: %w", r, err)
	}
	m.routes.forget(k)
	m.log.Info("route removed", "route", r.String())
	return m.saveLocked()
}

// OwnedRoutes returns the routes this run added and still owns, oldest
// first.
func (m *Manager) OwnedRoutes() []Route {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.routes.list()
}

// cleanupStaleRoutesLocked removes an earlier run's routes that are still
// there exactly as recorded.
func (m *Manager) cleanupStaleRoutesLocked() error {
	var keep []Route
	var errs []error
	for _, r := range m.routes.stale {
		if _, ok := m.routes.get(r.key()); ok {
			continue
		}
		_, same, err := m.kern.route.findRoute(r)
		if isGone(err) {
			continue
		}
		if err != nil {
			errs = append(errs, fmt.Errorf("host: look up stale route %s: %w", r, err))
			keep = append(keep, r)
			continue
		}
		if !same {
			// Gone, or replaced by someone else's: not ours to remove.
			continue
		}
		if err := m.kern.route.delRoute(r); err != nil && !isGone(err) {
			errs = append(errs, fmt.Errorf("host: remove stale route %s: %w", r, err))
			keep = append(keep, r)
			continue
		}
		m.log.Info("stale route removed", "route", r.String())
	}
	m.routes.stale = keep
	return errors.Join(errs...)
}

// AddRule installs r, with the same ownership rules as AddRoute. The kernel
// refuses only an identical second rule, so a rule present already is
// always the same rule.
func (m *Manager) AddRule(r Rule) error {
	if err := r.Validate(); err != nil {
		return err
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	k := r.key()
	log := m.log.With("rule", r.String())
	err := m.kern.rule.addRule(r)
	switch {
	case err == nil:
	case errors.Is(err, unix.EEXIST):
		if _, ok := m.rules.get(k); ok {
			return nil
		}
		if m.rules.takeStale(k) {
			m.rules.own(r)
			log.Info("rule from an earlier run adopted")
			return m.saveLocked()
		}
		log.Warn("rule already present, not taking ownership")
		return nil
	default:
		return fmt.Errorf("host: add rule %s: %w", r, err)
	}
	if _, ok := m.rules.get(k); ok {
		log.Info("rule re-added")
		return nil
	}
	m.rules.own(r)
	if err := m.saveLocked(); err != nil {
		m.rules.forget(k)
		if derr := m.kern.rule.delRule(r); derr != nil && !isGone(derr) {
			return errors.Join(err, fmt.Errorf("host: rollback of rule %s: %w", r, derr))
		}
		return err
	}
	log.Info("rule added")
	return nil
}

// RemoveRule removes r if this Manager added it; a rule that is not ours,
// or is gone already, is not an error.
func (m *Manager) RemoveRule(r Rule) error {
	if err := r.Validate(); err != nil {
		return err
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.removeRuleLocked(r.key())
}

func (m *Manager) removeRuleLocked(k string) error {
	r, ok := m.rules.get(k)
	if !ok {
		return nil
	}
	if err := m.kern.rule.delRule(r); err != nil && !isGone(err) {
		return fmt.Errorf("host: remove rule %s: %w", r, err)
	}
	m.rules.forget(k)
	m.log.Info("rule removed", "rule", r.String())
	return m.saveLocked()
}

// OwnedRules returns the rules this run added and still owns, oldest first.
func (m *Manager) OwnedRules() []Rule {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.rules.list()
}

// cleanupStaleRulesLocked removes an earlier run's rules still present.
func (m *Manager) cleanupStaleRulesLocked() error {
	var keep []Rule
	var errs []error
	for _, r := range m.rules.stale {
		if _, ok := m.rules.get(r.key()); ok {
			continue
		}
		present, err := m.kern.rule.hasRule(r)
		if err != nil {
			errs = append(errs, fmt.Errorf("host: look up stale rule %s: %w", r, err))
			keep = append(keep, r)
			continue
		}
		if !present {
			continue
		}
		if err := m.kern.rule.delRule(r); err != nil && !isGone(err) {
			errs = append(errs, fmt.Errorf("host: remove stale rule %s: %w", r, err))
			keep = append(keep, r)
			continue
		}
		m.log.Info("stale rule removed", "rule", r.String())
	}
	m.rules.stale = keep
	return errors.Join(errs...)
}
