package host

import (
	"fmt"
	"net/netip"
	"strconv"
	"strings"
)

// Rule is one policy-routing rule Vigil installs: a virtual_rules line of
// an instance or a static_rules line. Names are resolved to numbers, as for
// Route.
type Rule struct {
	// Family is 4 or 6; it must match From and To when they are given.
	Family int `json:"family"`
	// Priority is the rule's preference; nil lets the kernel choose (and
	// the rule's place then depends on when it was added).
	Priority *uint32 `json:"preference,omitempty"`
	// Not inverts the selector.
	Not  bool         `json:"not,omitempty"`
	From netip.Prefix `json:"from,omitzero"`
	To   netip.Prefix `json:"to,omitzero"`
	TOS  uint8        `json:"tos,omitempty"`
	// FWMark and FWMask select on the packet mark; FWMask nil means the
	// kernel's default (all bits) when FWMark is set.
	FWMark uint32  `json:"fwmark,omitempty"`
	FWMask *uint32 `json:"fwmask,omitempty"`
	// Realm is the realms value (FROM<<16 | TO), IPv4 only.
	Realm uint32 `json:"realm,omitempty"`
	IIF   string `json:"iif,omitempty"`
	OIF   string `json:"oif,omitempty"`
	// Action is table, goto, blackhole, unreachable, prohibit or nop.
	Action string `json:"action"`
	// Table is the table looked up by a "table" action.
	Table uint32 `json:"table,omitempty"`
	// Goto is the preference jumped to by a "goto" action.
	Goto uint32 `json:"goto,omitempty"`
	// SuppressPrefixLength ignores table results with a prefix this long
	// or shorter.
	SuppressPrefixLength *int `json:"suppress_prefixlength,omitempty"`
	// SuppressIfGroup ignores results whose device is in this group.
	SuppressIfGroup *uint32 `json:"suppress_ifgroup,omitempty"`
	// UIDRange selects sockets of users Start to End.
	UIDRange *Range `json:"uidrange,omitempty"`
	// Protocol is who installed the rule (an rt_protos number).
	Protocol uint8 `json:"protocol,omitempty"`
	// IPProto is the IP protocol number selected (tcp 6, udp 17, ...).
	IPProto uint8 `json:"ipproto,omitempty"`
	// SPort and DPort select port ranges (with IPProto).
	SPort *Range `json:"sport,omitempty"`
	DPort *Range `json:"dport,omitempty"`
}

// Range is an inclusive range of numbers (ports, user ids).
type Range struct {
	Start uint32 `json:"start"`
	End   uint32 `json:"end"`
}

func (r *Range) String() string {
	return strconv.FormatUint(uint64(r.Start), 10) + "-" + strconv.FormatUint(uint64(r.End), 10)
}

// Rule actions (linux/fib_rules.h, FR_ACT_*).
var ruleActions = map[string]uint8{
	"table": 1, "goto": 2, "nop": 3, "blackhole": 6, "unreachable": 7, "prohibit": 8,
}

// key identifies the rule: the kernel refuses an identical second rule, so
// the whole rule is its identity.
func (r Rule) key() string { return r.String() }

// String renders the rule like an "ip rule" line, for logs, errors and as
// its key.
func (r Rule) String() string {
	var b strings.Builder
	b.WriteString("inet")
	if r.Family == 6 {
		b.WriteString("6")
	}
	if r.Priority != nil {
		b.WriteString(" pref " + strconv.FormatUint(uint64(*r.Priority), 10))
	}
	if r.Not {
		b.WriteString(" not")
	}
	if r.From.IsValid() {
		b.WriteString(" from " + r.From.String())
	}
	if r.To.IsValid() {
		b.WriteString(" to " + r.To.String())
	}
	if r.TOS != 0 {
		b.WriteString(" tos " + strconv.Itoa(int(r.TOS)))
	}
	if r.FWMark != 0 || r.FWMask != nil {
		b.WriteString(fmt.Sprintf(" fwmark %#x", r.FWMark))
		if r.FWMask != nil {
			b.WriteString(fmt.Sprintf("/%#x", *r.FWMask))
		}
	}
	if r.Realm != 0 {
		b.WriteString(fmt.Sprintf(" realms %d/%d", r.Realm>>16, r.Realm&0xffff))
	}
	if r.IIF != "" {
		b.WriteString(" iif " + r.IIF)
	}
	if r.OIF != "" {
		b.WriteString(" oif " + r.OIF)
	}
	if r.UIDRange != nil {
		b.WriteString(" uidrange " + r.UIDRange.String())
	}
	if r.IPProto != 0 {
		b.WriteString(" ipproto " + strconv.Itoa(int(r.IPProto)))
	}
	if r.SPort != nil {
		b.WriteString(" sport " + r.SPort.String())
	}
	if r.DPort != nil {
		b.WriteString(" dport " + r.DPort.String())
	}
	if r.Protocol != 0 {
		b.WriteString(" protocol " + strconv.Itoa(int(r.Protocol)))
	}
	switch r.Action {
	case "table":
		b.WriteString(" lookup " + strconv.FormatUint(uint64(r.Table), 10))
	case "goto":
		b.WriteString(" goto " + strconv.FormatUint(uint64(r.Goto), 10))
	default:
		b.WriteString(" " + r.Action)
	}
	if r.SuppressPrefixLength != nil {
		b.WriteString(" suppress_prefixlength " + strconv.Itoa(*r.SuppressPrefixLength))
	}
	if r.SuppressIfGroup != nil {
		b.WriteString(" suppress_ifgroup " + strconv.FormatUint(uint64(*r.SuppressIfGroup), 10))
	}
	return b.String()
}

// Validate checks the rule before anything is changed.
func (r Rule) Validate() error {
	fail := func(format string, a ...any) error {
		return fmt.Errorf("host: rule %q: %s", r.String(), fmt.Sprintf(format, a...))
	}
	if r.Family != 4 && r.Family != 6 {
		return fail("family must be 4 or 6, not %d", r.Family)
	}
	for _, p := range []netip.Prefix{r.From, r.To} {
		if !p.IsValid() {
			continue
		}
		if p.Addr().Is4In6() {
			return fail("IPv4-mapped IPv6 prefixes are not allowed")
		}
		if p.Addr().Is6() != (r.Family == 6) {
			return fail("%s is not of family %d", p, r.Family)
		}
		if p != p.Masked() {
			return fail("%s has host bits set (want %s)", p, p.Masked())
		}
	}
	if _, ok := ruleActions[r.Action]; !ok {
		return fail("unknown action %q (want table, goto, blackhole, unreachable, prohibit or nop)", r.Action)
	}
	if r.Action == "table" && r.Table == 0 {
		return fail("action table needs a table")
	}
	if r.Action != "table" && r.Table != 0 {
		return fail("a table is only valid with action table")
	}
	if r.Action == "goto" {
		if r.Priority != nil && r.Goto <= *r.Priority {
			return fail("goto %d must jump forward (beyond preference %d)", r.Goto, *r.Priority)
		}
	} else if r.Goto != 0 {
		return fail("goto target given with action %s", r.Action)
	}
	if (r.SuppressPrefixLength != nil || r.SuppressIfGroup != nil) && r.Action != "table" {
		return fail("suppress_prefixlength and suppress_ifgroup apply to action table only")
	}
	if r.SuppressPrefixLength != nil && (*r.SuppressPrefixLength < 0 || *r.SuppressPrefixLength > 128) {
		return fail("suppress_prefixlength %d out of range (0-128)", *r.SuppressPrefixLength)
	}
	if r.Family == 6 && r.Realm != 0 {
		return fail("realms apply to IPv4 rules only")
	}
	for _, dev := range []string{r.IIF, r.OIF} {
		if dev != "" {
			if err := checkDevName(dev); err != nil {
				return fail("%v", err)
			}
		}
	}
	for name, rg := range map[string]*Range{"uidrange": r.UIDRange, "sport": r.SPort, "dport": r.DPort} {
		if rg == nil {
			continue
		}
		if rg.Start > rg.End {
			return fail("%s %s is empty", name, rg)
		}
		if name != "uidrange" && rg.End > 65535 {
			return fail("%s %s out of range (0-65535)", name, rg)
		}
	}
	return nil
}
