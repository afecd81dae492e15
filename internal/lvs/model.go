// Package lvs turns the configuration's virtual servers and the health of
// their real servers into the service table a data plane should hold, with
// keepalived's semantics (weights, inhibit_on_failure, quorum with
// hysteresis, sorry server, alpha, omega, ha_suspend, virtual server
// groups), and brings a plane to that table with the fewest operations.
//
// The package has three parts that know nothing of each other's insides:
//   - Engine (engine.go): the pure state of every virtual server. Health,
//     held addresses and reloads go in; events (quorum and real server
//     transitions, for notify) come out; Desired is the table.
//   - Diff (diff.go): a pure function from desired and actual tables and the
//     set of owned services to a list of operations.
//   - Reconciler (reconcile.go): applies operations through a
//     dataplane.Plane and remembers which services Vigil owns.
package lvs

import (
	"fmt"
	"math"
	"math/bits"
	"net/netip"

	"vigil/internal/config"
	"vigil/internal/dataplane"
)

// VSID identifies a virtual server across reloads, as keepalived matches
// them: by group name, or by fwmark and family, or by protocol, address and
// port.
type VSID struct {
	Group    string
	Family   dataplane.Family
	Protocol dataplane.Protocol
	Addr     netip.Addr
	Port     uint16
	Fwmark   uint32
}

// String formats the id as keepalived's logs name a virtual server.
func (id VSID) String() string {
	switch {
	case id.Group != "":
		return fmt.Sprintf("[%s]:%s", id.Group, id.Protocol)
	case id.Fwmark != 0:
		return fmt.Sprintf("FWM %d IPv%d", id.Fwmark, id.Family)
	}
	return fmt.Sprintf("[%s]:%s:%d", id.Addr, id.Protocol, id.Port)
}

// RealID identifies a real server of a virtual server: the key of health
// reports.
type RealID struct {
	VS   VSID
	Real netip.AddrPort
}

// String formats the id for logs.
func (id RealID) String() string { return fmt.Sprintf("%s of VS %s", id.Real, id.VS) }

// IDOf returns the id of a virtual server of a loaded configuration.
func IDOf(vs *config.VirtualServer) VSID {
	id := VSID{Group: vs.Group, Family: family(vs), Protocol: protocol(vs.Protocol)}
	switch {
	case vs.Group != "":
	case vs.Fwmark != 0:
		id.Fwmark = vs.Fwmark
		id.Protocol = dataplane.ProtoNone
	default:
		id.Addr, id.Port = vs.Addr, vs.Port
	}
	return id
}

// RealIDOf returns the id of one real server of vs.
func RealIDOf(vs *config.VirtualServer, rs *config.RealServer) RealID {
	return RealID{VS: IDOf(vs), Real: netip.AddrPortFrom(rs.Addr, rs.Port)}
}

func family(vs *config.VirtualServer) dataplane.Family {
	switch {
	case vs.Family == config.FamilyInet6:
		return dataplane.IPv6
	case vs.Family == config.FamilyInet:
		return dataplane.IPv4
	case vs.Addr.IsValid():
		return dataplane.FamilyOf(vs.Addr)
	}
	return dataplane.IPv4
}

func protocol(p config.Protocol) dataplane.Protocol {
	switch p {
	case config.ProtoTCP:
		return dataplane.ProtoTCP
	case config.ProtoUDP:
		return dataplane.ProtoUDP
	case config.ProtoSCTP:
		return dataplane.ProtoSCTP
	}
	return dataplane.ProtoNone
}

func forwarding(f config.Forwarding) dataplane.Forwarding {
	var out dataplane.Forwarding
	switch f.Method {
	case config.FwdDR:
		out.Method = dataplane.DR
	case config.FwdTUN:
		out.Method = dataplane.Tunnel
		switch f.TunnelType {
		case config.TunGUE:
			out.TunnelType = dataplane.GUE
		case config.TunGRE:
			out.TunnelType = dataplane.GRE
		}
		out.TunnelPort = f.TunnelPort
		switch f.TunnelChecksum {
		case config.TunCsum:
			out.TunnelChecksum = dataplane.Checksum
		case config.TunRemCsum:
			out.TunnelChecksum = dataplane.RemoteChecksum
		}
	}
	return out
}

// maxWeight is the largest weight keepalived programs (its
// IPVS_WEIGHT_LIMIT, INT_MAX); larger effective weights (from dynamic
// checkers) are clamped to it, negative ones to 0.
const maxWeight = math.MaxInt32

func clampWeight(w int64) int32 {
	switch {
	case w < 0:
		return 0
	case w > maxWeight:
		return maxWeight
	}
	return int32(w)
}

// virtual is one virtual_server compiled from the model: the service keys it
// programs (one, or one per group address and fwmark), the service options
// and its servers.
type virtual struct {
	id   VSID
	pos  config.Pos
	keys []dataplane.ServiceKey
	svc  dataplane.Service // Key is set per key

	quorum, hysteresis int64
	quorumUp           *config.Script
	quorumDown         *config.Script
	omega              bool
	haSuspend          bool
	// granularity is the persistence granularity as a prefix length, 0
	// for the family's full length.
	granularity uint8
	// addrs are the addresses whose presence on this node resumes an
	// ha_suspend virtual server.
	addrs []netip.Addr

	reals []*real
	sorry *real // nil without sorry_server
}

// real is one real server (or the sorry server) of a virtual.
type real struct {
	pos     config.Pos
	dest    dataplane.Destination // Weight is the configured weight
	inhibit bool
	// startDown: alpha mode with at least one checker, so the server is
	// down until a checker says otherwise.
	startDown  bool
	notifyUp   *config.Script
	notifyDown *config.Script
}

// addr is the real server's address and port, its RealID within its
// virtual server (the virtual's id is not repeated in each of its reals).
// It is read from the destination's key rather than held twice: the LVS
// process holds one real per real server, 112 bytes with it and not 144.
func (r *real) addr() netip.AddrPort { return netip.AddrPortFrom(r.dest.Key.Addr, r.dest.Key.Port) }

// MaxRange is the most addresses one virtual_server_group range expands
// to (keepalived's IPv6 ranges vary only the last 16 bits, so 65,536); a
// larger range (a short CIDR prefix) is cut there rather than exhaust
// memory. Configuration validation should refuse such ranges.
const MaxRange = 1 << 16

// sorryWeight is the weight keepalived gives a sorry server in use.
const sorryWeight = 1

// compileOne compiles one virtual server (of group g, nil for none). The
// configuration was validated, so every group reference resolves.
func compileOne(vs *config.VirtualServer, g *config.VirtualServerGroup) *virtual {
	id := IDOf(vs)
	v := &virtual{
		id:         id,
		pos:        vs.Pos,
		quorum:     int64(vs.Quorum),
		hysteresis: int64(vs.Hysteresis),
		quorumUp:   vs.QuorumUp,
		quorumDown: vs.QuorumDown,
		omega:      vs.Omega,
		haSuspend:  vs.HASuspend,
	}
	if vs.PersistenceTimeout != 0 {
		v.granularity = persistenceBits(vs)
	}
	v.svc = dataplane.Service{
		Scheduler:         string(vs.Scheduler),
		OnePacket:         vs.Flags.OPS,
		Persistence:       vs.PersistenceTimeout,
		PersistenceEngine: vs.PersistenceEngine,
	}
	f := vs.Flags
	if f.Flag1 || f.SHFallback || f.MHFallback {
		v.svc.Flags |= dataplane.SchedFlag1
	}
	if f.Flag2 || f.SHPort || f.MHPort {
		v.svc.Flags |= dataplane.SchedFlag2
	}
	if f.Flag3 {
		v.svc.Flags |= dataplane.SchedFlag3
	}

	// The service keys, and the addresses ha_suspend watches.
	switch {
	case g != nil:
		for _, r := range g.Ranges {
			n := 0
			for a := r.First; a.IsValid() && a.Compare(r.Last) <= 0 && n < MaxRange; a, n = a.Next(), n+1 {
				v.keys = append(v.keys, dataplane.ServiceKey{
					Family: dataplane.FamilyOf(a), Protocol: id.Protocol, Addr: a, Port: r.Port,
				})
				v.addrs = append(v.addrs, a)
			}
		}
		for _, m := range g.Fwmarks {
			fam := id.Family
			switch m.Family {
			case config.FamilyInet:
				fam = dataplane.IPv4
			case config.FamilyInet6:
				fam = dataplane.IPv6
			}
			v.keys = append(v.keys, dataplane.ServiceKey{Family: fam, Fwmark: m.Mark})
		}
	case vs.Fwmark != 0:
		v.keys = []dataplane.ServiceKey{{Family: id.Family, Fwmark: vs.Fwmark}}
	default:
		v.keys = []dataplane.ServiceKey{{Family: id.Family, Protocol: id.Protocol, Addr: vs.Addr, Port: vs.Port}}
		v.addrs = []netip.Addr{vs.Addr}
	}

	for _, rs := range vs.RealServers {
		inhibit := vs.InhibitOnFailure
		if rs.InhibitOnFailure != nil {
			inhibit = *rs.InhibitOnFailure
		}
		alpha := vs.Alpha
		if rs.Alpha != nil {
			alpha = *rs.Alpha
		}
		v.reals = append(v.reals, &real{
			pos: rs.Pos,
			dest: dataplane.Destination{
				Key:            dataplane.DestKey{Addr: rs.Addr, Port: rs.Port},
				Forwarding:     forwarding(rs.Forwarding),
				Weight:         clampWeight(int64(rs.Weight)),
				UpperThreshold: rs.UThreshold,
				LowerThreshold: rs.LThreshold,
			},
			inhibit:    inhibit,
			startDown:  alpha && len(rs.Checkers) > 0,
			notifyUp:   rs.NotifyUp,
			notifyDown: rs.NotifyDown,
		})
	}
	if ss := vs.SorryServer; ss != nil {
		v.sorry = &real{
			pos: ss.Pos,
			dest: dataplane.Destination{
				Key:        dataplane.DestKey{Addr: ss.Addr, Port: ss.Port},
				Forwarding: forwarding(ss.Forwarding),
				Weight:     sorryWeight,
			},
			inhibit: ss.Inhibit,
		}
	}
	return v
}

// service returns the service options for one of v's keys.
func (v *virtual) service(k dataplane.ServiceKey) dataplane.Service {
	s := v.svc
	s.Key = k
	s.PersistenceBits = 32
	if k.Family == dataplane.IPv6 {
		s.PersistenceBits = 128
	}
	if v.granularity != 0 {
		s.PersistenceBits = v.granularity
	}
	return s
}

// persistenceBits returns the granularity of vs as a prefix length, 0 when
// the configuration sets none.
func persistenceBits(vs *config.VirtualServer) uint8 {
	switch {
	case vs.PersistenceMask.IsValid():
		b := vs.PersistenceMask.As4()
		return uint8(bits.OnesCount32(uint32(b[0])<<24 | uint32(b[1])<<16 | uint32(b[2])<<8 | uint32(b[3])))
	case vs.PersistencePrefixLen != 0:
		return uint8(vs.PersistencePrefixLen)
	}
	return 0
}
