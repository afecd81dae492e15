package nft

import (
	"encoding/binary"
	"fmt"
	"net"
	"net/netip"
	"slices"
	"time"

	"github.com/google/nftables"
	"github.com/google/nftables/expr"
	"golang.org/x/sys/unix"

	"vigil/internal/dataplane"
)

// Registers. nftables has four 16-byte registers (1..4) that alias sixteen
// 4-byte ones (8..23): 16-byte register n starts at 4-byte 8+4(n-1).
const (
	regData  = 1  // the chosen destination: address (and port) for dnat
	regAddr  = 8  // same register, 4-byte numbering
	regPort4 = 9  // the port after an IPv4 address in regData
	regPort6 = 12 // the port after an IPv6 address in regData
	regHash  = 12 // scratch for the fields a hash reads (16-byte reg 2..3)
	regKey   = 16 // the persistence key (16-byte reg 3)
	// DR lays its registers out as nft itself does (keys from 4-byte 8,
	// the data elsewhere), so that nft can list the rules back: it cannot
	// parse a concatenated key that starts in another register.
	regDRDest = 3 // DR: the chosen real server (16-byte reg 3)
	regDRKey  = 8 // DR: the persistence key (4-byte 8..11)
	regFlow   = 8 // DR: the flow key, client address . port (4-byte 8..12)
	regHop    = 8 // DR: each part of the real server's hop in turn (4-byte 8..9)
	regDisp   = 1 // dispatch keys
)

// Names of the objects in Vigil's table.
const (
	chainPrerouting = "prerouting"
	chainOutput     = "output"
	chainDispatch   = "dispatch"
	mapSvc4         = "svc4"
	mapSvc6         = "svc6"
	mapFwm4         = "fwm4"
	mapFwm6         = "fwm6"

	// The netdev table's (DR): an ingress chain per interface jumps to
	// dr_dispatch, which looks the packet up in dr4/dr6 and jumps to the
	// service's chain; that one chooses the real server, looks its hop up
	// in mac4/mac6 and sends the frame.
	chainDRDispatch = "dr_dispatch"
	mapDR4          = "dr4"
	mapDR6          = "dr6"
	// A real server's hop: its MAC (dmac), the director's MAC (smac) and
	// interface index (oif) on the way to it, in three maps rather than
	// one of concatenated data, which nft cannot list back.
	mapDMAC4 = "dmac4"
	mapSMAC4 = "smac4"
	mapOIF4  = "oif4"
	mapDMAC6 = "dmac6"
	mapSMAC6 = "smac6"
	mapOIF6  = "oif6"
	// ingressPriority puts the DR chains after a netdev ingress filter of
	// the host's at the usual priorities (-500..0): a frame they send is
	// consumed, so nothing after them would see it.
	ingressPriority = 100
)

// DR flows idle out after IPVS's default timeouts for an established TCP
// connection and for UDP; every packet from the client refreshes its flow.
const (
	flowTCP = 15 * time.Minute
	flowUDP = 5 * time.Minute
)

// setDef is a set or map to create: an anonymous constant one (a scheduler
// map, bound to its rule) or a named one (dispatch maps, affinity maps).
type setDef struct {
	Name       string
	Anonymous  bool
	IsMap      bool
	Dynamic    bool
	HasTimeout bool
	Concat     bool
	Timeout    time.Duration
	Key        nftables.SetDatatype
	Data       nftables.SetDatatype
	Elems      []nftables.SetElement
}

// ruleDef is one rule. A Lookup whose SetName names one of the rule's
// anonymous sets is bound to it when the rule is added.
type ruleDef struct {
	Anon  []setDef
	Exprs []expr.Any
}

// program is what one service becomes: its chain's rules and, with
// persistence, its affinity map. A DR program lives in the netdev table
// and has a flow map (the connection table IPVS keeps for DR).
type program struct {
	Chain string
	DR    bool
	Aff   *setDef
	Flow  *setDef
	Rules []ruleDef
	// Plan is a connection-count scheduler's map, as indexes into the
	// available real servers: the plane rewrites the map when it changes.
	Plan []int
}

// names of one service's objects, from its stable id.
func chainName(id uint32) string { return fmt.Sprintf("s%d", id) }
func affName(id uint32) string   { return fmt.Sprintf("a%d", id) }
func flowName(id uint32) string  { return fmt.Sprintf("f%d", id) }

// ingressChain is the name of the DR ingress chain of an interface.
func ingressChain(dev string) string { return "in_" + dev }

// hopMaps are a family's hop maps, dmac, smac and oif.
func hopMaps(fam dataplane.Family) [3]string {
	if fam == dataplane.IPv6 {
		return [3]string{mapDMAC6, mapSMAC6, mapOIF6}
	}
	return [3]string{mapDMAC4, mapSMAC4, mapOIF4}
}

// hopValues are a hop's elements' data in the order of hopMaps: the MACs
// and the index in host order, as the dup expression reads it.
func hopValues(dst, src net.HardwareAddr, index int) [3][]byte {
	return [3][]byte{
		append([]byte{}, dst[:6]...),
		append([]byte{}, src[:6]...),
		binary.NativeEndian.AppendUint32(nil, uint32(index)),
	}
}

// destType is the type of a scheduler map's data: the address, with the
// port after it unless every destination keeps the client's port (port 0,
// as fwmark services' real servers usually have).
func destType(fam dataplane.Family, withPort bool) nftables.SetDatatype {
	a := nftables.TypeIPAddr
	if fam == dataplane.IPv6 {
		a = nftables.TypeIP6Addr
	}
	if !withPort {
		return a
	}
	return nftables.MustConcatSetType(a, nftables.TypeInetService)
}

// destBytes encodes a destination as destType's data.
func destBytes(a netip.Addr, port uint16, withPort bool) []byte {
	var b []byte
	if a.Is4() || a.Is4In6() {
		v := a.Unmap().As4()
		b = append(b, v[:]...)
	} else {
		v := a.As16()
		b = append(b, v[:]...)
	}
	if withPort {
		b = binary.BigEndian.AppendUint16(b, port)
		b = append(b, 0, 0)
	}
	return b
}

func u32(v uint32) []byte { return binary.NativeEndian.AppendUint32(nil, v) }

// portMode decides whether dnat rewrites the port: always for address
// services (port 0 meaning the service's port, as IPVS), and for fwmark
// services only when the real servers name one. A fwmark service mixing
// both cannot be one map's data, so it is refused.
func portMode(e dataplane.Entry) (withPort bool, err error) {
	if e.Service.Key.Fwmark == 0 {
		return true, nil
	}
	zero, set := 0, 0
	for _, d := range e.Dests {
		if d.Key.Port == 0 {
			zero++
		} else {
			set++
		}
	}
	if zero > 0 && set > 0 {
		return false, fmt.Errorf("%w: fwmark service %s mixes real servers with and without a port", dataplane.ErrUnsupported, e.Service.Key)
	}
	return set > 0, nil
}

func destPort(e dataplane.Entry, d dataplane.Destination) uint16 {
	if d.Key.Port == 0 {
		return e.Service.Key.Port
	}
	return d.Key.Port
}

// nfproto is the NAT family of a service.
func nfproto(f dataplane.Family) uint32 {
	if f == dataplane.IPv6 {
		return unix.NFPROTO_IPV6
	}
	return unix.NFPROTO_IPV4
}

// dnat rewrites the destination to regData.
func dnat(fam dataplane.Family, withPort bool) expr.Any {
	n := &expr.NAT{Type: expr.NATTypeDestNAT, Family: nfproto(fam), RegAddrMin: regData}
	if withPort {
		n.RegProtoMin = regPort4
		if fam == dataplane.IPv6 {
			n.RegProtoMin = regPort6
		}
	}
	return n
}

// saddr loads the client address into reg.
func saddr(fam dataplane.Family, reg uint32) expr.Any {
	if fam == dataplane.IPv6 {
		return &expr.Payload{DestRegister: reg, Base: expr.PayloadBaseNetworkHeader, Offset: 8, Len: 16}
	}
	return &expr.Payload{DestRegister: reg, Base: expr.PayloadBaseNetworkHeader, Offset: 12, Len: 4}
}

// daddr loads the destination address into reg.
func daddr(fam dataplane.Family, reg uint32) expr.Any {
	if fam == dataplane.IPv6 {
		return &expr.Payload{DestRegister: reg, Base: expr.PayloadBaseNetworkHeader, Offset: 24, Len: 16}
	}
	return &expr.Payload{DestRegister: reg, Base: expr.PayloadBaseNetworkHeader, Offset: 16, Len: 4}
}

func alen(fam dataplane.Family) uint32 {
	if fam == dataplane.IPv6 {
		return 16
	}
	return 4
}

// schedulers the plane implements; lblc, lblcr and ovf are not among them.
var schedulers = []string{"rr", "wrr", "sh", "dh", "mh", "fo", "lc", "wlc", "sed", "nq"}

// methodOf is the forwarding method of a service's real servers: NAT for
// a service without any. NAT and DR real servers cannot share a service,
// as one is served at the nat hook and the other at ingress.
func methodOf(e dataplane.Entry) (dataplane.Method, error) {
	m, seen := dataplane.NAT, false
	for _, d := range e.Dests {
		if seen && d.Forwarding.Method != m {
			return m, fmt.Errorf("%w: service %s mixes lb_kind DR with other forwarding methods; give each method a virtual server of its own", dataplane.ErrUnsupported, e.Service.Key)
		}
		m, seen = d.Forwarding.Method, true
	}
	return m, nil
}

// facts are what compile needs beyond the entry, from the plane's view of
// the host: whether a DR real server can be sent frames (its MAC is known;
// nil: every one can), and a real server's connection counts for the
// connection-count schedulers (nil: none).
type facts struct {
	ready func(netip.Addr) bool
	conns func(dataplane.DestKey) Conns
}

// compile turns one service into its program. It is pure: the same entry,
// id and readiness always give the same rules, which the golden tests pin.
func compile(e dataplane.Entry, id uint32, f facts) (program, error) {
	s := e.Service
	fam := s.Key.Family
	p := program{Chain: chainName(id)}
	method, err := methodOf(e)
	if err != nil {
		return p, err
	}
	p.DR = method == dataplane.DR
	withPort := false
	if p.DR {
		if s.Key.Fwmark != 0 {
			return p, fmt.Errorf("%w: fwmark service %s with lb_kind DR: the firewall marks packets after the ingress hook DR runs at; use an address virtual server, or lb_kind NAT", dataplane.ErrUnsupported, s.Key)
		}
	} else if withPort, err = portMode(e); err != nil {
		return p, err
	}
	// Connection counts are conntrack's, keyed by the service's address
	// and port: DR frames never reach conntrack, and a fwmark service has
	// no tuple of its own.
	if slices.Contains(ccSchedulers, s.Scheduler) && (p.DR || s.Key.Fwmark != 0) {
		return p, fmt.Errorf("%w: scheduler %s of %s: connection counts come from conntrack, which sees lb_kind NAT address virtual servers only; use wlc with IPVS or the proxy plane, or wrr here", dataplane.ErrUnsupported, s.Scheduler, s.Key)
	}
	dt := destType(fam, withPort)
	ds := available(e)
	if p.DR && f.ready != nil {
		ds = slices.DeleteFunc(ds, func(d dataplane.Destination) bool { return !f.ready(d.Key.Addr) })
	}

	if s.Persistence > 0 {
		p.Aff = &setDef{
			Name: affName(id), IsMap: true, Dynamic: true, HasTimeout: true,
			Timeout: s.Persistence, Key: addrType(fam), Data: dt,
		}
	}
	// emit sends the packet to the destination in dest.
	dest, keyReg := uint32(regData), uint32(regKey)
	emit := []expr.Any{dnat(fam, withPort)}
	if p.DR {
		dest, keyReg = regDRDest, regDRKey
		timeout := flowTCP
		if s.Key.Protocol == dataplane.ProtoUDP {
			timeout = flowUDP
		}
		p.Flow = &setDef{
			Name: flowName(id), IsMap: true, Dynamic: true, HasTimeout: true, Concat: true,
			Timeout: timeout, Key: nftables.MustConcatSetType(addrType(fam), nftables.TypeInetService), Data: addrType(fam),
		}
		key := []expr.Any{
			saddr(fam, regFlow),
			&expr.Payload{DestRegister: regFlow + alen(fam)/4, Base: expr.PayloadBaseTransportHeader, Offset: 0, Len: 2},
		}
		remember := &expr.Dynset{SrcRegKey: regFlow, SrcRegData: dest, SetName: p.Flow.Name, Operation: unix.NFT_DYNSET_OP_UPDATE, Timeout: timeout}
		// A known flow keeps its real server, available or not: this is
		// what conntrack does for NAT, so drained and removed real
		// servers keep their connections. If that real server's MAC is
		// unknown now, the frame is dropped (the second rule) rather than
		// scheduled anew to a real server that knows nothing of the flow.
		// The key is loaded again for the refresh: nft cannot list a
		// rule that reads a key's registers twice.
		known := append(append(append(append([]expr.Any{}, key...),
			&expr.Lookup{SourceRegister: regFlow, DestRegister: dest, IsDestRegSet: true, SetName: p.Flow.Name}),
			key...), remember)
		p.Rules = append(p.Rules,
			ruleDef{Exprs: append(known, send(fam)...)},
			ruleDef{Exprs: append(append([]expr.Any{}, key...),
				&expr.Lookup{SourceRegister: regFlow, SetName: p.Flow.Name},
				&expr.Verdict{Kind: expr.VerdictDrop})})
		emit = append(append(append([]expr.Any{}, key...), remember), send(fam)...)
	}
	if len(ds) == 0 {
		// Nothing may take a new connection: no rule, so it reaches the
		// director's own stack (a reset from a closed port); connections
		// already bound keep their conntrack translation (NAT) or flow
		// (DR).
		return p, nil
	}

	var pick []expr.Any // puts the chosen destination into dest
	var anon []setDef
	slotMap := func(slots []int) setDef {
		m := setDef{Name: "sched", Anonymous: true, IsMap: true, Key: nftables.TypeInteger, Data: dt}
		for i, di := range slots {
			d := ds[di]
			m.Elems = append(m.Elems, nftables.SetElement{Key: u32(uint32(i)), Val: destBytes(d.Key.Addr, destPort(e, d), withPort)})
		}
		return m
	}
	lookup := func(src uint32) expr.Any {
		return &expr.Lookup{SourceRegister: src, DestRegister: dest, IsDestRegSet: true, SetName: "sched"}
	}
	switch s.Scheduler {
	case "rr", "wrr":
		seq := rrSequence(ds)
		if s.Scheduler == "wrr" {
			var ok bool
			if seq, ok = wrrSequence(ds); !ok {
				return p, fmt.Errorf("%w: wrr weights of %s need a cycle longer than %d slots; use smaller weights or a common divisor", dataplane.ErrUnsupported, s.Key, maxSlots)
			}
		}
		anon = append(anon, slotMap(seq))
		pick = []expr.Any{
			&expr.Numgen{Register: regAddr, Modulus: uint32(len(seq)), Type: unix.NFT_NG_INCREMENTAL},
			lookup(regAddr),
		}
	case "sh", "dh", "mh":
		var table []int
		if s.Scheduler == "mh" {
			table = maglevTable(ds, maglevSize)
		} else {
			table = bucketTable(ds)
		}
		anon = append(anon, slotMap(table))
		load := saddr(fam, regHash)
		if s.Scheduler == "dh" {
			load = daddr(fam, regHash)
		}
		n := alen(fam)
		pick = []expr.Any{load}
		// sh-port / mh-port: the client port joins the hash (4-byte
		// aligned after the address, as a concatenation lays it out).
		if s.Scheduler != "dh" && s.Flags&dataplane.SHPort != 0 {
			pick = append(pick, &expr.Payload{DestRegister: regHash + n/4, Base: expr.PayloadBaseTransportHeader, Offset: 0, Len: 2})
			n += 4
		}
		pick = append(pick,
			&expr.Hash{SourceRegister: regHash, DestRegister: regAddr, Length: n, Modulus: uint32(len(table)), Seed: 0x76696769, Type: expr.HashTypeJenkins},
			lookup(regAddr))
	case "lc", "wlc", "sed", "nq":
		// IPVS breaks ties in its list's order, the last real server
		// added first; Vigil adds them in address order, so the plan
		// walks them in reverse.
		rev := slices.Clone(ds)
		slices.Reverse(rev)
		c := make([]Conns, len(rev))
		if f.conns != nil {
			for i, d := range rev {
				c[i] = f.conns(d.Key)
			}
		}
		seq, err := ccSequence(s.Scheduler, rev, c, ccWindow)
		if err != nil {
			return p, err
		}
		for i, v := range seq {
			seq[i] = len(ds) - 1 - v
		}
		p.Plan = seq
		anon = append(anon, slotMap(seq))
		pick = []expr.Any{
			&expr.Numgen{Register: regAddr, Modulus: uint32(len(seq)), Type: unix.NFT_NG_INCREMENTAL},
			lookup(regAddr),
		}
	case "fo":
		d := ds[firstByWeight(ds)]
		pick = []expr.Any{&expr.Immediate{Register: dest, Data: destBytes(d.Key.Addr, destPort(e, d), withPort)}}
		if withPort {
			b := destBytes(d.Key.Addr, destPort(e, d), true)
			a := alen(fam)
			pick = []expr.Any{
				&expr.Immediate{Register: regData, Data: b[:a]},
				&expr.Immediate{Register: regAddr + a/4, Data: b[a : a+2]},
			}
		}
	default:
		return p, fmt.Errorf("%w: scheduler %s needs per-connection state nftables has no place for (use IPVS or the proxy plane)", dataplane.ErrUnsupported, s.Scheduler)
	}

	if p.Aff != nil {
		bits := int(s.PersistenceBits)
		if bits == 0 || bits > int(alen(fam))*8 {
			bits = int(alen(fam)) * 8
		}
		key := []expr.Any{saddr(fam, keyReg)}
		if bits < int(alen(fam))*8 {
			key = append(key, &expr.Bitwise{SourceRegister: keyReg, DestRegister: keyReg, Len: alen(fam), Mask: prefixMask(bits, int(alen(fam))), Xor: make([]byte, alen(fam))})
		}
		refresh := &expr.Dynset{SrcRegKey: keyReg, SrcRegData: dest, SetName: p.Aff.Name, Operation: unix.NFT_DYNSET_OP_UPDATE, Timeout: s.Persistence}
		// A known client: its destination from the affinity map, its
		// timeout refreshed. A lookup miss ends the rule.
		hit := append(append([]expr.Any{}, key...),
			&expr.Lookup{SourceRegister: keyReg, DestRegister: dest, IsDestRegSet: true, SetName: p.Aff.Name},
			refresh)
		p.Rules = append(p.Rules, ruleDef{Exprs: append(hit, emit...)})
		// A new client: scheduled, then remembered.
		miss := append(append(append([]expr.Any{}, pick...), key...), refresh)
		p.Rules = append(p.Rules, ruleDef{Anon: anon, Exprs: append(miss, emit...)})
		return p, nil
	}
	p.Rules = append(p.Rules, ruleDef{Anon: anon, Exprs: append(pick, emit...)})
	return p, nil
}

func addrType(fam dataplane.Family) nftables.SetDatatype {
	if fam == dataplane.IPv6 {
		return nftables.TypeIP6Addr
	}
	return nftables.TypeIPAddr
}

// prefixMask is a network mask of bits ones over n bytes.
func prefixMask(bits, n int) []byte {
	m := make([]byte, n)
	for i := range bits {
		m[i/8] |= 0x80 >> (i % 8)
	}
	return m
}

// dispatchKey is a service's element in its dispatch map: the address,
// protocol and port concatenation, or the mark.
func dispatchKey(k dataplane.ServiceKey, dr bool) (set string, key []byte) {
	if k.Fwmark != 0 {
		if k.Family == dataplane.IPv6 {
			return mapFwm6, binary.NativeEndian.AppendUint32(nil, k.Fwmark)
		}
		return mapFwm4, binary.NativeEndian.AppendUint32(nil, k.Fwmark)
	}
	key = destBytes(k.Addr, 0, false)
	key = append(key, byte(k.Protocol), 0, 0, 0)
	key = binary.BigEndian.AppendUint16(key, k.Port)
	key = append(key, 0, 0)
	switch {
	case dr && k.Family == dataplane.IPv6:
		return mapDR6, key
	case dr:
		return mapDR4, key
	case k.Family == dataplane.IPv6:
		return mapSvc6, key
	}
	return mapSvc4, key
}

// dispatchSets are the four verdict maps that send a packet to its
// service's chain.
func dispatchSets() []setDef {
	v := nftables.TypeVerdict
	return []setDef{
		{Name: mapFwm4, IsMap: true, Key: nftables.TypeMark, Data: v},
		{Name: mapFwm6, IsMap: true, Key: nftables.TypeMark, Data: v},
		{Name: mapSvc4, IsMap: true, Concat: true, Key: nftables.MustConcatSetType(nftables.TypeIPAddr, nftables.TypeInetProto, nftables.TypeInetService), Data: v},
		{Name: mapSvc6, IsMap: true, Concat: true, Key: nftables.MustConcatSetType(nftables.TypeIP6Addr, nftables.TypeInetProto, nftables.TypeInetService), Data: v},
	}
}

// dispatchRules look the packet up in the dispatch maps: fwmark services
// first, as IPVS does.
func dispatchRules() []ruleDef {
	// ct state new: only first packets reach a nat chain anyway, but a ct
	// expression holds the namespace's conntrack hooks for as long as the
	// table exists. Without one, a table whose services have no real
	// server left holds no nat expression either, conntrack unhooks, and
	// every established translated connection is reset.
	proto := func(p byte) []expr.Any {
		return []expr.Any{
			&expr.Ct{Register: regDisp, Key: expr.CtKeySTATE},
			&expr.Bitwise{SourceRegister: regDisp, DestRegister: regDisp, Len: 4, Mask: u32(expr.CtStateBitNEW), Xor: u32(0)},
			&expr.Cmp{Op: expr.CmpOpNeq, Register: regDisp, Data: u32(0)},
			&expr.Meta{Key: expr.MetaKeyNFPROTO, Register: regDisp},
			&expr.Cmp{Op: expr.CmpOpEq, Register: regDisp, Data: []byte{p}},
		}
	}
	mark := func(p byte, set string) ruleDef {
		return ruleDef{Exprs: append(proto(p),
			&expr.Meta{Key: expr.MetaKeyMARK, Register: regDisp},
			&expr.Lookup{SourceRegister: regDisp, DestRegister: 0, IsDestRegSet: true, SetName: set})}
	}
	addr := func(p byte, fam dataplane.Family, set string) ruleDef {
		next := regAddr + alen(fam)/4
		return ruleDef{Exprs: append(proto(p),
			daddr(fam, regAddr),
			&expr.Meta{Key: expr.MetaKeyL4PROTO, Register: next},
			&expr.Payload{DestRegister: next + 1, Base: expr.PayloadBaseTransportHeader, Offset: 2, Len: 2},
			&expr.Lookup{SourceRegister: regAddr, DestRegister: 0, IsDestRegSet: true, SetName: set})}
	}
	return []ruleDef{
		mark(unix.NFPROTO_IPV4, mapFwm4),
		mark(unix.NFPROTO_IPV6, mapFwm6),
		addr(unix.NFPROTO_IPV4, dataplane.IPv4, mapSvc4),
		addr(unix.NFPROTO_IPV6, dataplane.IPv6, mapSvc6),
	}
}

// drSets are the netdev table's maps: dispatch (address . protocol . port
// to the service's chain) and hops (real server address to MACs and
// interface), per family.
func drSets() []setDef {
	v := nftables.TypeVerdict
	return []setDef{
		{Name: mapDR4, IsMap: true, Concat: true, Key: nftables.MustConcatSetType(nftables.TypeIPAddr, nftables.TypeInetProto, nftables.TypeInetService), Data: v},
		{Name: mapDR6, IsMap: true, Concat: true, Key: nftables.MustConcatSetType(nftables.TypeIP6Addr, nftables.TypeInetProto, nftables.TypeInetService), Data: v},
		{Name: mapDMAC4, IsMap: true, Key: nftables.TypeIPAddr, Data: nftables.TypeEtherAddr},
		{Name: mapSMAC4, IsMap: true, Key: nftables.TypeIPAddr, Data: nftables.TypeEtherAddr},
		{Name: mapOIF4, IsMap: true, Key: nftables.TypeIPAddr, Data: nftables.TypeIFIndex},
		{Name: mapDMAC6, IsMap: true, Key: nftables.TypeIP6Addr, Data: nftables.TypeEtherAddr},
		{Name: mapSMAC6, IsMap: true, Key: nftables.TypeIP6Addr, Data: nftables.TypeEtherAddr},
		{Name: mapOIF6, IsMap: true, Key: nftables.TypeIP6Addr, Data: nftables.TypeIFIndex},
	}
}

// drDispatchRules send a frame for the director itself (not one seen in
// passing, nor a broadcast) to its DR service's chain. Frames of
// fragments after the first carry no port and pass on to the director's
// stack.
func drDispatchRules() []ruleDef {
	rule := func(ethertype uint16, fam dataplane.Family, set string) ruleDef {
		next := regAddr + alen(fam)/4
		return ruleDef{Exprs: []expr.Any{
			&expr.Meta{Key: expr.MetaKeyPKTTYPE, Register: regDisp},
			&expr.Cmp{Op: expr.CmpOpEq, Register: regDisp, Data: []byte{unix.PACKET_HOST}},
			&expr.Meta{Key: expr.MetaKeyPROTOCOL, Register: regDisp},
			&expr.Cmp{Op: expr.CmpOpEq, Register: regDisp, Data: binary.BigEndian.AppendUint16(nil, ethertype)},
			daddr(fam, regAddr),
			&expr.Meta{Key: expr.MetaKeyL4PROTO, Register: next},
			&expr.Payload{DestRegister: next + 1, Base: expr.PayloadBaseTransportHeader, Offset: 2, Len: 2},
			&expr.Lookup{SourceRegister: regAddr, DestRegister: 0, IsDestRegSet: true, SetName: set},
		}}
	}
	return []ruleDef{rule(unix.ETH_P_IP, dataplane.IPv4, mapDR4), rule(unix.ETH_P_IPV6, dataplane.IPv6, mapDR6)}
}

// send rewrites the frame for the real server in regDRDest (destination
// MAC: the real server's; source: the director's on the way out), sends a
// copy out of that interface and drops the original, which would otherwise
// reach the director's own stack. google/nftables has no fwd expression;
// dup to a device is the same transmit path for the copy. A real server
// whose MAC is unknown has no hop element: the lookup ends the rule. It is
// inlined in each rule that needs it: the kernel refuses a rule that reads
// a register no earlier expression of the same rule wrote, so a shared
// chain cannot take the real server from its caller.
func send(fam dataplane.Family) []expr.Any {
	m := hopMaps(fam)
	return []expr.Any{
		&expr.Lookup{SourceRegister: regDRDest, DestRegister: regHop, IsDestRegSet: true, SetName: m[0]},
		&expr.Payload{OperationType: expr.PayloadWrite, SourceRegister: regHop, Base: expr.PayloadBaseLLHeader, Offset: 0, Len: 6},
		&expr.Lookup{SourceRegister: regDRDest, DestRegister: regHop, IsDestRegSet: true, SetName: m[1]},
		&expr.Payload{OperationType: expr.PayloadWrite, SourceRegister: regHop, Base: expr.PayloadBaseLLHeader, Offset: 6, Len: 6},
		&expr.Lookup{SourceRegister: regDRDest, DestRegister: regHop, IsDestRegSet: true, SetName: m[2]},
		&expr.Dup{RegDev: regHop, IsRegDevSet: true},
		&expr.Verdict{Kind: expr.VerdictDrop},
	}
}
