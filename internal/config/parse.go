package config

import (
	"net"
	"net/netip"
	"strconv"
	"strings"
	"time"
)

// Parse turns nodes into the typed model and validates it. The Config is
// non-nil even when the diagnostics hold errors (best effort, so a caller can
// report everything at once), but callers must not act on it then.
func Parse(nodes []*Node, opts LoadOptions) (*Config, Diagnostics) {
	p := &parser{cfg: newConfig()}
	p.walk(nodes, topKeywords(), "")
	return p.end(opts)
}

// end runs what comes after the last top-level line was parsed: the checks
// across blocks and the validation.
func (p *parser) end(opts LoadOptions) (*Config, Diagnostics) {
	p.finish()
	p.validate(opts)
	p.validateLVS()
	p.diags.Sort()
	return p.cfg, p.diags
}

// topWalker parses top-level lines one at a time, as Load hands them over.
type topWalker struct {
	p   *parser
	kw  keywords
	one []*Node
}

func newTopWalker() *topWalker {
	return &topWalker{p: &parser{cfg: newConfig()}, kw: topKeywords(), one: make([]*Node, 1)}
}

// walk parses one top-level line and its block, as Parse's walk over the
// whole list would when it reaches it.
func (w *topWalker) walk(n *Node) {
	w.one[0] = n
	w.p.walk(w.one, w.kw, "")
	w.one[0] = nil
}

// newConfig returns a Config holding keepalived's defaults for everything
// global_defs can change.
func newConfig() *Config {
	return &Config{Global: defaultGlobal()}
}

// defaultGlobal returns global_defs as keepalived has it when the block is
// empty.
func defaultGlobal() GlobalDefs {
	return GlobalDefs{
		SMTPConnectTimeout: 30 * time.Second,
		VRRPMcastGroup4:    netip.MustParseAddr("224.0.0.18"),
		VRRPMcastGroup6:    netip.MustParseAddr("ff02::12"),
		VRRPGarp: Garp{
			MasterDelay:         5 * time.Second,
			MasterRepeat:        5,
			LowerPrioDelay:      -1, // follows MasterDelay unless set
			LowerPrioRepeat:     -1, // follows MasterRepeat unless set
			MasterRefreshRepeat: 1,
		},
		VRRPDownTimerAdverts: 3,
		VRRPVersion:          2,
	}
}

// topKeywords is the table of keywords valid outside any block.
func topKeywords() keywords {
	return keywords{
		"global_defs":              (*parser).globalDefs,
		"net_namespace":            func(p *parser, n *Node) { setString(&p.cfg.Global.NetNamespace)(p, n) },
		"net_namespace_ipvs":       (*parser).netNamespaceIPVS,
		"namespace_with_ipsets":    func(p *parser, n *Node) { unsupported(setBool(&p.cfg.Global.NamespaceWithIPSets))(p, n) },
		"instance":                 func(p *parser, n *Node) { setString(&p.cfg.Global.Instance)(p, n) },
		"use_pid_dir":              func(p *parser, n *Node) { setBool(&p.cfg.Global.UsePIDDir)(p, n) },
		"linkbeat_use_polling":     func(p *parser, n *Node) { unsupported(setBool(&p.cfg.Global.LinkbeatUsePolling))(p, n) },
		"child_wait_time":          func(p *parser, n *Node) { setWholeSeconds(&p.cfg.Global.ChildWaitTime, 0, 1<<31-1)(p, n) },
		"linkbeat_interfaces":      (*parser).linkbeatInterfaces,
		"interface_up_down_delays": (*parser).upDownDelays,
		"track_group":              (*parser).trackGroup,
		"bfd_instance":             (*parser).bfdInstance,
		"static_ipaddress":         (*parser).staticAddresses,
		"static_routes":            (*parser).staticRoutes,
		"static_rules":             (*parser).staticRules,
		"vrrp_script":              (*parser).vrrpScript,
		"track_file":               (*parser).trackFile,
		"vrrp_track_file":          func(p *parser, n *Node) { deprecated((*parser).trackFile, "track_file")(p, n) },
		"vrrp_track_process":       (*parser).trackProcess,
		"vrrp_sync_group":          (*parser).syncGroup,
		"garp_group":               (*parser).garpGroup,
		"vrrp_instance":            (*parser).vrrpInstance,
		"virtual_server_group":     (*parser).virtualServerGroup,
		"virtual_server":           (*parser).virtualServer,
		"SSL":                      (*parser).topSSL,
	}
}

func (p *parser) netNamespaceIPVS(n *Node) {
	p.notSupported(n)
	if !p.noBlock(n) || !p.nargs(n, 0, 1) {
		return
	}
	s := ""
	if len(n.Args) == 1 {
		s = n.Args[0]
	}
	p.cfg.Global.NetNamespaceIPVS = &s
}

// globalDefs parses the global_defs block.
func (p *parser) globalDefs(n *Node) {
	if !p.block(n) || !p.nargs(n, 0, 0) {
		return
	}
	p.walk(n.Block, globalKeywords(&p.cfg.Global), "global_defs")
}

// globalKeywords is the global_defs keyword table, writing into g.
func globalKeywords(g *GlobalDefs) keywords {
	u := unsupported
	const maxInt = 1<<31 - 1
	return keywords{
		// Identity and mail.
		"router_id": setString(&g.RouterID),
		// Vigil's own: refuse to start or reload on a file with mistakes
		// keepalived runs past (unknown keywords), as --strict does.
		"vigil_strict": setBool(&g.VigilStrict),
		"vigil_metrics_listen": func(p *parser, n *Node) {
			if !p.noBlock(n) || !p.nargs(n, 1, 1) {
				return
			}
			if _, _, err := net.SplitHostPort(n.Args[0]); err != nil {
				p.diags.Errorf(n.Pos, "vigil_metrics_listen: %q is not host:port: %v", n.Args[0], err)
				return
			}
			g.VigilMetricsListen = n.Args[0]
		},
		"notification_email":       func(p *parser, n *Node) { g.NotificationEmail = append(g.NotificationEmail, p.valueBlock(n)...) },
		"notification_email_from":  setString(&g.NotificationEmailFrom),
		"smtp_server":              func(p *parser, n *Node) { p.smtpServer(g, n) },
		"smtp_helo_name":           setString(&g.SMTPHeloName),
		"smtp_connect_timeout":     setWholeSeconds(&g.SMTPConnectTimeout, 1, maxInt),
		"smtp_alert":               setBoolPtr(&g.SMTPAlert),
		"smtp_alert_vrrp":          setBoolPtr(&g.SMTPAlertVRRP),
		"smtp_alert_checker":       setBoolPtr(&g.SMTPAlertChecker),
		"checker_log_all_failures": setBool(&g.CheckerLogAllFailures),
		"no_email_faults":          setBool(&g.NoEmailFaults),
		"no_checker_emails":        setBool(&g.NoCheckerEmails),
		"default_interface":        setString(&g.DefaultInterface),

		// VRRP defaults.
		"vrrp_mcast_group4":               func(p *parser, n *Node) { p.mcastGroup(&g.VRRPMcastGroup4, false, n) },
		"vrrp_mcast_group6":               func(p *parser, n *Node) { p.mcastGroup(&g.VRRPMcastGroup6, true, n) },
		"vrrp_garp_master_delay":          setWholeSeconds(&g.VRRPGarp.MasterDelay, 0, maxInt),
		"vrrp_garp_master_repeat":         setInt(&g.VRRPGarp.MasterRepeat, 0, maxInt),
		"vrrp_garp_lower_prio_delay":      setWholeSeconds(&g.VRRPGarp.LowerPrioDelay, 0, maxInt),
		"vrrp_garp_lower_prio_repeat":     setInt(&g.VRRPGarp.LowerPrioRepeat, 0, maxInt),
		"vrrp_garp_master_refresh":        setWholeSeconds(&g.VRRPGarp.MasterRefresh, 0, maxInt),
		"vrrp_garp_master_refresh_repeat": setInt(&g.VRRPGarp.MasterRefreshRepeat, 1, maxInt),
		"vrrp_garp_interval":              setSeconds(&g.VRRPGarpInterval, 0, time.Second),
		"vrrp_gna_interval":               setSeconds(&g.VRRPGnaInterval, 0, time.Second),
		"vrrp_min_garp":                   setBool(&g.VRRPMinGarp),
		"vrrp_garp_extra_if":              func(p *parser, n *Node) { p.garpExtraIf(&g.VRRPGarp.ExtraIf, n) },
		"vrrp_vmac_garp_intvl": func(p *parser, n *Node) {
			deprecated(func(p *parser, n *Node) { p.garpExtraIf(&g.VRRPGarp.ExtraIf, n) }, "vrrp_garp_extra_if")(p, n)
		},
		"vrrp_down_timer_adverts":      setInt(&g.VRRPDownTimerAdverts, 1, 100),
		"vrrp_lower_prio_no_advert":    setBool(&g.VRRPLowerPrioNoAdvert),
		"vrrp_higher_prio_send_advert": setBool(&g.VRRPHigherPrioSendAdvert),
		"vrrp_version":                 setInt(&g.VRRPVersion, 2, 3),
		"vrrp_check_unicast_src":       setBool(&g.VRRPCheckUnicastSrc),
		"vrrp_skip_check_adv_addr":     setBool(&g.VRRPSkipCheckAdvAddr),
		"vrrp_strict":                  setBool(&g.VRRPStrict),
		"vrrp_notify_priority_changes": setBool(&g.VRRPNotifyPriorityChange),
		"vrrp_startup_delay":           setSeconds(&g.VRRPStartupDelay, 0, 1<<31*time.Second),
		"vrrp_rx_bufs_policy":          u(func(p *parser, n *Node) { p.rxBufsPolicy(g, n) }),
		"vrrp_rx_bufs_multiplier":      u(setInt(&g.VRRPRxBufsMultiplier, 1, maxInt)),
		"log_unknown_vrids":            setBool(&g.LogUnknownVRIDs),
		"vmac_prefix":                  setString(&g.VMACPrefix),
		"vmac_addr_prefix":             setString(&g.VMACAddrPrefix),
		"disable_local_igmp":           u(setBool(&g.DisableLocalIGMP)),
		"dynamic_interfaces":           func(p *parser, n *Node) { p.dynamicInterfaces(g, n) },

		// Firewall.
		"vrrp_iptables":              u(func(p *parser, n *Node) { p.stringList(&g.VRRPIPTables, n, 0, 2) }),
		"vrrp_ipsets":                u(func(p *parser, n *Node) { p.stringList(&g.VRRPIPSets, n, 0, 5) }),
		"nftables":                   u(optString(&g.NFTables)),
		"nftables_priority":          u(setIntPtr(&g.NFTablesPriority, -1<<31, maxInt)),
		"nftables_counters":          u(setBool(&g.NFTablesCounters)),
		"nftables_ifindex":           u(setBool(&g.NFTablesIfIndex)),
		"nftables_ipvs":              u(optString(&g.NFTablesIPVS)),
		"nftables_ipvs_priority":     u(setIntPtr(&g.NFTablesIPVSPriority, -1<<31, maxInt)),
		"nftables_ipvs_start_fwmark": u(setInt(&g.NFTablesIPVSStartMark, 1, 1<<32-1)),

		// LVS.
		"lvs_sync_daemon":   func(p *parser, n *Node) { p.lvsSyncDaemon(g, n) },
		"lvs_timeouts":      func(p *parser, n *Node) { p.lvsTimeouts(g, n) },
		"lvs_flush":         setBool(&g.LVSFlush),
		"lvs_flush_on_stop": func(p *parser, n *Node) { p.lvsFlushOnStop(g, n) },
		"lvs_flush_onstop":  func(p *parser, n *Node) { p.lvsFlushOnStop(g, n) },
		"rs_init_notifies":  setBool(&g.RSInitNotifies),

		// Scripts and notification.
		"script_user":                      func(p *parser, n *Node) { p.scriptUser(g, n) },
		"enable_script_security":           setBool(&g.EnableScriptSecurity),
		"notify_fifo":                      func(p *parser, n *Node) { p.fifo(&g.NotifyFIFO, n) },
		"notify_fifo_script":               func(p *parser, n *Node) { p.fifoScript(&g.NotifyFIFO, n) },
		"vrrp_notify_fifo":                 func(p *parser, n *Node) { p.fifo(&g.VRRPNotifyFIFO, n) },
		"vrrp_notify_fifo_script":          func(p *parser, n *Node) { p.fifoScript(&g.VRRPNotifyFIFO, n) },
		"lvs_notify_fifo":                  func(p *parser, n *Node) { p.fifo(&g.LVSNotifyFIFO, n) },
		"lvs_notify_fifo_script":           func(p *parser, n *Node) { p.fifoScript(&g.LVSNotifyFIFO, n) },
		"fifo_write_vrrp_states_on_reload": setBool(&g.FIFOWriteVRRPStatesOnReload),
		"startup_script":                   func(p *parser, n *Node) { g.StartupScript = p.command(n) },
		"startup_script_timeout":           setWholeSeconds(&g.StartupScriptTimeout, 1, 1000),
		"shutdown_script":                  func(p *parser, n *Node) { g.ShutdownScript = p.command(n) },
		"shutdown_script_timeout":          setWholeSeconds(&g.ShutdownScriptTimeout, 1, 1000),

		// Processes.
		"process_names":                       u(setBool(&g.ProcessNames)),
		"process_name":                        u(setString(&g.ProcessName)),
		"vrrp_process_name":                   u(setString(&g.VRRPProcess.Name)),
		"checker_process_name":                u(setString(&g.CheckerProcess.Name)),
		"lvs_process_name":                    u(setString(&g.CheckerProcess.Name)),
		"bfd_process_name":                    u(setString(&g.BFDProcess.Name)),
		"vrrp_priority":                       setIntPtr(&g.VRRPProcess.Priority, -20, 19),
		"checker_priority":                    u(setIntPtr(&g.CheckerProcess.Priority, -20, 19)),
		"bfd_priority":                        u(setIntPtr(&g.BFDProcess.Priority, -20, 19)),
		"vrrp_no_swap":                        setBool(&g.VRRPProcess.NoSwap),
		"checker_no_swap":                     u(setBool(&g.CheckerProcess.NoSwap)),
		"bfd_no_swap":                         u(setBool(&g.BFDProcess.NoSwap)),
		"vrrp_cpu_affinity":                   func(p *parser, n *Node) { p.intList(&g.VRRPProcess.CPUAffinity, n, 0, 4095) },
		"checker_cpu_affinity":                u(func(p *parser, n *Node) { p.intList(&g.CheckerProcess.CPUAffinity, n, 0, 4095) }),
		"bfd_cpu_affinity":                    u(func(p *parser, n *Node) { p.intList(&g.BFDProcess.CPUAffinity, n, 0, 4095) }),
		"vrrp_rt_priority":                    setInt(&g.VRRPProcess.RTPriority, 1, 99),
		"checker_rt_priority":                 u(setInt(&g.CheckerProcess.RTPriority, 1, 99)),
		"bfd_rt_priority":                     u(setInt(&g.BFDProcess.RTPriority, 1, 99)),
		"vrrp_rlimit_rttime":                  setInt(&g.VRRPProcess.RlimitRTTime, 1, maxInt),
		"vrrp_rlimit_rtime":                   setInt(&g.VRRPProcess.RlimitRTTime, 1, maxInt),
		"checker_rlimit_rttime":               u(setInt(&g.CheckerProcess.RlimitRTTime, 1, maxInt)),
		"checker_rlimit_rtime":                u(setInt(&g.CheckerProcess.RlimitRTTime, 1, maxInt)),
		"bfd_rlimit_rttime":                   u(setInt(&g.BFDProcess.RlimitRTTime, 1, maxInt)),
		"bfd_rlimit_rtime":                    u(setInt(&g.BFDProcess.RlimitRTTime, 1, maxInt)),
		"max_auto_priority":                   u(func(p *parser, n *Node) { p.maxAutoPriority(g, n) }),
		"min_auto_priority_delay":             u(func(p *parser, n *Node) { p.usecs(&g.MinAutoPriorityDelay, n) }),
		"vrrp_netlink_cmd_rcv_bufs":           u(setInt(&g.VRRPNetlinkCmdRcvBuf.Bytes, 0, maxInt)),
		"vrrp_netlink_cmd_rcv_bufs_force":     u(setBool(&g.VRRPNetlinkCmdRcvBuf.Force)),
		"vrrp_netlink_monitor_rcv_bufs":       u(setInt(&g.VRRPNetlinkMonRcvBuf.Bytes, 0, maxInt)),
		"vrrp_netlink_monitor_rcv_bufs_force": u(setBool(&g.VRRPNetlinkMonRcvBuf.Force)),
		"lvs_netlink_cmd_rcv_bufs":            u(setInt(&g.LVSNetlinkCmdRcvBuf.Bytes, 0, maxInt)),
		"lvs_netlink_cmd_rcv_bufs_force":      u(setBool(&g.LVSNetlinkCmdRcvBuf.Force)),
		"lvs_netlink_monitor_rcv_bufs":        u(setInt(&g.LVSNetlinkMonRcvBuf.Bytes, 0, maxInt)),
		"lvs_netlink_monitor_rcv_bufs_force":  u(setBool(&g.LVSNetlinkMonRcvBuf.Force)),
		"process_monitor_rcv_bufs":            u(setInt(&g.ProcessMonitorRcvBuf.Bytes, 0, maxInt)),
		"process_monitor_rcv_bufs_force":      u(setBool(&g.ProcessMonitorRcvBuf.Force)),
		"umask":                               u(func(p *parser, n *Node) { p.umask(g, n) }),
		"random_seed":                         func(p *parser, n *Node) { p.randomSeed(g, n) },
		"tmp_config_directory":                u(setString(&g.TmpConfigDirectory)),
		"config_save_dir":                     u(setString(&g.ConfigSaveDir)),
		"reload_check_config":                 u(optString(&g.ReloadCheckConfig)),
		"reload_time_file":                    u(setString(&g.ReloadTimeFile)),
		"reload_repeat":                       u(setBool(&g.ReloadRepeat)),
		"reload_file":                         u(optString(&g.ReloadFile)),
		"include_check":                       func(p *parser, n *Node) { p.stringList(&g.IncludeCheck, n, 0, -1) },
		"data_use_instance":                   u(setBool(&g.DataUseInstance)),

		// SNMP and DBus.
		"snmp_socket":            u(setString(&g.SNMPSocket)),
		"enable_snmp_vrrp":       u(setBool(&g.EnableSNMPVRRP)),
		"enable_snmp_keepalived": u(setBool(&g.EnableSNMPVRRP)),
		"enable_snmp_checker":    u(setBool(&g.EnableSNMPChecker)),
		"enable_snmp_rfc":        u(func(p *parser, n *Node) { setBool(&g.EnableSNMPRFCv2)(p, n); g.EnableSNMPRFCv3 = g.EnableSNMPRFCv2 }),
		"enable_snmp_rfcv2":      u(setBool(&g.EnableSNMPRFCv2)),
		"enable_snmp_rfcv3":      u(setBool(&g.EnableSNMPRFCv3)),
		"enable_traps":           u(setBool(&g.EnableTraps)),
		"enable_dbus":            u(setBool(&g.EnableDBus)),
		"dbus_service_name":      u(setString(&g.DBusServiceName)),
	}
}

// optString handles a keyword with an optional single argument; the
// pointer is set (possibly to "") when the keyword is present.
func optString(dst **string) handler {
	return func(p *parser, n *Node) {
		if !p.noBlock(n) || !p.nargs(n, 0, 1) {
			return
		}
		s := ""
		if len(n.Args) == 1 {
			s = n.Args[0]
		}
		*dst = &s
	}
}

// valueBlock returns the entries of a block of plain values (one word per
// line), such as notification_email.
func (p *parser) valueBlock(n *Node) []string {
	if !p.block(n) || !p.nargs(n, 0, 0) {
		return nil
	}
	var out []string
	for _, c := range n.Block {
		if c.HasBlock {
			p.diags.Errorf(c.Pos, "%s: unexpected block in %s", c.Name, n.Name)
			continue
		}
		out = append(out, c.Name)
		out = append(out, c.Args...)
	}
	return out
}

// stringList stores between lo and hi (hi < 0: any number) arguments.
func (p *parser) stringList(dst *[]string, n *Node, lo, hi int) {
	if p.noBlock(n) && p.nargs(n, lo, hi) {
		*dst = append([]string(nil), n.Args...)
	}
}

// intList stores one or more integers in [lo, hi].
func (p *parser) intList(dst *[]int, n *Node, lo, hi int64) {
	if !p.noBlock(n) || !p.nargs(n, 1, -1) {
		return
	}
	var out []int
	for i := range n.Args {
		v, ok := p.intArg(n, i, lo, hi)
		if !ok {
			return
		}
		out = append(out, int(v))
	}
	*dst = out
}

func (p *parser) smtpServer(g *GlobalDefs, n *Node) {
	if !p.noBlock(n) || !p.nargs(n, 1, 2) {
		return
	}
	s := &SMTPServer{Host: n.Args[0], Port: 25}
	if len(n.Args) == 2 {
		v, ok := p.intArg(n, 1, 1, 65535)
		if !ok {
			return
		}
		s.Port = int(v)
	}
	g.SMTPServer = s
}

// mcastGroup parses vrrp_mcast_group4/6: a multicast address of the family.
func (p *parser) mcastGroup(dst *netip.Addr, v6 bool, n *Node) {
	if !p.noBlock(n) || !p.nargs(n, 1, 1) {
		return
	}
	a, err := netip.ParseAddr(n.Args[0])
	if err != nil || a.Is6() != v6 || !a.IsMulticast() {
		fam := "IPv4"
		if v6 {
			fam = "IPv6"
		}
		p.diags.Errorf(n.Pos, "%s: %q is not an %s multicast address", n.Name, n.Args[0], fam)
		return
	}
	*dst = a
}

// garpExtraIf parses "[all] SECS" (0 disables, at most one day).
func (p *parser) garpExtraIf(dst **GarpExtraIf, n *Node) {
	if !p.noBlock(n) || !p.nargs(n, 1, 2) {
		return
	}
	e := &GarpExtraIf{}
	i := 0
	if n.Args[0] == "all" {
		e.All = true
		i = 1
	}
	if i >= len(n.Args) || len(n.Args) > i+1 {
		p.diags.Errorf(n.Pos, "%s: expected [all] SECONDS", n.Name)
		return
	}
	v, ok := p.intArg(n, i, 0, 86400)
	if !ok {
		return
	}
	e.Interval = time.Duration(v) * time.Second
	if v == 0 {
		*dst = nil
		return
	}
	*dst = e
}

func (p *parser) rxBufsPolicy(g *GlobalDefs, n *Node) {
	if !p.noBlock(n) || !p.nargs(n, 1, 1) {
		return
	}
	v := strings.ToUpper(n.Args[0])
	if v != "MTU" && v != "ADVERT" {
		if _, err := strconv.ParseUint(n.Args[0], 10, 32); err != nil {
			p.diags.Errorf(n.Pos, "%s: %q is not MTU, ADVERT or a number", n.Name, n.Args[0])
			return
		}
		v = n.Args[0]
	}
	g.VRRPRxBufsPolicy = v
}

func (p *parser) dynamicInterfaces(g *GlobalDefs, n *Node) {
	if !p.noBlock(n) || !p.nargs(n, 0, 1) {
		return
	}
	if len(n.Args) == 1 && n.Args[0] != "allow_if_changes" {
		p.diags.Errorf(n.Pos, "%s: unknown option %q (only allow_if_changes)", n.Name, n.Args[0])
		return
	}
	g.DynamicInterfaces = true
	g.AllowIfChanges = len(n.Args) == 1
}

func (p *parser) lvsSyncDaemon(g *GlobalDefs, n *Node) {
	if !p.noBlock(n) || !p.nargs(n, 1, -1) {
		return
	}
	s := &LVSSyncDaemon{Interface: n.Args[0]}
	args := n.Args[1:]
	for i := 0; i < len(args); i++ {
		kw := args[i]
		needVal := func() (string, bool) {
			if i+1 >= len(args) {
				p.diags.Errorf(n.Pos, "%s: %s needs a value", n.Name, kw)
				return "", false
			}
			i++
			return args[i], true
		}
		num := func(lo, hi int64) (int, bool) {
			v, ok := needVal()
			if !ok {
				return 0, false
			}
			x, err := strconv.ParseInt(v, 10, 64)
			if err != nil || x < lo || x > hi {
				p.diags.Errorf(n.Pos, "%s: %s %q is not in [%d, %d]", n.Name, kw, v, lo, hi)
				return 0, false
			}
			return int(x), true
		}
		var ok bool
		switch kw {
		case "inst":
			s.Instance, ok = needVal()
		case "id":
			var v int
			if v, ok = num(0, 255); ok {
				s.SyncID = &v
			}
		case "maxlen":
			s.MaxLen, ok = num(1, 65507)
		case "port":
			s.Port, ok = num(1, 65535)
		case "ttl":
			s.TTL, ok = num(1, 255)
		case "group":
			var v string
			if v, ok = needVal(); ok {
				a, err := netip.ParseAddr(v)
				if err != nil || !a.IsMulticast() {
					p.diags.Errorf(n.Pos, "%s: group %q is not a multicast address", n.Name, v)
					return
				}
				s.Group = a
			}
		default:
			// The instance name may be given without "inst" for
			// backward compatibility, but only as the first word.
			if i == 0 {
				s.Instance, ok = kw, true
			} else {
				p.diags.Errorf(n.Pos, "%s: unknown option %q", n.Name, kw)
			}
		}
		if !ok {
			return
		}
	}
	g.LVSSyncDaemon = s
}

func (p *parser) lvsTimeouts(g *GlobalDefs, n *Node) {
	if !p.noBlock(n) || !p.nargs(n, 2, 6) {
		return
	}
	t := &LVSTimeouts{}
	if len(n.Args)%2 != 0 {
		p.diags.Errorf(n.Pos, "%s: expected pairs of tcp|tcpfin|udp SECONDS", n.Name)
		return
	}
	for i := 0; i < len(n.Args); i += 2 {
		v, ok := p.intArg(n, i+1, 0, 86400*31)
		if !ok {
			return
		}
		d := time.Duration(v) * time.Second
		switch n.Args[i] {
		case "tcp":
			t.TCP = d
		case "tcpfin":
			t.TCPFin = d
		case "udp":
			t.UDP = d
		default:
			p.diags.Errorf(n.Pos, "%s: unknown timeout %q (tcp, tcpfin or udp)", n.Name, n.Args[i])
			return
		}
	}
	g.LVSTimeouts = t
}

func (p *parser) lvsFlushOnStop(g *GlobalDefs, n *Node) {
	if !p.noBlock(n) || !p.nargs(n, 0, 1) {
		return
	}
	// keepalived 2.2.7 knows the bare keyword (flush the whole table) and
	// VS (remove each of its virtual servers); any other argument, RS
	// included, is an error.
	g.LVSFlushOnStop = "FULL"
	if len(n.Args) == 1 {
		if n.Args[0] != "VS" {
			p.diags.Errorf(n.Pos, "%s: %q is not VS (or nothing, for the whole table)", n.Name, n.Args[0])
			g.LVSFlushOnStop = ""
			return
		}
		g.LVSFlushOnStop = n.Args[0]
	}
}

func (p *parser) scriptUser(g *GlobalDefs, n *Node) {
	if !p.noBlock(n) || !p.nargs(n, 1, 2) {
		return
	}
	c := &Command{User: n.Args[0]}
	if len(n.Args) == 2 {
		c.Group = n.Args[1]
	}
	g.ScriptUser = c
}

func (p *parser) fifo(dst **NotifyFIFO, n *Node) {
	if !p.noBlock(n) || !p.nargs(n, 1, 3) {
		return
	}
	f := *dst
	if f == nil {
		f = &NotifyFIFO{}
	}
	f.Path = n.Args[0]
	if len(n.Args) > 1 {
		f.User = n.Args[1]
	}
	if len(n.Args) > 2 {
		f.Group = n.Args[2]
	}
	*dst = f
}

func (p *parser) fifoScript(dst **NotifyFIFO, n *Node) {
	c := p.command(n)
	if c == nil {
		return
	}
	if *dst == nil {
		*dst = &NotifyFIFO{}
	}
	(*dst).Script = c
}

func (p *parser) maxAutoPriority(g *GlobalDefs, n *Node) {
	if !p.noBlock(n) || !p.nargs(n, 0, 1) {
		return
	}
	v := int64(99)
	if len(n.Args) == 1 {
		var ok bool
		if v, ok = p.intArg(n, 0, -1, 99); !ok {
			return
		}
	}
	iv := int(v)
	g.MaxAutoPriority = &iv
}

// usecs parses a number of microseconds.
func (p *parser) usecs(dst *time.Duration, n *Node) {
	if !p.noBlock(n) || !p.nargs(n, 1, 1) {
		return
	}
	if v, ok := p.intArg(n, 0, 1, 10000000); ok {
		*dst = time.Duration(v) * time.Microsecond
	}
}

// umask accepts a number (decimal, 0octal, 0xhex) or IRUSR|IWGRP|... bits.
func (p *parser) umask(g *GlobalDefs, n *Node) {
	if !p.noBlock(n) || !p.nargs(n, 1, -1) {
		return
	}
	s := strings.Join(n.Args, "")
	if _, err := strconv.ParseUint(s, 0, 16); err == nil {
		g.Umask = s
		return
	}
	for _, b := range strings.Split(s, "|") {
		switch b {
		case "IRUSR", "IWUSR", "IXUSR", "IRGRP", "IWGRP", "IXGRP", "IROTH", "IWOTH", "IXOTH":
		default:
			p.diags.Errorf(n.Pos, "%s: %q is not a number or I{R|W|X}{USR|GRP|OTH} bits", n.Name, s)
			return
		}
	}
	g.Umask = s
}

func (p *parser) randomSeed(g *GlobalDefs, n *Node) {
	if !p.noBlock(n) || !p.nargs(n, 1, 1) {
		return
	}
	v, err := strconv.ParseUint(n.Args[0], 10, 32)
	if err != nil {
		p.diags.Errorf(n.Pos, "%s: %q is not an unsigned integer", n.Name, n.Args[0])
		return
	}
	g.RandomSeed = &v
}

// linkbeatInterfaces parses the linkbeat_interfaces block.
func (p *parser) linkbeatInterfaces(n *Node) {
	p.notSupported(n)
	if !p.block(n) || !p.nargs(n, 0, 0) {
		return
	}
	for _, c := range n.Block {
		if !p.noBlock(c) || len(c.Args) > 1 {
			p.diags.Errorf(c.Pos, "linkbeat_interfaces: expected INTERFACE [MII|ETHTOOL|IOCTL]")
			continue
		}
		li := &LinkbeatInterface{Name: c.Name}
		if len(c.Args) == 1 {
			m := strings.ToUpper(c.Args[0])
			if m != "MII" && m != "ETHTOOL" && m != "IOCTL" {
				p.diags.Errorf(c.Pos, "linkbeat_interfaces: %q is not MII, ETHTOOL or IOCTL", c.Args[0])
				continue
			}
			li.Method = m
		}
		p.cfg.Global.LinkbeatInterfaces = append(p.cfg.Global.LinkbeatInterfaces, li)
	}
}

// upDownDelays parses interface_up_down_delays: "IF DOWN [UP]" lines.
func (p *parser) upDownDelays(n *Node) {
	if !p.block(n) || !p.nargs(n, 0, 0) {
		return
	}
	for _, c := range n.Block {
		if !p.noBlock(c) || len(c.Args) < 1 || len(c.Args) > 2 {
			p.diags.Errorf(c.Pos, "interface_up_down_delays: expected INTERFACE DOWN_DELAY [UP_DELAY]")
			continue
		}
		cn := &Node{Pos: c.Pos, Name: "interface_up_down_delays " + c.Name, Args: c.Args}
		down, ok := p.seconds(cn, 0, 0, 255*time.Second)
		if !ok {
			continue
		}
		up := down
		if len(c.Args) == 2 {
			if up, ok = p.seconds(cn, 1, 0, 255*time.Second); !ok {
				continue
			}
		}
		p.cfg.Global.UpDownDelays = append(p.cfg.Global.UpDownDelays, &UpDownDelay{Interface: c.Name, Down: down, Up: up})
	}
}

// trackGroup parses a track_group block.
func (p *parser) trackGroup(n *Node) {
	if !p.block(n) || !p.nargs(n, 1, 1) {
		return
	}
	tg := &TrackGroup{Pos: n.Pos, Name: n.Args[0]}
	p.walk(n.Block, keywords{
		"group": func(p *parser, c *Node) { tg.Instances = append(tg.Instances, p.valueBlock(c)...) },
	}, "track_group "+tg.Name)
	p.cfg.Global.TrackGroups = append(p.cfg.Global.TrackGroups, tg)
}

// bfdInstance accepts a bfd_instance block; Vigil does not run BFD.
func (p *parser) bfdInstance(n *Node) {
	p.notSupported(n)
	if !p.block(n) || !p.nargs(n, 1, 1) {
		return
	}
	b := &BFDInstance{Pos: n.Pos, Name: n.Args[0]}
	addr := func(dst *netip.Addr) handler {
		return func(p *parser, c *Node) {
			if !p.noBlock(c) || !p.nargs(c, 1, 1) {
				return
			}
			a, err := netip.ParseAddr(c.Args[0])
			if err != nil {
				p.diags.Errorf(c.Pos, "%s: %q is not an IP address", c.Name, c.Args[0])
				return
			}
			*dst = a
		}
	}
	raw := func(p *parser, c *Node) {
		if p.noBlock(c) {
			b.Settings = append(b.Settings, append([]string{c.Name}, c.Args...))
		}
	}
	p.walk(n.Block, keywords{
		"neighbor_ip": addr(&b.Neighbor), "neighbour_ip": addr(&b.Neighbor), "source_ip": addr(&b.Source),
		"min_rx": raw, "min_tx": raw, "idle_tx": raw, "multiplier": raw, "passive": raw,
		"ttl": raw, "hoplimit": raw, "max_hops": raw, "weight": raw, "vrrp": raw, "checker": raw,
	}, "bfd_instance "+b.Name)
	if !b.Neighbor.IsValid() {
		p.diags.Errorf(n.Pos, "bfd_instance %s: neighbor_ip is required", b.Name)
	}
	p.cfg.Global.BFDInstances = append(p.cfg.Global.BFDInstances, b)
}

// staticAddresses parses static_ipaddress.
func (p *parser) staticAddresses(n *Node) {
	p.cfg.StaticAddresses = append(p.cfg.StaticAddresses, p.addressBlock(n, true)...)
}

// staticRoutes parses static_routes.
func (p *parser) staticRoutes(n *Node) {
	p.cfg.StaticRoutes = append(p.cfg.StaticRoutes, p.routeBlock(n, true)...)
}

// staticRules parses static_rules.
func (p *parser) staticRules(n *Node) {
	p.cfg.StaticRules = append(p.cfg.StaticRules, p.ruleBlock(n, true)...)
}
