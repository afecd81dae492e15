package config

import (
	"net"
	"sort"
	"strings"
	"time"
)

// finish resolves defaults after every block is parsed: values keepalived
// derives from other settings, and instance settings inherited from
// global_defs. It runs before validate so the checks see effective values.
func (p *parser) finish() {
	g := &p.cfg.Global
	if g.VRRPGarp.LowerPrioDelay < 0 {
		g.VRRPGarp.LowerPrioDelay = g.VRRPGarp.MasterDelay
	}
	if g.VRRPGarp.LowerPrioRepeat < 0 {
		g.VRRPGarp.LowerPrioRepeat = g.VRRPGarp.MasterRepeat
	}
	if g.VRRPMinGarp {
		// vrrp_min_garp: one message, no second burst.
		g.VRRPGarp.MasterRepeat, g.VRRPGarp.MasterDelay = 1, 0
		g.VRRPGarp.LowerPrioRepeat, g.VRRPGarp.LowerPrioDelay = 1, 0
	}
	smtpVRRP := false
	if g.SMTPAlert != nil {
		smtpVRRP = *g.SMTPAlert
	}
	if g.SMTPAlertVRRP != nil {
		smtpVRRP = *g.SMTPAlertVRRP
	}
	for _, vi := range p.cfg.Instances {
		set := vi.set
		if vi.State == "" {
			vi.State = StateBackup
		}
		if !set["priority"] {
			vi.Priority = 100
		}
		if !set["advert_int"] {
			vi.AdvertInt = time.Second
		}
		if !set["unicast_ttl"] {
			vi.UnicastTTL = 255
		}
		if !set["down_timer_adverts"] {
			vi.DownTimerAdverts = g.VRRPDownTimerAdverts
		}
		inheritGarp(&vi.Garp, g.VRRPGarp, set)
		if !set["strict_mode"] {
			vi.StrictMode = g.VRRPStrict
		}
		if !set["lower_prio_no_advert"] {
			vi.LowerPrioNoAdvert = g.VRRPLowerPrioNoAdvert || vi.StrictMode
		}
		if !set["higher_prio_send_advert"] {
			vi.HigherPrioSendAdvert = g.VRRPHigherPrioSendAdvert
		}
		if !set["skip_check_adv_addr"] {
			vi.SkipCheckAdvAddr = g.VRRPSkipCheckAdvAddr
		}
		if !set["check_unicast_src"] {
			vi.CheckUnicastSrc = g.VRRPCheckUnicastSrc
		}
		for _, u := range vi.UnicastPeers {
			if u.MinTTL != nil || u.MaxTTL != nil {
				vi.CheckUnicastSrc = true // documented: min/max_ttl turn it on
			}
		}
		if !set["notify_priority_changes"] {
			vi.NotifyPriorityChanges = g.VRRPNotifyPriorityChange
		}
		if !set["smtp_alert"] {
			vi.SMTPAlert = smtpVRRP
		}
		if !set["accept"] && !set["no_accept"] {
			// Accept mode is the default unless strict mode, where only
			// the address owner accepts.
			vi.Accept = !vi.StrictMode || vi.Priority == 255
		}
		vi.IPv6 = instanceIsIPv6(vi)
		if !vi.McastDstIP.IsValid() && len(vi.UnicastPeers) == 0 {
			// The global groups apply to instances that name none. Only a
			// non-standard one is written into the instance, so the model
			// of an ordinary file stays as it was; the standard groups are
			// what the VRRP engine uses when none is given.
			grp := g.VRRPMcastGroup4
			if vi.IPv6 {
				grp = g.VRRPMcastGroup6
			}
			if grp != defaultGlobal().VRRPMcastGroup4 && grp != defaultGlobal().VRRPMcastGroup6 {
				vi.McastDstIP = grp
			}
		}
		if !set["version"] {
			vi.Version = g.VRRPVersion
			if vi.IPv6 {
				vi.Version = 3
			}
		}
	}
}

// inheritGarp fills the garp settings of an instance not given explicitly.
func inheritGarp(dst *Garp, g Garp, set map[string]bool) {
	if !set["garp_master_delay"] {
		dst.MasterDelay = g.MasterDelay
	}
	if !set["garp_master_repeat"] {
		dst.MasterRepeat = g.MasterRepeat
	}
	if !set["garp_lower_prio_delay"] {
		dst.LowerPrioDelay = g.LowerPrioDelay
		if set["garp_master_delay"] {
			dst.LowerPrioDelay = dst.MasterDelay
		}
	}
	if !set["garp_lower_prio_repeat"] {
		dst.LowerPrioRepeat = g.LowerPrioRepeat
		if set["garp_master_repeat"] {
			dst.LowerPrioRepeat = dst.MasterRepeat
		}
	}
	if !set["garp_master_refresh"] {
		dst.MasterRefresh = g.MasterRefresh
	}
	if !set["garp_master_refresh_repeat"] {
		dst.MasterRefreshRepeat = g.MasterRefreshRepeat
	}
	if !set["garp_extra_if"] && !set["vmac_garp_intvl"] && g.ExtraIf != nil {
		e := *g.ExtraIf
		dst.ExtraIf = &e
	}
}

// instanceIsIPv6 decides the address family an instance advertises: the
// family of its first VIP, else of its unicast source/peers, else
// native_ipv6.
func instanceIsIPv6(vi *VRRPInstance) bool {
	if len(vi.VirtualAddresses) > 0 {
		return vi.VirtualAddresses[0].Address.Addr().Is6()
	}
	if vi.UnicastSrcIP.IsValid() {
		return vi.UnicastSrcIP.Is6()
	}
	if len(vi.UnicastPeers) > 0 {
		return vi.UnicastPeers[0].Address.Is6()
	}
	if vi.McastSrcIP.IsValid() {
		return vi.McastSrcIP.Is6()
	}
	return vi.NativeIPv6
}

// validate checks the model as a whole: ranges that depend on other
// settings, required fields, references, duplicates and conflicts. It
// follows keepalived 2.2.7's "keepalived -t": what keepalived reports as a
// configuration error is an error here.
func (p *parser) validate(opts LoadOptions) {
	c := p.cfg
	scripts := map[string]*VRRPScript{}
	for _, s := range c.Scripts {
		if _, dup := scripts[s.Name]; dup {
			p.diags.Errorf(s.Pos, "vrrp_script %s is defined twice", s.Name)
		}
		scripts[s.Name] = s
	}
	files := map[string]*TrackFile{}
	for _, f := range c.TrackFiles {
		if _, dup := files[f.Name]; dup {
			p.diags.Errorf(f.Pos, "track_file %s is defined twice", f.Name)
		}
		files[f.Name] = f
	}
	procs := map[string]*TrackProcess{}
	for _, t := range c.Processes {
		if _, dup := procs[t.Name]; dup {
			p.diags.Errorf(t.Pos, "vrrp_track_process %s is defined twice", t.Name)
		}
		procs[t.Name] = t
	}
	bfds := map[string]bool{}
	for _, b := range c.Global.BFDInstances {
		bfds[b.Name] = true
	}
	insts := map[string]*VRRPInstance{}
	for _, vi := range c.Instances {
		if prev, dup := insts[vi.Name]; dup {
			p.diags.Errorf(vi.Pos, "vrrp_instance %s is already defined at %s", vi.Name, prev.Pos)
			continue
		}
		insts[vi.Name] = vi
	}
	trackGroups := map[string]bool{}
	for _, tg := range c.Global.TrackGroups {
		trackGroups[tg.Name] = true
		for _, name := range tg.Instances {
			if insts[name] == nil {
				p.diags.Errorf(tg.Pos, "track_group %s: vrrp_instance %s is not defined", tg.Name, name)
			}
		}
	}
	p.checkTrackGroupRefs(trackGroups)

	checkRefs := func(where string, t *Tracking) {
		for _, r := range t.Scripts {
			if scripts[r.Name] == nil {
				p.diags.Errorf(r.Pos, "%s: track_script %s is not a defined vrrp_script", where, r.Name)
			}
		}
		for _, r := range t.Files {
			if files[r.Name] == nil {
				p.diags.Errorf(r.Pos, "%s: track_file %s is not a defined track_file", where, r.Name)
			}
		}
		for _, r := range t.Processes {
			if procs[r.Name] == nil {
				p.diags.Errorf(r.Pos, "%s: track_process %s is not a defined vrrp_track_process", where, r.Name)
			}
		}
		for _, r := range t.BFDs {
			if !bfds[r.Name] {
				p.diags.Errorf(r.Pos, "%s: track_bfd %s is not a defined bfd_instance", where, r.Name)
			}
		}
	}

	inGroup := map[string]*SyncGroup{}
	groupNames := map[string]bool{}
	for _, sg := range c.SyncGroups {
		where := "vrrp_sync_group " + sg.Name
		if groupNames[sg.Name] {
			p.diags.Errorf(sg.Pos, "%s is defined twice", where)
		}
		groupNames[sg.Name] = true
		checkRefs(where, &sg.Track)
		seen := map[string]bool{}
		for _, m := range sg.Group {
			if seen[m] {
				p.diags.Errorf(sg.Pos, "%s: instance %s listed twice", where, m)
				continue
			}
			seen[m] = true
			if insts[m] == nil {
				p.diags.Errorf(sg.Pos, "%s: %s is not a defined vrrp_instance", where, m)
				continue
			}
			if other := inGroup[m]; other != nil {
				p.diags.Errorf(sg.Pos, "%s: vrrp_instance %s is already in vrrp_sync_group %s", where, m, other.Name)
				continue
			}
			inGroup[m] = sg
		}
	}

	for _, vi := range c.Instances {
		p.validateInstance(vi, checkRefs)
	}
	p.checkDuplicateVRIDs()

	if c.Global.LVSSyncDaemon != nil && c.Global.LVSSyncDaemon.Instance != "" && insts[c.Global.LVSSyncDaemon.Instance] == nil {
		p.diags.Errorf(Pos{}, "lvs_sync_daemon: %s is not a defined vrrp_instance", c.Global.LVSSyncDaemon.Instance)
	}

	if opts.HostChecks {
		p.hostChecks()
	}
}

// validateInstance checks one instance on its own.
func (p *parser) validateInstance(vi *VRRPInstance, checkRefs func(string, *Tracking)) {
	where := "vrrp_instance " + vi.Name
	errf := func(format string, args ...any) {
		p.diags.Errorf(vi.Pos, where+": "+format, args...)
	}
	if !vi.set["virtual_router_id"] && !vi.set[rejectedKey("virtual_router_id")] {
		errf("virtual_router_id is required")
	}
	if vi.Interface == "" && !vi.set[rejectedKey("interface")] {
		// keepalived.conf(5) allows omitting it with unicast, but
		// keepalived 2.2.7 rejects such an instance ("Unknown interface").
		errf("interface is required")
	}
	if len(vi.UnicastPeers) == 0 && !vi.UnicastFaultNoPeer {
		for _, k := range []string{"unicast_src_ip", "unicast_ttl", "check_unicast_src"} {
			if vi.set[k] {
				p.diags.Warnf(vi.Pos, "%s: %s given without unicast_peer; using multicast", where, k)
				break
			}
		}
	}
	checkRefs(where, &vi.Track)

	// advert_int: v2 carries whole seconds, v3 centiseconds in 12 bits.
	if vi.Version == 2 {
		if vi.AdvertInt%time.Second != 0 {
			errf("advert_int %s must be a whole number of seconds with VRRPv2", vi.AdvertInt)
		}
	} else if vi.AdvertInt > 4095*10*time.Millisecond {
		errf("advert_int %s is above the VRRPv3 maximum of 40.95s", vi.AdvertInt)
	} else if vi.AdvertInt%(10*time.Millisecond) != 0 {
		errf("advert_int %s must be a multiple of 10ms with VRRPv3", vi.AdvertInt)
	}

	if vi.NoPreempt && vi.State == StateMaster {
		errf("nopreempt does not work with state MASTER")
	}
	if vi.PreemptDelay > 0 && vi.State == StateMaster {
		errf("preempt_delay does not work with state MASTER")
	}
	if vi.PreemptDelay > 0 && vi.NoPreempt {
		p.diags.Warnf(vi.Pos, "%s: preempt_delay has no effect with nopreempt", where)
	}

	// Addresses in virtual_ipaddress must share the instance's family;
	// mixing belongs in virtual_ipaddress_excluded.
	for _, va := range vi.VirtualAddresses {
		if va.Address.Addr().Is6() != vi.IPv6 {
			p.diags.Errorf(va.Pos, "%s: %s: address family must match the instance's; put it in virtual_ipaddress_excluded", where, va.Address)
		}
	}
	if vi.IPv6 && vi.Version == 2 {
		// keepalived silently runs IPv6 instances as VRRPv3.
		p.diags.Warnf(vi.Pos, "%s: IPv6 instances use VRRP version 3; version 2 ignored", where)
		vi.Version = 3
	}
	if vi.Auth != nil && vi.Version == 3 {
		errf("authentication is not allowed with VRRPv3")
	}
	if vi.UnicastSrcIP.IsValid() && vi.UnicastSrcIP.Is6() != vi.IPv6 {
		errf("unicast_src_ip %s is not of the instance's address family", vi.UnicastSrcIP)
	}
	for _, u := range vi.UnicastPeers {
		if u.Address.Is6() != vi.IPv6 {
			errf("unicast_peer %s is not of the instance's address family", u.Address)
		}
	}
	if vi.McastDstIP.IsValid() {
		if !vi.McastDstIP.IsMulticast() || vi.McastDstIP.Is6() != vi.IPv6 {
			errf("mcast_dst_ip %s is not a multicast address of the instance's family", vi.McastDstIP)
		}
	}
	if vi.UseVMAC != nil && len(vi.UnicastPeers) > 0 && !vi.VMACXmitBase {
		errf("use_vmac with unicast_peer needs vmac_xmit_base")
	}

	if vi.StrictMode {
		if len(vi.VirtualAddresses) == 0 {
			errf("strict mode needs at least one virtual_ipaddress")
		}
		if len(vi.UnicastPeers) > 0 {
			errf("strict mode does not allow unicast_peer")
		}
		if vi.Auth != nil {
			errf("strict mode does not allow authentication")
		}
		if vi.PreemptDelay > 0 {
			errf("strict mode does not allow preempt_delay")
		}
		if (vi.State == StateMaster) != (vi.Priority == 255) {
			errf("strict mode: state MASTER if and only if priority 255")
		}
		if vi.Version == 2 && vi.set["accept"] {
			errf("strict mode does not allow accept with VRRPv2")
		}
	} else if len(vi.VirtualAddresses) == 0 {
		p.diags.Warnf(vi.Pos, "%s: no virtual_ipaddress", where)
	}

	// The address owner's priority is fixed at 255: tracking may not
	// change it, so weighted tracking makes no sense there.
	if vi.Priority == 255 {
		for _, list := range [][]TrackRef{vi.Track.Interfaces, vi.Track.Scripts, vi.Track.Files, vi.Track.Processes} {
			for _, r := range list {
				if r.Weight != nil && *r.Weight != 0 {
					p.diags.Warnf(r.Pos, "%s: weight of %s is ignored for an address owner (priority 255)", where, r.Name)
				}
			}
		}
	}
}

// checkDuplicateVRIDs reports instances sharing a VRID on the same
// interface and family that cannot be told apart: both multicast to the
// same group, or unicast to overlapping peers.
func (p *parser) checkDuplicateVRIDs() {
	type key struct {
		iface string
		vrid  int
		v6    bool
	}
	seen := map[key][]*VRRPInstance{}
	for _, vi := range p.cfg.Instances {
		if vi.VRID == 0 {
			continue
		}
		k := key{vi.Interface, vi.VRID, vi.IPv6}
		for _, o := range seen[k] {
			if o == vi || o.Name == vi.Name {
				continue
			}
			if conflicts(o, vi) {
				fam := "IPv4"
				if vi.IPv6 {
					fam = "IPv6"
				}
				p.diags.Errorf(vi.Pos, "vrrp_instance %s: VRID %d with %s on interface %s is already used by vrrp_instance %s", vi.Name, vi.VRID, fam, vi.Interface, o.Name)
			}
		}
		seen[k] = append(seen[k], vi)
	}
}

// conflicts reports whether two instances with the same VRID, interface
// and family would receive each other's adverts.
func conflicts(a, b *VRRPInstance) bool {
	au, bu := len(a.UnicastPeers) > 0, len(b.UnicastPeers) > 0
	if au != bu {
		return false
	}
	if au {
		for _, x := range a.UnicastPeers {
			for _, y := range b.UnicastPeers {
				if x.Address == y.Address {
					return true
				}
			}
		}
		return false
	}
	return a.McastDstIP == b.McastDstIP
}

// checkTrackGroupRefs reports static addresses/routes/rules naming an
// undefined track_group.
func (p *parser) checkTrackGroupRefs(defined map[string]bool) {
	check := func(pos Pos, name string) {
		if name != "" && !defined[name] {
			p.diags.Errorf(pos, "track_group %s is not defined", name)
		}
	}
	for _, a := range p.cfg.StaticAddresses {
		check(a.Pos, a.TrackGroup)
	}
	for _, r := range p.cfg.StaticRoutes {
		check(r.Pos, r.TrackGroup)
	}
	for _, r := range p.cfg.StaticRules {
		check(r.Pos, r.TrackGroup)
	}
}

// hostChecks warns about facts of this host: interfaces named in the
// configuration that do not exist here. They are warnings because the file
// may be meant for another machine, or the interface may come later.
func (p *parser) hostChecks() {
	ifs, err := net.Interfaces()
	if err != nil {
		p.diags.Warnf(Pos{}, "cannot list interfaces of this host: %v", err)
		return
	}
	have := map[string]bool{}
	for _, i := range ifs {
		have[i.Name] = true
	}
	type use struct {
		pos  Pos
		what string
	}
	var uses []use
	add := func(pos Pos, name, what string) {
		if name != "" && !have[name] {
			uses = append(uses, use{pos, "interface " + name + " (" + what + ") does not exist on this host"})
		}
	}
	for _, vi := range p.cfg.Instances {
		add(vi.Pos, vi.Interface, "vrrp_instance "+vi.Name)
		for _, t := range vi.Track.Interfaces {
			add(t.Pos, t.Name, "track_interface of "+vi.Name)
		}
		for _, va := range append(append([]*VirtualAddress(nil), vi.VirtualAddresses...), vi.ExcludedAddresses...) {
			add(va.Pos, va.Dev, "dev of "+va.Address.String())
		}
	}
	for _, va := range p.cfg.StaticAddresses {
		add(va.Pos, va.Dev, "dev of "+va.Address.String())
	}
	sort.SliceStable(uses, func(i, j int) bool { return uses[i].pos.Line < uses[j].pos.Line })
	for _, u := range uses {
		p.diags.Warnf(u.pos, "%s", strings.TrimSpace(u.what))
	}
}
