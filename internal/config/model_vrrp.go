package config

import (
	"net/netip"
	"time"
)

// This file holds the VRRP side of the typed model: global_defs, the static
// addresses/routes/rules, the tracked objects (scripts, files, processes),
// sync groups, garp groups and VRRP instances. Field comments name the
// keepalived.conf keyword they come from when the Go name differs.
//
// Conventions: durations are time.Duration; addresses are net/netip types; a
// pointer (or a zero-valued field tagged omitzero) means "not configured", so
// consumers can tell "unset, use the default" from an explicit value where
// keepalived itself makes that distinction.

// State is the initial state of a VRRP instance.
type State string

// Initial states accepted by keepalived.
const (
	StateBackup State = "BACKUP"
	StateMaster State = "MASTER"
)

// AuthType is the VRRPv2 authentication method.
type AuthType string

// Authentication methods.
const (
	AuthPass AuthType = "PASS"
	AuthAH   AuthType = "AH"
)

// Scope is an address or route scope, as `ip` spells it.
type Scope string

// Scopes accepted for addresses and routes.
const (
	ScopeGlobal  Scope = "global"
	ScopeSite    Scope = "site"
	ScopeLink    Scope = "link"
	ScopeHost    Scope = "host"
	ScopeNowhere Scope = "nowhere"
)

// Family is an address family selector for routes and rules.
type Family string

// Address families.
const (
	FamilyIPv4 Family = "inet"
	FamilyIPv6 Family = "inet6"
)

// Command is a script or program to run, already split into words the way
// keepalived splits it: the command string (quoted when it has parameters) is
// broken on unquoted white space, with single or double quotes grouping words
// and backslash escapes, then the optional user and group follow.
type Command struct {
	Argv  []string `json:"argv"`
	User  string   `json:"user,omitempty"`
	Group string   `json:"group,omitempty"`
}

// SMTPServer is the smtp_server setting.
type SMTPServer struct {
	Host string `json:"host"`
	Port int    `json:"port"`
}

// NotifyFIFO is a notify_fifo / vrrp_notify_fifo / lvs_notify_fifo setting
// with its optional *_script companion.
type NotifyFIFO struct {
	Path   string   `json:"path"`
	User   string   `json:"user,omitempty"`
	Group  string   `json:"group,omitempty"`
	Script *Command `json:"script,omitempty"`
}

// LVSSyncDaemon is the lvs_sync_daemon setting.
type LVSSyncDaemon struct {
	Interface string     `json:"interface"`
	Instance  string     `json:"instance,omitempty"`
	SyncID    *int       `json:"id,omitempty"`
	MaxLen    int        `json:"maxlen,omitempty"`
	Port      int        `json:"port,omitempty"`
	TTL       int        `json:"ttl,omitempty"`
	Group     netip.Addr `json:"group,omitzero"`
}

// LVSTimeouts is the lvs_timeouts setting; zero means "leave unchanged".
type LVSTimeouts struct {
	TCP    time.Duration `json:"tcp,omitempty"`
	TCPFin time.Duration `json:"tcpfin,omitempty"`
	UDP    time.Duration `json:"udp,omitempty"`
}

// GarpExtraIf is the (vrrp_)garp_extra_if setting.
type GarpExtraIf struct {
	Interval time.Duration `json:"interval"`
	All      bool          `json:"all,omitempty"`
}

// Garp holds the gratuitous ARP / unsolicited NA timing of an instance (and
// the global defaults it inherits from).
type Garp struct {
	MasterDelay         time.Duration `json:"master_delay"`
	MasterRepeat        int           `json:"master_repeat"`
	LowerPrioDelay      time.Duration `json:"lower_prio_delay"`
	LowerPrioRepeat     int           `json:"lower_prio_repeat"`
	MasterRefresh       time.Duration `json:"master_refresh"`
	MasterRefreshRepeat int           `json:"master_refresh_repeat"`
	ExtraIf             *GarpExtraIf  `json:"extra_if,omitempty"`
}

// ProcessTuning holds the per-child-process scheduling knobs of global_defs
// (vrrp_*, checker_*, bfd_*).
type ProcessTuning struct {
	Name         string `json:"process_name,omitempty"`
	Priority     *int   `json:"priority,omitempty"`
	NoSwap       bool   `json:"no_swap,omitempty"`
	CPUAffinity  []int  `json:"cpu_affinity,omitempty"`
	RTPriority   int    `json:"rt_priority,omitempty"`
	RlimitRTTime int    `json:"rlimit_rttime,omitempty"`
}

// RcvBuf is a netlink/process-monitor receive buffer size setting.
type RcvBuf struct {
	Bytes int  `json:"bytes,omitempty"`
	Force bool `json:"force,omitempty"`
}

// GlobalDefs is the global_defs block plus the top-level daemon settings
// keepalived accepts outside any block (net_namespace, instance, ...).
type GlobalDefs struct {
	// Top-level (outside global_defs) daemon settings.
	NetNamespace        string        `json:"net_namespace,omitempty"`
	NetNamespaceIPVS    *string       `json:"net_namespace_ipvs,omitempty"`
	NamespaceWithIPSets bool          `json:"namespace_with_ipsets,omitempty"`
	Instance            string        `json:"instance,omitempty"`
	UsePIDDir           bool          `json:"use_pid_dir,omitempty"`
	LinkbeatUsePolling  bool          `json:"linkbeat_use_polling,omitempty"`
	ChildWaitTime       time.Duration `json:"child_wait_time,omitempty"`

	RouterID string `json:"router_id,omitempty"`
	// VigilMetricsListen is Vigil's own extension: the address
	// (host:port) of the Prometheus metrics endpoint; empty, the default,
	// serves none.
	VigilMetricsListen string `json:"vigil_metrics_listen,omitempty"`
	// VigilStrict is Vigil's own extension: the daemon refuses a file with
	// errors keepalived runs past (Diagnostic.Tolerable) instead of
	// starting without those lines, as the --strict flag does.
	VigilStrict           bool        `json:"vigil_strict,omitempty"`
	NotificationEmail     []string    `json:"notification_email,omitempty"`
	NotificationEmailFrom string      `json:"notification_email_from,omitempty"`
	SMTPServer            *SMTPServer `json:"smtp_server,omitempty"`
	SMTPHeloName          string      `json:"smtp_helo_name,omitempty"`
	// SMTPConnectTimeout defaults to 30 s.
	SMTPConnectTimeout    time.Duration `json:"smtp_connect_timeout"`
	SMTPAlert             *bool         `json:"smtp_alert,omitempty"`
	SMTPAlertVRRP         *bool         `json:"smtp_alert_vrrp,omitempty"`
	SMTPAlertChecker      *bool         `json:"smtp_alert_checker,omitempty"`
	CheckerLogAllFailures bool          `json:"checker_log_all_failures,omitempty"`
	NoEmailFaults         bool          `json:"no_email_faults,omitempty"`
	NoCheckerEmails       bool          `json:"no_checker_emails,omitempty"`
	DefaultInterface      string        `json:"default_interface,omitempty"`

	// VRRP defaults.
	VRRPMcastGroup4          netip.Addr    `json:"vrrp_mcast_group4"`
	VRRPMcastGroup6          netip.Addr    `json:"vrrp_mcast_group6"`
	VRRPGarp                 Garp          `json:"vrrp_garp"`
	VRRPGarpInterval         time.Duration `json:"vrrp_garp_interval,omitempty"`
	VRRPGnaInterval          time.Duration `json:"vrrp_gna_interval,omitempty"`
	VRRPMinGarp              bool          `json:"vrrp_min_garp,omitempty"`
	VRRPDownTimerAdverts     int           `json:"vrrp_down_timer_adverts"`
	VRRPLowerPrioNoAdvert    bool          `json:"vrrp_lower_prio_no_advert,omitempty"`
	VRRPHigherPrioSendAdvert bool          `json:"vrrp_higher_prio_send_advert,omitempty"`
	VRRPVersion              int           `json:"vrrp_version"`
	VRRPCheckUnicastSrc      bool          `json:"vrrp_check_unicast_src,omitempty"`
	VRRPSkipCheckAdvAddr     bool          `json:"vrrp_skip_check_adv_addr,omitempty"`
	VRRPStrict               bool          `json:"vrrp_strict,omitempty"`
	VRRPNotifyPriorityChange bool          `json:"vrrp_notify_priority_changes,omitempty"`
	VRRPStartupDelay         time.Duration `json:"vrrp_startup_delay,omitempty"`
	VRRPRxBufsPolicy         string        `json:"vrrp_rx_bufs_policy,omitempty"`
	VRRPRxBufsMultiplier     int           `json:"vrrp_rx_bufs_multiplier,omitempty"`
	LogUnknownVRIDs          bool          `json:"log_unknown_vrids,omitempty"`
	VMACPrefix               string        `json:"vmac_prefix,omitempty"`
	VMACAddrPrefix           string        `json:"vmac_addr_prefix,omitempty"`
	DisableLocalIGMP         bool          `json:"disable_local_igmp,omitempty"`
	DynamicInterfaces        bool          `json:"dynamic_interfaces,omitempty"`
	AllowIfChanges           bool          `json:"allow_if_changes,omitempty"`

	// Firewall.
	VRRPIPTables          []string `json:"vrrp_iptables,omitempty"`
	VRRPIPSets            []string `json:"vrrp_ipsets,omitempty"`
	NFTables              *string  `json:"nftables,omitempty"`
	NFTablesPriority      *int     `json:"nftables_priority,omitempty"`
	NFTablesCounters      bool     `json:"nftables_counters,omitempty"`
	NFTablesIfIndex       bool     `json:"nftables_ifindex,omitempty"`
	NFTablesIPVS          *string  `json:"nftables_ipvs,omitempty"`
	NFTablesIPVSPriority  *int     `json:"nftables_ipvs_priority,omitempty"`
	NFTablesIPVSStartMark int      `json:"nftables_ipvs_start_fwmark,omitempty"`

	// LVS.
	LVSSyncDaemon  *LVSSyncDaemon `json:"lvs_sync_daemon,omitempty"`
	LVSTimeouts    *LVSTimeouts   `json:"lvs_timeouts,omitempty"`
	LVSFlush       bool           `json:"lvs_flush,omitempty"`
	LVSFlushOnStop string         `json:"lvs_flush_on_stop,omitempty"` // "", "FULL" (no argument) or "VS"
	RSInitNotifies bool           `json:"rs_init_notifies,omitempty"`

	// Scripts and notification.
	ScriptUser                  *Command      `json:"script_user,omitempty"` // Argv holds the user name only
	EnableScriptSecurity        bool          `json:"enable_script_security,omitempty"`
	NotifyFIFO                  *NotifyFIFO   `json:"notify_fifo,omitempty"`
	VRRPNotifyFIFO              *NotifyFIFO   `json:"vrrp_notify_fifo,omitempty"`
	LVSNotifyFIFO               *NotifyFIFO   `json:"lvs_notify_fifo,omitempty"`
	FIFOWriteVRRPStatesOnReload bool          `json:"fifo_write_vrrp_states_on_reload,omitempty"`
	StartupScript               *Command      `json:"startup_script,omitempty"`
	StartupScriptTimeout        time.Duration `json:"startup_script_timeout,omitempty"`
	ShutdownScript              *Command      `json:"shutdown_script,omitempty"`
	ShutdownScriptTimeout       time.Duration `json:"shutdown_script_timeout,omitempty"`

	// Processes.
	ProcessNames         bool          `json:"process_names,omitempty"`
	ProcessName          string        `json:"process_name,omitempty"`
	VRRPProcess          ProcessTuning `json:"vrrp_process,omitzero"`
	CheckerProcess       ProcessTuning `json:"checker_process,omitzero"`
	BFDProcess           ProcessTuning `json:"bfd_process,omitzero"`
	MaxAutoPriority      *int          `json:"max_auto_priority,omitempty"`
	MinAutoPriorityDelay time.Duration `json:"min_auto_priority_delay,omitempty"`
	VRRPNetlinkCmdRcvBuf RcvBuf        `json:"vrrp_netlink_cmd_rcv_bufs,omitzero"`
	VRRPNetlinkMonRcvBuf RcvBuf        `json:"vrrp_netlink_monitor_rcv_bufs,omitzero"`
	LVSNetlinkCmdRcvBuf  RcvBuf        `json:"lvs_netlink_cmd_rcv_bufs,omitzero"`
	LVSNetlinkMonRcvBuf  RcvBuf        `json:"lvs_netlink_monitor_rcv_bufs,omitzero"`
	ProcessMonitorRcvBuf RcvBuf        `json:"process_monitor_rcv_bufs,omitzero"`
	Umask                string        `json:"umask,omitempty"`
	RandomSeed           *uint64       `json:"random_seed,omitempty"`
	TmpConfigDirectory   string        `json:"tmp_config_directory,omitempty"`
	ConfigSaveDir        string        `json:"config_save_dir,omitempty"`
	ReloadCheckConfig    *string       `json:"reload_check_config,omitempty"`
	ReloadTimeFile       string        `json:"reload_time_file,omitempty"`
	ReloadRepeat         bool          `json:"reload_repeat,omitempty"`
	ReloadFile           *string       `json:"reload_file,omitempty"`
	IncludeCheck         []string      `json:"include_check,omitempty"`
	DataUseInstance      bool          `json:"data_use_instance,omitempty"`

	// SNMP and DBus.
	SNMPSocket        string `json:"snmp_socket,omitempty"`
	EnableSNMPVRRP    bool   `json:"enable_snmp_vrrp,omitempty"`
	EnableSNMPChecker bool   `json:"enable_snmp_checker,omitempty"`
	EnableSNMPRFCv2   bool   `json:"enable_snmp_rfcv2,omitempty"`
	EnableSNMPRFCv3   bool   `json:"enable_snmp_rfcv3,omitempty"`
	EnableTraps       bool   `json:"enable_traps,omitempty"`
	EnableDBus        bool   `json:"enable_dbus,omitempty"`
	DBusServiceName   string `json:"dbus_service_name,omitempty"`

	// Top-level blocks that are global in scope.
	LinkbeatInterfaces []*LinkbeatInterface `json:"linkbeat_interfaces,omitempty"`
	UpDownDelays       []*UpDownDelay       `json:"interface_up_down_delays,omitempty"`
	TrackGroups        []*TrackGroup        `json:"track_groups,omitempty"`
	BFDInstances       []*BFDInstance       `json:"bfd_instances,omitempty"`
}

// LinkbeatInterface is one line of the linkbeat_interfaces block.
type LinkbeatInterface struct {
	Name   string `json:"name"`
	Method string `json:"method,omitempty"` // MII, ETHTOOL or IOCTL
}

// UpDownDelay is one line of the interface_up_down_delays block.
type UpDownDelay struct {
	Interface string        `json:"interface"`
	Down      time.Duration `json:"down"`
	Up        time.Duration `json:"up"`
}

// TrackGroup is a track_group block: the instances that track static
// addresses, routes and rules naming it.
type TrackGroup struct {
	Pos       Pos      `json:"-"`
	Name      string   `json:"name"`
	Instances []string `json:"group"`
}

// BFDInstance is a bfd_instance block. Vigil parses it so the file is
// accepted, but does not run BFD.
type BFDInstance struct {
	Pos      Pos        `json:"-"`
	Name     string     `json:"name"`
	Neighbor netip.Addr `json:"neighbor_ip,omitzero"`
	Source   netip.Addr `json:"source_ip,omitzero"`
	Settings [][]string `json:"settings,omitempty"` // remaining lines, verbatim
}

// VirtualAddress is one virtual_ipaddress / virtual_ipaddress_excluded /
// static_ipaddress line.
type VirtualAddress struct {
	Pos Pos `json:"-"`
	// Address is the address with its prefix length (/32 or /128 when the
	// line gave none).
	Address netip.Prefix `json:"address"`
	// Broadcast is an address, or "+" / "-" to set or clear the host bits.
	Broadcast     string     `json:"brd,omitempty"`
	Dev           string     `json:"dev,omitempty"`
	UseVMAC       bool       `json:"use_vmac,omitempty"`
	Scope         Scope      `json:"scope,omitempty"`
	Label         string     `json:"label,omitempty"`
	Peer          netip.Addr `json:"peer,omitzero"`
	Home          bool       `json:"home,omitempty"`
	NoDAD         bool       `json:"nodad,omitempty"`
	MngTmpAddr    bool       `json:"mngtmpaddr,omitempty"`
	NoPrefixRoute bool       `json:"noprefixroute,omitempty"`
	AutoJoin      bool       `json:"autojoin,omitempty"`
	NoTrack       bool       `json:"no_track,omitempty"`
	TrackGroup    string     `json:"track_group,omitempty"`
	// PreferredLft is the preferred lifetime in seconds; PreferredForever
	// (the kernel's infinity) for "forever".
	PreferredLft *uint32 `json:"preferred_lft,omitempty"`
}

// PreferredForever is the kernel's "infinite" address lifetime.
const PreferredForever = ^uint32(0)

// Nexthop is one nexthop of a multipath route.
type Nexthop struct {
	Via    netip.Addr `json:"via,omitzero"`
	Dev    string     `json:"dev,omitempty"`
	Weight int        `json:"weight,omitempty"`
	Onlink bool       `json:"onlink,omitempty"`
	Realms string     `json:"realms,omitempty"`
}

// Route is one virtual_routes / static_routes line, following `ip route add`.
type Route struct {
	Pos    Pos    `json:"-"`
	Family Family `json:"family"`
	// Type is the route type when one was given (blackhole, unreachable,
	// prohibit, throw, local, ...).
	Type     string       `json:"type,omitempty"`
	Dst      netip.Prefix `json:"to"`
	Src      netip.Addr   `json:"src,omitzero"`
	From     netip.Prefix `json:"from,omitzero"`
	Via      netip.Addr   `json:"via,omitzero"`
	Dev      string       `json:"dev,omitempty"`
	Scope    Scope        `json:"scope,omitempty"`
	Table    string       `json:"table,omitempty"`
	Metric   *uint32      `json:"metric,omitempty"`
	Protocol string       `json:"protocol,omitempty"`
	TOS      string       `json:"tos,omitempty"`
	Onlink   bool         `json:"onlink,omitempty"`
	Realms   string       `json:"realms,omitempty"`
	// Metrics holds the numeric route metrics by their ip-route name (mtu,
	// advmss, rtt, rttvar, reordering, window, cwnd, ssthresh, rto_min,
	// initcwnd, initrwnd, hoplimit, quickack, fastopen_no_cookie).
	Metrics map[string]string `json:"metrics,omitempty"`
	// Locked lists the metrics given with "lock".
	Locked       []string  `json:"locked,omitempty"`
	Features     []string  `json:"features,omitempty"`
	CongCtl      string    `json:"congctl,omitempty"`
	Pref         string    `json:"pref,omitempty"`
	TTLPropagate *bool     `json:"ttl_propagate,omitempty"`
	Expires      *uint32   `json:"expires,omitempty"`
	Encap        []string  `json:"encap,omitempty"`
	VRF          string    `json:"vrf,omitempty"`
	Nexthops     []Nexthop `json:"nexthops,omitempty"`
	Append       bool      `json:"append,omitempty"`
	NoTrack      bool      `json:"no_track,omitempty"`
	TrackGroup   string    `json:"track_group,omitempty"`
}

// Rule is one virtual_rules / static_rules line, following `ip rule add`.
type Rule struct {
	Pos      Pos          `json:"-"`
	Family   Family       `json:"family"`
	Not      bool         `json:"not,omitempty"`
	From     netip.Prefix `json:"from,omitzero"`
	To       netip.Prefix `json:"to,omitzero"`
	Priority *uint32      `json:"preference,omitempty"`
	TOS      string       `json:"tos,omitempty"`
	FWMark   string       `json:"fwmark,omitempty"`
	Realms   string       `json:"realms,omitempty"`
	IIF      string       `json:"iif,omitempty"`
	OIF      string       `json:"oif,omitempty"`
	// Action is "table" (with Table), "goto" (with Goto) or one of the
	// terminal types: blackhole, prohibit, unreachable, nop.
	Action               string  `json:"action"`
	Table                string  `json:"table,omitempty"`
	Goto                 *uint32 `json:"goto,omitempty"`
	SuppressPrefixLength *int    `json:"suppress_prefixlength,omitempty"`
	SuppressIfGroup      string  `json:"suppress_ifgroup,omitempty"`
	TunnelID             *uint64 `json:"tunnel_id,omitempty"`
	UIDRange             string  `json:"uidrange,omitempty"`
	L3MDev               bool    `json:"l3mdev,omitempty"`
	Protocol             string  `json:"protocol,omitempty"`
	IPProto              string  `json:"ipproto,omitempty"`
	SPort                string  `json:"sport,omitempty"`
	DPort                string  `json:"dport,omitempty"`
	NoTrack              bool    `json:"no_track,omitempty"`
	TrackGroup           string  `json:"track_group,omitempty"`
}

// VRRPScript is a vrrp_script block.
type VRRPScript struct {
	Pos      Pos           `json:"-"`
	Name     string        `json:"name"`
	Script   Command       `json:"script"`
	Interval time.Duration `json:"interval"`
	Timeout  time.Duration `json:"timeout,omitempty"`
	Weight   int           `json:"weight,omitempty"`
	Reverse  bool          `json:"reverse,omitempty"`
	Rise     int           `json:"rise"`
	Fall     int           `json:"fall"`
	InitFail bool          `json:"init_fail,omitempty"`
}

// TrackFile is a track_file (or deprecated vrrp_track_file) block.
type TrackFile struct {
	Pos     Pos    `json:"-"`
	Name    string `json:"name"`
	File    string `json:"file"`
	Weight  int    `json:"weight"`
	Reverse bool   `json:"reverse,omitempty"`
	// InitFile is set when init_file was given: the value to write.
	InitFile  *int64 `json:"init_file,omitempty"`
	Overwrite bool   `json:"overwrite,omitempty"`
}

// ParamMatch is how a tracked process's parameters are compared.
type ParamMatch string

// Parameter match modes.
const (
	ParamMatchExact   ParamMatch = "exact"
	ParamMatchPartial ParamMatch = "partial"
	ParamMatchInitial ParamMatch = "initial"
)

// TrackProcess is a vrrp_track_process block.
type TrackProcess struct {
	Pos            Pos           `json:"-"`
	Name           string        `json:"name"`
	Process        []string      `json:"process"`
	ParamMatch     ParamMatch    `json:"param_match,omitempty"`
	Weight         int           `json:"weight,omitempty"`
	Reverse        bool          `json:"reverse,omitempty"`
	Quorum         int           `json:"quorum"`
	QuorumMax      *int          `json:"quorum_max,omitempty"`
	ForkDelay      time.Duration `json:"fork_delay,omitempty"`
	TerminateDelay time.Duration `json:"terminate_delay,omitempty"`
	FullCommand    bool          `json:"full_command,omitempty"`
}

// TrackRef is one line of a track_interface / track_script / track_file /
// track_process / track_bfd block: what is tracked and how.
type TrackRef struct {
	Pos  Pos    `json:"-"`
	Name string `json:"name"`
	// Weight is nil when the line gave none: track_interface then means
	// "fault when down", the others take the tracked object's own weight.
	Weight  *int `json:"weight,omitempty"`
	Reverse bool `json:"reverse,omitempty"`
}

// Notify holds the notify scripts of an instance or sync group.
type Notify struct {
	Master           *Command `json:"notify_master,omitempty"`
	Backup           *Command `json:"notify_backup,omitempty"`
	Fault            *Command `json:"notify_fault,omitempty"`
	Stop             *Command `json:"notify_stop,omitempty"`
	Deleted          *Command `json:"notify_deleted,omitempty"`
	NotifyDeleted    bool     `json:"send_deleted,omitempty"` // notify_deleted given, with or without a script
	Any              *Command `json:"notify,omitempty"`
	MasterRxLowerPri *Command `json:"notify_master_rx_lower_pri,omitempty"`
}

// Tracking is what an instance or sync group tracks.
type Tracking struct {
	Interfaces []TrackRef `json:"track_interface,omitempty"`
	Scripts    []TrackRef `json:"track_script,omitempty"`
	Files      []TrackRef `json:"track_file,omitempty"`
	Processes  []TrackRef `json:"track_process,omitempty"`
	BFDs       []TrackRef `json:"track_bfd,omitempty"`
}

// SyncGroup is a vrrp_sync_group block.
type SyncGroup struct {
	Pos    Pos      `json:"-"`
	Name   string   `json:"name"`
	Group  []string `json:"group"`
	Track  Tracking `json:"track,omitzero"`
	Notify Notify   `json:"notify,omitzero"`
	// NotifyPriorityChanges is nil when not set.
	NotifyPriorityChanges   *bool `json:"notify_priority_changes,omitempty"`
	SMTPAlert               *bool `json:"smtp_alert,omitempty"`
	GlobalTracking          bool  `json:"global_tracking,omitempty"`
	SyncGroupTrackingWeight bool  `json:"sync_group_tracking_weight,omitempty"`
}

// GarpGroup is a garp_group block.
type GarpGroup struct {
	Pos          Pos           `json:"-"`
	GarpInterval time.Duration `json:"garp_interval,omitempty"`
	GnaInterval  time.Duration `json:"gna_interval,omitempty"`
	Interface    string        `json:"interface,omitempty"`
	Interfaces   []string      `json:"interfaces,omitempty"`
}

// VMAC is the use_vmac setting.
type VMAC struct {
	Name string `json:"name,omitempty"`
	MAC  string `json:"mac,omitempty"`
}

// IPVLAN is the use_ipvlan setting.
type IPVLAN struct {
	Name    string       `json:"name,omitempty"`
	Address netip.Prefix `json:"address,omitzero"`
	Mode    string       `json:"mode,omitempty"` // bridge, private or vepa
}

// UnicastPeer is one unicast_peer line.
type UnicastPeer struct {
	Address netip.Addr `json:"address"`
	MinTTL  *int       `json:"min_ttl,omitempty"`
	MaxTTL  *int       `json:"max_ttl,omitempty"`
}

// Authentication is the authentication block.
type Authentication struct {
	Type AuthType `json:"auth_type"`
	// Pass is the password, truncated to the 8 octets that go on the wire.
	Pass string `json:"auth_pass,omitempty"`
}

// VRRPInstance is a vrrp_instance block. After Parse, fields a keepalived
// instance inherits from global_defs (version, garp timings, strict mode,
// ...) hold the effective value.
type VRRPInstance struct {
	Pos  Pos    `json:"-"`
	Name string `json:"name"`

	State      State         `json:"state"`
	Interface  string        `json:"interface,omitempty"`
	VRF        string        `json:"vrf,omitempty"`
	VRID       int           `json:"virtual_router_id"`
	Priority   int           `json:"priority"`
	AdvertInt  time.Duration `json:"advert_int"`
	Version    int           `json:"version"`
	NativeIPv6 bool          `json:"native_ipv6,omitempty"`
	// IPv6 tells which address family the instance advertises, derived
	// from its VIPs (or native_ipv6, or an IPv6 unicast source/peer).
	IPv6 bool `json:"ipv6"`

	UseVMAC      *VMAC   `json:"use_vmac,omitempty"`
	UseVMACAddr  bool    `json:"use_vmac_addr,omitempty"`
	VMACXmitBase bool    `json:"vmac_xmit_base,omitempty"`
	UseIPVLAN    *IPVLAN `json:"use_ipvlan,omitempty"`

	DontTrackPrimary   bool     `json:"dont_track_primary,omitempty"`
	Track              Tracking `json:"track,omitzero"`
	TrackSrcIP         bool     `json:"track_src_ip,omitempty"`
	LinkbeatUsePolling bool     `json:"linkbeat_use_polling,omitempty"`

	McastSrcIP         netip.Addr    `json:"mcast_src_ip,omitzero"`
	UnicastSrcIP       netip.Addr    `json:"unicast_src_ip,omitzero"`
	McastDstIP         netip.Addr    `json:"mcast_dst_ip,omitzero"`
	UnicastPeers       []UnicastPeer `json:"unicast_peer,omitempty"`
	UnicastFaultNoPeer bool          `json:"unicast_fault_no_peer,omitempty"`
	UnicastTTL         int           `json:"unicast_ttl"`
	CheckUnicastSrc    bool          `json:"check_unicast_src,omitempty"`
	OldUnicastChecksum string        `json:"old_unicast_checksum,omitempty"` // "", "on" or "never"

	Garp                 Garp `json:"garp"`
	DownTimerAdverts     int  `json:"down_timer_adverts"`
	LowerPrioNoAdvert    bool `json:"lower_prio_no_advert,omitempty"`
	HigherPrioSendAdvert bool `json:"higher_prio_send_advert,omitempty"`

	Auth *Authentication `json:"authentication,omitempty"`

	VirtualAddresses   []*VirtualAddress `json:"virtual_ipaddress,omitempty"`
	ExcludedAddresses  []*VirtualAddress `json:"virtual_ipaddress_excluded,omitempty"`
	PromoteSecondaries bool              `json:"promote_secondaries,omitempty"`
	Routes             []*Route          `json:"virtual_routes,omitempty"`
	Rules              []*Rule           `json:"virtual_rules,omitempty"`

	Accept           bool          `json:"accept"`
	NoPreempt        bool          `json:"nopreempt,omitempty"`
	PreemptDelay     time.Duration `json:"preempt_delay,omitempty"`
	SkipCheckAdvAddr bool          `json:"skip_check_adv_addr,omitempty"`
	StrictMode       bool          `json:"strict_mode,omitempty"`
	Debug            int           `json:"debug,omitempty"`

	Notify                Notify `json:"notify,omitzero"`
	NotifyPriorityChanges bool   `json:"notify_priority_changes,omitempty"`
	SMTPAlert             bool   `json:"smtp_alert,omitempty"`
	KernelRxBufSize       int    `json:"kernel_rx_buf_size,omitempty"`

	// set records the keywords given explicitly, so defaults inherited
	// from global_defs do not override them.
	set map[string]bool
}
