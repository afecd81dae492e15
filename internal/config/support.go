package config

import "strings"

// acting lists, per block, the keywords Vigil acts on today: what the
// daemon hands to the subsystems that run (internal/daemon: vrrpconf.go
// for the VRRP engine, with the defaults finish folds into each instance;
// tracking.go for internal/track; internal/notify for notifications).
// Every other keyword of a block listed here is still parsed, checked and
// stored in the model, and walk reports it with a "not supported yet" warning, so nothing is
// silently ignored. A block that is not listed is covered by the warning
// on the keyword that opens it (vrrp_script, virtual_server, ...), or is a
// part of such a block.
//
// When a subsystem starts using a setting, add the keyword here (and
// regenerate the golden files and docs/COMPATIBILITY.md).
var acting = map[string]map[string]bool{
	"top": set("global_defs", "vrrp_instance",
		// internal/track runs these when an instance tracks them.
		"vrrp_script", "track_file", "vrrp_track_file", "vrrp_track_process",
		// internal/vrrp sync groups.
		"vrrp_sync_group",
		// internal/host: installed at start, removed on stop.
		"static_ipaddress", "static_routes", "static_rules",
		// internal/host: the Announcer paces announcements per interface.
		"garp_group",
		// internal/daemon and internal/runpath: the namespace the daemon
		// runs in, and the names of its runtime files.
		"net_namespace", "instance", "use_pid_dir",
		// internal/lvsproc: the LVS process runs the virtual servers and
		// their checkers (internal/lvs, internal/check, internal/dataplane).
		// Inside these blocks, the keywords nothing reads warn on their own
		// (notActingWhy, and the handlers of snmp_name, hashed,
		// BFD_CHECK, regex_stack).
		"virtual_server", "virtual_server_group", "SSL"),
	"global_defs": set(
		"include_check",        // applied by the reader
		"vigil_metrics_listen", // Vigil's extension: the metrics endpoint
		"vigil_strict",         // Vigil's extension: the daemon refuses tolerable errors
		// internal/notify: scripts, FIFOs and mail.
		"router_id", "notification_email", "notification_email_from", "smtp_server",
		"smtp_helo_name", "smtp_connect_timeout", "smtp_alert", "smtp_alert_vrrp", "no_email_faults",
		// internal/lvsproc sends the checker side's mail through notify's
		// client.
		"smtp_alert_checker", "no_checker_emails",
		"script_user", "enable_script_security", "notify_fifo", "notify_fifo_script",
		"vrrp_notify_fifo", "vrrp_notify_fifo_script",
		"vrrp_mcast_group4", "vrrp_mcast_group6",
		"vrrp_garp_master_delay", "vrrp_garp_master_repeat",
		"vrrp_garp_master_refresh", "vrrp_garp_master_refresh_repeat", "vrrp_min_garp",
		"vrrp_garp_lower_prio_delay", "vrrp_garp_lower_prio_repeat",
		"vrrp_garp_interval", "vrrp_gna_interval",
		"vrrp_strict", "vmac_prefix",
		// internal/daemon/sched.go: real-time scheduling of the VRRP side.
		"vrrp_priority", "vrrp_no_swap", "vrrp_cpu_affinity", "vrrp_rt_priority",
		"vrrp_rlimit_rttime", "vrrp_rlimit_rtime",
		"vrrp_lower_prio_no_advert", "vrrp_higher_prio_send_advert",
		"vrrp_version",
		// The LVS process: lvs_timeouts on the plane (internal/lvs
		// TimeoutsOf), notifications at start (internal/lvs Engine,
		// internal/check), its FIFO (internal/lvsproc/notes.go), and the
		// checkers' logging (internal/check); lvs_flush and
		// lvs_flush_on_stop at start and stop, lvs_sync_daemon following
		// its instance's state (internal/lvsproc Side).
		"lvs_timeouts", "rs_init_notifies", "lvs_notify_fifo", "lvs_notify_fifo_script",
		"lvs_flush", "lvs_flush_on_stop", "lvs_flush_onstop", "lvs_sync_daemon",
		"checker_log_all_failures",
	),
	"vrrp_instance": set(
		"state", "interface", "virtual_router_id", "priority", "advert_int", "version",
		"native_ipv6", "nopreempt", "preempt", "preempt_delay", "authentication",
		// Vigil never filters traffic to its addresses, which is what
		// accept mode asks for.
		"accept",
		"virtual_ipaddress", "virtual_ipaddress_excluded",
		"unicast_peer", "unicast_src_ip", "mcast_src_ip", "mcast_dst_ip",
		"garp_master_delay", "garp_master_repeat", "garp_master_refresh", "garp_master_refresh_repeat",
		"lower_prio_no_advert", "higher_prio_send_advert",
		// internal/track and internal/notify.
		"track_script", "track_interface", "track_file", "track_process",
		"notify", "notify_master", "notify_backup", "notify_fault", "notify_stop", "notify_deleted",
		"smtp_alert",
		"garp_lower_prio_delay", "garp_lower_prio_repeat",
		// internal/host: held by the master; the VMAC; strict mode's filter.
		"virtual_routes", "virtual_rules", "use_vmac", "vmac_xmit_base", "strict_mode", "no_accept",
		"dont_track_primary",
		// Deprecated; stored as global_defs lvs_sync_daemon (internal/lvsproc).
		"lvs_sync_daemon_interface",
	),
	"vrrp_sync_group": set("group", "track_script", "track_interface", "track_file", "track_process",
		"notify", "notify_master", "notify_backup", "notify_fault", "notify_stop", "smtp_alert",
		"sync_group_tracking_weight"),
	// internal/host: the Announcer's pacing (internal/daemon/garp.go).
	"garp_group":     set("garp_interval", "gna_interval", "interface", "interfaces"),
	"authentication": set("auth_type", "auth_pass"),
	// internal/track.
	"vrrp_script": set("script", "interval", "timeout", "weight", "rise", "fall", "user", "init_fail"),
	"track_file":  set("file", "weight", "init_file"),
	"vrrp_track_process": set("process", "param_match", "weight", "quorum", "quorum_max",
		"fork_delay", "terminate_delay", "delay", "full_command"),
}

// noActing stands for a block acting does not list (nothing to check).
var noActing = map[string]bool{}

func set(names ...string) map[string]bool {
	m := make(map[string]bool, len(names))
	for _, n := range names {
		m[n] = true
	}
	return m
}

// notActingWhy gives, for keywords Vigil parses without acting on them,
// the reason the warning states, so an operator knows what is missing.
var notActingWhy = map[string]string{
	"checker_process_name":               "the LVS process keeps its own name",
	"lvs_process_name":                   "the LVS process keeps its own name",
	"checker_priority":                   "the LVS process's scheduling is not changed",
	"checker_no_swap":                    "the LVS process's memory is not locked",
	"checker_cpu_affinity":               "the LVS process's scheduling is not changed",
	"checker_rt_priority":                "the LVS process's scheduling is not changed",
	"checker_rlimit_rttime":              "the LVS process's scheduling is not changed",
	"checker_rlimit_rtime":               "the LVS process's scheduling is not changed",
	"lvs_netlink_cmd_rcv_bufs":           "the IPVS plane keeps the kernel's default socket buffers",
	"lvs_netlink_cmd_rcv_bufs_force":     "the IPVS plane keeps the kernel's default socket buffers",
	"lvs_netlink_monitor_rcv_bufs":       "the IPVS plane keeps the kernel's default socket buffers",
	"lvs_netlink_monitor_rcv_bufs_force": "the IPVS plane keeps the kernel's default socket buffers",
	"net_namespace_ipvs":                 "the LVS process programs the plane of the namespace it runs in",
	"snmp_name":                          "Vigil has no SNMP agent",
}

// notSupportedPhrase is in every warning about a keyword Vigil parses but
// does not act on; handlers with a more specific message (auth_type AH)
// use it too, so walk does not warn twice.
const notSupportedPhrase = "not supported yet"

// blockOf turns walk's where ("vrrp_instance VI_1", "" for the top level)
// into the block name acting is keyed by.
func blockOf(where string) string {
	if where == "" {
		return "top"
	}
	name, _, _ := strings.Cut(where, " ")
	return name
}

// checkActing warns about n, just handled in block where, when Vigil does
// not act on it, unless its handler rejected it or warned already (the
// diagnostics from index before on are the handler's).
func (p *parser) checkActing(n *Node, where string, before int) {
	// walk calls this for every line of a block with the same where: look
	// the block's list up once per block, not once per line.
	if where != p.actingWhere || p.actingFor == nil {
		p.actingWhere, p.actingFor = where, acting[blockOf(where)]
		if p.actingFor == nil {
			p.actingFor = noActing
		}
	}
	kw := p.actingFor
	if len(kw) == 0 || kw[n.Name] {
		return
	}
	for _, d := range p.diags[before:] {
		if d.Severity == Error || strings.Contains(d.Msg, notSupportedPhrase) {
			return
		}
	}
	p.notSupported(n)
}
