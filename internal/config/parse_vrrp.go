package config

import (
	"fmt"
	"net/netip"
	"strconv"
	"strings"
	"time"
)

// splitCommand splits a command string the way keepalived does before it runs
// a script: unquoted white space separates words; single and double quotes
// group (and are removed); a backslash escapes the next character, with the
// C escapes \a \b \E \f \n \r \t \v, \nnn (octal) and \xXX (hex).
func splitCommand(s string) ([]string, error) {
	var (
		words []string
		cur   strings.Builder
		inW   bool
		quote byte
	)
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case quote != 0 && c == quote:
			quote = 0
		case quote == 0 && (c == '\'' || c == '"'):
			quote, inW = c, true
		case c == '\\' && i+1 < len(s):
			i++
			r, n := unescape(s[i:])
			cur.WriteString(r)
			i += n - 1
			inW = true
		case quote == 0 && (c == ' ' || c == '\t'):
			if inW {
				words = append(words, cur.String())
				cur.Reset()
				inW = false
			}
		default:
			cur.WriteByte(c)
			inW = true
		}
	}
	if quote != 0 {
		return nil, fmt.Errorf("missing terminating %c", quote)
	}
	if inW {
		words = append(words, cur.String())
	}
	return words, nil
}

// unescape decodes the escape sequence at the start of s (after the
// backslash) and returns the text and how many bytes it used.
func unescape(s string) (string, int) {
	switch s[0] {
	case 'a':
		return "\a", 1
	case 'b':
		return "\b", 1
	case 'E':
		return "\x1b", 1
	case 'f':
		return "\f", 1
	case 'n':
		return "\n", 1
	case 'r':
		return "\r", 1
	case 't':
		return "\t", 1
	case 'v':
		return "\v", 1
	case 'x':
		j := 1
		for j < len(s) && j < 3 && strings.IndexByte("0123456789abcdefABCDEF", s[j]) >= 0 {
			j++
		}
		if j == 1 {
			return "x", 1
		}
		v, _ := strconv.ParseUint(s[1:j], 16, 8)
		return string([]byte{byte(v)}), j
	case 'c':
		if len(s) > 1 {
			return string([]byte{s[1] & 0x1f}), 2
		}
		return "c", 1
	}
	if s[0] >= '0' && s[0] <= '7' {
		j := 0
		for j < len(s) && j < 3 && s[j] >= '0' && s[j] <= '7' {
			j++
		}
		v, _ := strconv.ParseUint(s[:j], 8, 16)
		return string([]byte{byte(v)}), j
	}
	return s[:1], 1
}

// command parses "KEYWORD COMMAND [user [group]]": the command is one
// (usually quoted) string split into words; keepalived takes at most the user
// and group after it.
func (p *parser) command(n *Node) *Command {
	if !p.noBlock(n) {
		return nil
	}
	if len(n.Args) > 3 {
		p.diags.Errorf(n.Pos, "%s: too many arguments; quote the command when it has parameters (%s \"CMD ARGS\" [user [group]])", n.Name, n.Name)
		return nil
	}
	if !p.nargs(n, 1, 3) {
		return nil
	}
	argv, err := splitCommand(n.Args[0])
	if err != nil {
		p.diags.Errorf(n.Pos, "%s: %v", n.Name, err)
		return nil
	}
	if len(argv) == 0 {
		p.diags.Errorf(n.Pos, "%s: empty command", n.Name)
		return nil
	}
	c := &Command{Argv: argv}
	if len(n.Args) > 1 {
		c.User = n.Args[1]
	}
	if len(n.Args) > 2 {
		c.Group = n.Args[2]
	}
	return c
}

// vrrpScript parses a vrrp_script block.
func (p *parser) vrrpScript(n *Node) {
	if !p.block(n) || !p.nargs(n, 1, 1) {
		return
	}
	s := &VRRPScript{Pos: n.Pos, Name: n.Args[0], Interval: time.Second, Rise: 1, Fall: 1}
	p.walk(n.Block, scriptKeywords(s), "vrrp_script "+s.Name)
	if len(s.Script.Argv) == 0 {
		p.diags.Errorf(n.Pos, "vrrp_script %s: no script given", s.Name)
	}
	if s.Timeout == 0 {
		s.Timeout = s.Interval
	}
	p.cfg.Scripts = append(p.cfg.Scripts, s)
}

// weightReverse parses "weight N [reverse|noreverse|no_reverse]".
func (p *parser) weightReverse(n *Node, w *int, rev *bool, lo, hi int64) {
	if !p.noBlock(n) || !p.nargs(n, 1, 2) {
		return
	}
	v, ok := p.intArg(n, 0, lo, hi)
	if !ok {
		return
	}
	if len(n.Args) == 2 {
		switch n.Args[1] {
		case "reverse":
			*rev = true
		case "noreverse", "no_reverse":
			*rev = false
		default:
			p.diags.Errorf(n.Pos, "%s: %q is not reverse or noreverse", n.Name, n.Args[1])
			return
		}
	}
	*w = int(v)
}

// trackFile parses a track_file (vrrp_track_file) block.
func (p *parser) trackFile(n *Node) {
	if !p.block(n) || !p.nargs(n, 1, 1) {
		return
	}
	tf := &TrackFile{Pos: n.Pos, Name: n.Args[0], Weight: 1}
	p.walk(n.Block, trackFileKeywords(tf), "track_file "+tf.Name)
	if tf.File == "" {
		p.diags.Errorf(n.Pos, "%s %s: no file given", n.Name, tf.Name)
	}
	p.cfg.TrackFiles = append(p.cfg.TrackFiles, tf)
}

// trackProcess parses a vrrp_track_process block.
func (p *parser) trackProcess(n *Node) {
	if !p.block(n) || !p.nargs(n, 1, 1) {
		return
	}
	tp := &TrackProcess{Pos: n.Pos, Name: n.Args[0], Weight: 1, Quorum: 1}
	p.walk(n.Block, trackProcessKeywords(tp), "vrrp_track_process "+tp.Name)
	if len(tp.Process) == 0 {
		p.diags.Errorf(n.Pos, "vrrp_track_process %s: no process given", tp.Name)
	}
	if tp.QuorumMax != nil && *tp.QuorumMax < tp.Quorum {
		p.diags.Errorf(n.Pos, "vrrp_track_process %s: quorum_max %d is less than quorum %d", tp.Name, *tp.QuorumMax, tp.Quorum)
	}
	if tp.ParamMatch == "" && len(tp.Process) > 1 {
		tp.ParamMatch = ParamMatchExact
	}
	p.cfg.Processes = append(p.cfg.Processes, tp)
}

// trackList parses a track_* block: "NAME [weight N [reverse|noreverse]]".
func (p *parser) trackList(n *Node, lo, hi int64) []TrackRef {
	if !p.block(n) || !p.nargs(n, 0, 0) {
		return nil
	}
	var out []TrackRef
	for _, c := range n.Block {
		if c.HasBlock {
			p.diags.Errorf(c.Pos, "%s: unexpected block", n.Name)
			continue
		}
		r := TrackRef{Pos: c.Pos, Name: c.Name}
		args := c.Args
		if len(args) > 0 {
			if args[0] != "weight" || len(args) < 2 || len(args) > 3 {
				p.diags.Errorf(c.Pos, "%s %s: expected NAME [weight N [reverse|noreverse]]", n.Name, c.Name)
				continue
			}
			var w int
			var rev bool
			wn := &Node{Pos: c.Pos, Name: n.Name + " " + c.Name + " weight", Args: args[1:]}
			before := len(p.diags)
			p.weightReverse(wn, &w, &rev, lo, hi)
			if p.diags[before:].HasErrors() {
				continue
			}
			r.Weight, r.Reverse = &w, rev
		}
		out = append(out, r)
	}
	return out
}

// trackKeywords returns the track_* keywords shared by instances and sync
// groups.
func trackKeywords(t *Tracking) keywords {
	return keywords{
		"track_interface": func(p *parser, n *Node) { t.Interfaces = append(t.Interfaces, p.trackList(n, -253, 253)...) },
		"track_script":    func(p *parser, n *Node) { t.Scripts = append(t.Scripts, p.trackList(n, -253, 253)...) },
		"track_file":      func(p *parser, n *Node) { t.Files = append(t.Files, p.trackList(n, -254, 254)...) },
		"track_process":   func(p *parser, n *Node) { t.Processes = append(t.Processes, p.trackList(n, -254, 254)...) },
		"track_bfd": unsupported(func(p *parser, n *Node) {
			t.BFDs = append(t.BFDs, p.trackList(n, -253, 253)...)
		}),
	}
}

// notifyKeywords returns the notify_* keywords shared by instances and sync
// groups.
func notifyKeywords(nt *Notify) keywords {
	cmd := func(dst **Command) handler {
		return func(p *parser, n *Node) {
			if c := p.command(n); c != nil {
				*dst = c
			}
		}
	}
	return keywords{
		"notify_master": cmd(&nt.Master),
		"notify_backup": cmd(&nt.Backup),
		"notify_fault":  cmd(&nt.Fault),
		"notify_stop":   cmd(&nt.Stop),
		"notify":        cmd(&nt.Any),
	}
}

// syncGroup parses a vrrp_sync_group block.
func (p *parser) syncGroup(n *Node) {
	if !p.block(n) || !p.nargs(n, 1, 1) {
		return
	}
	sg := &SyncGroup{Pos: n.Pos, Name: n.Args[0]}
	p.walk(n.Block, syncGroupKeywords(sg), "vrrp_sync_group "+sg.Name)
	if len(sg.Group) == 0 {
		p.diags.Errorf(n.Pos, "vrrp_sync_group %s: no group { } of instances", sg.Name)
	}
	p.cfg.SyncGroups = append(p.cfg.SyncGroups, sg)
}

// garpGroup parses a garp_group block.
func (p *parser) garpGroup(n *Node) {
	if !p.block(n) || !p.nargs(n, 0, 0) {
		return
	}
	gg := &GarpGroup{Pos: n.Pos}
	p.walk(n.Block, garpGroupKeywords(gg), "garp_group")
	if gg.Interface != "" && len(gg.Interfaces) > 0 {
		p.diags.Errorf(n.Pos, "garp_group: give interface or interfaces, not both")
	}
	if gg.Interface == "" && len(gg.Interfaces) == 0 {
		p.diags.Errorf(n.Pos, "garp_group: no interface given")
	}
	p.cfg.GarpGroups = append(p.cfg.GarpGroups, gg)
}

// vrrpInstance parses a vrrp_instance block.
func (p *parser) vrrpInstance(n *Node) {
	if !p.block(n) || !p.nargs(n, 1, 1) {
		return
	}
	vi := &VRRPInstance{Pos: n.Pos, Name: n.Args[0], set: map[string]bool{}}
	kw := instanceKeywords(vi)
	for k, h := range kw {
		name, h := k, h
		kw[k] = func(p *parser, c *Node) {
			before := len(p.diags)
			h(p, c)
			if !p.errorsSince(before) {
				vi.set[name] = true
			} else {
				vi.set[rejectedKey(name)] = true
			}
		}
	}
	p.walk(n.Block, kw, "vrrp_instance "+vi.Name)
	p.cfg.Instances = append(p.cfg.Instances, vi)
}

// rejectedKey is the key under which an instance's set map records a
// keyword that was given but rejected; no keyword starts with "!".
func rejectedKey(name string) string { return "!" + name }

// instanceKeywords is the vrrp_instance keyword table, writing into vi.
func instanceKeywords(vi *VRRPInstance) keywords {
	const maxInt = 1<<31 - 1
	u := unsupported
	addr := func(dst *netip.Addr) handler {
		return func(p *parser, n *Node) {
			if !p.noBlock(n) || !p.nargs(n, 1, 1) {
				return
			}
			a, err := netip.ParseAddr(n.Args[0])
			if err != nil {
				p.diags.Errorf(n.Pos, "%s: %q is not an IP address", n.Name, n.Args[0])
				return
			}
			*dst = a
		}
	}
	kw := keywords{
		"state": func(p *parser, n *Node) {
			if !p.noBlock(n) || !p.nargs(n, 1, 1) {
				return
			}
			// keepalived compares case-sensitively and falls back to
			// BACKUP on anything else; a typo here changes who becomes
			// master, so Vigil refuses it instead.
			switch State(n.Args[0]) {
			case StateMaster, StateBackup:
				vi.State = State(n.Args[0])
			default:
				p.diags.Errorf(n.Pos, "state: %q is not MASTER or BACKUP (upper case)", n.Args[0])
			}
		},
		"interface":         setString(&vi.Interface),
		"vrf":               u(setString(&vi.VRF)),
		"virtual_router_id": setInt(&vi.VRID, 1, 255),
		"priority":          setInt(&vi.Priority, 1, 255),
		"advert_int": func(p *parser, n *Node) {
			if p.noBlock(n) && p.nargs(n, 1, 1) {
				if v, ok := p.seconds(n, 0, 10*time.Millisecond, 255*time.Second); ok {
					vi.AdvertInt = v
				}
			}
		},
		"version":                    setInt(&vi.Version, 2, 3),
		"native_ipv6":                setBool(&vi.NativeIPv6),
		"use_vmac":                   func(p *parser, n *Node) { p.useVMAC(vi, n) },
		"use_vmac_addr":              u(setBool(&vi.UseVMACAddr)),
		"vmac_xmit_base":             setBool(&vi.VMACXmitBase),
		"use_ipvlan":                 u(func(p *parser, n *Node) { p.useIPVLAN(vi, n) }),
		"dont_track_primary":         setBool(&vi.DontTrackPrimary),
		"track_src_ip":               setBool(&vi.TrackSrcIP),
		"linkbeat_use_polling":       u(func(p *parser, n *Node) { deprecated(setBool(&vi.LinkbeatUsePolling), "linkbeat_interfaces")(p, n) }),
		"mcast_src_ip":               addr(&vi.McastSrcIP),
		"unicast_src_ip":             addr(&vi.UnicastSrcIP),
		"mcast_dst_ip":               addr(&vi.McastDstIP),
		"unicast_peer":               func(p *parser, n *Node) { p.unicastPeers(vi, n) },
		"unicast_fault_no_peer":      setBool(&vi.UnicastFaultNoPeer),
		"unicast_ttl":                setInt(&vi.UnicastTTL, 0, 255),
		"check_unicast_src":          setBool(&vi.CheckUnicastSrc),
		"old_unicast_checksum":       u(func(p *parser, n *Node) { p.oldChecksum(vi, n) }),
		"garp_master_delay":          setWholeSeconds(&vi.Garp.MasterDelay, 0, maxInt),
		"garp_master_repeat":         setInt(&vi.Garp.MasterRepeat, 0, maxInt),
		"garp_lower_prio_delay":      setWholeSeconds(&vi.Garp.LowerPrioDelay, 0, maxInt),
		"garp_lower_prio_repeat":     setInt(&vi.Garp.LowerPrioRepeat, 0, maxInt),
		"garp_master_refresh":        setWholeSeconds(&vi.Garp.MasterRefresh, 0, maxInt),
		"garp_master_refresh_repeat": setInt(&vi.Garp.MasterRefreshRepeat, 1, maxInt),
		"garp_extra_if":              func(p *parser, n *Node) { p.garpExtraIf(&vi.Garp.ExtraIf, n) },
		"vmac_garp_intvl": func(p *parser, n *Node) {
			deprecated(func(p *parser, n *Node) { p.garpExtraIf(&vi.Garp.ExtraIf, n) }, "garp_extra_if")(p, n)
		},
		"down_timer_adverts":      setInt(&vi.DownTimerAdverts, 1, 100),
		"lower_prio_no_advert":    setBool(&vi.LowerPrioNoAdvert),
		"higher_prio_send_advert": setBool(&vi.HigherPrioSendAdvert),
		"authentication":          func(p *parser, n *Node) { p.authentication(vi, n) },
		"virtual_ipaddress": func(p *parser, n *Node) {
			vi.VirtualAddresses = append(vi.VirtualAddresses, p.addressBlock(n, false)...)
		},
		"virtual_ipaddress_excluded": func(p *parser, n *Node) {
			vi.ExcludedAddresses = append(vi.ExcludedAddresses, p.addressBlock(n, false)...)
		},
		"promote_secondaries": setBool(&vi.PromoteSecondaries),
		"virtual_routes":      func(p *parser, n *Node) { vi.Routes = append(vi.Routes, p.routeBlock(n, false)...) },
		"virtual_rules":       func(p *parser, n *Node) { vi.Rules = append(vi.Rules, p.ruleBlock(n, false)...) },
		"accept":              func(p *parser, n *Node) { p.flagTo(n, &vi.Accept, true) },
		"no_accept":           func(p *parser, n *Node) { p.flagTo(n, &vi.Accept, false) },
		"nopreempt":           func(p *parser, n *Node) { p.flagTo(n, &vi.NoPreempt, true) },
		"preempt":             func(p *parser, n *Node) { p.flagTo(n, &vi.NoPreempt, false) },
		"preempt_delay": func(p *parser, n *Node) {
			if p.noBlock(n) && p.nargs(n, 1, 1) {
				if v, ok := p.seconds(n, 0, 0, 1000*time.Second); ok {
					vi.PreemptDelay = v
				}
			}
		},
		"skip_check_adv_addr":        setBool(&vi.SkipCheckAdvAddr),
		"strict_mode":                setBool(&vi.StrictMode),
		"debug":                      u(setInt(&vi.Debug, 0, 4)),
		"notify_deleted":             func(p *parser, n *Node) { p.notifyDeleted(&vi.Notify, n) },
		"notify_master_rx_lower_pri": func(p *parser, n *Node) { vi.Notify.MasterRxLowerPri = p.command(n) },
		"notify_priority_changes":    setBool(&vi.NotifyPriorityChanges),
		"smtp_alert":                 setBool(&vi.SMTPAlert),
		"kernel_rx_buf_size":         u(setInt(&vi.KernelRxBufSize, 0, maxInt)),
		"lvs_sync_daemon_interface":  func(p *parser, n *Node) { p.lvsSyncDaemonInterface(vi, n) },
	}
	for k, h := range trackKeywords(&vi.Track) {
		kw[k] = h
	}
	for k, h := range notifyKeywords(&vi.Notify) {
		kw[k] = h
	}
	return kw
}

// lvsSyncDaemonInterface handles the old per-instance form of
// lvs_sync_daemon. keepalived 2.2.7 still honours it (with a deprecation
// message) as "lvs_sync_daemon IF INSTANCE" unless the global form is set,
// so Vigil does the same rather than rejecting working files.
func (p *parser) lvsSyncDaemonInterface(vi *VRRPInstance, n *Node) {
	p.diags.Warnf(n.Pos, "lvs_sync_daemon_interface is deprecated; use lvs_sync_daemon in global_defs")
	if !p.noBlock(n) || !p.nargs(n, 1, 1) {
		return
	}
	g := &p.cfg.Global
	if g.LVSSyncDaemon != nil {
		p.diags.Warnf(n.Pos, "lvs_sync_daemon_interface: lvs_sync_daemon is already set (%s %s); ignored", g.LVSSyncDaemon.Interface, g.LVSSyncDaemon.Instance)
		return
	}
	g.LVSSyncDaemon = &LVSSyncDaemon{Interface: n.Args[0], Instance: vi.Name}
}

// flagTo handles a keyword that takes no argument and sets *dst to v.
func (p *parser) flagTo(n *Node, dst *bool, v bool) {
	if p.noBlock(n) && p.nargs(n, 0, 0) {
		*dst = v
	}
}

func (p *parser) notifyDeleted(nt *Notify, n *Node) {
	nt.NotifyDeleted = true
	if len(n.Args) > 0 {
		nt.Deleted = p.command(n)
	} else {
		p.noBlock(n)
	}
}

func (p *parser) useVMAC(vi *VRRPInstance, n *Node) {
	if !p.noBlock(n) || !p.nargs(n, 0, 2) {
		return
	}
	v := &VMAC{}
	for _, a := range n.Args {
		if isMAC(a) {
			v.MAC = strings.ToLower(a)
		} else if v.Name == "" && len(a) < 16 {
			v.Name = a
		} else {
			p.diags.Errorf(n.Pos, "use_vmac: %q is neither an interface name nor a MAC address", a)
			return
		}
	}
	vi.UseVMAC = v
}

// isMAC reports whether s is a 5- or 6-octet colon-separated MAC address
// (keepalived fills the sixth octet with the VRID when only five are given).
func isMAC(s string) bool {
	parts := strings.Split(s, ":")
	if len(parts) != 5 && len(parts) != 6 {
		return false
	}
	for _, x := range parts {
		if len(x) == 0 || len(x) > 2 {
			return false
		}
		if _, err := strconv.ParseUint(x, 16, 8); err != nil {
			return false
		}
	}
	return true
}

func (p *parser) useIPVLAN(vi *VRRPInstance, n *Node) {
	if !p.noBlock(n) || !p.nargs(n, 0, 3) {
		return
	}
	v := &IPVLAN{}
	for _, a := range n.Args {
		switch {
		case a == "bridge" || a == "private" || a == "vepa":
			v.Mode = a
		case parsePrefixOrAddr(a).IsValid():
			v.Address = parsePrefixOrAddr(a)
		case v.Name == "":
			v.Name = a
		default:
			p.diags.Errorf(n.Pos, "use_ipvlan: unexpected %q", a)
			return
		}
	}
	vi.UseIPVLAN = v
}

func (p *parser) oldChecksum(vi *VRRPInstance, n *Node) {
	if !p.noBlock(n) || !p.nargs(n, 0, 1) {
		return
	}
	vi.OldUnicastChecksum = "on"
	if len(n.Args) == 1 {
		if n.Args[0] != "never" {
			p.diags.Errorf(n.Pos, "old_unicast_checksum: %q is not never", n.Args[0])
			vi.OldUnicastChecksum = ""
			return
		}
		vi.OldUnicastChecksum = "never"
	}
}

// unicastPeers parses "IP [min_ttl N] [max_ttl N]" lines.
func (p *parser) unicastPeers(vi *VRRPInstance, n *Node) {
	if !p.block(n) || !p.nargs(n, 0, 0) {
		return
	}
	for _, c := range n.Block {
		a, err := netip.ParseAddr(c.Name)
		if err != nil || c.HasBlock {
			p.diags.Errorf(c.Pos, "unicast_peer: %q is not an IP address", c.Name)
			continue
		}
		peer := UnicastPeer{Address: a}
		ok := true
		for i := 0; i < len(c.Args) && ok; i += 2 {
			if i+1 >= len(c.Args) || (c.Args[i] != "min_ttl" && c.Args[i] != "max_ttl") {
				p.diags.Errorf(c.Pos, "unicast_peer %s: expected [min_ttl N] [max_ttl N]", c.Name)
				ok = false
				break
			}
			v, err := strconv.Atoi(c.Args[i+1])
			if err != nil || v < 0 || v > 255 {
				p.diags.Errorf(c.Pos, "unicast_peer %s: %s %q is out of range [0, 255]", c.Name, c.Args[i], c.Args[i+1])
				ok = false
				break
			}
			if c.Args[i] == "min_ttl" {
				peer.MinTTL = &v
			} else {
				peer.MaxTTL = &v
			}
		}
		if !ok {
			continue
		}
		if peer.MinTTL != nil && peer.MaxTTL != nil && *peer.MinTTL > *peer.MaxTTL {
			p.diags.Errorf(c.Pos, "unicast_peer %s: min_ttl %d is above max_ttl %d", c.Name, *peer.MinTTL, *peer.MaxTTL)
			continue
		}
		vi.UnicastPeers = append(vi.UnicastPeers, peer)
	}
}

// authentication parses the authentication block.
func (p *parser) authentication(vi *VRRPInstance, n *Node) {
	if !p.block(n) || !p.nargs(n, 0, 0) {
		return
	}
	a := &Authentication{}
	p.walk(n.Block, authKeywords(a), "authentication")
	if a.Type == "" {
		p.missing(n, "auth_type", "authentication: auth_type is required")
		return
	}
	if a.Type == AuthPass && a.Pass == "" {
		p.diags.Errorf(n.Pos, "authentication: auth_type PASS needs auth_pass")
		return
	}
	vi.Auth = a
}

// parsePrefixOrAddr parses "ADDR" or "ADDR/LEN"; a bare address gets the
// full-length prefix. It returns the zero Prefix when s is neither.
func parsePrefixOrAddr(s string) netip.Prefix {
	if strings.Contains(s, "/") {
		pf, err := netip.ParsePrefix(s)
		if err != nil {
			return netip.Prefix{}
		}
		return pf
	}
	a, err := netip.ParseAddr(s)
	if err != nil || a.Zone() != "" {
		return netip.Prefix{}
	}
	return netip.PrefixFrom(a, a.BitLen())
}

// addressBlock parses the lines of a virtual_ipaddress(_excluded) or
// static_ipaddress block.
func (p *parser) addressBlock(n *Node, static bool) []*VirtualAddress {
	if !p.block(n) || !p.nargs(n, 0, 0) {
		return nil
	}
	var out []*VirtualAddress
	for _, c := range n.Block {
		if c.HasBlock {
			p.diags.Errorf(c.Pos, "%s: unexpected block", n.Name)
			continue
		}
		if va, err := parseAddressLine(append([]string{c.Name}, c.Args...), static); err != nil {
			p.diags.Errorf(c.Pos, "%s: %v", n.Name, err)
		} else {
			va.Pos = c.Pos
			out = append(out, va)
		}
	}
	return out
}

var scopes = map[string]Scope{"global": ScopeGlobal, "site": ScopeSite, "link": ScopeLink, "host": ScopeHost, "nowhere": ScopeNowhere}

// parseAddressLine parses "<ip>[/<len>] [brd <ip>|+|-] [dev IF] [use_vmac]
// [scope S] [label L] [peer IP] [home] [-nodad] [mngtmpaddr]
// [noprefixroute] [autojoin] [no_track] [track_group G]
// [preferred_lft N|forever]".
func parseAddressLine(w []string, static bool) (*VirtualAddress, error) {
	va := &VirtualAddress{Address: parsePrefixOrAddr(w[0])}
	if !va.Address.IsValid() {
		return nil, fmt.Errorf("%q is not an IP address or prefix", w[0])
	}
	v6 := va.Address.Addr().Is6()
	for i := 1; i < len(w); i++ {
		kw := w[i]
		val := func() (string, error) {
			if i+1 >= len(w) {
				return "", fmt.Errorf("%s needs a value", kw)
			}
			i++
			return w[i], nil
		}
		var err error
		var s string
		switch kw {
		case "brd", "broadcast":
			if s, err = val(); err == nil {
				if s != "+" && s != "-" {
					a, perr := netip.ParseAddr(s)
					if perr != nil || !a.Is4() || v6 {
						return nil, fmt.Errorf("brd %q is not an IPv4 address, + or -", s)
					}
				}
				va.Broadcast = s
			}
		case "dev":
			va.Dev, err = val()
		case "use_vmac":
			if static {
				return nil, fmt.Errorf("use_vmac is not valid for a static address")
			}
			va.UseVMAC = true
		case "scope":
			if s, err = val(); err == nil {
				sc, ok := scopes[s]
				if !ok {
					return nil, fmt.Errorf("scope %q is not global, site, link, host or nowhere", s)
				}
				va.Scope = sc
			}
		case "label":
			if s, err = val(); err == nil {
				if len(s) > 15 {
					return nil, fmt.Errorf("label %q is longer than 15 characters", s)
				}
				va.Label = s
			}
		case "peer":
			if s, err = val(); err == nil {
				a, perr := netip.ParseAddr(s)
				if perr != nil || a.Is6() != v6 {
					return nil, fmt.Errorf("peer %q is not an address (without /len) of the same family", s)
				}
				va.Peer = a
			}
		case "home":
			va.Home = true
		case "-nodad", "nodad":
			va.NoDAD = true
		case "mngtmpaddr":
			va.MngTmpAddr = true
		case "noprefixroute":
			va.NoPrefixRoute = true
		case "autojoin":
			va.AutoJoin = true
		case "no_track":
			va.NoTrack = true
		case "track_group":
			if !static {
				return nil, fmt.Errorf("track_group is only valid for static addresses")
			}
			va.TrackGroup, err = val()
		case "preferred_lft":
			if s, err = val(); err == nil {
				var lft uint32
				if s == "forever" {
					lft = PreferredForever
				} else if x, perr := strconv.ParseUint(s, 10, 32); perr == nil {
					lft = uint32(x)
				} else {
					return nil, fmt.Errorf("preferred_lft %q is not a number or forever", s)
				}
				va.PreferredLft = &lft
			}
		default:
			return nil, fmt.Errorf("unknown option %q for address %s", kw, w[0])
		}
		if err != nil {
			return nil, err
		}
	}
	if (va.Home || va.NoDAD || va.MngTmpAddr) && !v6 {
		return nil, fmt.Errorf("home, -nodad and mngtmpaddr are only valid for IPv6 addresses (%s)", w[0])
	}
	return va, nil
}

// routeBlock parses the lines of a virtual_routes or static_routes block.
func (p *parser) routeBlock(n *Node, static bool) []*Route {
	var out []*Route
	p.eachLine(n, func(c *Node, words []string) error {
		r, warn, err := parseRouteLine(words, static)
		if err != nil {
			return err
		}
		for _, w := range warn {
			p.diags.Warnf(c.Pos, "%s: %s", n.Name, w)
		}
		r.Pos = c.Pos
		out = append(out, r)
		return nil
	})
	return out
}

// eachLine checks that n is a block of one-line entries (routes, rules) and
// calls f with each line's words; an error from f is reported at the line,
// prefixed with the block's name.
func (p *parser) eachLine(n *Node, f func(c *Node, words []string) error) {
	if !p.block(n) || !p.nargs(n, 0, 0) {
		return
	}
	for _, c := range n.Block {
		if c.HasBlock {
			p.diags.Errorf(c.Pos, "%s: unexpected block", n.Name)
			continue
		}
		if err := f(c, append([]string{c.Name}, c.Args...)); err != nil {
			p.diags.Errorf(c.Pos, "%s: %v", n.Name, err)
		}
	}
}

var routeTypes = map[string]bool{
	"unicast": true, "local": true, "broadcast": true, "multicast": true, "throw": true,
	"unreachable": true, "prohibit": true, "blackhole": true, "nat": true, "anycast": true,
}

// routeMetrics are the route options taking a number, and whether they take
// an optional "lock" first.
var routeMetrics = map[string]bool{
	"mtu": true, "advmss": true, "rtt": true, "rttvar": true, "reordering": true, "window": false,
	"cwnd": true, "ssthresh": true, "rto_min": true, "initcwnd": false, "initrwnd": false,
	"hoplimit": false, "quickack": false, "fastopen_no_cookie": false,
}

// parseRouteLine parses one route in `ip route add` syntax as keepalived
// accepts it (see virtual_routes in keepalived.conf(5)).
func parseRouteLine(w []string, static bool) (*Route, []string, error) {
	r := &Route{}
	var warns []string
	isDefault := false // "default" as the destination, resolved at the end
	setFam := func(v6 bool, what string) error {
		f := FamilyIPv4
		if v6 {
			f = FamilyIPv6
		}
		if r.Family != "" && r.Family != f {
			return fmt.Errorf("cannot mix IPv4 and IPv6 addresses in a route (%s)", what)
		}
		r.Family = f
		return nil
	}
	addrArg := func(s, what string) (netip.Addr, error) {
		a, err := netip.ParseAddr(s)
		if err != nil {
			return netip.Addr{}, fmt.Errorf("invalid %s address %q", what, s)
		}
		return a, setFam(a.Is6(), s)
	}
	for i := 0; i < len(w); i++ {
		kw := w[i]
		val := func() (string, error) {
			if i+1 >= len(w) {
				return "", fmt.Errorf("%s needs a value", kw)
			}
			i++
			return w[i], nil
		}
		var err error
		var s string
		switch {
		case kw == "inet" || kw == "inet6":
			err = setFam(kw == "inet6", kw)
		case kw == "src":
			if s, err = val(); err == nil {
				r.Src, err = addrArg(s, "src")
			}
		case kw == "via" || kw == "gw":
			if kw == "gw" {
				warns = append(warns, `"gw" is deprecated; use "via"`)
			}
			if s, err = val(); err == nil {
				if s == "inet" || s == "inet6" {
					if s, err = val(); err != nil {
						break
					}
				}
				r.Via, err = addrArg(s, "via")
			}
		case kw == "or":
			warns = append(warns, `"or" is deprecated; use "nexthop"`)
			if s, err = val(); err == nil {
				var a netip.Addr
				if a, err = addrArg(s, "or"); err == nil {
					if len(r.Nexthops) > 0 {
						return nil, nil, fmt.Errorf(`only one "or" is allowed`)
					}
					r.Nexthops = []Nexthop{{Via: r.Via, Dev: r.Dev}, {Via: a, Dev: r.Dev}}
					r.Via = netip.Addr{}
				}
			}
		case kw == "from":
			if s, err = val(); err == nil {
				pf := parsePrefixOrAddr(s)
				if !pf.IsValid() || !pf.Addr().Is6() {
					return nil, nil, fmt.Errorf("route from %q: only an IPv6 prefix is supported", s)
				}
				r.From = pf
				err = setFam(true, s)
			}
		case kw == "tos" || kw == "dsfield":
			r.TOS, err = val()
		case kw == "table":
			r.Table, err = val()
		case kw == "protocol" || kw == "proto":
			r.Protocol, err = val()
		case kw == "scope":
			if s, err = val(); err == nil {
				sc, ok := scopes[s]
				if !ok {
					return nil, nil, fmt.Errorf("scope %q is not global, site, link, host or nowhere", s)
				}
				r.Scope = sc
			}
		case kw == "metric" || kw == "priority" || kw == "preference":
			if s, err = val(); err == nil {
				x, perr := strconv.ParseUint(s, 10, 32)
				if perr != nil {
					return nil, nil, fmt.Errorf("invalid metric %q", s)
				}
				m := uint32(x)
				r.Metric = &m
			}
		case kw == "dev" || kw == "oif":
			r.Dev, err = val()
		case kw == "onlink":
			r.Onlink = true
		case kw == "realms":
			if r.Realms, err = val(); err == nil {
				err = setFam(false, "realms")
			}
		case kw == "features":
			if s, err = val(); err == nil {
				if s != "ecn" {
					return nil, nil, fmt.Errorf("feature %q not supported (only ecn)", s)
				}
				r.Features = append(r.Features, s)
			}
		case kw == "congctl":
			if s, err = val(); err == nil && s == "lock" {
				r.Locked = append(r.Locked, kw)
				s, err = val()
			}
			r.CongCtl = s
		case kw == "pref":
			if s, err = val(); err == nil {
				if s != "low" && s != "medium" && s != "high" {
					if _, perr := strconv.ParseUint(s, 10, 8); perr != nil {
						return nil, nil, fmt.Errorf("invalid pref %q", s)
					}
				}
				r.Pref = s
				err = setFam(true, "pref")
			}
		case kw == "ttl-propagate":
			if s, err = val(); err == nil {
				if s != "enabled" && s != "disabled" {
					return nil, nil, fmt.Errorf("ttl-propagate %q is not enabled or disabled", s)
				}
				b := s == "enabled"
				r.TTLPropagate = &b
			}
		case kw == "expires":
			if s, err = val(); err == nil {
				x, perr := strconv.ParseUint(s, 10, 32)
				if perr != nil {
					return nil, nil, fmt.Errorf("invalid expires %q", s)
				}
				e := uint32(x)
				r.Expires = &e
				err = setFam(true, "expires")
			}
		case kw == "encap":
			// Lightweight tunnel encapsulation: kept verbatim up to the
			// next route keyword; Vigil does not program it yet.
			r.Encap = append(r.Encap, w[i+1:]...)
			warns = append(warns, "encap is parsed but not supported yet; it has no effect")
			i = len(w)
		case kw == "vrf":
			r.VRF, err = val()
		case kw == "append":
			r.Append = true
		case kw == "prepend" || kw == "add":
			r.Append = false
		case kw == "no_track":
			r.NoTrack = true
		case kw == "track_group":
			if !static {
				return nil, nil, fmt.Errorf("track_group is only valid for static routes")
			}
			r.TrackGroup, err = val()
		case kw == "as":
			return nil, nil, fmt.Errorf(`"as [to]" (nat) is not supported`)
		case kw == "nexthop":
			nhs, nerr := parseNexthops(w[i:])
			if nerr != nil {
				return nil, nil, nerr
			}
			if len(r.Nexthops) > 0 {
				return nil, nil, fmt.Errorf(`cannot give nexthops with an "or" route`)
			}
			for _, nh := range nhs {
				if nh.Via.IsValid() {
					if err := setFam(nh.Via.Is6(), nh.Via.String()); err != nil {
						return nil, nil, err
					}
				}
			}
			r.Nexthops = nhs
			i = len(w)
		default:
			if _, ok := routeMetrics[kw]; ok {
				if s, err = val(); err == nil && s == "lock" && routeMetrics[kw] {
					r.Locked = append(r.Locked, kw)
					s, err = val()
				}
				if err == nil {
					if _, perr := strconv.ParseFloat(strings.TrimSuffix(strings.TrimSuffix(s, "ms"), "s"), 64); perr != nil {
						return nil, nil, fmt.Errorf("invalid %s value %q", kw, s)
					}
					if r.Metrics == nil {
						r.Metrics = map[string]string{}
					}
					r.Metrics[kw] = s
				}
				break
			}
			// The destination: [to] [TYPE] PREFIX.
			if kw == "to" {
				if kw, err = val(); err != nil {
					break
				}
			}
			if routeTypes[kw] {
				r.Type = kw
				if kw, err = val(); err != nil {
					break
				}
			}
			pf := parsePrefixOrAddr(kw)
			if !pf.IsValid() && kw == "default" {
				// As iproute2 and keepalived: the family follows from
				// the rest of the line (via, src), IPv4 otherwise.
				if r.Dst.IsValid() {
					return nil, nil, fmt.Errorf("route has two destinations (%s and default)", r.Dst)
				}
				if isDefault {
					return nil, nil, fmt.Errorf(`route has two destinations ("default" twice)`)
				}
				isDefault = true
				continue
			}
			if !pf.IsValid() {
				return nil, nil, fmt.Errorf("unknown route keyword %q", kw)
			}
			if isDefault {
				return nil, nil, fmt.Errorf("route has two destinations (default and %s)", pf)
			}
			if r.Dst.IsValid() {
				return nil, nil, fmt.Errorf("route has two destinations (%s and %s)", r.Dst, pf)
			}
			r.Dst = pf.Masked()
			err = setFam(pf.Addr().Is6(), kw)
		}
		if err != nil {
			return nil, nil, err
		}
	}
	if r.Family == "" {
		r.Family = FamilyIPv4
	}
	if isDefault {
		r.Dst = netip.MustParsePrefix("0.0.0.0/0")
		if r.Family == FamilyIPv6 {
			r.Dst = netip.MustParsePrefix("::/0")
		}
	}
	if !r.Dst.IsValid() {
		return nil, nil, fmt.Errorf("route must have a destination")
	}
	if r.TrackGroup != "" && r.Dev == "" {
		return nil, nil, fmt.Errorf("a route with track_group needs dev")
	}
	if !r.NoTrack {
		// A tracked route is recognised by its protocol, and followed
		// through its interface; keepalived repairs both cases.
		if r.Protocol != "" && r.Protocol != "keepalived" && r.Protocol != "18" {
			warns = append(warns, fmt.Sprintf("route %s: a tracked route has protocol keepalived; %s replaced (add no_track to keep it)", r.Dst, r.Protocol))
		}
		r.Protocol = "keepalived"
		if r.Dev == "" {
			warns = append(warns, fmt.Sprintf("route %s: cannot be tracked without dev; not tracking", r.Dst))
			r.NoTrack = true
		}
	}
	return r, warns, nil
}

// parseNexthops parses "nexthop via IP [dev IF] [weight N] [onlink]
// [realms R] nexthop ...".
func parseNexthops(w []string) ([]Nexthop, error) {
	var out []Nexthop
	for i := 0; i < len(w); i++ {
		if w[i] == "nexthop" {
			out = append(out, Nexthop{})
			continue
		}
		if len(out) == 0 {
			return nil, fmt.Errorf("expected nexthop, got %q", w[i])
		}
		nh := &out[len(out)-1]
		kw := w[i]
		if kw == "onlink" {
			nh.Onlink = true
			continue
		}
		if i+1 >= len(w) {
			return nil, fmt.Errorf("nexthop %s needs a value", kw)
		}
		i++
		v := w[i]
		switch kw {
		case "via":
			if v == "inet" || v == "inet6" {
				if i+1 >= len(w) {
					return nil, fmt.Errorf("nexthop via needs an address")
				}
				i++
				v = w[i]
			}
			a, err := netip.ParseAddr(v)
			if err != nil {
				return nil, fmt.Errorf("invalid nexthop address %q", v)
			}
			nh.Via = a
		case "dev":
			nh.Dev = v
		case "weight":
			x, err := strconv.Atoi(v)
			if err != nil || x < 1 || x > 256 {
				return nil, fmt.Errorf("invalid nexthop weight %q (1-256)", v)
			}
			nh.Weight = x
		case "realms":
			nh.Realms = v
		default:
			return nil, fmt.Errorf("unknown nexthop keyword %q", kw)
		}
	}
	for _, nh := range out {
		if !nh.Via.IsValid() && nh.Dev == "" {
			return nil, fmt.Errorf("a nexthop needs via or dev")
		}
	}
	return out, nil
}

// ruleBlock parses the lines of a virtual_rules or static_rules block.
func (p *parser) ruleBlock(n *Node, static bool) []*Rule {
	var out []*Rule
	p.eachLine(n, func(c *Node, words []string) error {
		r, err := parseRuleLine(words, static)
		if err != nil {
			return err
		}
		if r.Priority == nil {
			// Rule order decides routing; without a preference the
			// kernel's order depends on when each rule was added.
			p.diags.Warnf(c.Pos, "%s: rule has no preference; its order depends on state changes (add preference N)", n.Name)
		}
		r.Pos = c.Pos
		out = append(out, r)
		return nil
	})
	return out
}

var ruleActions = map[string]bool{"blackhole": true, "prohibit": true, "unreachable": true, "nop": true}

// parseRuleLine parses one rule in `ip rule add` syntax as keepalived accepts
// it (see static_rules in keepalived.conf(5)).
func parseRuleLine(w []string, static bool) (*Rule, error) {
	r := &Rule{}
	setFam := func(v6 bool, what string) error {
		f := FamilyIPv4
		if v6 {
			f = FamilyIPv6
		}
		if r.Family != "" && r.Family != f {
			return fmt.Errorf("rule mixes IPv4 and IPv6 (%s)", what)
		}
		r.Family = f
		return nil
	}
	for i := 0; i < len(w); i++ {
		kw := w[i]
		val := func() (string, error) {
			if i+1 >= len(w) {
				return "", fmt.Errorf("%s needs a value", kw)
			}
			i++
			return w[i], nil
		}
		u32 := func() (*uint32, error) {
			s, err := val()
			if err != nil {
				return nil, err
			}
			x, err := strconv.ParseUint(s, 10, 32)
			if err != nil {
				return nil, fmt.Errorf("invalid %s %q", kw, s)
			}
			v := uint32(x)
			return &v, nil
		}
		var err error
		var s string
		switch kw {
		case "inet", "inet6":
			err = setFam(kw == "inet6", kw)
		case "not":
			r.Not = true
		case "from", "to":
			if s, err = val(); err == nil {
				if s == "all" {
					break
				}
				pf := parsePrefixOrAddr(s)
				if !pf.IsValid() {
					return nil, fmt.Errorf("invalid rule %s address %q", kw, s)
				}
				if kw == "from" {
					r.From = pf.Masked()
				} else {
					r.To = pf.Masked()
				}
				err = setFam(pf.Addr().Is6(), s)
			}
		case "preference", "priority", "order", "pref", "prio":
			r.Priority, err = u32()
		case "tos", "dsfield":
			r.TOS, err = val()
		case "fwmark":
			r.FWMark, err = val()
		case "realms":
			if r.Realms, err = val(); err == nil {
				err = setFam(false, "realms")
			}
		case "iif", "dev":
			r.IIF, err = val()
		case "oif":
			r.OIF, err = val()
		case "table", "lookup":
			if s, err = val(); err == nil {
				if s == "0" {
					return nil, fmt.Errorf("table 0 is not valid")
				}
				r.Action, r.Table = "table", s
			}
		case "goto":
			var g *uint32
			if g, err = u32(); err == nil {
				r.Action, r.Goto = "goto", g
			}
		case "suppress_prefixlength", "sup_pl":
			if s, err = val(); err == nil {
				x, perr := strconv.Atoi(s)
				if perr != nil || x < -1 || x > 128 {
					return nil, fmt.Errorf("invalid %s %q", kw, s)
				}
				r.SuppressPrefixLength = &x
			}
		case "suppress_ifgroup", "sup_group":
			r.SuppressIfGroup, err = val()
		case "tunnel-id":
			if s, err = val(); err == nil {
				x, perr := strconv.ParseUint(s, 10, 64)
				if perr != nil {
					return nil, fmt.Errorf("invalid tunnel-id %q", s)
				}
				r.TunnelID = &x
			}
		case "uidrange":
			if s, err = val(); err == nil {
				lo, hi, ok := strings.Cut(s, "-")
				_, e1 := strconv.ParseUint(lo, 10, 32)
				_, e2 := strconv.ParseUint(hi, 10, 32)
				if !ok || e1 != nil || e2 != nil {
					return nil, fmt.Errorf("invalid uidrange %q (N-M)", s)
				}
				r.UIDRange = s
			}
		case "l3mdev":
			r.L3MDev = true
		case "protocol":
			r.Protocol, err = val()
		case "ipproto", "ip_proto":
			r.IPProto, err = val()
		case "sport", "dport":
			if s, err = val(); err == nil {
				lo, hi, ok := strings.Cut(s, "-")
				if !ok {
					return nil, fmt.Errorf("invalid %s range %q (N-M)", kw, s)
				}
				a, e1 := strconv.ParseUint(lo, 10, 16)
				b, e2 := strconv.ParseUint(hi, 10, 16)
				if e1 != nil || e2 != nil || a > b {
					return nil, fmt.Errorf("invalid %s range %q", kw, s)
				}
				if kw == "sport" {
					r.SPort = s
				} else {
					r.DPort = s
				}
			}
		case "no_track":
			r.NoTrack = true
		case "track_group":
			if !static {
				return nil, fmt.Errorf("track_group is only valid for static rules")
			}
			r.TrackGroup, err = val()
		case "type":
			if s, err = val(); err == nil {
				if !ruleActions[s] {
					return nil, fmt.Errorf("invalid rule action %q", s)
				}
				r.Action = s
			}
		default:
			if ruleActions[kw] {
				r.Action = kw
				break
			}
			return nil, fmt.Errorf("unknown rule option %q", kw)
		}
		if err != nil {
			return nil, err
		}
	}
	if r.Action == "" {
		if r.L3MDev {
			r.Action = "table"
		} else {
			return nil, fmt.Errorf("no action (table, goto, blackhole, prohibit, unreachable, nop) for rule")
		}
	}
	if r.Family == "" {
		r.Family = FamilyIPv4
	}
	if r.TrackGroup != "" && r.IIF == "" && r.OIF == "" {
		return nil, fmt.Errorf("a rule with track_group needs dev/iif or oif")
	}
	return r, nil
}

// scriptKeywords is the VRRPScript keyword table, writing into s.
func scriptKeywords(s *VRRPScript) keywords {
	// keepalived keeps script timers in microseconds in 32 bits.
	const maxSecs = 1<<32/1000000 - 1
	return keywords{
		"script": func(p *parser, c *Node) {
			if !p.noBlock(c) || !p.nargs(c, 1, -1) {
				return
			}
			argv, err := splitCommand(c.Args[0])
			if err != nil || len(argv) == 0 {
				p.diags.Errorf(c.Pos, "script: invalid command %q", c.Args[0])
				return
			}
			if len(c.Args) > 1 {
				// keepalived runs only the first (possibly quoted) word
				// and drops the rest without a word; say so.
				p.diags.Warnf(c.Pos, "script: %q ignored; quote the whole command line to pass parameters", strings.Join(c.Args[1:], " "))
			}
			s.Script.Argv = argv
		},
		"interval": setWholeSeconds(&s.Interval, 1, maxSecs),
		"timeout":  setWholeSeconds(&s.Timeout, 1, maxSecs),
		"weight":   func(p *parser, c *Node) { p.weightReverse(c, &s.Weight, &s.Reverse, -253, 253) },
		"rise":     setInt(&s.Rise, 1, 1<<31-1),
		"fall":     setInt(&s.Fall, 1, 1<<31-1),
		"user": func(p *parser, c *Node) {
			if p.noBlock(c) && p.nargs(c, 1, 2) {
				s.Script.User = c.Args[0]
				if len(c.Args) == 2 {
					s.Script.Group = c.Args[1]
				}
			}
		},
		"init_fail": setBool(&s.InitFail),
	}
}

// trackFileKeywords is the TrackFile keyword table, writing into tf.
func trackFileKeywords(tf *TrackFile) keywords {
	return keywords{
		"file":   setString(&tf.File),
		"weight": func(p *parser, c *Node) { p.weightReverse(c, &tf.Weight, &tf.Reverse, -254, 254) },
		"init_file": func(p *parser, c *Node) {
			if !p.noBlock(c) || !p.nargs(c, 0, 2) {
				return
			}
			v := int64(0)
			for _, a := range c.Args {
				if a == "overwrite" {
					tf.Overwrite = true
					continue
				}
				x, err := strconv.ParseInt(a, 10, 32)
				if err != nil {
					p.diags.Errorf(c.Pos, "init_file: %q is not a number or overwrite", a)
					return
				}
				v = x
			}
			tf.InitFile = &v
		},
	}
}

// trackProcessKeywords is the TrackProcess keyword table, writing into tp.
func trackProcessKeywords(tp *TrackProcess) keywords {
	delay := func(dst ...*time.Duration) handler {
		return func(p *parser, c *Node) {
			if !p.noBlock(c) || !p.nargs(c, 1, 1) {
				return
			}
			if v, ok := p.seconds(c, 0, 0, 1<<31*time.Second); ok {
				for _, d := range dst {
					*d = v
				}
			}
		}
	}
	return keywords{
		"process": func(p *parser, c *Node) {
			if p.noBlock(c) && p.nargs(c, 1, -1) {
				tp.Process = append([]string(nil), c.Args...)
			}
		},
		"param_match": func(p *parser, c *Node) {
			if !p.noBlock(c) || !p.nargs(c, 1, 1) {
				return
			}
			switch ParamMatch(c.Args[0]) {
			case ParamMatchPartial, ParamMatchInitial:
				tp.ParamMatch = ParamMatch(c.Args[0])
			default:
				p.diags.Errorf(c.Pos, "param_match: %q is not initial or partial", c.Args[0])
			}
		},
		"weight":          func(p *parser, c *Node) { p.weightReverse(c, &tp.Weight, &tp.Reverse, -254, 254) },
		"quorum":          setInt(&tp.Quorum, 1, 65535),
		"quorum_max":      setIntPtr(&tp.QuorumMax, 0, 65535),
		"fork_delay":      delay(&tp.ForkDelay),
		"terminate_delay": delay(&tp.TerminateDelay),
		"delay":           delay(&tp.ForkDelay, &tp.TerminateDelay),
		"full_command":    setBool(&tp.FullCommand),
	}
}

// garpGroupKeywords is the GarpGroup keyword table, writing into gg.
func garpGroupKeywords(gg *GarpGroup) keywords {
	return keywords{
		"garp_interval": setSeconds(&gg.GarpInterval, 0, time.Second),
		"gna_interval":  setSeconds(&gg.GnaInterval, 0, time.Second),
		"interface":     setString(&gg.Interface),
		"interfaces":    func(p *parser, c *Node) { gg.Interfaces = append(gg.Interfaces, p.valueBlock(c)...) },
	}
}

// authKeywords is the Authentication keyword table, writing into a.
func authKeywords(a *Authentication) keywords {
	return keywords{
		"auth_type": func(p *parser, c *Node) {
			if !p.noBlock(c) || !p.nargs(c, 1, 1) {
				return
			}
			switch AuthType(c.Args[0]) {
			case AuthPass, AuthAH:
				a.Type = AuthType(c.Args[0])
			default:
				p.diags.Errorf(c.Pos, "auth_type: %q is not PASS or AH (upper case)", c.Args[0])
			}
		},
		"auth_pass": func(p *parser, c *Node) {
			if !p.noBlock(c) || !p.nargs(c, 1, 1) {
				return
			}
			pass := c.Args[0]
			if len(pass) > 8 {
				// Only 8 octets fit in the VRRPv2 packet; keepalived
				// truncates too, and peers compare the truncated form.
				p.diags.Warnf(c.Pos, "auth_pass: only the first 8 characters are used")
				pass = pass[:8]
			}
			a.Pass = pass
		},
	}
}

// syncGroupKeywords is the vrrp_sync_group keyword table, writing into sg.
func syncGroupKeywords(sg *SyncGroup) keywords {
	kw := keywords{
		"group":                   func(p *parser, c *Node) { sg.Group = append(sg.Group, p.valueBlock(c)...) },
		"notify_priority_changes": setBoolPtr(&sg.NotifyPriorityChanges),
		"smtp_alert":              setBoolPtr(&sg.SMTPAlert),
		"global_tracking": func(p *parser, c *Node) {
			deprecated(setBool(&sg.GlobalTracking), "track_* blocks in the sync group")(p, c)
		},
		"sync_group_tracking_weight": setBool(&sg.SyncGroupTrackingWeight),
	}
	for k, h := range trackKeywords(&sg.Track) {
		kw[k] = h
	}
	for k, h := range notifyKeywords(&sg.Notify) {
		kw[k] = h
	}
	return kw
}
