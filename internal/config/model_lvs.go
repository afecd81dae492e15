package config

import (
	"encoding/hex"
	"net/netip"
	"time"
)

// The LVS side of the model: virtual_server_group and virtual_server blocks
// with their real servers, sorry server and health checkers.
//
// Settings that keepalived inherits (virtual server -> real server ->
// checker) are stored as written, with nil meaning "not set here", so that
// the lvs and check packages can tell an explicit value from an inherited
// one; Timing.Or resolves the chain.

// Protocol is the L4 protocol of a virtual service.
type Protocol string

// Protocols keepalived accepts for "protocol" (case-insensitively).
const (
	ProtoTCP  Protocol = "TCP"
	ProtoUDP  Protocol = "UDP"
	ProtoSCTP Protocol = "SCTP"
)

// Scheduler is an IPVS scheduler name (lb_algo / lvs_sched).
type Scheduler string

// Schedulers keepalived 2.2.7 accepts; anything else is rejected.
const (
	SchedRR    Scheduler = "rr"
	SchedWRR   Scheduler = "wrr"
	SchedLC    Scheduler = "lc"
	SchedWLC   Scheduler = "wlc"
	SchedLBLC  Scheduler = "lblc"
	SchedLBLCR Scheduler = "lblcr"
	SchedSH    Scheduler = "sh"
	SchedMH    Scheduler = "mh"
	SchedDH    Scheduler = "dh"
	SchedFO    Scheduler = "fo"
	SchedOVF   Scheduler = "ovf"
	SchedSED   Scheduler = "sed"
	SchedNQ    Scheduler = "nq"
	SchedTwoS  Scheduler = "twos"
)

// DefaultScheduler is what keepalived uses when no scheduler is configured.
const DefaultScheduler = SchedWLC

// ForwardingMethod is how IPVS forwards packets to a real server
// (lb_kind / lvs_method).
type ForwardingMethod string

// Forwarding methods; keepalived matches them case-sensitively.
const (
	FwdNAT ForwardingMethod = "NAT"
	FwdDR  ForwardingMethod = "DR"
	FwdTUN ForwardingMethod = "TUN"
)

// TunnelType is the encapsulation of TUN forwarding.
type TunnelType string

// Tunnel types of "lvs_method TUN type ...".
const (
	TunIPIP TunnelType = "ipip"
	TunGUE  TunnelType = "gue"
	TunGRE  TunnelType = "gre"
)

// TunnelChecksum is the checksum option of GUE/GRE tunnels.
type TunnelChecksum string

// Tunnel checksum options.
const (
	TunNoCsum  TunnelChecksum = "nocsum"
	TunCsum    TunnelChecksum = "csum"
	TunRemCsum TunnelChecksum = "remcsum"
)

// IPFamily is an address family written as keepalived spells it.
type IPFamily string

// Address families.
const (
	FamilyInet  IPFamily = "inet"
	FamilyInet6 IPFamily = "inet6"
)

// CheckerKind names a health checker block.
type CheckerKind string

// Checker kinds, spelled as the block keywords.
const (
	CheckTCP  CheckerKind = "TCP_CHECK"
	CheckHTTP CheckerKind = "HTTP_GET"
	CheckSSL  CheckerKind = "SSL_GET"
	CheckSMTP CheckerKind = "SMTP_CHECK"
	CheckMisc CheckerKind = "MISC_CHECK"
	CheckDNS  CheckerKind = "DNS_CHECK"
	CheckPing CheckerKind = "PING_CHECK"
	CheckUDP  CheckerKind = "UDP_CHECK"
	CheckFile CheckerKind = "FILE_CHECK"
	CheckBFD  CheckerKind = "BFD_CHECK"
)

// Forwarding is a forwarding method with its tunnel options.
type Forwarding struct {
	Method         ForwardingMethod `json:"method"`
	TunnelType     TunnelType       `json:"tunnel_type,omitempty"`
	TunnelPort     uint16           `json:"tunnel_port,omitempty"`
	TunnelChecksum TunnelChecksum   `json:"tunnel_checksum,omitempty"`
}

// Timing holds the check timing settings that a virtual server passes to
// its real servers and a real server to its checkers. Nil means not set at
// this level.
type Timing struct {
	ConnectTimeout   *time.Duration `json:"connect_timeout,omitempty"`
	Retry            *uint32        `json:"retry,omitempty"`
	DelayBeforeRetry *time.Duration `json:"delay_before_retry,omitempty"`
	Warmup           *time.Duration `json:"warmup,omitempty"`
	DelayLoop        *time.Duration `json:"delay_loop,omitempty"`
}

// Or returns t with every unset field taken from parent, which is how
// keepalived applies virtual server and real server defaults.
func (t Timing) Or(parent Timing) Timing {
	if t.ConnectTimeout == nil {
		t.ConnectTimeout = parent.ConnectTimeout
	}
	if t.Retry == nil {
		t.Retry = parent.Retry
	}
	if t.DelayBeforeRetry == nil {
		t.DelayBeforeRetry = parent.DelayBeforeRetry
	}
	if t.Warmup == nil {
		t.Warmup = parent.Warmup
	}
	if t.DelayLoop == nil {
		t.DelayLoop = parent.DelayLoop
	}
	return t
}

// Script is a notify_up/notify_down/quorum_up/quorum_down command with the
// optional user and group it runs as.
type Script struct {
	Command string `json:"command"`
	User    string `json:"user,omitempty"`
	Group   string `json:"group,omitempty"`
}

// VirtualServerGroup is a virtual_server_group block: a named set of
// addresses, address ranges and firewall marks sharing one real server
// topology.
type VirtualServerGroup struct {
	Pos     Pos          `json:"pos"`
	Name    string       `json:"name"`
	Ranges  []*VSGRange  `json:"ranges,omitempty"`
	Fwmarks []*VSGFwmark `json:"fwmarks,omitempty"`
}

// VSGRange is one address or inclusive address range of a group; First ==
// Last for a single address. A CIDR entry is stored as its first and last
// address. Port 0 means no port (only valid for persistent services).
type VSGRange struct {
	Pos   Pos        `json:"pos"`
	First netip.Addr `json:"first"`
	Last  netip.Addr `json:"last"`
	Port  uint16     `json:"port,omitempty"`
}

// VSGFwmark is one "fwmark N [inet|inet6]" line of a group.
type VSGFwmark struct {
	Pos    Pos      `json:"pos"`
	Mark   uint32   `json:"mark"`
	Family IPFamily `json:"family,omitempty"`
}

// SchedulerFlags are the IPVS service flags set by bare keywords.
type SchedulerFlags struct {
	Flag1      bool `json:"flag_1,omitempty"`
	Flag2      bool `json:"flag_2,omitempty"`
	Flag3      bool `json:"flag_3,omitempty"`
	SHPort     bool `json:"sh_port,omitempty"`
	SHFallback bool `json:"sh_fallback,omitempty"`
	MHPort     bool `json:"mh_port,omitempty"`
	MHFallback bool `json:"mh_fallback,omitempty"`
	OPS        bool `json:"ops,omitempty"`
}

// VirtualServer is a virtual_server block. Exactly one of Addr, Fwmark and
// Group identifies the service.
type VirtualServer struct {
	Pos    Pos        `json:"pos"`
	Addr   netip.Addr `json:"addr,omitzero"`
	Port   uint16     `json:"port,omitempty"`
	Fwmark uint32     `json:"fwmark,omitempty"`
	Group  string     `json:"group,omitempty"`

	// Family is the address family of the service: from Addr, from
	// ip_family, or inferred from the real servers as keepalived does.
	Family IPFamily `json:"family,omitempty"`

	// Protocol is empty only for fwmark services, where it is meaningless.
	Protocol   Protocol       `json:"protocol,omitempty"`
	Scheduler  Scheduler      `json:"scheduler"`
	Flags      SchedulerFlags `json:"flags,omitzero"`
	Forwarding Forwarding     `json:"forwarding"`

	PersistenceTimeout time.Duration `json:"persistence_timeout,omitempty"`
	// PersistenceMask is the IPv4 persistence_granularity netmask.
	PersistenceMask netip.Addr `json:"persistence_mask,omitzero"`
	// PersistencePrefixLen is the IPv6 persistence_granularity (1-128).
	PersistencePrefixLen int    `json:"persistence_prefix_len,omitempty"`
	PersistenceEngine    string `json:"persistence_engine,omitempty"`

	HASuspend        bool    `json:"ha_suspend,omitempty"`
	Virtualhost      string  `json:"virtualhost,omitempty"`
	SNMPName         string  `json:"snmp_name,omitempty"`
	SMTPAlert        *bool   `json:"smtp_alert,omitempty"`
	Alpha            bool    `json:"alpha,omitempty"`
	Omega            bool    `json:"omega,omitempty"`
	InhibitOnFailure bool    `json:"inhibit_on_failure,omitempty"`
	Quorum           uint32  `json:"quorum"`
	Hysteresis       uint32  `json:"hysteresis,omitempty"`
	QuorumUp         *Script `json:"quorum_up,omitempty"`
	QuorumDown       *Script `json:"quorum_down,omitempty"`
	// Weight is the default weight of real servers that set none.
	Weight uint32 `json:"weight"`

	Timing

	SorryServer *SorryServer  `json:"sorry_server,omitempty"`
	RealServers []*RealServer `json:"real_servers,omitempty"`
}

// SorryServer replaces all real servers while quorum is lost.
type SorryServer struct {
	Pos     Pos        `json:"pos"`
	Addr    netip.Addr `json:"addr"`
	Port    uint16     `json:"port,omitempty"`
	Inhibit bool       `json:"inhibit,omitempty"`
	// Forwarding is the effective method: sorry_server_lvs_method, else the
	// virtual server's.
	Forwarding Forwarding `json:"forwarding"`
}

// RealServer is a real_server block.
type RealServer struct {
	Pos  Pos        `json:"pos"`
	Addr netip.Addr `json:"addr"`
	// Port is 0 for fwmark services forwarded other than by NAT; otherwise,
	// when not written, it is the virtual server's port.
	Port uint16 `json:"port,omitempty"`
	// Weight is the effective weight: the real server's, else the virtual
	// server's.
	Weight uint32 `json:"weight"`
	// Forwarding is the effective method: the real server's lvs_method, else
	// the virtual server's.
	Forwarding       Forwarding `json:"forwarding"`
	InhibitOnFailure *bool      `json:"inhibit_on_failure,omitempty"`
	Alpha            *bool      `json:"alpha,omitempty"`
	SMTPAlert        *bool      `json:"smtp_alert,omitempty"`
	NotifyUp         *Script    `json:"notify_up,omitempty"`
	NotifyDown       *Script    `json:"notify_down,omitempty"`
	UThreshold       uint32     `json:"uthreshold,omitempty"`
	LThreshold       uint32     `json:"lthreshold,omitempty"`
	Virtualhost      string     `json:"virtualhost,omitempty"`
	SNMPName         string     `json:"snmp_name,omitempty"`

	Timing

	Checkers []*Checker `json:"checkers,omitempty"`
}

// Checker is one health checker block of a real server. The kind-specific
// part is in the one pointer matching Kind.
type Checker struct {
	Pos  Pos         `json:"pos"`
	Kind CheckerKind `json:"kind"`

	// Connection options; zero values mean "the real server's".
	ConnectIP   netip.Addr `json:"connect_ip,omitzero"`
	ConnectPort uint16     `json:"connect_port,omitempty"`
	BindTo      netip.Addr `json:"bindto,omitzero"`
	BindPort    uint16     `json:"bind_port,omitempty"`
	BindIf      string     `json:"bind_if,omitempty"`
	Fwmark      uint32     `json:"fwmark,omitempty"`

	Timing
	Alpha          *bool `json:"alpha,omitempty"`
	LogAllFailures bool  `json:"log_all_failures,omitempty"`

	HTTP *HTTPCheck `json:"http,omitempty"`
	SMTP *SMTPCheck `json:"smtp,omitempty"`
	Misc *MiscCheck `json:"misc,omitempty"`
	DNS  *DNSCheck  `json:"dns,omitempty"`
	UDP  *UDPCheck  `json:"udp,omitempty"`
	File *FileCheck `json:"file,omitempty"`
	BFD  *BFDCheck  `json:"bfd,omitempty"`
}

// HTTPCheck is the HTTP_GET / SSL_GET specific part.
type HTTPCheck struct {
	Virtualhost string `json:"virtualhost,omitempty"`
	// Protocol is "1.0" (the default), "1.0C" or "1.1".
	Protocol     string `json:"http_protocol"`
	EnableSNI    bool   `json:"enable_sni,omitempty"`
	FastRecovery bool   `json:"fast_recovery,omitempty"`
	URLs         []*URL `json:"urls"`
}

// StatusRange is an inclusive range of accepted HTTP status codes.
type StatusRange struct {
	Lo int `json:"lo"`
	Hi int `json:"hi"`
}

// URL is one url block of an HTTP/SSL checker.
type URL struct {
	Pos  Pos    `json:"pos"`
	Path string `json:"path"`
	// Digest is the expected MD5 of the body, lower-case hex.
	Digest string `json:"digest,omitempty"`
	// StatusCodes defaults to 200-299 when none is written.
	StatusCodes    []StatusRange `json:"status_codes"`
	Virtualhost    string        `json:"virtualhost,omitempty"`
	Regex          string        `json:"regex,omitempty"`
	RegexNoMatch   bool          `json:"regex_no_match,omitempty"`
	RegexOptions   []string      `json:"regex_options,omitempty"`
	RegexMinOffset uint64        `json:"regex_min_offset,omitempty"`
	// RegexMaxOffset is the last offset where a match may start; nil: no limit.
	RegexMaxOffset  *uint64 `json:"regex_max_offset,omitempty"`
	RegexStackStart uint64  `json:"regex_stack_start,omitempty"`
	RegexStackMax   uint64  `json:"regex_stack_max,omitempty"`
}

// SMTPCheck is the SMTP_CHECK specific part. Deprecated host{} blocks are
// turned into additional SMTP checkers, as keepalived does.
type SMTPCheck struct {
	HeloName string `json:"helo_name,omitempty"`
}

// MiscCheck is the MISC_CHECK specific part.
type MiscCheck struct {
	Path    string        `json:"misc_path"`
	Timeout time.Duration `json:"misc_timeout,omitempty"`
	Dynamic bool          `json:"misc_dynamic,omitempty"`
	User    string        `json:"user,omitempty"`
	Group   string        `json:"group,omitempty"`
}

// DNSCheck is the DNS_CHECK specific part.
type DNSCheck struct {
	// Type is the query type, SOA by default.
	Type string `json:"type"`
	// Name is the queried name, "." by default.
	Name string `json:"name"`
}

// HexBytes is binary data shown as lower-case hex in JSON.
type HexBytes []byte

// MarshalText encodes the bytes as hex.
func (h HexBytes) MarshalText() ([]byte, error) {
	return []byte(hex.EncodeToString(h)), nil
}

// UnmarshalText decodes hex, so a model round-trips through JSON.
func (h *HexBytes) UnmarshalText(b []byte) error {
	v, err := hex.DecodeString(string(b))
	if err != nil {
		return err
	}
	*h = v
	return nil
}

// UDPCheck is the UDP_CHECK specific part.
type UDPCheck struct {
	// Payload is sent as the datagram; empty means a random payload.
	Payload      HexBytes `json:"payload,omitempty"`
	RequireReply bool     `json:"require_reply,omitempty"`
	// ReplyData must match the reply where ReplyMask bits are set (an "x"
	// nibble in the configuration clears its mask bits).
	ReplyData      HexBytes `json:"reply_data,omitempty"`
	ReplyMask      HexBytes `json:"reply_mask,omitempty"`
	MinReplyLength uint16   `json:"min_reply_length,omitempty"`
	MaxReplyLength uint16   `json:"max_reply_length"`
}

// FileCheck is the FILE_CHECK specific part.
type FileCheck struct {
	TrackFile string `json:"track_file"`
	// TrackFilePos is where track_file was given, for the error when it
	// names no track_file block.
	TrackFilePos Pos `json:"-"`
	// Weight overrides the track_file's own weight when set.
	Weight  *int32 `json:"weight,omitempty"`
	Reverse bool   `json:"reverse,omitempty"`
}

// BFDCheck is the BFD_CHECK specific part.
type BFDCheck struct {
	Name string `json:"name"`
}

// SSLConfig is the top-level SSL block used by SSL_GET checkers.
type SSLConfig struct {
	Pos         Pos    `json:"pos"`
	Password    string `json:"password,omitempty"`
	CA          string `json:"ca,omitempty"`
	Certificate string `json:"certificate,omitempty"`
	Key         string `json:"key,omitempty"`
}
