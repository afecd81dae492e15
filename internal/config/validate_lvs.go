package config

import (
	"fmt"
	"net/netip"
)

// LVS validation, following keepalived 2.2.7's validate_check_config.
//
// The rule for severities: where keepalived ignores a setting or a whole
// server ("- ignoring", "- skipping", "- removing"), Vigil reports an error,
// because running without what the operator wrote is a surprise. Where
// keepalived repairs the configuration with a documented default or
// adjustment ("setting default", "resetting", "reducing"), Vigil applies the
// same repair to the model and reports a warning, so the model is what
// keepalived would run.

// finishVirtualServer checks a parsed virtual_server on its own and applies
// keepalived's defaults; it reports whether the server is usable.
func (p *parser) finishVirtualServer(st *vsState) bool {
	vs := st.vs
	name := vsLabel{vs}
	ok := true

	if st.hashed != nil {
		p.notSupportedWhy(st.hashed, "keepalived 2.2.7 accepts it without effect")
	}
	if !p.schedulerFlags(st) {
		ok = false
	}
	if !p.vsFamily(st) {
		ok = false
	}

	// Duplicated real servers: keepalived drops the second one. Most
	// services have a handful of servers, where comparing each with those
	// before it is cheaper than a map.
	var seen map[rsKey]*RealServer
	if len(vs.RealServers) > 8 {
		seen = make(map[rsKey]*RealServer, len(vs.RealServers))
	}
	for i, rs := range vs.RealServers {
		key := rsKey{rs.Addr, rs.Port}
		var first *RealServer
		if seen != nil {
			first = seen[key]
		} else {
			for _, o := range vs.RealServers[:i] {
				if (rsKey{o.Addr, o.Port}) == key {
					first = o
					break
				}
			}
		}
		if first != nil {
			p.diags.Errorf(rs.Pos, "%s: real_server %s port %d duplicates the one at %s", name, rs.Addr, rs.Port, first.Pos)
			ok = false
			continue
		}
		if seen != nil {
			seen[key] = rs
		}
	}
	if len(vs.RealServers) == 0 {
		if !st.rsRejected {
			p.diags.Errorf(vs.Pos, "%s has no real_server", name)
		}
		ok = false
	}
	if !ok {
		return false
	}

	// Forwarding method: the real server's, else the virtual server's,
	// else NAT with a warning.
	needDefault := st.sorryFwdSet == false && vs.SorryServer != nil
	for _, rst := range st.rs {
		needDefault = needDefault || !rst.fwdSet
	}
	if !st.fwdSet && needDefault {
		p.diags.Warnf(vs.Pos, "%s: no lb_kind/lvs_method set; using NAT", name)
		vs.Forwarding = Forwarding{Method: FwdNAT}
	}
	var weightSum uint64
	for _, rst := range st.rs {
		if !rst.fwdSet {
			rst.rs.Forwarding = vs.Forwarding
		}
		if !rst.weightSet {
			rst.rs.Weight = vs.Weight
		}
		weightSum += uint64(rst.rs.Weight)
	}
	if vs.SorryServer != nil && !st.sorryFwdSet {
		vs.SorryServer.Forwarding = vs.Forwarding
	}

	if vs.Scheduler == "" {
		p.diags.Warnf(vs.Pos, "%s: no lb_algo/lvs_sched set; using %s", name, DefaultScheduler)
		vs.Scheduler = DefaultScheduler
	}

	if vs.Group == "" {
		p.addressChecks(vs, vs.Fwmark == 0, vs.Port == 0)
		p.serverPorts(vs)
	}
	if vs.HASuspend && vs.Fwmark != 0 {
		p.diags.Warnf(vs.Pos, "%s: ha_suspend cannot be used with a fwmark; it is cleared", name)
		vs.HASuspend = false
	}

	// Quorum and hysteresis, as keepalived adjusts them.
	if uint64(vs.Quorum) > weightSum {
		p.diags.Warnf(vs.Pos, "%s: quorum %d exceeds the total weight %d of the real servers; using %d", name, vs.Quorum, weightSum, weightSum)
		vs.Quorum = uint32(weightSum)
	}
	if vs.Hysteresis >= vs.Quorum && (vs.Hysteresis != 0 || vs.Quorum != 0) {
		h := uint32(0)
		if vs.Quorum > 0 {
			h = vs.Quorum - 1
		}
		p.diags.Warnf(vs.Pos, "%s: hysteresis %d must be below quorum %d; using %d", name, vs.Hysteresis, vs.Quorum, h)
		vs.Hysteresis = h
	}

	// A real server that is also the sorry server must agree on inhibit.
	if ss := vs.SorryServer; ss != nil {
		for _, rs := range vs.RealServers {
			if rs.Addr == ss.Addr && rs.Port == ss.Port {
				inh := vs.InhibitOnFailure
				if rs.InhibitOnFailure != nil {
					inh = *rs.InhibitOnFailure
				}
				if inh != ss.Inhibit {
					p.diags.Warnf(ss.Pos, "%s: sorry_server is also real_server at %s but their inhibit settings differ; using the real server's (%t)", name, rs.Pos, inh)
					ss.Inhibit = inh
				}
			}
		}
	}
	return true
}

// schedulerFlags applies the bare scheduler flag keywords, which only mean
// something to some schedulers.
func (p *parser) schedulerFlags(st *vsState) bool {
	vs, ok := st.vs, true
	for _, k := range []string{"flag-1", "flag-2", "flag-3", "sh-port", "sh-fallback", "mh-port", "mh-fallback", "ops"} {
		n := st.schedFlagNodes[k]
		if n == nil {
			continue
		}
		switch k {
		case "sh-port", "sh-fallback":
			if vs.Scheduler != SchedSH {
				p.diags.Errorf(n.Pos, "%s only applies to the sh scheduler", k)
				ok = false
				continue
			}
		case "mh-port", "mh-fallback":
			if vs.Scheduler != SchedMH {
				p.diags.Errorf(n.Pos, "%s only applies to the mh scheduler", k)
				ok = false
				continue
			}
		}
		f := &vs.Flags
		*map[string]*bool{
			"flag-1": &f.Flag1, "flag-2": &f.Flag2, "flag-3": &f.Flag3,
			"sh-port": &f.SHPort, "sh-fallback": &f.SHFallback,
			"mh-port": &f.MHPort, "mh-fallback": &f.MHFallback, "ops": &f.OPS,
		}[k] = true
	}
	return ok
}

// vsFamily works out the virtual server's address family and checks that
// every real and sorry server that is not tunnelled has it too.
func (p *parser) vsFamily(st *vsState) bool {
	vs, name, ok := st.vs, vsLabel{st.vs}, true
	fam := vs.Family
	if st.ipFamily != "" {
		if fam != "" && fam != st.ipFamily {
			p.diags.Errorf(st.ipFamilyNode.Pos, "%s: ip_family %s conflicts with the address family of the virtual server (%s)", name, st.ipFamily, fam)
			return false
		}
		fam = st.ipFamily
	}
	if vs.PersistenceMask.IsValid() && fam == FamilyInet6 {
		p.diags.Errorf(vs.Pos, "%s: persistence_granularity is an IPv4 netmask but the service is IPv6 (use a prefix length 1-128)", name)
		return false
	}
	if vs.PersistencePrefixLen != 0 && fam == FamilyInet {
		p.diags.Errorf(vs.Pos, "%s: persistence_granularity is a prefix length but the service is IPv4 (use a netmask)", name)
		return false
	}
	if fam == "" && vs.PersistenceMask.IsValid() {
		fam = FamilyInet
	}
	if fam == "" && vs.PersistencePrefixLen != 0 {
		fam = FamilyInet6
	}
	check := func(pos Pos, what string, a netip.Addr, fwd Forwarding, set bool) {
		if set && fwd.Method == FwdTUN {
			return // tunnelled servers may be of the other family
		}
		f := FamilyInet6
		if a.Is4() {
			f = FamilyInet
		}
		if fam == "" {
			fam = f
		} else if f != fam {
			p.diags.Errorf(pos, "%s: %s %s is %s but the virtual server is %s", name, what, a, f, fam)
			ok = false
		}
	}
	// A server's own method decides whether it is tunnelled; one that has
	// none inherits the virtual server's.
	if ss := vs.SorryServer; ss != nil {
		fwd := vs.Forwarding
		if st.sorryFwdSet {
			fwd = ss.Forwarding
		}
		check(ss.Pos, "sorry_server", ss.Addr, fwd, st.sorryFwdSet || st.fwdSet)
	}
	for _, rst := range st.rs {
		fwd := vs.Forwarding
		if rst.fwdSet {
			fwd = rst.rs.Forwarding
		}
		check(rst.rs.Pos, "real_server", rst.rs.Addr, fwd, rst.fwdSet || st.fwdSet)
	}
	if fam == "" && vs.Group == "" {
		// fwmark service whose servers are all tunnelled: their common
		// family, else IPv4, as keepalived does.
		for _, rs := range vs.RealServers {
			f := family(rs.Addr)
			if fam == "" {
				fam = f
			} else if fam != f {
				fam = FamilyInet
				break
			}
		}
		if fam == "" {
			fam = FamilyInet
		}
	}
	vs.Family = fam
	return ok
}

// addressChecks applies keepalived's checks for services defined by address
// (byAddr) rather than only by fwmark; zeroPort tells whether some address
// of the service has no port.
func (p *parser) addressChecks(vs *VirtualServer, byAddr, zeroPort bool) {
	name := vsLabel{vs}
	if !byAddr {
		if vs.Protocol != "" {
			p.diags.Warnf(vs.Pos, "%s: protocol has no meaning for a fwmark service; it is ignored", name)
			vs.Protocol = ""
		}
		return
	}
	if vs.Protocol == "" {
		// The kernel treats protocol 0 as UDP; keepalived makes it explicit.
		p.diags.Warnf(vs.Pos, "%s: no protocol set; using UDP as keepalived does (write protocol TCP for TCP)", name)
		vs.Protocol = ProtoUDP
	}
	if vs.Flags.OPS && vs.Protocol != ProtoUDP {
		p.diags.Warnf(vs.Pos, "%s: ops (one-packet scheduling) requires UDP; it is cleared", name)
		vs.Flags.OPS = false
	}
	if zeroPort && vs.PersistenceTimeout == 0 {
		p.diags.Warnf(vs.Pos, "%s: a service without port must be persistent; using persistence_timeout %d", name, int(defaultPersistence.Seconds()))
		vs.PersistenceTimeout = defaultPersistence
	}
}

// serverPorts gives real and sorry servers of a non-group service the port
// keepalived gives them.
func (p *parser) serverPorts(vs *VirtualServer) {
	name := vsLabel{vs}
	fix := func(pos Pos, what string, addr netip.Addr, port *uint16, fwd Forwarding) {
		switch {
		case fwd.Method == FwdNAT:
			if vs.Fwmark == 0 && *port == 0 {
				*port = vs.Port
			}
		case vs.Fwmark != 0:
			if *port != 0 {
				p.diags.Warnf(pos, "%s: %s %s has a port, but a fwmark service forwarded by %s ignores it; it is cleared", name, what, addr, fwd.Method)
				*port = 0
			}
		case *port == 0:
			*port = vs.Port
		case *port != vs.Port:
			p.diags.Warnf(pos, "%s: %s %s port %d differs from the virtual server's, which %s forwarding requires; using %d", name, what, addr, *port, fwd.Method, vs.Port)
			*port = vs.Port
		}
	}
	for _, rs := range vs.RealServers {
		fix(rs.Pos, "real_server", rs.Addr, &rs.Port, rs.Forwarding)
	}
	if ss := vs.SorryServer; ss != nil {
		fix(ss.Pos, "sorry_server", ss.Addr, &ss.Port, ss.Forwarding)
	}
}

// validateLVS runs the checks that need the whole file: group references,
// group-dependent defaults and duplicates. The top-level validation calls it
// once parsing is complete.
func (p *parser) validateLVS() {
	groups := map[string]*VirtualServerGroup{}
	var keptGroups []*VirtualServerGroup
	for _, g := range p.cfg.VirtualServerGroups {
		if first := groups[g.Name]; first != nil {
			p.diags.Errorf(g.Pos, "virtual_server_group %s is already defined at %s", g.Name, first.Pos)
			continue
		}
		groups[g.Name] = g
		keptGroups = append(keptGroups, g)
	}
	p.cfg.VirtualServerGroups = keptGroups

	trackFiles := map[string]bool{}
	for _, f := range p.cfg.TrackFiles {
		trackFiles[f.Name] = true
	}
	bfds := map[string]bool{}
	for _, b := range p.cfg.Global.BFDInstances {
		bfds[b.Name] = true
	}

	seen := make(map[vsKeyT]*VirtualServer, len(p.cfg.VirtualServers))
	var kept []*VirtualServer
	for _, vs := range p.cfg.VirtualServers {
		if vs.Group != "" && !p.groupChecks(vs, groups[vs.Group]) {
			continue
		}
		if !p.checkerRefs(vs, trackFiles, bfds) {
			continue
		}
		key := vsKey(vs)
		if first := seen[key]; first != nil {
			p.diags.Errorf(vs.Pos, "%s duplicates the virtual_server at %s", vsName(vs), first.Pos)
			continue
		}
		seen[key] = vs
		kept = append(kept, vs)
	}
	p.cfg.VirtualServers = kept
}

// checkerRefs checks that FILE_CHECK and BFD_CHECK name a track_file and a
// bfd_instance that exist; keepalived drops such a checker.
func (p *parser) checkerRefs(vs *VirtualServer, trackFiles, bfds map[string]bool) bool {
	ok := true
	for _, rs := range vs.RealServers {
		for _, c := range rs.Checkers {
			if c.File != nil && !trackFiles[c.File.TrackFile] {
				p.diags.Errorf(c.File.TrackFilePos, "FILE_CHECK: no track_file %s is defined", c.File.TrackFile)
				ok = false
			}
			if c.BFD != nil && !bfds[c.BFD.Name] {
				p.diags.Errorf(c.Pos, "BFD_CHECK: no bfd_instance %s is defined", c.BFD.Name)
				ok = false
			}
		}
	}
	return ok
}

// groupChecks checks a virtual server defined by a group against that group.
func (p *parser) groupChecks(vs *VirtualServer, g *VirtualServerGroup) bool {
	name := vsLabel{vs}
	if g == nil {
		if !p.brokenGroups[vs.Group] {
			p.diags.Errorf(vs.Pos, "%s: no virtual_server_group %s is defined", name, vs.Group)
		}
		return false
	}
	var gfam IPFamily
	mixed := false
	zeroPort := false
	for _, r := range g.Ranges {
		f := family(r.First)
		if gfam == "" {
			gfam = f
		} else if f != gfam {
			mixed = true
		}
		zeroPort = zeroPort || r.Port == 0
	}
	for _, f := range g.Fwmarks {
		if f.Family == "" {
			continue
		}
		if gfam == "" {
			gfam = f.Family
		} else if f.Family != gfam {
			mixed = true
		}
	}
	ok := true
	if !mixed && gfam != "" {
		if vs.Family != "" && vs.Family != gfam {
			p.diags.Errorf(vs.Pos, "%s: the group's addresses are %s but its servers are %s", name, gfam, vs.Family)
			ok = false
		}
		vs.Family = gfam
	} else if mixed {
		for _, rs := range vs.RealServers {
			if rs.Forwarding.Method != FwdTUN {
				p.diags.Errorf(rs.Pos, "%s: the group mixes IPv4 and IPv6, which needs every real server tunnelled (lvs_method TUN)", name)
				ok = false
			}
		}
	}
	if vs.Family == "" {
		vs.Family = FamilyInet
	}
	if !ok {
		return false
	}
	p.addressChecks(vs, len(g.Ranges) > 0, zeroPort)
	if vs.HASuspend && len(g.Fwmarks) > 0 {
		p.diags.Warnf(vs.Pos, "%s: ha_suspend cannot be used with fwmarks; it is cleared", name)
		vs.HASuspend = false
	}
	for _, r := range g.Ranges {
		for _, rs := range vs.RealServers {
			if rs.Forwarding.Method != FwdNAT && rs.Port != 0 && rs.Port != r.Port {
				p.diags.Warnf(rs.Pos, "%s: real_server %s port %d differs from the group entry's port %d at %s, which %s forwarding requires", name, rs.Addr, rs.Port, r.Port, r.Pos, rs.Forwarding.Method)
			}
		}
	}
	return true
}

// vsName names a virtual server in messages the way it is written.
func vsName(vs *VirtualServer) string {
	switch {
	case vs.Group != "":
		return "virtual_server group " + vs.Group
	case vs.Fwmark != 0:
		return fmt.Sprintf("virtual_server fwmark %d", vs.Fwmark)
	case vs.Port == 0:
		return "virtual_server " + vs.Addr.String()
	}
	return fmt.Sprintf("virtual_server %s %d", vs.Addr, vs.Port)
}

// vsLabel formats as vsName when a message is built, so the name costs
// nothing for the many services that have nothing to report.
type vsLabel struct{ vs *VirtualServer }

// String returns vsName of the service.
func (l vsLabel) String() string { return vsName(l.vs) }

// rsKey identifies a real server within its service.
type rsKey struct {
	addr netip.Addr
	port uint16
}

// vsKeyT identifies the IPVS service a virtual server creates: by group,
// protocol and family; by fwmark and family; or by address, port and
// protocol. The fields a kind does not use stay zero.
type vsKeyT struct {
	kind     byte // 'g', 'f' or 'a'
	group    string
	protocol Protocol
	family   IPFamily
	fwmark   uint32
	addr     netip.Addr
	port     uint16
}

// vsKey identifies the IPVS service a virtual server creates.
func vsKey(vs *VirtualServer) vsKeyT {
	switch {
	case vs.Group != "":
		return vsKeyT{kind: 'g', group: vs.Group, protocol: vs.Protocol, family: vs.Family}
	case vs.Fwmark != 0:
		return vsKeyT{kind: 'f', fwmark: vs.Fwmark, family: vs.Family}
	}
	return vsKeyT{kind: 'a', addr: vs.Addr, port: vs.Port, protocol: vs.Protocol}
}
