package dataplane

import (
	"fmt"
	"net/netip"
	"strings"
	"time"
)

// Format writes t exactly as `ipvsadm -Sn` prints such a table (checked
// against ipvsadm 1.31 on Linux 6.1), services and destinations sorted, so
// that a test can compare Vigil's view with the kernel's as ipvsadm shows
// it. Like ipvsadm's save format it leaves out connection thresholds.
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
	if s.PersistenceEngine != "" {
		fmt.Fprintf(&b, " --pe %s", s.PersistenceEngine)
	}
	if s.OnePacket {
		b.WriteString(" -o")
	}
	if s.Flags != 0 {
		// ipvsadm names the flags after the scheduler; sh and mh have
		// no name for flag-3 and print nothing for it (an "-b " with
		// nothing after it when it is the only one).
		names := [3]string{"flag-1", "flag-2", "flag-3"}
		switch s.Scheduler {
		case "sh":
			names = [3]string{"sh-fallback", "sh-port", ""}
		case "mh":
			names = [3]string{"mh-fallback", "mh-port", ""}
		}
		var flags []string
		for i, name := range names {
			if s.Flags&(1<<i) != 0 && name != "" {
				flags = append(flags, name)
			}
		}
		fmt.Fprintf(&b, " -b %s", strings.Join(flags, ","))
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
	f := d.Forwarding
	switch f.Method {
	case NAT:
		b.WriteString("-m")
	case DR:
		b.WriteString("-g")
	case Tunnel:
		b.WriteString("-i")
	default:
		fmt.Fprintf(&b, "--method-%d", f.Method)
	}
	fmt.Fprintf(&b, " -w %d", d.Weight)
	if f.Method == Tunnel {
		fmt.Fprintf(&b, " --tun-type %s", [...]string{"ipip", "gue", "gre", "unknown"}[min(int(f.TunnelType), 3)])
		if f.TunnelType == GUE {
			fmt.Fprintf(&b, " --tun-port %d", f.TunnelPort)
		}
		if f.TunnelType == GUE || f.TunnelType == GRE {
			b.WriteString([...]string{" --tun-nocsum", " --tun-csum", " --tun-remcsum", " --tun-csum-unknown"}[min(int(f.TunnelChecksum), 3)])
		}
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
