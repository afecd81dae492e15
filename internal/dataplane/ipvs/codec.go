package ipvs

import (
	"encoding/binary"
	"errors"
	"fmt"
	"math/bits"
	"net/netip"
	"time"

	"github.com/mdlayher/genetlink"
	"github.com/mdlayher/netlink"

	"vigil/internal/dataplane"
)

// The IPVS generic netlink interface, as linux/ip_vs.h defines it. Integers
// are in host byte order except ports (and the tunnel port), which are in
// network byte order, and IPv4 netmasks and addresses, which are raw bytes.
const (
	familyName    = "IPVS"
	familyVersion = 1

	cmdNewService = 1
	cmdSetService = 2
	cmdDelService = 3
	cmdGetService = 4
	cmdNewDest    = 5
	cmdSetDest    = 6
	cmdDelDest    = 7
	cmdGetDest    = 8
	cmdNewDaemon  = 9
	cmdDelDaemon  = 10
	cmdGetDaemon  = 11
	cmdSetConfig  = 12
	cmdGetConfig  = 13
	cmdFlush      = 17

	attrService       = 1
	attrDest          = 2
	attrDaemon        = 3
	attrTimeoutTCP    = 4
	attrTimeoutTCPFin = 5
	attrTimeoutUDP    = 6

	svcAF        = 1
	svcProtocol  = 2
	svcAddr      = 3
	svcPort      = 4
	svcFwmark    = 5
	svcSchedName = 6
	svcFlags     = 7
	svcTimeout   = 8
	svcNetmask   = 9
	svcStats     = 10
	svcPEName    = 11
	svcStats64   = 12

	destAddr       = 1
	destPort       = 2
	destFwdMethod  = 3
	destWeight     = 4
	destUThresh    = 5
	destLThresh    = 6
	destActive     = 7
	destInact      = 8
	destPersist    = 9
	destStats      = 10
	destAddrFamily = 11
	destStats64    = 12
	destTunType    = 13
	destTunPort    = 14
	destTunFlags   = 15

	// Inside SVC_ATTR_STATS(64) and DEST_ATTR_STATS(64). STATS carries
	// 32-bit counts and rates and 64-bit byte counts; STATS64 is 64-bit
	// throughout and, when both are present, is the one to believe.
	statsConns    = 1
	statsInPkts   = 2
	statsOutPkts  = 3
	statsInBytes  = 4
	statsOutBytes = 5
	statsCPS      = 6
	statsInPPS    = 7
	statsOutPPS   = 8
	statsInBPS    = 9
	statsOutBPS   = 10

	daemonState       = 1
	daemonMcastIfn    = 2
	daemonSyncID      = 3
	daemonSyncMaxLen  = 4
	daemonMcastGroup  = 5
	daemonMcastGroup6 = 6
	daemonMcastPort   = 7
	daemonMcastTTL    = 8

	flagPersistent = 0x0001
	flagHashed     = 0x0002
	flagOnePacket  = 0x0004
	flagSched1     = 0x0008 // SCHED2 and SCHED3 follow

	fwdMasq   = 0
	fwdTunnel = 2
	fwdRoute  = 3
	fwdMask   = 0x7

	afInet  = 2  // AF_INET
	afInet6 = 10 // AF_INET6

	// Kernel limits on names (including the terminating NUL).
	nameMax = 16
)

// errMalformed is wrapped by every decoding error.
var errMalformed = errors.New("malformed IPVS message")

func afOf(f dataplane.Family) uint16 {
	if f == dataplane.IPv6 {
		return afInet6
	}
	return afInet
}

// The requests the reconciler sends by the thousand (services and
// destinations) are appended straight to a caller's buffer, attribute by
// attribute, rather than built with netlink.AttributeEncoder, which
// allocates each value, each nested set and each encoding: the pipelined
// path reuses one buffer for a whole write. The layout is the netlink
// library's (native byte order, values padded to 4 bytes, nested sets
// flagged NLA_F_NESTED), which the golden messages pin.

const nlaNested = 0x8000 // NLA_F_NESTED

// attrHeader appends an attribute header for n bytes of data.
func attrHeader(b []byte, typ uint16, n int) []byte {
	b = binary.NativeEndian.AppendUint16(b, uint16(4+n))
	return binary.NativeEndian.AppendUint16(b, typ)
}

// pad4 pads b to a multiple of 4 bytes.
func pad4(b []byte) []byte {
	for len(b)%4 != 0 {
		b = append(b, 0)
	}
	return b
}

func attrU8(b []byte, typ uint16, v uint8) []byte {
	return pad4(append(attrHeader(b, typ, 1), v))
}

func attrU16(b []byte, typ uint16, v uint16) []byte {
	return pad4(binary.NativeEndian.AppendUint16(attrHeader(b, typ, 2), v))
}

func attrU32(b []byte, typ uint16, v uint32) []byte {
	return binary.NativeEndian.AppendUint32(attrHeader(b, typ, 4), v)
}

// attrBE16 appends a 16-bit value in network byte order (a port).
func attrBE16(b []byte, typ uint16, v uint16) []byte {
	return pad4(binary.BigEndian.AppendUint16(attrHeader(b, typ, 2), v))
}

// attrString appends s with its terminating NUL.
func attrString(b []byte, typ uint16, s string) []byte {
	b = append(attrHeader(b, typ, len(s)+1), s...)
	return pad4(append(b, 0))
}

// attrAddr16 appends an address as the kernel's union nf_inet_addr: 16
// bytes, an IPv4 address in the first 4.
func attrAddr16(b []byte, typ uint16, a netip.Addr) []byte {
	b = attrHeader(b, typ, 16)
	if a.Is4() || a.Is4In6() {
		v := a.Unmap().As4()
		return append(append(b, v[:]...), 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0)
	}
	v := a.As16()
	return append(b, v[:]...)
}

// nestStart opens a nested attribute set; nestEnd closes it.
func nestStart(b []byte, typ uint16) ([]byte, int) {
	return attrHeader(b, typ|nlaNested, 0), len(b)
}

func nestEnd(b []byte, at int) []byte {
	binary.NativeEndian.PutUint16(b[at:], uint16(len(b)-at))
	return b
}

// appendServiceKey appends the attributes that identify a service.
func appendServiceKey(b []byte, k dataplane.ServiceKey) []byte {
	b = attrU16(b, svcAF, afOf(k.Family))
	if k.Fwmark != 0 {
		return attrU32(b, svcFwmark, k.Fwmark)
	}
	b = attrU16(b, svcProtocol, uint16(k.Protocol))
	b = attrAddr16(b, svcAddr, k.Addr)
	return attrBE16(b, svcPort, k.Port)
}

// serviceFlags returns the kernel's flag word for s.
func serviceFlags(s dataplane.Service) uint32 {
	f := uint32(s.Flags&7) * flagSched1
	if s.OnePacket {
		f |= flagOnePacket
	}
	if s.Persistence != 0 {
		f |= flagPersistent
	}
	return f
}

// netmask returns the kernel's netmask word for s: an IPv4 mask as raw
// bytes (read back as a host-order integer), or an IPv6 prefix length.
func netmask(s dataplane.Service) uint32 {
	bitsLen := s.PersistenceBits
	if s.Key.Family == dataplane.IPv6 {
		if bitsLen == 0 || bitsLen > 128 {
			bitsLen = 128
		}
		return uint32(bitsLen)
	}
	if bitsLen > 32 {
		bitsLen = 32
	}
	mask := uint32(0)
	if bitsLen > 0 {
		mask = ^uint32(0) << (32 - bitsLen)
	}
	var raw [4]byte
	binary.BigEndian.PutUint32(raw[:], mask)
	return binary.NativeEndian.Uint32(raw[:])
}

// appendService appends a whole service, as NEW_SERVICE and SET_SERVICE
// require: the key, scheduler, persistence engine, flags, timeout and mask.
func appendService(b []byte, s dataplane.Service) []byte {
	b = appendServiceKey(b, s.Key)
	b = attrString(b, svcSchedName, s.Scheduler)
	if s.PersistenceEngine != "" {
		b = attrString(b, svcPEName, s.PersistenceEngine)
	}
	b = attrHeader(b, svcFlags, 8)
	b = binary.NativeEndian.AppendUint32(b, serviceFlags(s))
	b = binary.NativeEndian.AppendUint32(b, ^uint32(0)) // mask: set every flag as given
	b = attrU32(b, svcTimeout, uint32(s.Persistence/time.Second))
	return attrU32(b, svcNetmask, netmask(s))
}

// appendDest appends a destination. Full (NEW_DEST, SET_DEST) adds the
// options; otherwise only the key (DEL_DEST).
func appendDest(b []byte, d dataplane.Destination, full bool) []byte {
	b = attrAddr16(b, destAddr, d.Key.Addr)
	b = attrBE16(b, destPort, d.Key.Port)
	b = attrU16(b, destAddrFamily, afOf(dataplane.FamilyOf(d.Key.Addr)))
	if !full {
		return b
	}
	method := uint32(fwdMasq)
	switch d.Forwarding.Method {
	case dataplane.DR:
		method = fwdRoute
	case dataplane.Tunnel:
		method = fwdTunnel
	}
	b = attrU32(b, destFwdMethod, method)
	b = attrU32(b, destWeight, uint32(d.Weight))
	b = attrU32(b, destUThresh, d.UpperThreshold)
	b = attrU32(b, destLThresh, d.LowerThreshold)
	if d.Forwarding.Method == dataplane.Tunnel {
		b = attrU8(b, destTunType, uint8(d.Forwarding.TunnelType))
		b = attrBE16(b, destTunPort, d.Forwarding.TunnelPort)
		b = attrU16(b, destTunFlags, uint16(d.Forwarding.TunnelChecksum))
	}
	return b
}

// appendServiceBody appends the attributes of a NEW_SERVICE or
// SET_SERVICE request.
func appendServiceBody(b []byte, s dataplane.Service) ([]byte, error) {
	if err := checkName("scheduler", s.Scheduler); err != nil {
		return b, err
	}
	if err := checkName("persistence engine", s.PersistenceEngine); err != nil {
		return b, err
	}
	b, at := nestStart(b, attrService)
	return nestEnd(appendService(b, s), at), nil
}

// appendServiceKeyBody appends the attributes of a request that names a
// service only (DEL_SERVICE, GET_DEST).
func appendServiceKeyBody(b []byte, k dataplane.ServiceKey) []byte {
	b, at := nestStart(b, attrService)
	return nestEnd(appendServiceKey(b, k), at)
}

// appendDestBody appends the attributes of a destination request.
func appendDestBody(b []byte, k dataplane.ServiceKey, d dataplane.Destination, full bool) []byte {
	b = appendServiceKeyBody(b, k)
	b, at := nestStart(b, attrDest)
	return nestEnd(appendDest(b, d, full), at)
}

func message(cmd uint8, build func(ae *netlink.AttributeEncoder)) (genetlink.Message, error) {
	ae := netlink.NewAttributeEncoder()
	if build != nil {
		build(ae)
	}
	data, err := ae.Encode()
	if err != nil {
		return genetlink.Message{}, err
	}
	return genetlink.Message{Header: genetlink.Header{Command: cmd, Version: familyVersion}, Data: data}, nil
}

func genlMessage(cmd uint8, data []byte) genetlink.Message {
	return genetlink.Message{Header: genetlink.Header{Command: cmd, Version: familyVersion}, Data: data}
}

func serviceMessage(cmd uint8, s dataplane.Service) (genetlink.Message, error) {
	data, err := appendServiceBody(nil, s)
	if err != nil {
		return genetlink.Message{}, err
	}
	return genlMessage(cmd, data), nil
}

func serviceKeyMessage(cmd uint8, k dataplane.ServiceKey) (genetlink.Message, error) {
	return genlMessage(cmd, appendServiceKeyBody(nil, k)), nil
}

func destMessage(cmd uint8, k dataplane.ServiceKey, d dataplane.Destination, full bool) (genetlink.Message, error) {
	return genlMessage(cmd, appendDestBody(nil, k, d, full)), nil
}

func daemonMessage(d dataplane.SyncDaemon) (genetlink.Message, error) {
	if err := checkName("interface", d.Interface); err != nil {
		return genetlink.Message{}, err
	}
	return message(cmdNewDaemon, func(ae *netlink.AttributeEncoder) {
		ae.Nested(attrDaemon, func(nae *netlink.AttributeEncoder) error {
			nae.Uint32(daemonState, uint32(d.State))
			nae.String(daemonMcastIfn, d.Interface)
			nae.Uint32(daemonSyncID, d.SyncID)
			if d.MaxLen != 0 {
				nae.Uint16(daemonSyncMaxLen, d.MaxLen)
			}
			if d.Group.IsValid() {
				if d.Group.Is4() {
					v := d.Group.As4()
					nae.Bytes(daemonMcastGroup, v[:])
				} else {
					v := d.Group.As16()
					nae.Bytes(daemonMcastGroup6, v[:])
				}
			}
			if d.Port != 0 {
				nae.Uint16(daemonMcastPort, d.Port)
			}
			if d.TTL != 0 {
				nae.Uint8(daemonMcastTTL, d.TTL)
			}
			return nil
		})
	})
}

func stopDaemonMessage(state dataplane.SyncState) (genetlink.Message, error) {
	return message(cmdDelDaemon, func(ae *netlink.AttributeEncoder) {
		ae.Nested(attrDaemon, func(nae *netlink.AttributeEncoder) error {
			nae.Uint32(daemonState, uint32(state))
			return nil
		})
	})
}

func timeoutsMessage(t dataplane.Timeouts) (genetlink.Message, error) {
	return message(cmdSetConfig, func(ae *netlink.AttributeEncoder) {
		// The kernel leaves a timeout of 0 unchanged; sending none is the
		// same and clearer.
		for _, x := range []struct {
			typ uint16
			d   time.Duration
		}{{attrTimeoutTCP, t.TCP}, {attrTimeoutTCPFin, t.TCPFin}, {attrTimeoutUDP, t.UDP}} {
			if x.d > 0 {
				ae.Uint32(x.typ, uint32(x.d/time.Second))
			}
		}
	})
}

func checkName(what, s string) error {
	if len(s) >= nameMax {
		return fmt.Errorf("%s name %q is longer than the kernel's %d characters", what, s, nameMax-1)
	}
	return nil
}

// decodeAddr reads an address attribute of family af.
func decodeAddr(b []byte, af uint16) (netip.Addr, error) {
	switch {
	case af == afInet && len(b) >= 4:
		return netip.AddrFrom4([4]byte(b[:4])), nil
	case af == afInet6 && len(b) >= 16:
		return netip.AddrFrom16([16]byte(b[:16])), nil
	}
	return netip.Addr{}, fmt.Errorf("%w: address of %d bytes for family %d", errMalformed, len(b), af)
}

func decodePort(b []byte) (uint16, error) {
	if len(b) != 2 {
		return 0, fmt.Errorf("%w: port of %d bytes", errMalformed, len(b))
	}
	return binary.BigEndian.Uint16(b), nil
}

// decodeService reads a service from the attributes nested in
// IPVS_CMD_ATTR_SERVICE.
func decodeService(b []byte) (dataplane.Service, error) {
	var (
		s                        dataplane.Service
		af                       uint16
		addr                     []byte
		flags, timeout, maskWord uint32
		haveMask, have64         bool
	)
	ad, err := netlink.NewAttributeDecoder(b)
	if err != nil {
		return s, fmt.Errorf("%w: %v", errMalformed, err)
	}
	for ad.Next() {
		switch ad.Type() {
		case svcAF:
			af = ad.Uint16()
		case svcProtocol:
			s.Key.Protocol = dataplane.Protocol(ad.Uint16())
		case svcAddr:
			addr = ad.Bytes()
		case svcPort:
			ad.Do(func(b []byte) (err error) { s.Key.Port, err = decodePort(b); return })
		case svcFwmark:
			s.Key.Fwmark = ad.Uint32()
		case svcSchedName:
			s.Scheduler = ad.String()
		case svcPEName:
			s.PersistenceEngine = ad.String()
		case svcFlags:
			ad.Do(func(b []byte) error {
				if len(b) != 8 {
					return fmt.Errorf("%w: flags of %d bytes", errMalformed, len(b))
				}
				flags = binary.NativeEndian.Uint32(b)
				return nil
			})
		case svcTimeout:
			timeout = ad.Uint32()
		case svcNetmask:
			maskWord, haveMask = ad.Uint32(), true
		case svcStats:
			if !have64 {
				ad.Do(func(b []byte) (err error) { s.Stats, err = decodeStats(b); return })
			}
		case svcStats64:
			have64 = true
			ad.Do(func(b []byte) (err error) { s.Stats, err = decodeStats(b); return })
		}
	}
	if err := ad.Err(); err != nil {
		return s, fmt.Errorf("%w: %v", errMalformed, err)
	}
	switch af {
	case afInet:
		s.Key.Family = dataplane.IPv4
	case afInet6:
		s.Key.Family = dataplane.IPv6
	default:
		return s, fmt.Errorf("%w: service of address family %d", errMalformed, af)
	}
	if s.Key.Fwmark == 0 {
		if s.Key.Addr, err = decodeAddr(addr, af); err != nil {
			return s, err
		}
	} else {
		s.Key.Protocol, s.Key.Port = dataplane.ProtoNone, 0
	}
	s.Flags = dataplane.SchedFlags(flags/flagSched1) & 7
	s.OnePacket = flags&flagOnePacket != 0
	if flags&flagPersistent != 0 {
		s.Persistence = time.Duration(timeout) * time.Second
	}
	s.PersistenceBits = 32
	if s.Key.Family == dataplane.IPv6 {
		s.PersistenceBits = 128
	}
	if haveMask {
		if s.Key.Family == dataplane.IPv6 {
			if maskWord >= 1 && maskWord <= 128 {
				s.PersistenceBits = uint8(maskWord)
			}
		} else {
			m := binary.BigEndian.Uint32(binary.NativeEndian.AppendUint32(nil, maskWord))
			s.PersistenceBits = uint8(bits.LeadingZeros32(^m))
		}
	}
	return s, nil
}

// decodeDest reads a destination from the attributes nested in
// IPVS_CMD_ATTR_DEST; svcFamily is used when the kernel sends no family of
// its own (before Linux 4.14).
func decodeDest(b []byte, svcFamily dataplane.Family) (dataplane.Destination, error) {
	var (
		d      dataplane.Destination
		af     = afOf(svcFamily)
		addr   []byte
		seen   bool
		have64 bool
		conns  [3]uint32 // active, inactive, persistent
		st     dataplane.Stats
		// counted: the reply has counters (a request has none).
		counted bool
	)
	ad, err := netlink.NewAttributeDecoder(b)
	if err != nil {
		return d, fmt.Errorf("%w: %v", errMalformed, err)
	}
	for ad.Next() {
		switch ad.Type() {
		case destAddr:
			addr, seen = ad.Bytes(), true
		case destPort:
			ad.Do(func(b []byte) (err error) { d.Key.Port, err = decodePort(b); return })
		case destAddrFamily:
			af = ad.Uint16()
		case destFwdMethod:
			switch ad.Uint32() & fwdMask {
			case fwdRoute:
				d.Forwarding.Method = dataplane.DR
			case fwdTunnel:
				d.Forwarding.Method = dataplane.Tunnel
			}
		case destWeight:
			d.Weight = int32(ad.Uint32())
		case destUThresh:
			d.UpperThreshold = ad.Uint32()
		case destLThresh:
			d.LowerThreshold = ad.Uint32()
		case destTunType:
			d.Forwarding.TunnelType = dataplane.TunnelType(ad.Uint8())
		case destTunPort:
			ad.Do(func(b []byte) (err error) { d.Forwarding.TunnelPort, err = decodePort(b); return })
		case destTunFlags:
			d.Forwarding.TunnelChecksum = dataplane.TunnelChecksum(ad.Uint16())
		case destActive:
			conns[0], counted = ad.Uint32(), true
		case destInact:
			conns[1], counted = ad.Uint32(), true
		case destPersist:
			conns[2], counted = ad.Uint32(), true
		case destStats:
			counted = true
			if !have64 {
				ad.Do(func(b []byte) (err error) { st, err = decodeStats(b); return })
			}
		case destStats64:
			have64, counted = true, true
			ad.Do(func(b []byte) (err error) { st, err = decodeStats(b); return })
		}
	}
	if counted {
		// A reply of the kernel's; a request (NEW_DEST) has no counters.
		st.ActiveConns, st.InactConns, st.PersistConns = conns[0], conns[1], conns[2]
		d.Stats = &st
	}

	if err := ad.Err(); err != nil {
		return d, fmt.Errorf("%w: %v", errMalformed, err)
	}
	if !seen {
		return d, fmt.Errorf("%w: destination without address", errMalformed)
	}
	if d.Key.Addr, err = decodeAddr(addr, af); err != nil {
		return d, err
	}
	if d.Forwarding.Method != dataplane.Tunnel {
		// The kernel reports tunnel fields of every destination; they
		// mean nothing without tunnelling.
		d.Forwarding = dataplane.Forwarding{Method: d.Forwarding.Method}
	}
	return d, nil
}

// decodeStats reads the counters nested in a STATS or STATS64 attribute.
// Each is read at the width the kernel wrote it (4 or 8 bytes), so one
// decoder serves both.
func decodeStats(b []byte) (dataplane.Stats, error) {
	var st dataplane.Stats
	ad, err := netlink.NewAttributeDecoder(b)
	if err != nil {
		return st, fmt.Errorf("%w: stats: %v", errMalformed, err)
	}
	for ad.Next() {
		var dst *uint64
		switch ad.Type() {
		case statsConns:
			dst = &st.Conns
		case statsInPkts:
			dst = &st.InPkts
		case statsOutPkts:
			dst = &st.OutPkts
		case statsInBytes:
			dst = &st.InBytes
		case statsOutBytes:
			dst = &st.OutBytes
		case statsCPS:
			dst = &st.CPS
		case statsInPPS:
			dst = &st.InPPS
		case statsOutPPS:
			dst = &st.OutPPS
		case statsInBPS:
			dst = &st.InBPS
		case statsOutBPS:
			dst = &st.OutBPS
		default:
			continue // padding, or a counter newer than this decoder
		}
		typ := ad.Type()
		ad.Do(func(b []byte) error {
			switch len(b) {
			case 4:
				*dst = uint64(binary.NativeEndian.Uint32(b))
			case 8:
				*dst = binary.NativeEndian.Uint64(b)
			default:
				return fmt.Errorf("%w: stats counter %d of %d bytes", errMalformed, typ, len(b))
			}
			return nil
		})
	}
	if err := ad.Err(); err != nil {
		return st, fmt.Errorf("%w: stats: %v", errMalformed, err)
	}
	return st, nil
}

// nested returns the payload of the first top-level attribute typ of a
// reply.
func nested(data []byte, typ uint16) ([]byte, error) {
	ad, err := netlink.NewAttributeDecoder(data)
	if err != nil {
		return nil, fmt.Errorf("%w: %v", errMalformed, err)
	}
	for ad.Next() {
		if ad.Type() == typ {
			return ad.Bytes(), nil
		}
	}
	if err := ad.Err(); err != nil {
		return nil, fmt.Errorf("%w: %v", errMalformed, err)
	}
	return nil, fmt.Errorf("%w: attribute %d missing", errMalformed, typ)
}

// decodeServiceReply reads one message of a GET_SERVICE dump.
func decodeServiceReply(data []byte) (dataplane.Service, error) {
	b, err := nested(data, attrService)
	if err != nil {
		return dataplane.Service{}, err
	}
	return decodeService(b)
}

// decodeDestReply reads one message of a GET_DEST dump.
func decodeDestReply(data []byte, svcFamily dataplane.Family) (dataplane.Destination, error) {
	b, err := nested(data, attrDest)
	if err != nil {
		return dataplane.Destination{}, err
	}
	return decodeDest(b, svcFamily)
}

// decodeTimeouts reads a GET_CONFIG reply.
func decodeTimeouts(data []byte) (dataplane.Timeouts, error) {
	var t dataplane.Timeouts
	ad, err := netlink.NewAttributeDecoder(data)
	if err != nil {
		return t, fmt.Errorf("%w: %v", errMalformed, err)
	}
	for ad.Next() {
		switch ad.Type() {
		case attrTimeoutTCP:
			t.TCP = time.Duration(ad.Uint32()) * time.Second
		case attrTimeoutTCPFin:
			t.TCPFin = time.Duration(ad.Uint32()) * time.Second
		case attrTimeoutUDP:
			t.UDP = time.Duration(ad.Uint32()) * time.Second
		}
	}
	if err := ad.Err(); err != nil {
		return t, fmt.Errorf("%w: %v", errMalformed, err)
	}
	return t, nil
}

// decodeDaemon reads one message of a GET_DAEMON dump.
func decodeDaemon(data []byte) (dataplane.SyncDaemon, error) {
	var d dataplane.SyncDaemon
	b, err := nested(data, attrDaemon)
	if err != nil {
		return d, err
	}
	ad, err := netlink.NewAttributeDecoder(b)
	if err != nil {
		return d, fmt.Errorf("%w: %v", errMalformed, err)
	}
	for ad.Next() {
		switch ad.Type() {
		case daemonState:
			d.State = dataplane.SyncState(ad.Uint32())
		case daemonMcastIfn:
			d.Interface = ad.String()
		case daemonSyncID:
			d.SyncID = ad.Uint32()
		case daemonSyncMaxLen:
			d.MaxLen = ad.Uint16()
		case daemonMcastGroup:
			ad.Do(func(b []byte) (err error) { d.Group, err = decodeAddr(b, afInet); return })
		case daemonMcastGroup6:
			ad.Do(func(b []byte) (err error) { d.Group, err = decodeAddr(b, afInet6); return })
		case daemonMcastPort:
			d.Port = ad.Uint16()
		case daemonMcastTTL:
			d.TTL = ad.Uint8()
		}
	}
	if err := ad.Err(); err != nil {
		return d, fmt.Errorf("%w: %v", errMalformed, err)
	}
	if d.Group.IsValid() && d.Group.IsUnspecified() {
		d.Group = netip.Addr{} // the kernel reports 0.0.0.0 for "not set"
	}
	return d, nil
}
