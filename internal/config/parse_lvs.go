package config

import (
	"encoding/hex"
	"math"
	"net/netip"
	"strconv"
	"strings"
	"time"
)

// Parsing of virtual_server_group, virtual_server, real_server, the health
// checker blocks and the top-level SSL block, following keepalived 2.2.7's
// check parser. Range and syntax problems are found here; the checks that
// need the whole block or the whole file (families, defaults, duplicates,
// group references) are in validate_lvs.go.
//
// Keyword tables are built by functions taking the object being filled, so a
// handler writes straight into it; called with nil they only serve their
// keys (the compatibility listing and typo suggestions).

// Limits keepalived applies.
const (
	maxIPVSWeight      = math.MaxInt32 // IPVS_WEIGHT_LIMIT
	maxPersistTimeout  = 2678400       // LVS_MAX_TIMEOUT: 31 days, in seconds
	defaultPersistence = 360 * time.Second
	maxConnectTimeout  = time.Duration(math.MaxUint32) * time.Microsecond
	maxTimer           = time.Duration(math.MaxUint32) * time.Second
	minTimer           = time.Microsecond // keepalived timers count microseconds
	defaultUDPMaxReply = 255
)

// validSchedulers lists the schedulers keepalived 2.2.7 accepts.
var validSchedulers = map[Scheduler]bool{
	SchedRR: true, SchedWRR: true, SchedLC: true, SchedWLC: true, SchedLBLC: true,
	SchedLBLCR: true, SchedSH: true, SchedMH: true, SchedDH: true, SchedFO: true,
	SchedOVF: true, SchedSED: true, SchedNQ: true, SchedTwoS: true,
}

// dnsTypes lists the DNS_CHECK query types keepalived knows.
var dnsTypes = map[string]bool{
	"A": true, "NS": true, "CNAME": true, "SOA": true, "MX": true, "TXT": true,
	"AAAA": true, "RRSIG": true, "DNSKEY": true,
}

// regexOptions lists the PCRE2 option names regex_options accepts.
var regexOptions = map[string]bool{
	"allow_empty_class": true, "alt_bsux": true, "auto_callout": true, "caseless": true,
	"dollar_endonly": true, "dotall": true, "dupnames": true, "extended": true,
	"firstline": true, "match_unset_backref": true, "multiline": true, "never_ucp": true,
	"never_utf": true, "no_auto_capture": true, "no_auto_possess": true,
	"no_dotstar_anchor": true, "no_start_optimize": true, "ucp": true, "ungreedy": true,
	"utf": true, "never_backslash_c": true, "alt_circumflex": true, "alt_verbnames": true,
	"use_offset_limit": true,
}

// ---------------------------------------------------------------------------
// Small argument helpers.

// oneArg returns the single argument of a line that takes exactly one.
func (p *parser) oneArg(n *Node) (string, bool) {
	if !p.noBlock(n) || !p.nargs(n, 1, 1) {
		return "", false
	}
	return n.Args[0], true
}

// u32Arg parses the single argument of n as an integer in [lo, hi].
func (p *parser) u32Arg(n *Node, lo, hi int64) (uint32, bool) {
	if !p.noBlock(n) || !p.nargs(n, 1, 1) {
		return 0, false
	}
	v, ok := p.intArg(n, 0, lo, hi)
	return uint32(v), ok
}

// timerArg parses the single argument of n as seconds, fractions allowed,
// in [lo, hi] and stores it in *dst. Bounds are shown in seconds, the unit
// the operator wrote.
func (p *parser) timerArg(n *Node, dst **time.Duration, lo, hi time.Duration) {
	if !p.noBlock(n) || !p.nargs(n, 1, 1) {
		return
	}
	f, err := strconv.ParseFloat(n.Args[0], 64)
	if err != nil || math.IsNaN(f) || math.IsInf(f, 0) {
		p.diags.Errorf(n.Pos, "%s: %q is not a number of seconds", n.Name, n.Args[0])
		return
	}
	d := time.Duration(math.Round(f * float64(time.Second)))
	if f < lo.Seconds() || f > hi.Seconds() || d < lo {
		p.diags.Errorf(n.Pos, "%s: %s is out of range [%s, %s] seconds", n.Name, n.Args[0],
			strconv.FormatFloat(lo.Seconds(), 'f', -1, 64), strconv.FormatFloat(hi.Seconds(), 'f', -1, 64))
		return
	}
	*dst = &d
}

// setFlag stores a flag keyword's value in *dst.
func (p *parser) setFlag(n *Node, dst *bool) {
	if v, ok := p.flag(n); ok {
		*dst = v
	}
}

// setFlagPtr stores a flag keyword's value in *dst, marking it as set.
func (p *parser) setFlagPtr(n *Node, dst **bool) {
	if v, ok := p.flag(n); ok {
		*dst = &v
	}
}

// setString stores the single argument of n in *dst.
func (p *parser) setString(n *Node, dst *string) {
	if s, ok := p.oneArg(n); ok {
		*dst = s
	}
}

// script parses "keyword COMMAND [user [group]]".
func (p *parser) script(n *Node, dst **Script) {
	if !p.noBlock(n) || !p.nargs(n, 1, 3) {
		return
	}
	if *dst != nil {
		p.diags.Errorf(n.Pos, "%s is already set", n.Name)
		return
	}
	if strings.TrimSpace(n.Args[0]) == "" {
		p.diags.Errorf(n.Pos, "%s: empty command", n.Name)
		return
	}
	s := &Script{Command: n.Args[0]}
	if len(n.Args) > 1 {
		s.User = n.Args[1]
	}
	if len(n.Args) > 2 {
		s.Group = n.Args[2]
	}
	*dst = s
}

// parseAddr parses an IP address without zone, the form keepalived accepts
// for servers.
func parseAddr(s string) (netip.Addr, bool) {
	a, err := netip.ParseAddr(s)
	if err != nil || a.Zone() != "" {
		return netip.Addr{}, false
	}
	return a.Unmap(), true
}

// portArg parses a port in [lo, 65535].
func (p *parser) portArg(n *Node, s string, lo int) (uint16, bool) {
	v, err := strconv.ParseUint(s, 10, 16)
	if err != nil || int(v) < lo {
		p.diags.Errorf(n.Pos, "%s: invalid port %q (must be %d-65535)", n.Name, s, lo)
		return 0, false
	}
	return uint16(v), true
}

// family returns the IPFamily of an address.
func family(a netip.Addr) IPFamily {
	if a.Is4() {
		return FamilyInet
	}
	return FamilyInet6
}

// forwarding parses "NAT|DR|TUN [type ipip|gue port N|gre] [nocsum|csum|remcsum]"
// from n.Args, as lb_kind, lvs_method and sorry_server_lvs_method take it.
func (p *parser) forwarding(n *Node) (Forwarding, bool) {
	if !p.noBlock(n) || !p.nargs(n, 1, -1) {
		return Forwarding{}, false
	}
	f := Forwarding{Method: ForwardingMethod(n.Args[0])}
	switch f.Method {
	case FwdNAT, FwdDR:
		if len(n.Args) > 1 {
			p.diags.Errorf(n.Pos, "%s: tunnel options %q only apply to TUN", n.Name, strings.Join(n.Args[1:], " "))
			return Forwarding{}, false
		}
		return f, true
	case FwdTUN:
	default:
		p.diags.Errorf(n.Pos, "%s: unknown forwarding method %q (NAT, DR or TUN; case matters)", n.Name, n.Args[0])
		return Forwarding{}, false
	}
	tt, port, csum := TunIPIP, 0, TunnelChecksum("")
	for i := 1; i < len(n.Args); i++ {
		switch a := n.Args[i]; a {
		case "type":
			if i+1 >= len(n.Args) {
				p.diags.Errorf(n.Pos, "%s: missing tunnel type after \"type\"", n.Name)
				return Forwarding{}, false
			}
			i++
			switch TunnelType(n.Args[i]) {
			case TunIPIP, TunGUE, TunGRE:
				tt = TunnelType(n.Args[i])
			default:
				p.diags.Errorf(n.Pos, "%s: unknown tunnel type %q (ipip, gue or gre)", n.Name, n.Args[i])
				return Forwarding{}, false
			}
		case "port":
			if i+1 >= len(n.Args) {
				p.diags.Errorf(n.Pos, "%s: missing port after \"port\"", n.Name)
				return Forwarding{}, false
			}
			i++
			v, ok := p.portArg(n, n.Args[i], 1)
			if !ok {
				return Forwarding{}, false
			}
			port = int(v)
		case string(TunNoCsum), string(TunCsum), string(TunRemCsum):
			csum = TunnelChecksum(a)
		default:
			p.diags.Errorf(n.Pos, "%s: unknown tunnel option %q", n.Name, a)
			return Forwarding{}, false
		}
	}
	switch {
	case (tt == TunGUE) != (port != 0):
		p.diags.Errorf(n.Pos, "%s: a gue tunnel needs \"port N\", and only a gue tunnel takes one", n.Name)
		return Forwarding{}, false
	case tt == TunIPIP && csum != "" && csum != TunNoCsum:
		p.diags.Errorf(n.Pos, "%s: ipip tunnels have no checksum option", n.Name)
		return Forwarding{}, false
	case tt == TunGRE && csum == TunRemCsum:
		p.diags.Errorf(n.Pos, "%s: gre tunnels do not support remcsum", n.Name)
		return Forwarding{}, false
	}
	// Only record what differs from plain ipip so that "TUN" and
	// "TUN type ipip" are the same model.
	if tt != TunIPIP {
		f.TunnelType = tt
	}
	f.TunnelPort = uint16(port)
	if csum != TunNoCsum {
		f.TunnelChecksum = csum
	}
	return f, true
}

// ---------------------------------------------------------------------------
// virtual_server_group

// virtualServerGroup parses a virtual_server_group block.
func (p *parser) virtualServerGroup(n *Node) {
	if !p.block(n) || !p.nargs(n, 1, 1) {
		return
	}
	g := &VirtualServerGroup{Pos: n.Pos, Name: n.Args[0]}
	before := len(p.diags)
	for _, e := range n.Block {
		if e.HasBlock {
			p.diags.Errorf(e.Pos, "virtual_server_group %s: entry %q does not take a { ... } block", g.Name, e.Name)
			continue
		}
		if e.Name == "fwmark" {
			p.vsgFwmark(g, e)
			continue
		}
		p.vsgRange(g, e)
	}
	if len(g.Ranges) == 0 && len(g.Fwmarks) == 0 {
		if !p.errorsSince(before) {
			p.diags.Errorf(n.Pos, "virtual_server_group %s has no valid entries", g.Name)
		}
		p.groupBroken(g.Name)
		return
	}
	var v4, v6, bare bool
	for _, r := range g.Ranges {
		v4 = v4 || r.First.Is4()
		v6 = v6 || r.First.Is6()
	}
	for _, f := range g.Fwmarks {
		bare = bare || f.Family == ""
	}
	if v4 && v6 && bare {
		p.diags.Errorf(n.Pos, "virtual_server_group %s mixes IPv4 and IPv6 addresses, so its fwmarks need a family (fwmark N inet|inet6)", g.Name)
		p.groupBroken(g.Name)
		return
	}
	p.cfg.VirtualServerGroups = append(p.cfg.VirtualServerGroups, g)
}

// groupBroken records a virtual_server_group rejected with an error.
func (p *parser) groupBroken(name string) {
	if p.brokenGroups == nil {
		p.brokenGroups = map[string]bool{}
	}
	p.brokenGroups[name] = true
}

// vsgFwmark parses "fwmark N [inet|inet6]" inside a group.
func (p *parser) vsgFwmark(g *VirtualServerGroup, e *Node) {
	if !p.nargs(e, 1, 2) {
		return
	}
	v, ok := p.intArg(e, 0, 0, math.MaxUint32)
	if !ok {
		return
	}
	f := &VSGFwmark{Pos: e.Pos, Mark: uint32(v)}
	if len(e.Args) == 2 {
		switch IPFamily(e.Args[1]) {
		case FamilyInet, FamilyInet6:
			f.Family = IPFamily(e.Args[1])
		default:
			p.diags.Errorf(e.Pos, "fwmark: unknown family %q (inet or inet6)", e.Args[1])
			return
		}
	}
	g.Fwmarks = append(g.Fwmarks, f)
}

// vsgRange parses "ADDR|RANGE|CIDR [PORT]" inside a group.
func (p *parser) vsgRange(g *VirtualServerGroup, e *Node) {
	if len(e.Args) > 1 {
		p.diags.Errorf(e.Pos, "virtual_server_group %s: %q takes at most a port after the address", g.Name, e.Name)
		return
	}
	first, last, err := parseAddrRange(e.Name)
	if err != "" {
		p.diags.Errorf(e.Pos, "virtual_server_group %s: %s", g.Name, err)
		return
	}
	r := &VSGRange{Pos: e.Pos, First: first, Last: last}
	if len(e.Args) == 1 {
		v, err := strconv.ParseUint(e.Args[0], 10, 16)
		if err != nil || v == 0 {
			p.diags.Errorf(e.Pos, "virtual_server_group %s: %s: invalid port %q (must be 1-65535)", g.Name, e.Name, e.Args[0])
			return
		}
		r.Port = uint16(v)
	}
	g.Ranges = append(g.Ranges, r)
}

// parseAddrRange parses the address forms of a group line: a single
// address, A-N (last IPv4 octet, or last IPv6 group in hex), A-B with a full
// end address, or a CIDR prefix. It returns a message on error.
func parseAddrRange(s string) (first, last netip.Addr, msg string) {
	if strings.Contains(s, "/") {
		pfx, err := netip.ParsePrefix(s)
		if err != nil || pfx.Addr().Zone() != "" {
			return first, last, "invalid address prefix " + strconv.Quote(s)
		}
		pfx = pfx.Masked()
		first = pfx.Addr()
		last = lastInPrefix(pfx)
		return first, last, ""
	}
	head, tail, isRange := strings.Cut(s, "-")
	first, ok := parseAddr(head)
	if !ok {
		return first, last, "invalid address " + strconv.Quote(head)
	}
	if !isRange {
		return first, first, ""
	}
	if a, ok := parseAddr(tail); ok {
		last = a
	} else {
		b := first.As16()
		if first.Is4() {
			v, err := strconv.ParseUint(tail, 10, 8)
			if err != nil {
				return first, last, "invalid range end " + strconv.Quote(tail) + " (an IPv4 last octet 0-255 or a full address)"
			}
			b[15] = byte(v)
			last = netip.AddrFrom16(b).Unmap()
		} else {
			v, err := strconv.ParseUint(tail, 16, 16)
			if err != nil {
				return first, last, "invalid range end " + strconv.Quote(tail) + " (an IPv6 last group in hex or a full address)"
			}
			b[14], b[15] = byte(v>>8), byte(v)
			last = netip.AddrFrom16(b)
		}
	}
	if first.Is4() != last.Is4() {
		return first, last, "range " + strconv.Quote(s) + " mixes IPv4 and IPv6"
	}
	if last.Compare(first) <= 0 {
		return first, last, "range " + strconv.Quote(s) + ": end must be greater than start"
	}
	return first, last, ""
}

// lastInPrefix returns the highest address of a masked prefix.
func lastInPrefix(pfx netip.Prefix) netip.Addr {
	b := pfx.Addr().As16()
	bits := pfx.Bits()
	if pfx.Addr().Is4() {
		bits += 96
	}
	for i := bits; i < 128; i++ {
		b[i/8] |= 0x80 >> (i % 8)
	}
	a := netip.AddrFrom16(b)
	if pfx.Addr().Is4() {
		return a.Unmap()
	}
	return a
}

// ---------------------------------------------------------------------------
// Table reuse

// lvsTables keeps one keyword table per block kind for a whole parse.
// Building a table allocates a closure per keyword; doing it for each of
// ten thousand virtual servers (and their real servers and checkers) was
// most of the parse time. A table is bound to the block being parsed
// before the walk; blocks of one kind never nest, so a binding is never
// replaced while it is in use.
type lvsTables struct {
	vsKW     keywords
	vsBind   func(*vsState)
	rsKW     keywords
	rsBind   func(*rsState)
	connKW   keywords
	connBind func(*Checker)
}

func (t *lvsTables) vs(st *vsState) keywords {
	if t.vsKW == nil {
		t.vsKW, t.vsBind = vsKeywordsBound()
	}
	t.vsBind(st)
	return t.vsKW
}

func (t *lvsTables) rs(rst *rsState) keywords {
	if t.rsKW == nil {
		t.rsKW, t.rsBind = rsKeywordsBound()
	}
	t.rsBind(rst)
	return t.rsKW
}

// conn is the table of TCP_CHECK and PING_CHECK, which have no keywords
// of their own.
func (t *lvsTables) conn(c *Checker) keywords {
	if t.connKW == nil {
		t.connKW, t.connBind = commonCheckKeywordsBound(true)
	}
	t.connBind(c)
	return t.connKW
}

// ---------------------------------------------------------------------------
// virtual_server

// vsState is what parsing a virtual_server needs beyond the model: whether
// some settings were written, so finishVirtualServer can apply keepalived's
// defaults once the whole block is read.
type vsState struct {
	vs             *VirtualServer
	fwdSet         bool
	hashed         *Node
	sorryFwdSet    bool
	ipFamily       IPFamily
	ipFamilyNode   *Node
	schedFlagNodes map[string]*Node
	rs             []*rsState
	// rsRejected is set when a real_server line was rejected, so an
	// empty server list is not reported a second time.
	rsRejected bool
}

// rsState records how a real server was written.
type rsState struct {
	rs        *RealServer
	fwdSet    bool
	weightSet bool
}

// virtualServer parses a virtual_server block.
func (p *parser) virtualServer(n *Node) {
	if !p.block(n) || !p.nargs(n, 1, 2) {
		return
	}
	vs := &VirtualServer{Pos: n.Pos, Quorum: 1, Weight: 1}
	switch n.Args[0] {
	case "fwmark":
		if len(n.Args) != 2 {
			p.diags.Errorf(n.Pos, "virtual_server fwmark needs a mark number")
			return
		}
		v, ok := p.intArg(n, 1, 1, math.MaxUint32)
		if !ok {
			return
		}
		vs.Fwmark = uint32(v)
	case "group":
		if len(n.Args) != 2 {
			p.diags.Errorf(n.Pos, "virtual_server group needs a group name")
			return
		}
		vs.Group = n.Args[1]
	default:
		a, ok := parseAddr(n.Args[0])
		if !ok {
			p.diags.Errorf(n.Pos, "virtual_server: %q is not an IP address, \"fwmark N\" or \"group NAME\"", n.Args[0])
			return
		}
		vs.Addr, vs.Family = a, family(a)
		if len(n.Args) == 2 {
			port, ok := p.portArg(n, n.Args[1], 0)
			if !ok {
				return
			}
			vs.Port = port
		}
	}
	st := &vsState{vs: vs}
	p.walk(n.Block, p.tables.vs(st), "virtual_server "+strings.Join(n.Args, " "))
	if p.finishVirtualServer(st) {
		p.cfg.VirtualServers = append(p.cfg.VirtualServers, vs)
	}
}

// vsKeywords is the keyword table of a virtual_server block.
func vsKeywords(st *vsState) keywords {
	kw, bind := vsKeywordsBound()
	bind(st)
	return kw
}

// vsKeywordsBound builds the virtual_server table once; bind points its
// handlers at the block being parsed. The handlers read st and vs only
// when called, never while the table is built, so one table serves every
// virtual_server of a file (see lvsTables).
func vsKeywordsBound() (keywords, func(*vsState)) {
	var st *vsState
	var vs *VirtualServer
	bind := func(s *vsState) {
		st, vs = s, nil
		if s != nil {
			vs = s.vs
		}
	}
	schedFlag := func(p *parser, n *Node) {
		if p.noBlock(n) && p.nargs(n, 0, 0) {
			if st.schedFlagNodes == nil {
				st.schedFlagNodes = map[string]*Node{}
			}
			st.schedFlagNodes[n.Name] = n
		}
	}
	sched := func(p *parser, n *Node) {
		s, ok := p.oneArg(n)
		if !ok {
			return
		}
		if !validSchedulers[Scheduler(s)] {
			p.diags.Errorf(n.Pos, "%s: unknown scheduler %q (rr wrr lc wlc lblc lblcr sh mh dh fo ovf sed nq twos)", n.Name, s)
			return
		}
		vs.Scheduler = Scheduler(s)
	}
	fwd := func(p *parser, n *Node) {
		if f, ok := p.forwarding(n); ok {
			vs.Forwarding, st.fwdSet = f, true
		}
	}
	kw := keywords{
		"ip_family": func(p *parser, n *Node) {
			s, ok := p.oneArg(n)
			if !ok {
				return
			}
			if s != string(FamilyInet) && s != string(FamilyInet6) {
				p.diags.Errorf(n.Pos, "ip_family: unknown family %q (inet or inet6)", s)
				return
			}
			st.ipFamily, st.ipFamilyNode = IPFamily(s), n
		},
		"lb_algo":    sched,
		"lvs_sched":  sched,
		"lb_kind":    fwd,
		"lvs_method": fwd,
		"hashed": func(p *parser, n *Node) {
			if p.noBlock(n) && p.nargs(n, 0, 0) {
				st.hashed = n
			}
		},
		"ops": schedFlag, "flag-1": schedFlag, "flag-2": schedFlag, "flag-3": schedFlag,
		"sh-port": schedFlag, "sh-fallback": schedFlag, "mh-port": schedFlag, "mh-fallback": schedFlag,
		"persistence_engine": func(p *parser, n *Node) {
			s, ok := p.oneArg(n)
			if !ok {
				return
			}
			if len(s) > 15 { // IP_VS_PENAME_MAXLEN - 1
				p.diags.Errorf(n.Pos, "persistence_engine: name %q is longer than 15 characters", s)
				return
			}
			vs.PersistenceEngine = s
		},
		"persistence_timeout": func(p *parser, n *Node) {
			if !p.noBlock(n) || !p.nargs(n, 0, 1) {
				return
			}
			if len(n.Args) == 0 {
				vs.PersistenceTimeout = defaultPersistence
				return
			}
			if v, ok := p.intArg(n, 0, 1, maxPersistTimeout); ok {
				vs.PersistenceTimeout = time.Duration(v) * time.Second
			}
		},
		"persistence_granularity": func(p *parser, n *Node) {
			s, ok := p.oneArg(n)
			if !ok {
				return
			}
			// Like keepalived: a dotted value is an IPv4 netmask, anything
			// else an IPv6 prefix length.
			if strings.Contains(s, ".") {
				a, err := netip.ParseAddr(s)
				if err != nil || !a.Is4() {
					p.diags.Errorf(n.Pos, "persistence_granularity: %q is not an IPv4 netmask", s)
					return
				}
				vs.PersistenceMask = a
			} else {
				v, ok := p.intArg(n, 0, 1, 128)
				if !ok {
					return
				}
				vs.PersistencePrefixLen = int(v)
			}
			if vs.PersistenceTimeout == 0 {
				vs.PersistenceTimeout = defaultPersistence
			}
		},
		"protocol": func(p *parser, n *Node) {
			s, ok := p.oneArg(n)
			if !ok {
				return
			}
			switch pr := Protocol(strings.ToUpper(s)); pr {
			case ProtoTCP, ProtoUDP, ProtoSCTP:
				vs.Protocol = pr
			default:
				p.diags.Errorf(n.Pos, "protocol: unknown protocol %q (TCP, UDP or SCTP)", s)
			}
		},
		"ha_suspend":         func(p *parser, n *Node) { p.setFlag(n, &vs.HASuspend) },
		"smtp_alert":         func(p *parser, n *Node) { p.setFlagPtr(n, &vs.SMTPAlert) },
		"virtualhost":        func(p *parser, n *Node) { p.setString(n, &vs.Virtualhost) },
		"snmp_name":          func(p *parser, n *Node) { p.setString(n, &vs.SNMPName); p.notSupported(n) },
		"alpha":              func(p *parser, n *Node) { p.setFlag(n, &vs.Alpha) },
		"omega":              func(p *parser, n *Node) { p.setFlag(n, &vs.Omega) },
		"inhibit_on_failure": func(p *parser, n *Node) { p.setFlag(n, &vs.InhibitOnFailure) },
		"quorum_up":          func(p *parser, n *Node) { p.script(n, &vs.QuorumUp) },
		"quorum_down":        func(p *parser, n *Node) { p.script(n, &vs.QuorumDown) },
		"quorum": func(p *parser, n *Node) {
			if v, ok := p.u32Arg(n, 1, math.MaxUint32); ok {
				vs.Quorum = v
			}
		},
		"hysteresis": func(p *parser, n *Node) {
			if v, ok := p.u32Arg(n, 0, math.MaxUint32); ok {
				vs.Hysteresis = v
			}
		},
		"weight": func(p *parser, n *Node) {
			if v, ok := p.u32Arg(n, 1, maxIPVSWeight); ok {
				vs.Weight = v
			}
		},
		"sorry_server": func(p *parser, n *Node) {
			if !p.noBlock(n) || !p.nargs(n, 1, 2) {
				return
			}
			a, ok := parseAddr(n.Args[0])
			if !ok {
				p.diags.Errorf(n.Pos, "sorry_server: %q is not an IP address", n.Args[0])
				return
			}
			ss := &SorryServer{Pos: n.Pos, Addr: a}
			if len(n.Args) == 2 {
				if ss.Port, ok = p.portArg(n, n.Args[1], 0); !ok {
					return
				}
			}
			if vs.SorryServer != nil {
				p.diags.Errorf(n.Pos, "sorry_server is already set at %s", vs.SorryServer.Pos)
				return
			}
			vs.SorryServer = ss
		},
		"sorry_server_inhibit": func(p *parser, n *Node) {
			v, ok := p.flag(n)
			if !ok {
				return
			}
			if vs.SorryServer == nil {
				p.diags.Errorf(n.Pos, "sorry_server_inhibit must come after sorry_server")
				return
			}
			vs.SorryServer.Inhibit = v
		},
		"sorry_server_lvs_method": func(p *parser, n *Node) {
			f, ok := p.forwarding(n)
			if !ok {
				return
			}
			if vs.SorryServer == nil {
				p.diags.Errorf(n.Pos, "sorry_server_lvs_method must come after sorry_server")
				return
			}
			vs.SorryServer.Forwarding, st.sorryFwdSet = f, true
		},
		"real_server": func(p *parser, n *Node) { p.realServer(st, n) },
	}
	addTiming(kw, func() *Timing { return &vs.Timing }, 1)
	return kw, bind
}

// addTiming adds the inherited timing keywords to kw; minRetry is 1 on
// virtual and real servers and 0 on checkers, as in keepalived.
func addTiming(kw keywords, t func() *Timing, minRetry int64) {
	kw["connect_timeout"] = func(p *parser, n *Node) { p.timerArg(n, &t().ConnectTimeout, minTimer, maxConnectTimeout) }
	kw["delay_before_retry"] = func(p *parser, n *Node) { p.timerArg(n, &t().DelayBeforeRetry, 0, maxTimer) }
	kw["warmup"] = func(p *parser, n *Node) { p.timerArg(n, &t().Warmup, 0, maxTimer) }
	kw["delay_loop"] = func(p *parser, n *Node) { p.timerArg(n, &t().DelayLoop, minTimer, maxTimer) }
	kw["retry"] = func(p *parser, n *Node) {
		if v, ok := p.u32Arg(n, minRetry, math.MaxUint32); ok {
			t().Retry = &v
		}
	}
}

// ---------------------------------------------------------------------------
// real_server

// realServer parses a real_server block.
func (p *parser) realServer(st *vsState, n *Node) {
	if !p.block(n) || !p.nargs(n, 1, 2) {
		return
	}
	a, ok := parseAddr(n.Args[0])
	if !ok {
		p.diags.Errorf(n.Pos, "real_server: %q is not an IP address", n.Args[0])
		st.rsRejected = true
		return
	}
	rst := &rsState{rs: &RealServer{Pos: n.Pos, Addr: a, Weight: 1}}
	if len(n.Args) == 2 {
		port, ok := p.portArg(n, n.Args[1], 0)
		if !ok {
			st.rsRejected = true
			return
		}
		rst.rs.Port = port
	}
	p.walk(n.Block, p.tables.rs(rst), "real_server "+strings.Join(n.Args, " "))
	st.rs = append(st.rs, rst)
	st.vs.RealServers = append(st.vs.RealServers, rst.rs)
}

// rsKeywords is the keyword table of a real_server block.
func rsKeywords(rst *rsState) keywords {
	kw, bind := rsKeywordsBound()
	bind(rst)
	return kw
}

// rsKeywordsBound is vsKeywordsBound for real_server blocks.
func rsKeywordsBound() (keywords, func(*rsState)) {
	var rst *rsState
	var rs *RealServer
	bind := func(s *rsState) {
		rst, rs = s, nil
		if s != nil {
			rs = s.rs
		}
	}
	kw := keywords{
		"weight": func(p *parser, n *Node) {
			if v, ok := p.u32Arg(n, 0, maxIPVSWeight); ok {
				rs.Weight, rst.weightSet = v, true
			}
		},
		"lvs_method": func(p *parser, n *Node) {
			if f, ok := p.forwarding(n); ok {
				rs.Forwarding, rst.fwdSet = f, true
			}
		},
		"uthreshold": func(p *parser, n *Node) {
			if v, ok := p.u32Arg(n, 0, math.MaxUint32); ok {
				rs.UThreshold = v
			}
		},
		"lthreshold": func(p *parser, n *Node) {
			if v, ok := p.u32Arg(n, 0, math.MaxUint32); ok {
				rs.LThreshold = v
			}
		},
		"inhibit_on_failure": func(p *parser, n *Node) { p.setFlagPtr(n, &rs.InhibitOnFailure) },
		"alpha":              func(p *parser, n *Node) { p.setFlagPtr(n, &rs.Alpha) },
		"smtp_alert":         func(p *parser, n *Node) { p.setFlagPtr(n, &rs.SMTPAlert) },
		"notify_up":          func(p *parser, n *Node) { p.script(n, &rs.NotifyUp) },
		"notify_down":        func(p *parser, n *Node) { p.script(n, &rs.NotifyDown) },
		"virtualhost":        func(p *parser, n *Node) { p.setString(n, &rs.Virtualhost) },
		"snmp_name":          func(p *parser, n *Node) { p.setString(n, &rs.SNMPName); p.notSupported(n) },
	}
	addTiming(kw, func() *Timing { return &rs.Timing }, 1)
	for kind := range checkerTables {
		kw[string(kind)] = func(p *parser, n *Node) { p.checker(rs, kind, n) }
	}
	return kw, bind
}

// ---------------------------------------------------------------------------
// Checkers

// checkerTables builds the keyword table of each checker kind.
var checkerTables = map[CheckerKind]func(c *Checker) keywords{
	CheckTCP:  func(c *Checker) keywords { return commonCheckKeywords(c, true) },
	CheckPing: func(c *Checker) keywords { return commonCheckKeywords(c, true) },
	CheckHTTP: httpKeywords,
	CheckSSL:  httpKeywords,
	CheckSMTP: smtpKeywords,
	CheckMisc: miscKeywords,
	CheckDNS:  dnsKeywords,
	CheckUDP:  udpKeywords,
	CheckFile: fileKeywords,
	CheckBFD: func(c *Checker) keywords {
		return keywords{"name": func(p *parser, n *Node) { p.setString(n, &c.BFD.Name) }}
	},
}

// checker parses one checker block of a real server.
func (p *parser) checker(rs *RealServer, kind CheckerKind, n *Node) {
	if !p.block(n) || !p.nargs(n, 0, 0) {
		return
	}
	c := &Checker{Pos: n.Pos, Kind: kind}
	switch kind {
	case CheckHTTP, CheckSSL:
		c.HTTP = &HTTPCheck{Protocol: "1.0"}
	case CheckSMTP:
		c.SMTP = &SMTPCheck{}
	case CheckMisc:
		c.Misc = &MiscCheck{}
	case CheckDNS:
		c.DNS = &DNSCheck{}
	case CheckUDP:
		c.UDP = &UDPCheck{MaxReplyLength: defaultUDPMaxReply}
	case CheckFile:
		c.File = &FileCheck{}
	case CheckBFD:
		c.BFD = &BFDCheck{}
	}
	var kw keywords
	if kind == CheckTCP || kind == CheckPing {
		kw = p.tables.conn(c)
	} else {
		kw = checkerTables[kind](c)
	}
	var hosts []*Checker
	if kind == CheckSMTP {
		// The deprecated host{} sub-blocks: each is one more SMTP check
		// with its own connection options.
		kw["host"] = func(p *parser, hn *Node) {
			if !p.block(hn) || !p.nargs(hn, 0, 0) {
				return
			}
			p.diags.Warnf(hn.Pos, "SMTP_CHECK host blocks are deprecated; define one SMTP_CHECK per host instead")
			h := &Checker{Pos: hn.Pos, Kind: CheckSMTP}
			p.walk(hn.Block, commonCheckKeywords(h, true), "SMTP_CHECK host")
			if p.checkConn(h, hn) {
				hosts = append(hosts, h)
			}
		}
	}
	p.walk(n.Block, kw, string(kind))
	if !p.checkerComplete(c, n) || !p.checkConn(c, n) {
		return
	}
	if len(hosts) == 0 {
		rs.Checkers = append(rs.Checkers, c)
		return
	}
	for _, h := range hosts {
		hc := *c
		hc.Pos = h.Pos
		hc.ConnectIP, hc.ConnectPort, hc.BindTo, hc.BindPort, hc.BindIf, hc.Fwmark =
			h.ConnectIP, h.ConnectPort, h.BindTo, h.BindPort, h.BindIf, h.Fwmark
		hc.Timing = h.Timing.Or(c.Timing)
		if h.Alpha != nil {
			hc.Alpha = h.Alpha
		}
		hc.LogAllFailures = hc.LogAllFailures || h.LogAllFailures
		rs.Checkers = append(rs.Checkers, &hc)
	}
}

// checkConn checks the connection options that must agree with each other.
func (p *parser) checkConn(c *Checker, n *Node) bool {
	if c.ConnectIP.IsValid() && c.BindTo.IsValid() && c.ConnectIP.Is4() != c.BindTo.Is4() {
		p.diags.Errorf(n.Pos, "%s: connect_ip %s and bindto %s are of different address families", n.Name, c.ConnectIP, c.BindTo)
		return false
	}
	if c.BindTo.IsValid() && c.BindTo.Is6() && c.BindTo.IsLinkLocalUnicast() && c.BindIf == "" {
		p.diags.Errorf(n.Pos, "%s: link-local bindto %s needs bind_if", n.Name, c.BindTo)
		return false
	}
	return true
}

// checkerComplete checks the parts a checker kind cannot do without.
func (p *parser) checkerComplete(c *Checker, n *Node) bool {
	switch {
	case c.HTTP != nil && len(c.HTTP.URLs) == 0:
		p.missing(n, "url", "%s needs at least one url { path ... } block", c.Kind)
	case c.Misc != nil && c.Misc.Path == "":
		p.missing(n, "misc_path", "MISC_CHECK needs misc_path")
	case c.File != nil && c.File.TrackFile == "":
		p.missing(n, "track_file", "FILE_CHECK needs track_file")
	case c.BFD != nil && c.BFD.Name == "":
		p.missing(n, "name", "BFD_CHECK needs name")
	case c.UDP != nil && c.UDP.MinReplyLength > c.UDP.MaxReplyLength:
		p.diags.Errorf(n.Pos, "UDP_CHECK: min_reply_length %d is greater than max_reply_length %d, so the check could never pass", c.UDP.MinReplyLength, c.UDP.MaxReplyLength)
	default:
		if c.DNS != nil {
			if c.DNS.Type == "" {
				c.DNS.Type = "SOA"
			}
			if c.DNS.Name == "" {
				c.DNS.Name = "."
			}
		}
		if c.BFD != nil {
			p.notSupportedWhy(n, "Vigil has no BFD")
		}
		return true
	}
	return false
}

// commonCheckKeywords returns the keywords every checker accepts; conn adds
// the connection options (all checkers but MISC_CHECK).
func commonCheckKeywords(c *Checker, conn bool) keywords {
	kw, bind := commonCheckKeywordsBound(conn)
	bind(c)
	return kw
}

// commonCheckKeywordsBound is vsKeywordsBound for the keywords every
// checker shares.
func commonCheckKeywordsBound(conn bool) (keywords, func(*Checker)) {
	var c *Checker
	bind := func(x *Checker) { c = x }
	kw := keywords{
		"alpha":            func(p *parser, n *Node) { p.setFlagPtr(n, &c.Alpha) },
		"log_all_failures": func(p *parser, n *Node) { p.setFlag(n, &c.LogAllFailures) },
	}
	addTiming(kw, func() *Timing { return &c.Timing }, 0)
	if !conn {
		delete(kw, "connect_timeout")
		return kw, bind
	}
	addr := func(dst func() *netip.Addr) handler {
		return func(p *parser, n *Node) {
			s, ok := p.oneArg(n)
			if !ok {
				return
			}
			a, err := netip.ParseAddr(s)
			if err != nil {
				p.diags.Errorf(n.Pos, "%s: %q is not an IP address", n.Name, s)
				return
			}
			*dst() = a
		}
	}
	// A checker's port out of range is an error keepalived runs past: it
	// logs it and ignores the line, so the checker connects to the real
	// server's port (connect_port) or from any port (bind_port). It is
	// tolerable here too: -t rejects it, a daemon starts past it, and
	// nothing else of the file is affected.
	port := func(dst func() *uint16) handler {
		return func(p *parser, n *Node) {
			s, ok := p.oneArg(n)
			if !ok {
				return
			}
			v, err := strconv.ParseUint(s, 10, 16)
			if err != nil || v < 1 {
				p.diags.Tolerablef(n.Pos, "%s: invalid port %q (must be 1-65535); the line is ignored, as keepalived ignores it", n.Name, s)
				return
			}
			*dst() = uint16(v)
		}
	}
	kw["connect_ip"] = addr(func() *netip.Addr { return &c.ConnectIP })
	kw["bindto"] = addr(func() *netip.Addr { return &c.BindTo })
	kw["connect_port"] = port(func() *uint16 { return &c.ConnectPort })
	kw["bind_port"] = port(func() *uint16 { return &c.BindPort })
	kw["bind_if"] = func(p *parser, n *Node) {
		s, ok := p.oneArg(n)
		if !ok {
			return
		}
		if len(s) > 15 { // IFNAMSIZ - 1
			p.diags.Errorf(n.Pos, "bind_if: interface name %q is longer than 15 characters", s)
			return
		}
		c.BindIf = s
	}
	kw["fwmark"] = func(p *parser, n *Node) {
		if v, ok := p.u32Arg(n, 0, math.MaxUint32); ok {
			c.Fwmark = v
		}
	}
	return kw, bind
}

// httpKeywords is the table of HTTP_GET and SSL_GET.
func httpKeywords(c *Checker) keywords {
	kw := commonCheckKeywords(c, true)
	kw["nb_get_retry"] = func(p *parser, n *Node) {
		if v, ok := p.u32Arg(n, 0, math.MaxUint32); ok {
			p.diags.Warnf(n.Pos, "nb_get_retry is deprecated; use retry")
			c.Retry = &v
		}
	}
	kw["virtualhost"] = func(p *parser, n *Node) { p.setString(n, &c.HTTP.Virtualhost) }
	kw["http_protocol"] = func(p *parser, n *Node) {
		s, ok := p.oneArg(n)
		if !ok {
			return
		}
		switch s {
		case "1.0", "1.1", "1.0C":
			c.HTTP.Protocol = s
		case "1.0c":
			c.HTTP.Protocol = "1.0C"
		default:
			p.diags.Errorf(n.Pos, "http_protocol: unknown version %q (1.0, 1.0C or 1.1)", s)
		}
	}
	kw["enable_sni"] = func(p *parser, n *Node) { p.setFlag(n, &c.HTTP.EnableSNI) }
	kw["fast_recovery"] = func(p *parser, n *Node) { p.setFlag(n, &c.HTTP.FastRecovery) }
	kw["url"] = func(p *parser, n *Node) {
		if !p.block(n) || !p.nargs(n, 0, 0) {
			return
		}
		u := &URL{Pos: n.Pos}
		p.walk(n.Block, urlKeywords(u), "url")
		if p.urlComplete(u, n) {
			c.HTTP.URLs = append(c.HTTP.URLs, u)
		}
	}
	return kw
}

// urlComplete applies keepalived's end-of-url checks and defaults.
func (p *parser) urlComplete(u *URL, n *Node) bool {
	if u.Path == "" {
		p.diags.Errorf(n.Pos, "url needs a path")
		return false
	}
	if len(u.StatusCodes) == 0 {
		u.StatusCodes = []StatusRange{{200, 299}}
	}
	if u.Regex == "" && (u.RegexNoMatch || len(u.RegexOptions) > 0 || u.RegexMinOffset > 0 || u.RegexMaxOffset != nil || u.RegexStackMax > 0) {
		p.diags.Errorf(n.Pos, "url: regex_* options are set but there is no regex")
		return false
	}
	if u.RegexMaxOffset != nil && u.RegexMinOffset > *u.RegexMaxOffset {
		p.diags.Errorf(n.Pos, "url: regex_min_offset %d is greater than regex_max_offset %d", u.RegexMinOffset, *u.RegexMaxOffset)
		return false
	}
	if u.Regex != "" {
		_, noEffect, err := u.GoRegex()
		if err != nil {
			p.diags.Errorf(n.Pos, "url: %v", err)
			return false
		}
		for _, o := range noEffect {
			p.diags.Warnf(n.Pos, "url: regex_options %s has no effect in Vigil's regex engine (Go regexp)", o)
		}
	}
	return true
}

// urlKeywords is the table of an HTTP/SSL url block.
func urlKeywords(u *URL) keywords {
	offset := func(p *parser, n *Node) (uint64, bool) {
		if !p.noBlock(n) || !p.nargs(n, 1, 1) {
			return 0, false
		}
		v, err := strconv.ParseUint(n.Args[0], 10, 64)
		if err != nil {
			p.diags.Errorf(n.Pos, "%s: %q is not a non-negative integer", n.Name, n.Args[0])
			return 0, false
		}
		return v, true
	}
	return keywords{
		"path": func(p *parser, n *Node) { p.setString(n, &u.Path) },
		"digest": func(p *parser, n *Node) {
			s, ok := p.oneArg(n)
			if !ok {
				return
			}
			if u.Digest != "" {
				p.diags.Errorf(n.Pos, "digest is already set")
				return
			}
			if b, err := hex.DecodeString(s); err != nil || len(b) != 16 {
				p.diags.Errorf(n.Pos, "digest: %q is not an MD5 digest (32 hex digits)", s)
				return
			}
			u.Digest = strings.ToLower(s)
		},
		"status_code": func(p *parser, n *Node) {
			if !p.noBlock(n) || !p.nargs(n, 1, -1) {
				return
			}
			var out []StatusRange
			for _, a := range n.Args {
				lo, hi, isRange := strings.Cut(a, "-")
				l, err1 := strconv.Atoi(lo)
				h, err2 := l, error(nil)
				if isRange {
					h, err2 = strconv.Atoi(hi)
				}
				if err1 != nil || err2 != nil || l < 100 || h > 599 || l > h {
					p.diags.Errorf(n.Pos, "status_code: %q is not a status code or range within 100-599", a)
					return
				}
				out = append(out, StatusRange{l, h})
			}
			u.StatusCodes = append(u.StatusCodes, out...)
		},
		"virtualhost": func(p *parser, n *Node) { p.setString(n, &u.Virtualhost) },
		"regex": func(p *parser, n *Node) {
			s, ok := p.oneArg(n)
			if !ok {
				return
			}
			if s == "" {
				p.diags.Errorf(n.Pos, "regex: empty pattern")
				return
			}
			u.Regex = s
		},
		"regex_no_match": func(p *parser, n *Node) { p.setFlag(n, &u.RegexNoMatch) },
		"regex_options": func(p *parser, n *Node) {
			if !p.noBlock(n) || !p.nargs(n, 1, -1) {
				return
			}
			for _, o := range n.Args {
				if !regexOptions[o] {
					p.diags.Errorf(n.Pos, "regex_options: unknown option %q", o)
					return
				}
			}
			u.RegexOptions = append(u.RegexOptions, n.Args...)
		},
		"regex_min_offset": func(p *parser, n *Node) {
			if v, ok := offset(p, n); ok {
				u.RegexMinOffset = v
			}
		},
		"regex_max_offset": func(p *parser, n *Node) {
			if v, ok := offset(p, n); ok {
				u.RegexMaxOffset = &v
			}
		},
		"regex_stack": func(p *parser, n *Node) {
			if !p.noBlock(n) || !p.nargs(n, 2, 2) {
				return
			}
			start, err1 := strconv.ParseUint(n.Args[0], 10, 64)
			max, err2 := strconv.ParseUint(n.Args[1], 10, 64)
			if err1 != nil || err2 != nil || start > max {
				p.diags.Errorf(n.Pos, "regex_stack: needs START MAX, non-negative integers with START <= MAX")
				return
			}
			u.RegexStackStart, u.RegexStackMax = start, max
			p.notSupportedWhy(n, "it sizes a PCRE2 JIT stack; Vigil's regex engine (Go regexp) has none")
		},
	}
}

// smtpKeywords is the table of SMTP_CHECK (host{} is added by checker).
func smtpKeywords(c *Checker) keywords {
	kw := commonCheckKeywords(c, true)
	kw["helo_name"] = func(p *parser, n *Node) { p.setString(n, &c.SMTP.HeloName) }
	return kw
}

// miscKeywords is the table of MISC_CHECK.
func miscKeywords(c *Checker) keywords {
	kw := commonCheckKeywords(c, false)
	kw["misc_path"] = func(p *parser, n *Node) {
		s, ok := p.oneArg(n)
		if ok && strings.TrimSpace(s) == "" {
			p.diags.Errorf(n.Pos, "misc_path: empty command")
			return
		}
		if ok {
			c.Misc.Path = s
		}
	}
	kw["misc_timeout"] = func(p *parser, n *Node) {
		if v, ok := p.u32Arg(n, 0, math.MaxUint32); ok {
			c.Misc.Timeout = time.Duration(v) * time.Second
		}
	}
	kw["misc_dynamic"] = func(p *parser, n *Node) { p.setFlag(n, &c.Misc.Dynamic) }
	kw["user"] = func(p *parser, n *Node) {
		if !p.noBlock(n) || !p.nargs(n, 1, 2) {
			return
		}
		c.Misc.User = n.Args[0]
		if len(n.Args) == 2 {
			c.Misc.Group = n.Args[1]
		}
	}
	return kw
}

// dnsKeywords is the table of DNS_CHECK.
func dnsKeywords(c *Checker) keywords {
	kw := commonCheckKeywords(c, true)
	kw["type"] = func(p *parser, n *Node) {
		s, ok := p.oneArg(n)
		if !ok {
			return
		}
		if t := strings.ToUpper(s); dnsTypes[t] {
			c.DNS.Type = t
			return
		}
		p.diags.Errorf(n.Pos, "type: unknown DNS query type %q (A NS CNAME SOA MX TXT AAAA RRSIG DNSKEY)", s)
	}
	kw["name"] = func(p *parser, n *Node) {
		s, ok := p.oneArg(n)
		if !ok {
			return
		}
		if c.DNS.Name != "" {
			p.diags.Errorf(n.Pos, "name is already set")
			return
		}
		if s != "." && (strings.Contains(strings.TrimSuffix(s, "."), "..") || strings.HasPrefix(s, ".")) {
			p.diags.Errorf(n.Pos, "name: %q has an empty label", s)
			return
		}
		c.DNS.Name = s
	}
	return kw
}

// udpKeywords is the table of UDP_CHECK.
func udpKeywords(c *Checker) keywords {
	kw := commonCheckKeywords(c, true)
	length := func(dst func() *uint16) handler {
		return func(p *parser, n *Node) {
			if v, ok := p.u32Arg(n, 0, math.MaxUint16); ok {
				*dst() = uint16(v)
			}
		}
	}
	kw["payload"] = func(p *parser, n *Node) {
		if !p.noBlock(n) || !p.nargs(n, 1, -1) {
			return
		}
		data, _, ok := parseHexWords(n.Args, false)
		if !ok {
			p.diags.Errorf(n.Pos, "payload: %q is not a hex string", strings.Join(n.Args, " "))
			return
		}
		c.UDP.Payload = data
	}
	kw["require_reply"] = func(p *parser, n *Node) {
		if !p.noBlock(n) {
			return
		}
		if len(n.Args) > 0 {
			data, mask, ok := parseHexWords(n.Args, true)
			if !ok {
				p.diags.Errorf(n.Pos, "require_reply: %q is not a hex string (x marks an ignored digit)", strings.Join(n.Args, " "))
				return
			}
			c.UDP.ReplyData, c.UDP.ReplyMask = data, mask
		}
		c.UDP.RequireReply = true
	}
	kw["min_reply_length"] = length(func() *uint16 { return &c.UDP.MinReplyLength })
	kw["max_reply_length"] = length(func() *uint16 { return &c.UDP.MaxReplyLength })
	return kw
}

// parseHexWords decodes keepalived's free-form hex: each word is read two
// digits at a time, a final odd digit standing for one byte ("f" is 0x0f).
// With wild, an x digit matches anything: its mask nibble is 0.
func parseHexWords(words []string, wild bool) (data, mask HexBytes, ok bool) {
	nib := func(c byte) (v, m byte, ok bool) {
		switch {
		case c >= '0' && c <= '9':
			return c - '0', 0xf, true
		case c >= 'a' && c <= 'f':
			return c - 'a' + 10, 0xf, true
		case c >= 'A' && c <= 'F':
			return c - 'A' + 10, 0xf, true
		case wild && (c == 'x' || c == 'X'):
			return 0, 0, true
		}
		return 0, 0, false
	}
	anyWild := false
	for _, w := range words {
		for i := 0; i < len(w); i += 2 {
			// A lone final digit is the low nibble; the implied high
			// nibble is a real 0 that must match.
			hv, hm := byte(0), byte(0xf)
			lv, lm, ok := nib(w[i])
			if !ok {
				return nil, nil, false
			}
			if i+1 < len(w) {
				hv, hm = lv, lm
				if lv, lm, ok = nib(w[i+1]); !ok {
					return nil, nil, false
				}
			}
			data = append(data, hv<<4|lv)
			mask = append(mask, hm<<4|lm)
			anyWild = anyWild || hm<<4|lm != 0xff
		}
	}
	if len(data) == 0 {
		return nil, nil, false
	}
	if !anyWild {
		mask = nil
	}
	return data, mask, true
}

// fileKeywords is the table of FILE_CHECK.
func fileKeywords(c *Checker) keywords {
	return keywords{
		"track_file": func(p *parser, n *Node) {
			p.setString(n, &c.File.TrackFile)
			c.File.TrackFilePos = n.Pos
		},
		"weight": func(p *parser, n *Node) {
			if !p.noBlock(n) || !p.nargs(n, 1, 2) {
				return
			}
			v, ok := p.intArg(n, 0, -math.MaxInt32, math.MaxInt32)
			if !ok {
				return
			}
			rev := false
			if len(n.Args) == 2 {
				switch n.Args[1] {
				case "reverse":
					rev = true
				case "noreverse":
				default:
					p.diags.Errorf(n.Pos, "weight: unknown option %q (reverse or noreverse)", n.Args[1])
					return
				}
			}
			w := int32(v)
			c.File.Weight, c.File.Reverse = &w, rev
		},
	}
}

// ---------------------------------------------------------------------------
// SSL

// sslBlock parses the top-level SSL block used by SSL_GET checkers.
func (p *parser) sslBlock(n *Node) *SSLConfig {
	if !p.block(n) || !p.nargs(n, 0, 0) {
		return nil
	}
	s := &SSLConfig{Pos: n.Pos}
	p.walk(n.Block, sslKeywords(s), "SSL")
	return s
}

// topSSL stores the top-level SSL block in the model. keepalived keeps one
// SSL context; a second block replaces the first, so Vigil says so.
func (p *parser) topSSL(n *Node) {
	s := p.sslBlock(n)
	if s == nil {
		return
	}
	if prev := p.cfg.SSL; prev != nil {
		p.diags.Warnf(n.Pos, "SSL block already given at %s; this one replaces it", prev.Pos)
	}
	p.cfg.SSL = s
}

// sslKeywords is the table of the SSL block.
func sslKeywords(s *SSLConfig) keywords {
	return keywords{
		"password":    func(p *parser, n *Node) { p.setString(n, &s.Password) },
		"ca":          func(p *parser, n *Node) { p.setString(n, &s.CA) },
		"certificate": func(p *parser, n *Node) { p.setString(n, &s.Certificate) },
		"key":         func(p *parser, n *Node) { p.setString(n, &s.Key) },
	}
}
