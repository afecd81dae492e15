// Package dataplane is the one interface every L4 data plane implements
// (kernel IPVS, nftables, the userspace proxy), and the plain value types
// that describe a virtual service table: services, their destinations, the
// connection timeouts and the connection sync daemon.
//
// The types hold what keepalived can express, in the data plane's terms and
// not the configuration's: internal/lvs converts the model once, and each
// plane converts these values once more into its own form (netlink
// attributes, nftables rules). Keys are comparable values (netip, no
// pointers) so that tables are maps and a diff is a map walk.
package dataplane

import (
	"context"
	"errors"
	"fmt"
	"net/netip"
	"time"
)

// Protocol is the L4 protocol of a service, numbered as IP protocols.
// Fwmark services have ProtoNone.
type Protocol uint8

// Protocols a service can have.
const (
	ProtoNone Protocol = 0
	ProtoTCP  Protocol = 6
	ProtoUDP  Protocol = 17
	ProtoSCTP Protocol = 132
)

// String names the protocol as ipvsadm does.
func (p Protocol) String() string {
	switch p {
	case ProtoNone:
		return "none"
	case ProtoTCP:
		return "TCP"
	case ProtoUDP:
		return "UDP"
	case ProtoSCTP:
		return "SCTP"
	}
	return fmt.Sprintf("proto(%d)", uint8(p))
}

// Family is an address family, 4 or 6.
type Family uint8

// Address families.
const (
	IPv4 Family = 4
	IPv6 Family = 6
)

// FamilyOf returns the family of a, IPv4 for IPv4 and IPv4-mapped addresses.
func FamilyOf(a netip.Addr) Family {
	if a.Is4() || a.Is4In6() {
		return IPv4
	}
	return IPv6
}

// ServiceKey identifies a virtual service: either an address, protocol and
// port, or a firewall mark (Addr invalid, Port 0, Protocol ProtoNone) of one
// family.
type ServiceKey struct {
	Family   Family
	Protocol Protocol
	Addr     netip.Addr
	Port     uint16
	Fwmark   uint32
}

// String formats the key as ipvsadm -Ln does (TCP 10.0.0.1:80, FWM 7 IPv6).
func (k ServiceKey) String() string {
	if k.Fwmark != 0 {
		if k.Family == IPv6 {
			return fmt.Sprintf("FWM %d IPv6", k.Fwmark)
		}
		return fmt.Sprintf("FWM %d", k.Fwmark)
	}
	return fmt.Sprintf("%s %s", k.Protocol, netip.AddrPortFrom(k.Addr, k.Port))
}

// SchedFlags are the scheduler flags of a service (IPVS's SCHED1..3). The
// same bit means different things to different schedulers: sh-fallback and
// mh-fallback are flag-1, sh-port and mh-port are flag-2.
type SchedFlags uint8

// Scheduler flags.
const (
	SchedFlag1 SchedFlags = 1 << iota
	SchedFlag2
	SchedFlag3
)

// Scheduler-specific names of the flags.
const (
	SHFallback = SchedFlag1
	SHPort     = SchedFlag2
	MHFallback = SchedFlag1
	MHPort     = SchedFlag2
)

// Service is one virtual service and its options.
type Service struct {
	Key ServiceKey
	// Scheduler is the scheduler's name (rr, wlc, sh, ...).
	Scheduler string
	Flags     SchedFlags
	// OnePacket is one-packet scheduling (keepalived's "ops").
	OnePacket bool
	// Persistence is zero for a service without persistence.
	Persistence time.Duration
	// PersistenceBits is the persistence granularity as a prefix length of
	// the client address: 32 (IPv4) or 128 (IPv6) means per client. It is
	// meaningful only with Persistence.
	PersistenceBits uint8
	// PersistenceEngine is the persistence engine ("sip"), empty for none.
	PersistenceEngine string
	// Stats are the plane's counters, filled in by Services of a plane
	// that keeps them; they are read-only: adding or updating a service
	// ignores them, and lvs.Diff does not count them as a change.
	Stats Stats
}

// Stats are the traffic counters and rates of a service or destination, as
// the kernel's IPVS keeps them. Rates are per second, averaged by the
// plane. ActiveConns, InactConns and PersistConns are those of a
// destination; a service leaves them zero.
type Stats struct {
	Conns, InPkts, OutPkts, InBytes, OutBytes uint64
	CPS, InPPS, OutPPS, InBPS, OutBPS         uint64
	ActiveConns, InactConns, PersistConns     uint32
}

// Method is how a destination is reached.
type Method uint8

// Forwarding methods.
const (
	NAT Method = iota
	DR
	Tunnel
)

// String names the method as ipvsadm -Ln does.
func (m Method) String() string {
	switch m {
	case NAT:
		return "Masq"
	case DR:
		return "Route"
	case Tunnel:
		return "Tunnel"
	}
	return fmt.Sprintf("method(%d)", uint8(m))
}

// TunnelType is the encapsulation of Tunnel forwarding.
type TunnelType uint8

// Tunnel types, numbered as the kernel does.
const (
	IPIP TunnelType = iota
	GUE
	GRE
)

// TunnelChecksum is the checksum option of GUE and GRE tunnels.
type TunnelChecksum uint8

// Tunnel checksum options.
const (
	NoChecksum TunnelChecksum = iota
	Checksum
	RemoteChecksum
)

// Forwarding is a forwarding method with its tunnel options; the tunnel
// fields are zero unless Method is Tunnel.
type Forwarding struct {
	Method         Method
	TunnelType     TunnelType
	TunnelPort     uint16
	TunnelChecksum TunnelChecksum
}

// DestKey identifies a destination within a service. Its family may differ
// from the service's (an IPv4 real server behind an IPv6 service over a
// tunnel).
type DestKey struct {
	Addr netip.Addr
	Port uint16
}

// String formats the key as address:port.
func (k DestKey) String() string { return netip.AddrPortFrom(k.Addr, k.Port).String() }

// Destination is one real server of a service.
type Destination struct {
	Key        DestKey
	Forwarding Forwarding
	// Weight 0 keeps the destination for existing connections but sends it
	// no new ones (keepalived's inhibit_on_failure).
	Weight int32
	// UpperThreshold and LowerThreshold bound active connections; 0 means
	// no limit.
	UpperThreshold uint32
	LowerThreshold uint32
	// Stats are the plane's counters, filled in by Destinations (nil from
	// a plane that keeps none, and in the tables Vigil builds); read-only
	// as Service.Stats. A pointer: every layer of the LVS process keeps a
	// copy of each destination (the Engine's, the Reconciler's belief, a
	// plane's records), and the counters are 96 of a destination's bytes,
	// which only a read from the kernel fills in.
	Stats *Stats
}

// Counters is d's Stats, zero when the plane gave none.
func (d Destination) Counters() Stats {
	if d.Stats == nil {
		return Stats{}
	}
	return *d.Stats
}

// Timeouts are the connection timeouts of lvs_timeouts; a zero field is left
// as the plane has it.
type Timeouts struct {
	TCP    time.Duration
	TCPFin time.Duration
	UDP    time.Duration
}

// SyncState is the role of a connection sync daemon.
type SyncState uint8

// Sync daemon roles, numbered as the kernel does.
const (
	SyncMaster SyncState = 1
	SyncBackup SyncState = 2
)

// SyncDaemon is an lvs_sync_daemon: one per role.
type SyncDaemon struct {
	State     SyncState
	Interface string
	SyncID    uint32
	// MaxLen is the largest sync message payload; 0 leaves the default.
	MaxLen uint16
	// Group is the multicast group; invalid leaves the default.
	Group netip.Addr
	// Port is the base UDP port; 0 leaves the default.
	Port uint16
	// TTL is the multicast TTL; 0 leaves the default.
	TTL uint8
}

// Plane is a data plane. Every call is one operation on the plane's table;
// callers (internal/lvs) compute which operations are needed, so a plane does
// no diffing of its own. Errors carry the plane's reason (for IPVS the
// kernel's errno).
type Plane interface {
	// Capabilities says what the plane can express.
	Capabilities() Capabilities

	// Services lists every service in the table, including ones the caller
	// does not own.
	Services(ctx context.Context) ([]Service, error)
	// Destinations lists the destinations of one service.
	Destinations(ctx context.Context, svc ServiceKey) ([]Destination, error)

	// AddService adds a service without destinations; it fails if the key
	// exists.
	AddService(ctx context.Context, s Service) error
	// UpdateService changes the options of an existing service in place,
	// keeping its destinations and connections.
	UpdateService(ctx context.Context, s Service) error
	// DeleteService removes a service with all its destinations.
	DeleteService(ctx context.Context, key ServiceKey) error

	// AddDestination adds d to the service svc; it fails if d.Key exists.
	AddDestination(ctx context.Context, svc ServiceKey, d Destination) error
	// UpdateDestination changes an existing destination in place (weight,
	// forwarding, thresholds), keeping its connections.
	UpdateDestination(ctx context.Context, svc ServiceKey, d Destination) error
	// DeleteDestination removes one destination of svc.
	DeleteDestination(ctx context.Context, svc ServiceKey, key DestKey) error

	// Flush removes every service of the table, owned or not (lvs_flush).
	Flush(ctx context.Context) error

	// SetTimeouts applies lvs_timeouts; zero fields are left unchanged.
	SetTimeouts(ctx context.Context, t Timeouts) error
	// Timeouts reads the current timeouts.
	Timeouts(ctx context.Context) (Timeouts, error)

	// StartSyncDaemon starts a connection sync daemon in d.State's role.
	StartSyncDaemon(ctx context.Context, d SyncDaemon) error
	// StopSyncDaemon stops the daemon of that role.
	StopSyncDaemon(ctx context.Context, state SyncState) error
}

// Explainer is a plane that judges a whole service, its destinations
// together, beyond what Capabilities can say one attribute at a time (for
// nftables: NAT and DR real servers in one service, DR on a fwmark
// service, a wrr cycle too long for a map). Explain returns nil if the
// plane can serve e, else an error wrapping ErrUnsupported that covers the
// Capabilities checks too, each refusal with what to do instead. The
// reconciler asks it before sending anything, so a service is never
// half-applied.
type Explainer interface {
	Explain(e Entry) error
}

// ErrUnsupported is wrapped by the errors of a plane asked for something
// its Capabilities exclude.
var ErrUnsupported = errors.New("not supported by this data plane")
