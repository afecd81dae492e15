// Package host is Vigil's side of the local machine: it adds and removes
// addresses, routes, policy rules and VMAC interfaces through netlink
// (remembering what it added in one state file so a crashed run can be
// cleaned up), keeps the nftables drop rules of VRRP's non-accept mode,
// announces addresses with gratuitous ARP and unsolicited neighbour
// advertisements, and watches interfaces going up and down.
package host

import (
	"errors"
	"fmt"
	"math"
	"net/netip"
	"strconv"
	"strings"
)

// Address is one address Vigil puts on an interface: a virtual IP of a VRRP
// instance or a static address. The fields mirror the options keepalived
// accepts on a virtual_ipaddress / static_ipaddress line.
type Address struct {
	// Prefix is the address and its prefix length, e.g. 10.0.0.10/24. The
	// address bits are kept as given (not masked).
	Prefix netip.Prefix `json:"prefix"`
	// Dev is the interface the address goes on.
	Dev string `json:"dev"`
	// Label is the IPv4 address label ("eth0:1"); empty for none. IPv6 has
	// no labels.
	Label string `json:"label,omitempty"`
	// Broadcast is the IPv4 broadcast address; the zero value adds none,
	// as keepalived does when "brd" is not given.
	Broadcast netip.Addr `json:"broadcast,omitempty"`
	// Scope is "global", "site", "link", "host", "nowhere" or a number
	// 0-255; empty means global. IPv6 scope follows from the address itself,
	// so only empty or global is accepted there.
	Scope string `json:"scope,omitempty"`
	// Peer is the other end of a point-to-point address; when set, the
	// kernel takes the prefix length from Peer rather than from Prefix.
	Peer netip.Prefix `json:"peer,omitempty"`
	// NoDAD adds an IPv6 address without duplicate address detection so it
	// is usable at once and never ends up "dadfailed" after a transient
	// split brain. keepalived sets it on every IPv6 VIP unless the
	// configuration says "-nodad", so the config layer should default it to
	// true. It has no meaning for IPv4 and is ignored there.
	NoDAD bool `json:"nodad,omitempty"`
	// NoPrefixRoute stops the kernel from adding the prefix route.
	NoPrefixRoute bool `json:"noprefixroute,omitempty"`
	// Home marks an IPv6 home address (mobile IPv6). Ignored for IPv4.
	Home bool `json:"home,omitempty"`
	// MngTmpAddr asks the kernel to manage temporary (privacy) addresses
	// from this IPv6 prefix. Ignored for IPv4.
	MngTmpAddr bool `json:"mngtmpaddr,omitempty"`
	// AutoJoin joins the multicast group when the address is multicast.
	AutoJoin bool `json:"autojoin,omitempty"`
	// PreferredLft is the IPv6 preferred lifetime: "forever", a number of
	// seconds, or empty for keepalived's default, which is 0 (the address
	// is deprecated, so it is never picked as a source address) for a /128
	// and forever otherwise. Ignored for IPv4.
	PreferredLft string `json:"preferred_lft,omitempty"`
}

// Kernel address flags (linux/if_addr.h); named here so the package does not
// depend on which of them a given x/sys version exports.
const (
	flagSecondary     = 0x01
	flagNoDAD         = 0x02
	flagDADFailed     = 0x08
	flagHomeAddress   = 0x10
	flagTentative     = 0x40
	flagManageTmpAddr = 0x100
	flagNoPrefixRoute = 0x200
	flagMcAutoJoin    = 0x400
)

// lifetimeForever is the kernel's "infinite" address lifetime.
const lifetimeForever = math.MaxUint32

// scopeNames maps the scope names accepted by keepalived and iproute2 to the
// rtnetlink values (linux/rtnetlink.h, enum rt_scope_t).
var scopeNames = map[string]uint8{
	"global":   0,
	"universe": 0,
	"site":     200,
	"link":     253,
	"host":     254,
	"nowhere":  255,
}

// String renders the address like an "ip addr" line, for logs and errors.
func (a Address) String() string {
	var b strings.Builder
	b.WriteString(a.Prefix.String())
	if a.Peer.IsValid() {
		b.WriteString(" peer " + a.Peer.String())
	}
	if a.Broadcast.IsValid() {
		b.WriteString(" brd " + a.Broadcast.String())
	}
	b.WriteString(" dev " + a.Dev)
	if a.Label != "" {
		b.WriteString(" label " + a.Label)
	}
	if a.Scope != "" {
		b.WriteString(" scope " + a.Scope)
	}
	return b.String()
}

// key identifies an address on the host: the kernel keeps one address per
// (device, local address, prefix length), so that is what we track.
func (a Address) key() string {
	return a.Dev + "|" + a.Prefix.Addr().String() + "/" + strconv.Itoa(a.kernelBits())
}

// kernelBits is the prefix length the kernel stores: the peer's when a peer
// is given, since that is what the kernel uses for the route.
func (a Address) kernelBits() int {
	if a.Peer.IsValid() {
		return a.Peer.Bits()
	}
	return a.Prefix.Bits()
}

// is6 reports whether this is an IPv6 address.
func (a Address) is6() bool { return a.Prefix.Addr().Is6() && !a.Prefix.Addr().Is4In6() }

// Validate checks the address for anything the kernel would reject or that
// makes no sense, so bad configuration fails before any change is made.
func (a Address) Validate() error {
	if !a.Prefix.IsValid() {
		return errors.New("host: address: invalid or missing prefix")
	}
	ip := a.Prefix.Addr()
	if ip.Is4In6() {
		return fmt.Errorf("host: address %s: IPv4-mapped IPv6 addresses are not allowed", a.Prefix)
	}
	if ip.IsUnspecified() {
		return fmt.Errorf("host: address %s: unspecified address", a.Prefix)
	}
	if a.Dev == "" {
		return fmt.Errorf("host: address %s: no device", a.Prefix)
	}
	if len(a.Dev) > 15 || strings.ContainsAny(a.Dev, "/ \t\n") {
		return fmt.Errorf("host: address %s: invalid device name %q", a.Prefix, a.Dev)
	}
	if a.Label != "" {
		if a.is6() {
			return fmt.Errorf("host: address %s: IPv6 addresses have no label", a.Prefix)
		}
		// The label is stored in an IFNAMSIZ buffer by the kernel.
		if len(a.Label) > 15 {
			return fmt.Errorf("host: address %s: label %q longer than 15 bytes", a.Prefix, a.Label)
		}
	}
	if a.Broadcast.IsValid() {
		if a.is6() {
			return fmt.Errorf("host: address %s: IPv6 addresses have no broadcast", a.Prefix)
		}
		if !a.Broadcast.Is4() {
			return fmt.Errorf("host: address %s: broadcast %s is not IPv4", a.Prefix, a.Broadcast)
		}
	}
	if _, err := a.scope(); err != nil {
		return err
	}
	if a.Peer.IsValid() && a.Peer.Addr().Is6() != ip.Is6() {
		return fmt.Errorf("host: address %s: peer %s is of another family", a.Prefix, a.Peer)
	}
	if _, _, err := a.preferredLft(); err != nil {
		return err
	}
	return nil
}

// scope returns the rtnetlink scope value.
func (a Address) scope() (uint8, error) {
	s := strings.ToLower(a.Scope)
	if s == "" {
		return 0, nil
	}
	v, ok := scopeNames[s]
	if !ok {
		n, err := strconv.ParseUint(s, 0, 8)
		if err != nil {
			return 0, fmt.Errorf("host: address %s: invalid scope %q (want global, site, link, host, nowhere or 0-255)", a.Prefix, a.Scope)
		}
		v = uint8(n)
	}
	if v != 0 && a.is6() {
		return 0, fmt.Errorf("host: address %s: IPv6 scope comes from the address, scope %q not allowed", a.Prefix, a.Scope)
	}
	return v, nil
}

// preferredLft returns the preferred lifetime to set, and whether one should be
// set at all (IPv4 and the IPv6 default of "forever" need no cacheinfo).
func (a Address) preferredLft() (lft uint32, set bool, err error) {
	if !a.is6() {
		if a.PreferredLft != "" {
			return 0, false, fmt.Errorf("host: address %s: preferred_lft applies to IPv6 only", a.Prefix)
		}
		return 0, false, nil
	}
	switch s := strings.ToLower(a.PreferredLft); s {
	case "":
		if a.Prefix.Bits() == 128 {
			return 0, true, nil
		}
		return 0, false, nil
	case "forever", "infinite":
		return lifetimeForever, true, nil
	default:
		n, err := strconv.ParseUint(s, 10, 32)
		if err != nil {
			return 0, false, fmt.Errorf("host: address %s: invalid preferred_lft %q (want forever or seconds)", a.Prefix, a.PreferredLft)
		}
		return uint32(n), true, nil
	}
}

// flags returns the kernel address flags for the options.
func (a Address) flags() int {
	f := 0
	if a.is6() {
		if a.NoDAD {
			f |= flagNoDAD
		}
		if a.Home {
			f |= flagHomeAddress
		}
		if a.MngTmpAddr {
			f |= flagManageTmpAddr
		}
	}
	if a.NoPrefixRoute {
		f |= flagNoPrefixRoute
	}
	if a.AutoJoin {
		f |= flagMcAutoJoin
	}
	return f
}
