package host

import (
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"net/netip"
	"slices"
	"sync"

	"golang.org/x/sys/unix"
)

// addrOps is the part of netlink the Manager needs. It is an interface so the
// bookkeeping can be tested with a fake; the real one is netlinkOps.
type addrOps interface {
	// add adds a; it returns an error wrapping unix.EEXIST when the kernel
	// already has the address.
	add(a Address) error
	// del removes a; it returns an error wrapping unix.EADDRNOTAVAIL (or
	// ENODEV when the device is gone) when there is nothing to remove.
	del(a Address) error
	// list returns the local addresses on dev with the prefix length the
	// kernel stores; ENODEV-wrapping error when the device does not exist.
	list(dev string) ([]netip.Prefix, error)
}

// Manager adds and removes addresses and remembers what it added in a state
// file, so that a later run can remove what a crashed run left behind.
//
// Call CleanupStale once at start, before adding anything: until then the
// previous run's entries are carried over in the state file so that they are
// never forgotten. A Manager is safe for use by several goroutines.
type Manager struct {
	mu    sync.Mutex
	ops   addrOps
	kern  kernel
	state string
	log   *slog.Logger
	owned map[string]Address // what this run added, by key
	order []string           // keys of owned in the order they were added
	stale []Address          // an earlier run's entries not yet dealt with

	routes ledger[Route]
	rules  ledger[Rule]
	vmacs  ledger[VMAC]
	// base holds the ARP settings of VMAC base interfaces as found before
	// we changed them, by interface name; staleBase an earlier run's.
	base      map[string]baseConf
	staleBase []baseConf
}

// kernel bundles the netlink operations besides addresses, so a test can
// replace them together.
type kernel struct {
	route routeOps
	rule  ruleOps
	link  linkOps
}

// NewManager returns a Manager that keeps its state in stateFile (created,
// with its directory, on the first change). It reads the state an earlier run
// left there, for CleanupStale; a state file that cannot be parsed is an
// error, so a damaged file is never silently overwritten.
func NewManager(stateFile string, log *slog.Logger) (*Manager, error) {
	return newManager(stateFile, log, netlinkOps{})
}

// newManager builds a Manager on ops; ops also serves routes, rules and
// links when it implements those operations, and they fail otherwise.
func newManager(stateFile string, log *slog.Logger, ops addrOps) (*Manager, error) {
	k := kernel{route: noOps{}, rule: noOps{}, link: noOps{}}
	if o, ok := ops.(routeOps); ok {
		k.route = o
	}
	if o, ok := ops.(ruleOps); ok {
		k.rule = o
	}
	if o, ok := ops.(linkOps); ok {
		k.link = o
	}
	if stateFile == "" {
		return nil, errors.New("host: manager: empty state file path")
	}
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	st, err := readState(stateFile)
	if err != nil {
		return nil, err
	}
	return &Manager{
		ops:       ops,
		kern:      k,
		state:     stateFile,
		log:       log.With("component", "host"),
		owned:     make(map[string]Address),
		stale:     st.Addresses,
		routes:    newLedger(st.Routes),
		rules:     newLedger(st.Rules),
		vmacs:     newLedger(st.VMACs),
		base:      make(map[string]baseConf),
		staleBase: st.BaseConf,
	}, nil
}

// Add puts a on its interface. It is idempotent: adding an address this
// Manager already added, or one the kernel already has, succeeds. An address
// that is present already is adopted if an earlier run recorded it, and
// otherwise (configured by someone else) left unowned, so that Remove and
// RemoveAll will not take it away. If the state file cannot be
// written the address is removed again, so nothing changes on error.
func (m *Manager) Add(a Address) error {
	if err := a.Validate(); err != nil {
		return err
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	k := a.key()
	log := m.log.With("addr", a.Prefix.String(), "dev", a.Dev)

	err := m.ops.add(a)
	switch {
	case err == nil:
	case errors.Is(err, unix.EEXIST):
		if _, ok := m.owned[k]; ok {
			return nil
		}
		if i := slices.IndexFunc(m.stale, func(s Address) bool { return s.key() == k }); i >= 0 {
			// Left by an earlier run of ours: adopt it rather than
			// have CleanupStale take it away again.
			m.stale = slices.Delete(m.stale, i, i+1)
			m.owned[k] = a
			m.order = append(m.order, k)
			log.Info("address from an earlier run adopted")
			return m.saveLocked()
		}
		// Present but not added by us: an administrator's address or
		// another instance's. Leave it to its owner.
		log.Warn("address already present, not taking ownership")
		return nil
	case errors.Is(err, unix.EINVAL) && !a.is6() && a.Scope != "":
		return fmt.Errorf("host: add %s: %w (an IPv4 address in the subnet of another on the interface must have the same scope)", a, err)
	default:
		return fmt.Errorf("host: add %s: %w", a, err)
	}
	if _, ok := m.owned[k]; ok {
		// It was ours and someone removed it behind our back.
		log.Info("address re-added")
		return nil
	}
	m.owned[k] = a
	m.order = append(m.order, k)
	if err := m.saveLocked(); err != nil {
		m.forgetLocked(k)
		if derr := m.ops.del(a); derr != nil && !isGone(derr) {
			return errors.Join(err, fmt.Errorf("host: rollback of %s: %w", a, derr))
		}
		return err
	}
	log.Info("address added")
	return nil
}

// Remove takes a off its interface if this Manager added it. An address that
// is not ours, or is already gone, is not an error.
func (m *Manager) Remove(a Address) error {
	if err := a.Validate(); err != nil {
		return err
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.removeLocked(a.key())
}

func (m *Manager) removeLocked(k string) error {
	a, ok := m.owned[k]
	if !ok {
		return nil
	}
	if err := m.ops.del(a); err != nil && !isGone(err) {
		return fmt.Errorf("host: remove %s: %w", a, err)
	}
	m.forgetLocked(k)
	m.log.Info("address removed", "addr", a.Prefix.String(), "dev", a.Dev)
	return m.saveLocked()
}

// RemoveAll removes everything this run added, newest first within each
// kind and in dependency order (rules, routes, addresses, then VMACs, which
// routes and addresses may use), and returns the errors of those it could
// not remove (they stay recorded).
func (m *Manager) RemoveAll() error {
	m.mu.Lock()
	defer m.mu.Unlock()
	var errs []error
	for _, k := range slices.Backward(slices.Clone(m.rules.order)) {
		if err := m.removeRuleLocked(k); err != nil {
			errs = append(errs, err)
		}
	}
	for _, k := range slices.Backward(slices.Clone(m.routes.order)) {
		if err := m.removeRouteLocked(k); err != nil {
			errs = append(errs, err)
		}
	}
	for _, k := range slices.Backward(slices.Clone(m.order)) {
		if err := m.removeLocked(k); err != nil {
			errs = append(errs, err)
		}
	}
	for _, k := range slices.Backward(slices.Clone(m.vmacs.order)) {
		if err := m.removeVMACLocked(k); err != nil {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

// Owned returns the addresses this run added and still owns, oldest first.
func (m *Manager) Owned() []Address {
	m.mu.Lock()
	defer m.mu.Unlock()
	out := make([]Address, 0, len(m.order))
	for _, k := range m.order {
		out = append(out, m.owned[k])
	}
	return out
}

// CleanupStale removes what an earlier run recorded in the state file and
// is still there (rules, routes, addresses and VMACs, and puts back the ARP
// settings it changed on VMAC base interfaces), and returns the addresses it
// removed. Entries that are gone already, or whose interface no longer
// exists, are dropped; entries this run has since added itself are kept as
// ours. Entries that fail to be removed stay in the state file for the next
// attempt and their errors are returned.
func (m *Manager) CleanupStale() ([]Address, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	var removed, keep []Address
	errs := []error{m.cleanupStaleRulesLocked(), m.cleanupStaleRoutesLocked()}
	for _, a := range m.stale {
		if _, ok := m.owned[a.key()]; ok {
			continue
		}
		present, err := m.presentLocked(a)
		if err != nil {
			errs = append(errs, err)
			keep = append(keep, a)
			continue
		}
		if !present {
			continue
		}
		if err := m.ops.del(a); err != nil && !isGone(err) {
			errs = append(errs, fmt.Errorf("host: remove stale %s: %w", a, err))
			keep = append(keep, a)
			continue
		}
		m.log.Info("stale address removed", "addr", a.Prefix.String(), "dev", a.Dev)
		removed = append(removed, a)
	}
	m.stale = keep
	errs = append(errs, m.cleanupStaleVMACsLocked())
	if err := m.saveLocked(); err != nil {
		errs = append(errs, err)
	}
	return removed, errors.Join(errs...)
}

// presentLocked reports whether the kernel still has a on its device.
func (m *Manager) presentLocked(a Address) (bool, error) {
	have, err := m.ops.list(a.Dev)
	if errors.Is(err, unix.ENODEV) {
		return false, nil
	}
	if err != nil {
		return false, fmt.Errorf("host: list addresses of %s: %w", a.Dev, err)
	}
	want := netip.PrefixFrom(a.Prefix.Addr(), a.kernelBits())
	return slices.Contains(have, want), nil
}

func (m *Manager) forgetLocked(k string) {
	delete(m.owned, k)
	m.order = slices.DeleteFunc(m.order, func(s string) bool { return s == k })
}

// saveLocked writes what we own plus the earlier run's pending entries.
func (m *Manager) saveLocked() error {
	all := make([]Address, 0, len(m.order)+len(m.stale))
	for _, k := range m.order {
		all = append(all, m.owned[k])
	}
	all = append(all, m.stale...)
	base := make([]baseConf, 0, len(m.base)+len(m.staleBase))
	for _, dev := range slices.Sorted(maps.Keys(m.base)) {
		base = append(base, m.base[dev])
	}
	base = append(base, m.staleBase...)
	return writeState(m.state, stateFile{
		Addresses: all,
		Routes:    m.routes.all(),
		Rules:     m.rules.all(),
		VMACs:     m.vmacs.all(),
		BaseConf:  base,
	})
}

// isGone reports whether a delete error only says the address (or its device)
// is not there, which is the outcome we wanted.
func isGone(err error) bool {
	return errors.Is(err, unix.EADDRNOTAVAIL) || errors.Is(err, unix.ENODEV) || errors.Is(err, unix.ENOENT) || errors.Is(err, unix.ESRCH)
}
