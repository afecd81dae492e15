package host

import (
	"errors"
	"fmt"
	"net"
	"strconv"

	"golang.org/x/sys/unix"
)

// VMAC is the macvlan interface of a VRRP instance with use_vmac: it carries
// the virtual router MAC address (RFC 5798 section 7.3), so that a failover
// moves the MAC along with the addresses and neighbours need no update.
type VMAC struct {
	// Name is the interface name; empty means "vrrp.<VRID>", keepalived's
	// default.
	Name string `json:"name"`
	// Base is the instance's interface the VMAC sits on.
	Base string `json:"base"`
	// VRID is the virtual router id, the last byte of the MAC.
	VRID uint8 `json:"vrid"`
	// IPv6 is the instance's family: 00:00:5e:00:02:VRID instead of
	// 00:00:5e:00:01:VRID, and a link-local address to send adverts from.
	IPv6 bool `json:"ipv6,omitempty"`
	// MAC overrides the standard virtual router MAC; nil for the standard
	// one.
	MAC net.HardwareAddr `json:"mac,omitempty"`
	// KeepIPv6 leaves IPv6 enabled on an IPv4 instance's VMAC, for an
	// instance that also puts IPv6 addresses on it. keepalived disables
	// IPv6 there otherwise, so the interface sends no router or neighbour
	// solicitations from the shared MAC.
	KeepIPv6 bool `json:"keep_ipv6,omitempty"`
}

// name returns the interface name, applying the default.
func (v VMAC) name() string {
	if v.Name != "" {
		return v.Name
	}
	return "vrrp." + strconv.Itoa(int(v.VRID))
}

// mac returns the interface's MAC address.
func (v VMAC) mac() net.HardwareAddr {
	if v.MAC != nil {
		return v.MAC
	}
	fam := byte(0x01)
	if v.IPv6 {
		fam = 0x02
	}
	return net.HardwareAddr{0x00, 0x00, 0x5e, 0x00, fam, v.VRID}
}

// key identifies the VMAC by its interface name.
func (v VMAC) key() string { return v.name() }

// Validate checks the description before anything is created.
func (v VMAC) Validate() error {
	if err := checkDevName(v.Base); err != nil {
		return fmt.Errorf("host: vmac %s: base: %w", v.name(), err)
	}
	if err := checkDevName(v.name()); err != nil {
		return fmt.Errorf("host: vmac: %w", err)
	}
	if v.name() == v.Base {
		return fmt.Errorf("host: vmac %s: the VMAC cannot be its own base interface", v.name())
	}
	if v.VRID == 0 {
		return fmt.Errorf("host: vmac %s: VRID 0 is not valid", v.name())
	}
	if m := v.MAC; m != nil && (len(m) != 6 || m[0]&1 != 0) {
		return fmt.Errorf("host: vmac %s: MAC %s is not a unicast Ethernet address", v.name(), m)
	}
	return nil
}

// linkInfo is what the Manager needs to know about an existing interface.
type linkInfo struct {
	Kind   string // "macvlan", "veth", ...
	Parent string // the lower interface of a macvlan
	MAC    net.HardwareAddr
}

// linkOps is the part of netlink and sysctl the VMAC code needs.
type linkOps interface {
	// linkInfo describes an interface; ENODEV-wrapping error when absent.
	linkInfo(name string) (linkInfo, error)
	// addMacvlan creates a private-mode macvlan, down.
	addMacvlan(name, base string, mac net.HardwareAddr) error
	// delLink deletes an interface; ENODEV-wrapping error when absent.
	delLink(name string) error
	// setupVMAC sets the VMAC's own sysctls and addresses and brings it up.
	setupVMAC(v VMAC) error
	// readSysctl and writeSysctl access /proc/sys/<key>.
	readSysctl(key string) (string, error)
	writeSysctl(key, value string) error
}

// baseConf is a base interface's ARP settings before the first VMAC on it
// changed them.
type baseConf struct {
	Dev       string `json:"dev"`
	ARPIgnore string `json:"arp_ignore"`
	ARPFilter string `json:"arp_filter"`
	// ARPAnnounce is empty in the state files of versions that did not
	// change it: then there is nothing to put back.
	ARPAnnounce string `json:"arp_announce,omitempty"`
}

func (c baseConf) validate() error {
	if err := checkDevName(c.Dev); err != nil {
		return err
	}
	vals := []string{c.ARPIgnore, c.ARPFilter}
	if c.ARPAnnounce != "" {
		vals = append(vals, c.ARPAnnounce)
	}
	for _, s := range vals {
		if _, err := strconv.ParseUint(s, 10, 8); err != nil {
			return fmt.Errorf("base interface %s: invalid saved value %q", c.Dev, s)
		}
	}
	return nil
}

func arpIgnoreKey(dev string) string   { return "net/ipv4/conf/" + dev + "/arp_ignore" }
func arpFilterKey(dev string) string   { return "net/ipv4/conf/" + dev + "/arp_filter" }
func arpAnnounceKey(dev string) string { return "net/ipv4/conf/" + dev + "/arp_announce" }

// EnsureVMAC creates the VMAC v describes (a private-mode macvlan on
// v.Base with the virtual router MAC), configures it as keepalived does and
// brings it up, and returns its name and MAC. It is idempotent. For an IPv4
// instance the base interface gets arp_ignore=1 and arp_filter=1, so that
// only the VMAC answers ARP for the virtual addresses, and arp_announce=2,
// so that the base never names a virtual address in its own ARP requests;
// the old values are recorded and put back when the last VMAC on that base
// is removed.
//
// An interface with the VMAC's name that is not a matching macvlan is left
// alone with an error, unless an earlier run of ours recorded it (then it is
// replaced). A matching VMAC someone else created is used but not owned.
func (m *Manager) EnsureVMAC(v VMAC) (ifname string, mac net.HardwareAddr, err error) {
	if err := v.Validate(); err != nil {
		return "", nil, err
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	name, mac := v.name(), v.mac()
	v.Name = name
	log := m.log.With("vmac", name, "base", v.Base)
	lk := m.kern.link

	// A missing base fails before anything is touched.
	if _, err := lk.linkInfo(v.Base); err != nil {
		return "", nil, fmt.Errorf("host: vmac %s: base: %w", name, err)
	}
	info, err := lk.linkInfo(name)
	switch {
	case errors.Is(err, unix.ENODEV):
	case err != nil:
		return "", nil, fmt.Errorf("host: vmac %s: %w", name, err)
	default:
		matches := info.Kind == "macvlan" && info.Parent == v.Base && info.MAC.String() == mac.String()
		_, ours := m.vmacs.get(name)
		stale := m.vmacs.takeStale(name)
		switch {
		case matches && (ours || stale):
			m.vmacs.own(v)
			if err := m.configureVMACLocked(v); err != nil {
				return "", nil, err
			}
			if stale {
				log.Info("VMAC from an earlier run adopted")
			}
			return name, mac, m.saveLocked()
		case matches:
			log.Warn("VMAC already present, using it without taking ownership")
			if err := m.configureVMACLocked(v); err != nil {
				return "", nil, err
			}
			return name, mac, nil
		case (ours || stale) && info.Kind == "macvlan":
			// Ours, but for another base or MAC (the configuration
			// changed): replace it.
			if err := lk.delLink(name); err != nil && !isGone(err) {
				return "", nil, fmt.Errorf("host: vmac %s: remove outdated: %w", name, err)
			}
			m.vmacs.forget(name)
			log.Info("outdated VMAC removed")
		default:
			return "", nil, fmt.Errorf("host: vmac %s: an interface of that name exists (%s on %q, MAC %s) and is not this VMAC; not touching it",
				name, info.Kind, info.Parent, info.MAC)
		}
	}
	if err := lk.addMacvlan(name, v.Base, mac); err != nil {
		return "", nil, fmt.Errorf("host: vmac %s on %s: %w", name, v.Base, err)
	}
	m.vmacs.own(v)
	if err := m.saveLocked(); err != nil {
		m.vmacs.forget(name)
		if derr := lk.delLink(name); derr != nil && !isGone(derr) {
			err = errors.Join(err, fmt.Errorf("host: rollback of vmac %s: %w", name, derr))
		}
		return "", nil, err
	}
	if err := m.configureVMACLocked(v); err != nil {
		// Leave nothing half-made behind.
		if rerr := m.removeVMACLocked(name); rerr != nil {
			err = errors.Join(err, rerr)
		}
		return "", nil, err
	}
	log.Info("VMAC created", "mac", mac.String())
	return name, mac, nil
}

// configureVMACLocked sets the base interface's ARP settings (IPv4) and the
// VMAC's own configuration.
func (m *Manager) configureVMACLocked(v VMAC) error {
	lk := m.kern.link
	if !v.IPv6 {
		if _, done := m.base[v.Base]; !done {
			c := baseConf{Dev: v.Base}
			var err error
			if c.ARPIgnore, err = lk.readSysctl(arpIgnoreKey(v.Base)); err != nil {
				return fmt.Errorf("host: vmac %s: %w", v.name(), err)
			}
			if c.ARPFilter, err = lk.readSysctl(arpFilterKey(v.Base)); err != nil {
				return fmt.Errorf("host: vmac %s: %w", v.name(), err)
			}
			if c.ARPAnnounce, err = lk.readSysctl(arpAnnounceKey(v.Base)); err != nil {
				return fmt.Errorf("host: vmac %s: %w", v.name(), err)
			}
			// A crashed run's record holds the values from before
			// Vigil: keep those, not the ones it left behind (one
			// without arp_announce did not change it).
			for i, s := range m.staleBase {
				if s.Dev == v.Base {
					if s.ARPAnnounce == "" {
						s.ARPAnnounce = c.ARPAnnounce
					}
					c = s
					m.staleBase = append(m.staleBase[:i:i], m.staleBase[i+1:]...)
					break
				}
			}
			m.base[v.Base] = c
			if err := m.saveLocked(); err != nil {
				delete(m.base, v.Base)
				return err
			}
		}
		// The base must not answer ARP for addresses that live on the
		// VMAC (arp_ignore), nor for its own from the VMAC (arp_filter).
		if err := lk.writeSysctl(arpIgnoreKey(v.Base), "1"); err != nil {
			return fmt.Errorf("host: vmac %s: %w", v.name(), err)
		}
		if err := lk.writeSysctl(arpFilterKey(v.Base), "1"); err != nil {
			return fmt.Errorf("host: vmac %s: %w", v.name(), err)
		}
		// Nor may it send ARP requests with a virtual address as the
		// sender (arp_announce=2 picks its own address): a reply from
		// a VIP that the kernel routes out of the base would otherwise
		// teach every neighbour asked the base's MAC for that VIP,
		// defeating the VMAC until the next failover's gratuitous ARP.
		if err := lk.writeSysctl(arpAnnounceKey(v.Base), "2"); err != nil {
			return fmt.Errorf("host: vmac %s: %w", v.name(), err)
		}
	}
	if err := lk.setupVMAC(v); err != nil {
		return fmt.Errorf("host: vmac %s: %w", v.name(), err)
	}
	return nil
}

// RemoveVMAC deletes the VMAC named name if this Manager created it; one
// that is not ours, or is gone already, is not an error.
func (m *Manager) RemoveVMAC(name string) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.removeVMACLocked(name)
}

func (m *Manager) removeVMACLocked(name string) error {
	v, ok := m.vmacs.get(name)
	if !ok {
		return nil
	}
	if err := m.kern.link.delLink(name); err != nil && !isGone(err) {
		return fmt.Errorf("host: remove vmac %s: %w", name, err)
	}
	m.vmacs.forget(name)
	m.log.Info("VMAC removed", "vmac", name, "base", v.Base)
	err := m.restoreBaseLocked(v.Base)
	return errors.Join(err, m.saveLocked())
}

// restoreBaseLocked puts back the base interface's ARP settings once no
// IPv4 VMAC of ours uses it any more.
func (m *Manager) restoreBaseLocked(dev string) error {
	c, ok := m.base[dev]
	if !ok {
		return nil
	}
	for _, o := range m.vmacs.list() {
		if o.Base == dev && !o.IPv6 {
			return nil
		}
	}
	if err := m.writeBaseLocked(c); err != nil {
		return err
	}
	delete(m.base, dev)
	return nil
}

func (m *Manager) writeBaseLocked(c baseConf) error {
	lk := m.kern.link
	err := lk.writeSysctl(arpIgnoreKey(c.Dev), c.ARPIgnore)
	if err == nil {
		err = lk.writeSysctl(arpFilterKey(c.Dev), c.ARPFilter)
	}
	if err == nil && c.ARPAnnounce != "" {
		err = lk.writeSysctl(arpAnnounceKey(c.Dev), c.ARPAnnounce)
	}
	if err != nil && !isGone(err) {
		return fmt.Errorf("host: restore ARP settings of %s: %w", c.Dev, err)
	}
	m.log.Info("ARP settings restored", "dev", c.Dev, "arp_ignore", c.ARPIgnore, "arp_filter", c.ARPFilter, "arp_announce", c.ARPAnnounce)
	return nil
}

// OwnedVMACs returns the VMACs this run created and still owns.
func (m *Manager) OwnedVMACs() []VMAC {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.vmacs.list()
}

// cleanupStaleVMACsLocked deletes an earlier run's VMACs that are still
// macvlans on their base, and puts back its base interfaces' settings.
func (m *Manager) cleanupStaleVMACsLocked() error {
	var keep []VMAC
	var errs []error
	lk := m.kern.link
	for _, v := range m.vmacs.stale {
		if _, ok := m.vmacs.get(v.key()); ok {
			continue
		}
		info, err := lk.linkInfo(v.name())
		if isGone(err) {
			continue
		}
		if err != nil {
			errs = append(errs, fmt.Errorf("host: look up stale vmac %s: %w", v.name(), err))
			keep = append(keep, v)
			continue
		}
		if info.Kind != "macvlan" || info.Parent != v.Base {
			continue // someone else's interface now
		}
		if err := lk.delLink(v.name()); err != nil && !isGone(err) {
			errs = append(errs, fmt.Errorf("host: remove stale vmac %s: %w", v.name(), err))
			keep = append(keep, v)
			continue
		}
		m.log.Info("stale VMAC removed", "vmac", v.name(), "base", v.Base)
	}
	m.vmacs.stale = keep
	var keepBase []baseConf
	for _, c := range m.staleBase {
		if err := m.writeBaseLocked(c); err != nil {
			errs = append(errs, err)
			keepBase = append(keepBase, c)
		}
	}
	m.staleBase = keepBase
	return errors.Join(errs...)
}
