package host

import (
	"errors"
	"fmt"
	"io/fs"
	"net"
	"net/netip"
	"os"
	"path/filepath"
	"strings"

	"github.com/vishvananda/netlink"
	"golang.org/x/sys/unix"
)

// sysctlRoot is where sysctls are read and written. The files under
// /proc/sys/net belong to the network namespace of the thread opening them,
// so this follows the calling thread's namespace like netlink does.
const sysctlRoot = "/proc/sys"

func (netlinkOps) linkInfo(name string) (linkInfo, error) {
	link, err := linkByName(name)
	if err != nil {
		return linkInfo{}, err
	}
	info := linkInfo{Kind: link.Type(), MAC: link.Attrs().HardwareAddr}
	if p := link.Attrs().ParentIndex; p != 0 {
		if parent, err := netlink.LinkByIndex(p); err == nil {
			info.Parent = parent.Attrs().Name
		}
	}
	return info, nil
}

func (netlinkOps) addMacvlan(name, base string, mac net.HardwareAddr) error {
	parent, err := linkByName(base)
	if err != nil {
		return err
	}
	attrs := netlink.NewLinkAttrs()
	attrs.Name = name
	attrs.ParentIndex = parent.Attrs().Index
	attrs.HardwareAddr = mac
	// Private mode: the VMAC does not talk to other macvlans on the same
	// base, and receives frames for its own MAC only.
	return netlink.LinkAdd(&netlink.Macvlan{LinkAttrs: attrs, Mode: netlink.MACVLAN_MODE_PRIVATE})
}

func (netlinkOps) delLink(name string) error {
	link, err := linkByName(name)
	if err != nil {
		return err
	}
	return netlink.LinkDel(link)
}

func (o netlinkOps) setupVMAC(v VMAC) error {
	name := v.name()
	link, err := linkByName(name)
	if err != nil {
		return err
	}
	if !v.IPv6 {
		// keepalived's settings for an IPv4 VMAC: do not answer ARP for
		// the base's addresses (arp_ignore), accept our own adverts
		// looped back from the peer instance (accept_local), receive
		// with no address of its own (rp_filter), and keep secondary
		// VIPs when the first goes (promote_secondaries).
		for k, val := range map[string]string{
			"arp_ignore": "1", "accept_local": "1", "rp_filter": "0", "promote_secondaries": "1",
		} {
			if err := o.writeSysctl("net/ipv4/conf/"+name+"/"+k, val); err != nil {
				return err
			}
		}
		if !v.KeepIPv6 {
			if err := o.writeSysctl("net/ipv6/conf/"+name+"/disable_ipv6", "1"); err != nil && !errors.Is(err, fs.ErrNotExist) {
				return err
			}
		}
	} else {
		// No link-local address derived from the shared virtual MAC: both
		// routers would have the same one (RFC 5798 section 7.4).
		if err := netlink.LinkSetIP6AddrGenMode(link, 1 /* IN6_ADDR_GEN_MODE_NONE */); err != nil {
			return fmt.Errorf("set addr_gen_mode none: %w", err)
		}
		ll, err := vmacLinkLocal(v.Base)
		if err != nil {
			return err
		}
		na := &netlink.Addr{IPNet: ipNet(ll, 64), Flags: flagNoDAD}
		if err := netlink.AddrAdd(link, na); err != nil && !errors.Is(err, unix.EEXIST) {
			return fmt.Errorf("add link-local %s: %w", ll, err)
		}
	}
	if err := netlink.LinkSetUp(link); err != nil {
		return fmt.Errorf("set up: %w", err)
	}
	return nil
}

// vmacLinkLocal is the address an IPv6 VMAC sends adverts from: the base
// interface's link-local address, or one made from its MAC (EUI-64) when it
// has none, as keepalived does.
func vmacLinkLocal(base string) (netip.Addr, error) {
	if a, err := PrimaryAddr(base, unix.AF_INET6); err == nil {
		return a, nil
	}
	_, mac, err := hardwareAddr(base)
	if err != nil {
		return netip.Addr{}, err
	}
	if len(mac) != 6 {
		return netip.Addr{}, fmt.Errorf("base %s has no Ethernet address to make a link-local address from", base)
	}
	var b [16]byte
	b[0], b[1] = 0xfe, 0x80
	b[8], b[9], b[10], b[11], b[12] = mac[0]^0x02, mac[1], mac[2], 0xff, 0xfe
	b[13], b[14], b[15] = mac[3], mac[4], mac[5]
	return netip.AddrFrom16(b), nil
}

func (netlinkOps) readSysctl(key string) (string, error) {
	p, err := sysctlPath(key)
	if err != nil {
		return "", err
	}
	b, err := os.ReadFile(p)
	if err != nil {
		return "", fmt.Errorf("sysctl %s: %w", key, err)
	}
	return strings.TrimSpace(string(b)), nil
}

func (netlinkOps) writeSysctl(key, value string) error {
	p, err := sysctlPath(key)
	if err != nil {
		return err
	}
	if err := os.WriteFile(p, []byte(value), 0o644); err != nil {
		return fmt.Errorf("sysctl %s=%s: %w", key, value, err)
	}
	return nil
}

// sysctlPath maps a key such as "net/ipv4/conf/vrrp.5/arp_ignore" to its
// file. Interface names may hold dots, so keys use slashes only.
func sysctlPath(key string) (string, error) {
	clean := filepath.Clean("/" + key)
	if clean != "/"+key || strings.Contains(key, "..") {
		return "", fmt.Errorf("sysctl: invalid key %q", key)
	}
	return filepath.Join(sysctlRoot, clean), nil
}
