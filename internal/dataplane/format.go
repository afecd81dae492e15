package dataplane

import (
	"fmt"
	"net/netip"
	"strings"
	"time"
)

// Format writes t in the style of `ipvsadm -Sn`: one -A line per service,
// followed by one -a line per destination, services and destinations in a
// stable order. Golden files and test failures use it; it is close enough
// to ipvsadm's output to compare by eye.
func (t Table) Format() string {
	var b strings.Builder
	for _, k := range t.Keys() {
		e := t[k]
		fmt.Fprintf(&b, "-A %s", formatService(e.Service))
		b.WriteByte('\n')
		for _, dk := range sortedDestKeys(e.Dests) {
			fmt.Fprintf(&b, "-a %s -r %s %s\n", formatKey(k), formatAddrPort(dk.Addr, dk.Port), formatDest(e.Dests[dk]))
		}
	}
	return b.String()
}

func formatKey(k ServiceKey) string {
	if k.Fwmark != 0 {
		if k.Family == IPv6 {
			return fmt.Sprintf("-f %d -6", k.Fwmark)
		}
		return fmt.Sprintf("-f %d", k.Fwmark)
	}
	opt := map[Protocol]string{ProtoTCP: "-t", ProtoUDP: "-u", ProtoSCTP: "--sctp-service"}[k.Protocol]
	if opt == "" {
		opt = fmt.Sprintf("--protocol-%d", k.Protocol)
	}
	return opt + " " + formatAddrPort(k.Addr, k.Port)
}

func formatAddrPort(a netip.Addr, port uint16) string {
	return netip.AddrPortFrom(a, port).String()
}

func formatService(s Service) string {
	var b strings.Builder
	b.WriteString(formatKey(s.Key))
	fmt.Fprintf(&b, " -s %s", s.Scheduler)
	var flags []string
	for i, name := range []string{"flag-1", "flag-2", "flag-3"} {
		if s.Flags&(1<<i) != 0 {
			flags = append(flags, name)
		}
	}
	if len(flags) > 0 {
		fmt.Fprintf(&b, " -b %s", strings.Join(flags, ","))
	}
	if s.Persistence != 0 {
		fmt.Fprintf(&b, " -p %d", int64(s.Persistence/time.Second))
		full := uint8(32)
		if s.Key.Family == IPv6 {
			full = 128
		}
		if s.PersistenceBits != full {
			if s.Key.Family == IPv6 {
				fmt.Fprintf(&b, " -M %d", s.PersistenceBits)
			} else {
				p := netip.PrefixFrom(netip.IPv4Unspecified(), int(s.PersistenceBits))
				fmt.Fprintf(&b, " -M %s", maskOf(p))
			}
		}
	}
	if s.OnePacket {
		b.WriteString(" -o")
	}
	if s.PersistenceEngine != "" {
		fmt.Fprintf(&b, " --pe %s", s.PersistenceEngine)
	}
	return b.String()
}

// maskOf writes an IPv4 prefix length as a dotted netmask.
func maskOf(p netip.Prefix) string {
	var m [4]byte
	for i := 0; i < p.Bits(); i++ {
		m[i/8] |= 0x80 >> (i % 8)
	}
	return netip.AddrFrom4(m).String()
}

func formatDest(d Destination) string {
	var b strings.Builder
	switch d.Forwarding.Method {
	case NAT:
		b.WriteString("-m")
	case DR:
		b.WriteString("-g")
	case Tunnel:
		b.WriteString("-i")
		f := d.Forwarding
		if f.TunnelType != IPIP || f.TunnelPort != 0 || f.TunnelChecksum != NoChecksum {
			fmt.Fprintf(&b, " --tun-type %s", [...]string{"ipip", "gue", "gre"}[f.TunnelType%3])
		}
		if f.TunnelPort != 0 {
			fmt.Fprintf(&b, " --tun-port %d", f.TunnelPort)
		}
		switch f.TunnelChecksum {
		case Checksum:
			b.WriteString(" --tun-csum")
		case RemoteChecksum:
			b.WriteString(" --tun-remcsum")
		}
	default:
		fmt.Fprintf(&b, "--method-%d", d.Forwarding.Method)
	}
	fmt.Fprintf(&b, " -w %d", d.Weight)
	if d.UpperThreshold != 0 {
		fmt.Fprintf(&b, " -x %d", d.UpperThreshold)
	}
	if d.LowerThreshold != 0 {
		fmt.Fprintf(&b, " -y %d", d.LowerThreshold)
	}
	return b.String()
}

func sortedDestKeys(m map[DestKey]Destination) []DestKey {
	keys := make([]DestKey, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sortDestKeys(keys)
	return keys
}
