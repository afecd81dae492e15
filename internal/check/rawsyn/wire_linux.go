package rawsyn

import (
	"errors"
	"fmt"
	"net/netip"
	"os"
	"strings"
	"sync/atomic"
	"unsafe"

	"golang.org/x/net/bpf"
	"golang.org/x/sys/unix"
)

// SysWire is the system's Wire (one goroutine at a time; it needs
// CAP_NET_RAW), with one bound, never listening, TCP socket per reserved
// port.
//
// IPv4 sends from an IPPROTO_RAW socket, with the IP header written here,
// and receives on a packet socket (AF_PACKET, IPv4 only) behind a socket
// filter that passes only TCP segments to the reserved ports. Neither is
// a raw IPPROTO_TCP socket, because the kernel gives such a socket a copy
// of every TCP segment the host receives, its checks' and all others (a
// director's traffic), and runs its filter only on the copy: a memory
// allocation and a copy of the packet's metadata per segment, for nothing
// but the few answers. A packet socket runs its filter first and copies
// only what passes; an IPPROTO_RAW socket receives nothing. One
// difference follows: the packet socket sees an answer before the host's
// firewall does, so a check passes when the real server answers even if
// the host's own input rules would have dropped the answer (a connect(2)
// would then time out). Where a packet socket cannot be opened, IPv4
// falls back to a raw IPPROTO_TCP socket as IPv6 uses: IPv6 sends and
// receives on one raw IPPROTO_TCP socket behind the same filter.
type SysWire struct {
	ports []uint16
	// reserve holds the ports: bound sockets take them from every other
	// socket of the host, and since none of them listens or connects, the
	// kernel answers a SYN-ACK to them with a reset.
	reserve []int
	// tx and rx are the sockets that send and receive, per family; the
	// same one (a raw IPPROTO_TCP socket) unless hdrincl.
	tx, rx [2]int
	// hdrincl says that IPv4's tx is an IPPROTO_RAW socket: Send writes
	// the IP header (ttl is its time to live, the host's default).
	hdrincl bool
	ttl     uint8
	// ring is the packet socket's receive ring, nil if it could not be
	// set up (then recvmmsg(2) reads the socket).
	ring *rxRing
	// noPacket is why IPv4 fell back to a raw TCP socket (nil when it
	// did not, or was told to by openSys).
	noPacket error
	// lookup are UDP sockets per family for the route lookups.
	lookup [2]int

	hdrs   []unix.Mmsghdr
	iovs   []unix.Iovec
	names4 []unix.RawSockaddrInet4
	names6 []unix.RawSockaddrInet6
	iph    [][ipv4HeaderLen]byte

	// Source's addresses, kept here so that a lookup allocates nothing.
	to4     unix.RawSockaddrInet4
	to6     unix.RawSockaddrInet6
	name    unix.RawSockaddrAny
	nameLen uint32

	rxb [2]rxBufs
}

type rxBufs struct {
	buf   []byte
	hdrs  []unix.Mmsghdr
	iovs  []unix.Iovec
	names []unix.RawSockaddrInet6
}

// rxBatch is how many segments one recvmmsg may return; rxSize holds an
// IPv4 header and a TCP header with options (60 + 60 bytes).
const (
	rxBatch = 64
	rxSize  = 128
)

// ipv4HeaderLen is the IP header Send writes for IPv4 (no options).
const ipv4HeaderLen = 20

// OpenSys opens the system's Wire with nports reserved source ports. IPv6 is
// optional: a host without it gets a Wire of IPv4 only.
func OpenSys(nports int) (w *SysWire, err error) {
	return openSys(nports, true)
}

// openSys is OpenSys; packet false keeps IPv4 on a raw IPPROTO_TCP socket
// (the fallback, for tests).
func openSys(nports int, packet bool) (w *SysWire, err error) {
	w = &SysWire{tx: [2]int{-1, -1}, rx: [2]int{-1, -1}, lookup: [2]int{-1, -1}, ttl: defaultTTL()}
	defer func() {
		if err != nil {
			w.Close()
		}
	}()
	for range nports {
		p, fd, err := reservePort()
		if err != nil {
			return nil, err
		}
		w.ports = append(w.ports, p)
		w.reserve = append(w.reserve, fd)
	}
	for i, dom := range []int{unix.AF_INET, unix.AF_INET6} {
		// IPv4 on a packet socket where one opens; otherwise, and for
		// IPv6, a raw TCP socket.
		if i == 0 && packet {
			w.noPacket = w.openPacket4()
		}
		if i != 0 || !packet || w.noPacket != nil {
			fd, err := openRawTCP(dom)
			if err != nil {
				if i == 1 && errors.Is(err, unix.EAFNOSUPPORT) {
					continue
				}
				return nil, err
			}
			if err := attachFilter(fd, Filter(i == 0, w.ports)); err != nil {
				unix.Close(fd)
				return nil, err
			}
			// What arrived before the filter was attached is not filtered.
			drain(fd)
			w.tx[i], w.rx[i] = fd, fd
		}
		u, err := unix.Socket(dom, unix.SOCK_DGRAM|unix.SOCK_CLOEXEC, 0)
		if err != nil {
			return nil, os.NewSyscallError("socket", err)
		}
		w.lookup[i] = u
		if i == 0 && w.ring != nil {
			continue // recvmmsg's buffers are not needed
		}
		w.rxb[i] = rxBufs{buf: make([]byte, rxBatch*rxSize), hdrs: make([]unix.Mmsghdr, rxBatch), iovs: make([]unix.Iovec, rxBatch), names: make([]unix.RawSockaddrInet6, rxBatch)}
	}
	return w, nil
}

// openRawTCP opens a raw IPPROTO_TCP socket of domain dom, with room for
// bursts; it receives (unfiltered) from the start.
func openRawTCP(dom int) (int, error) {
	fd, err := unix.Socket(dom, unix.SOCK_RAW|unix.SOCK_NONBLOCK|unix.SOCK_CLOEXEC, unix.IPPROTO_TCP)
	if err != nil {
		return -1, os.NewSyscallError("socket", err)
	}
	if dom == unix.AF_INET {
		// Don't fragment, as the kernel's own SYNs: the IP ID then
		// comes from a per-socket counter rather than the hashed
		// per-destination one (a cache miss per SYN).
		if err := unix.SetsockoptInt(fd, unix.IPPROTO_IP, unix.IP_MTU_DISCOVER, unix.IP_PMTUDISC_DO); err != nil {
			unix.Close(fd)
			return -1, os.NewSyscallError("IP_MTU_DISCOVER", err)
		}
	}
	bufferRoom(fd)
	return fd, nil
}

// bufferRoom gives fd room for a burst of packets (best effort: as root
// FORCE works).
func bufferRoom(fd int) {
	if unix.SetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_RCVBUFFORCE, 4<<20) != nil {
		unix.SetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_RCVBUF, 4<<20)
	}
	if unix.SetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_SNDBUFFORCE, 4<<20) != nil {
		unix.SetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_SNDBUF, 4<<20)
	}
}

// openPacket4 opens IPv4's sockets of the packet-socket kind (see
// SysWire): the IPPROTO_RAW socket that sends, and the packet socket that
// receives, which takes packets only once its filter is attached (it is
// opened with no protocol, then bound to IPv4's), so that nothing arrives
// unfiltered.
func (w *SysWire) openPacket4() (err error) {
	tx, err := unix.Socket(unix.AF_INET, unix.SOCK_RAW|unix.SOCK_NONBLOCK|unix.SOCK_CLOEXEC, unix.IPPROTO_RAW)
	if err != nil {
		return os.NewSyscallError("socket", err)
	}
	rx, err := unix.Socket(unix.AF_PACKET, unix.SOCK_DGRAM|unix.SOCK_NONBLOCK|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		unix.Close(tx)
		return os.NewSyscallError("socket", err)
	}
	defer func() {
		if err != nil {
			unix.Close(tx)
			unix.Close(rx)
		}
	}()
	if err := attachFilter(rx, PacketFilter(w.ports)); err != nil {
		return err
	}
	bufferRoom(tx)
	bufferRoom(rx)
	ring, _ := openRing(rx) // without one, recvmmsg(2)
	if err := unix.Bind(rx, &unix.SockaddrLinklayer{Protocol: htons(unix.ETH_P_IP)}); err != nil {
		if ring != nil {
			ring.close()
		}
		return os.NewSyscallError("bind", err)
	}
	w.tx[0], w.rx[0], w.hdrincl, w.ring = tx, rx, true, ring
	return nil
}

// rxRing is a packet socket's receive ring (PACKET_RX_RING, TPACKET_V2):
// the kernel copies each packet that passes the filter into the next
// free frame of memory shared with the process, which reads it there,
// with no system call and no socket buffer per packet. Each frame says
// by its status word whose it is. (TPACKET_V3 hands over whole blocks,
// when full or after a timeout: an answer would wait for it.)
type rxRing struct {
	mem  []byte
	next int
}

// The ring's geometry: 2,048 frames of 256 bytes (512 KiB), 16 to a
// page-sized block. A frame holds the kernel's header (80 bytes before a
// SOCK_DGRAM packet's network header) and 176 bytes of the packet, more
// than an IPv4 and a TCP header with options. The Runner drains the ring
// at every pass (20 ms, 200 answers at 10,000 checks a second); an
// answer that finds the ring full is lost, and its SYN is sent again.
const (
	ringFrameSize = 256
	ringBlockSize = 4096
	ringFrames    = 2048
)

func openRing(fd int) (*rxRing, error) {
	if err := unix.SetsockoptInt(fd, unix.SOL_PACKET, unix.PACKET_VERSION, unix.TPACKET_V2); err != nil {
		return nil, os.NewSyscallError("PACKET_VERSION", err)
	}
	req := unix.TpacketReq{Block_size: ringBlockSize, Block_nr: ringFrames * ringFrameSize / ringBlockSize, Frame_size: ringFrameSize, Frame_nr: ringFrames}
	if err := unix.SetsockoptTpacketReq(fd, unix.SOL_PACKET, unix.PACKET_RX_RING, &req); err != nil {
		return nil, os.NewSyscallError("PACKET_RX_RING", err)
	}
	mem, err := unix.Mmap(fd, 0, ringFrames*ringFrameSize, unix.PROT_READ|unix.PROT_WRITE, unix.MAP_SHARED)
	if err != nil {
		return nil, os.NewSyscallError("mmap", err)
	}
	return &rxRing{mem: mem}, nil
}

// read appends to into the IPv4 segments of the frames the kernel has
// filled, at most max of them, and gives the frames back.
func (r *rxRing) read(into []Segment, max int) []Segment {
	for range max {
		f := r.mem[r.next*ringFrameSize : (r.next+1)*ringFrameSize]
		h := (*unix.Tpacket2Hdr)(unsafe.Pointer(&f[0]))
		status := (*uint32)(unsafe.Pointer(&h.Status))
		if atomic.LoadUint32(status)&unix.TP_STATUS_USER == 0 {
			break
		}
		if start, end := int(h.Net), int(h.Net)+int(h.Snaplen); start <= end && end <= len(f) {
			if s, err := DecodeIPv4(f[start:end]); err == nil {
				into = append(into, s)
			}
		}
		atomic.StoreUint32(status, unix.TP_STATUS_KERNEL)
		r.next = (r.next + 1) % ringFrames
	}
	return into
}

func (r *rxRing) close() {
	unix.Munmap(r.mem)
	r.mem = nil
}

func htons(v uint16) uint16 { return v<<8 | v>>8 }

// defaultTTL is the host's default time to live for IPv4
// (net.ipv4.ip_default_ttl), 64 when it cannot be read.
func defaultTTL() uint8 {
	b, err := os.ReadFile("/proc/sys/net/ipv4/ip_default_ttl")
	if err != nil {
		return 64
	}
	var ttl int
	if _, err := fmt.Sscan(string(b), &ttl); err != nil || ttl < 1 || ttl > 255 {
		return 64
	}
	return uint8(ttl)
}

// reservePort binds a TCP socket to a free port of both families (one
// IPv6 socket that also takes IPv4, or an IPv4 one on a host without
// IPv6).
func reservePort() (uint16, int, error) {
	fd, err := unix.Socket(unix.AF_INET6, unix.SOCK_STREAM|unix.SOCK_CLOEXEC, 0)
	if err == nil {
		if err := unix.SetsockoptInt(fd, unix.IPPROTO_IPV6, unix.IPV6_V6ONLY, 0); err != nil {
			unix.Close(fd)
			return 0, -1, os.NewSyscallError("IPV6_V6ONLY", err)
		}
		if err := unix.Bind(fd, &unix.SockaddrInet6{}); err != nil {
			unix.Close(fd)
			return 0, -1, os.NewSyscallError("bind", err)
		}
	} else {
		if fd, err = unix.Socket(unix.AF_INET, unix.SOCK_STREAM|unix.SOCK_CLOEXEC, 0); err != nil {
			return 0, -1, os.NewSyscallError("socket", err)
		}
		if err := unix.Bind(fd, &unix.SockaddrInet4{}); err != nil {
			unix.Close(fd)
			return 0, -1, os.NewSyscallError("bind", err)
		}
	}
	sa, err := unix.Getsockname(fd)
	if err != nil {
		unix.Close(fd)
		return 0, -1, os.NewSyscallError("getsockname", err)
	}
	switch sa := sa.(type) {
	case *unix.SockaddrInet6:
		return uint16(sa.Port), fd, nil
	case *unix.SockaddrInet4:
		return uint16(sa.Port), fd, nil
	}
	unix.Close(fd)
	return 0, -1, fmt.Errorf("getsockname: unexpected %T", sa)
}

// Filter is the socket filter of a raw TCP socket: only segments to one
// of ports pass. An IPv4 raw socket's filter sees the IP header (and
// drops fragments but the first); an IPv6 one's starts at TCP's.
func Filter(v4 bool, ports []uint16) []bpf.Instruction {
	var prog []bpf.Instruction
	if v4 {
		prog = append(prog,
			bpf.LoadAbsolute{Off: 6, Size: 2},
			bpf.JumpIf{Cond: bpf.JumpBitsSet, Val: 0x1fff, SkipTrue: uint8(len(ports) + 2)},
			bpf.LoadMemShift{Off: 0},
			bpf.LoadIndirect{Off: 2, Size: 2},
		)
	} else {
		prog = append(prog, bpf.LoadAbsolute{Off: 2, Size: 2})
	}
	for i, p := range ports {
		prog = append(prog, bpf.JumpIf{Cond: bpf.JumpEqual, Val: uint32(p), SkipTrue: uint8(len(ports) - i)})
	}
	return append(prog, bpf.RetConstant{Val: 0}, bpf.RetConstant{Val: 0xffff})
}

// PacketFilter is the socket filter of IPv4's packet socket: only TCP
// segments addressed to this host (not forwarded through it, not seen in
// promiscuous mode), whole or the first fragment, to one of ports pass.
// It sees the packet from its IP header (a SOCK_DGRAM packet socket).
func PacketFilter(ports []uint16) []bpf.Instruction {
	// drop is the skip from instruction at to Filter's "ret 0".
	drop := func(at int) uint8 { return uint8(len(ports) + 7 - at) }
	prog := []bpf.Instruction{
		bpf.LoadExtension{Num: bpf.ExtType},
		bpf.JumpIf{Cond: bpf.JumpNotEqual, Val: unix.PACKET_HOST, SkipTrue: drop(1)},
		bpf.LoadAbsolute{Off: 9, Size: 1},
		bpf.JumpIf{Cond: bpf.JumpNotEqual, Val: unix.IPPROTO_TCP, SkipTrue: drop(3)},
	}
	// The rest is the raw IPv4 socket's filter (fragments, then ports).
	return append(prog, Filter(true, ports)...)
}

func attachFilter(fd int, prog []bpf.Instruction) error {
	raw, err := bpf.Assemble(prog)
	if err != nil {
		return err
	}
	f := make([]unix.SockFilter, len(raw))
	for i, r := range raw {
		f[i] = unix.SockFilter{Code: r.Op, Jt: r.Jt, Jf: r.Jf, K: r.K}
	}
	if err := unix.SetsockoptSockFprog(fd, unix.SOL_SOCKET, unix.SO_ATTACH_FILTER, &unix.SockFprog{Len: uint16(len(f)), Filter: &f[0]}); err != nil {
		return os.NewSyscallError("SO_ATTACH_FILTER", err)
	}
	return nil
}

func drain(fd int) {
	var b [rxSize]byte
	for range 1 << 16 {
		if _, _, err := unix.Recvfrom(fd, b[:], unix.MSG_DONTWAIT); err != nil {
			return
		}
	}
}

// Ports implements Wire.
func (w *SysWire) Ports() []uint16 { return w.ports }

// Has implements Wire.
func (w *SysWire) Has(family int) bool { return w.tx[family/6] >= 0 }

// Describe implements Wire: which sockets each family uses, and why IPv4
// is not on the packet socket when it is not (the checks behave the same
// on both, but the raw TCP socket copies every TCP segment the host
// receives, which an operator of a busy director wants to know).
func (w *SysWire) Describe() string {
	var b strings.Builder
	switch {
	case w.hdrincl && w.ring != nil:
		b.WriteString("IPv4: IPPROTO_RAW out, packet socket with a receive ring in")
	case w.hdrincl:
		b.WriteString("IPv4: IPPROTO_RAW out, packet socket in (no receive ring)")
	default:
		b.WriteString("IPv4: raw TCP socket")
		if w.noPacket != nil {
			b.WriteString(" (no packet socket: " + w.noPacket.Error() + ")")
		}
	}
	if w.Has(6) {
		b.WriteString("; IPv6: raw TCP socket")
	} else {
		b.WriteString("; no IPv6")
	}
	return b.String()
}

// Source implements Wire: the source address of a UDP socket connected
// to dst (connecting a UDP socket is a route lookup and sends nothing).
// It makes no garbage: each target's lookup is made again every
// sourceTTL, 333 a second for 10,000 targets, and the few objects a
// lookup through the usual wrappers allocates were the only garbage of
// the LVS process's steady state, its heap growing into the memory
// limit's headroom until a collection.
func (w *SysWire) Source(dst netip.Addr) (netip.Addr, error) {
	i := familyOf(dst) / 6
	fd := w.lookup[i]
	if fd < 0 {
		return netip.Addr{}, ErrFamily
	}
	var to unsafe.Pointer
	var tolen uintptr
	if i == 0 {
		w.to4 = unix.RawSockaddrInet4{Family: unix.AF_INET, Port: htons(9), Addr: dst.As4()}
		to, tolen = unsafe.Pointer(&w.to4), unix.SizeofSockaddrInet4
	} else {
		w.to6 = unix.RawSockaddrInet6{Family: unix.AF_INET6, Port: htons(9), Addr: dst.As16()}
		to, tolen = unsafe.Pointer(&w.to6), unix.SizeofSockaddrInet6
	}
	// Dissolve the last lookup's connection first: a UDP socket keeps
	// the source address of its first connect otherwise.
	unix.RawSyscall(unix.SYS_CONNECT, uintptr(fd), uintptr(unsafe.Pointer(&unspec)), unsafe.Sizeof(unspec))
	if _, _, e := unix.RawSyscall(unix.SYS_CONNECT, uintptr(fd), uintptr(to), tolen); e != 0 {
		return netip.Addr{}, os.NewSyscallError("connect", e)
	}
	w.nameLen = unix.SizeofSockaddrAny
	if _, _, e := unix.RawSyscall(unix.SYS_GETSOCKNAME, uintptr(fd), uintptr(unsafe.Pointer(&w.name)), uintptr(unsafe.Pointer(&w.nameLen))); e != 0 {
		return netip.Addr{}, os.NewSyscallError("getsockname", e)
	}
	switch w.name.Addr.Family {
	case unix.AF_INET:
		return netip.AddrFrom4((*unix.RawSockaddrInet4)(unsafe.Pointer(&w.name)).Addr), nil
	case unix.AF_INET6:
		return netip.AddrFrom16((*unix.RawSockaddrInet6)(unsafe.Pointer(&w.name)).Addr), nil
	}
	return netip.Addr{}, fmt.Errorf("getsockname: unexpected family %d", w.name.Addr.Family)
}

// unspec is the address that dissolves a socket's connection.
var unspec = unix.RawSockaddr{Family: unix.AF_UNSPEC}

// Send implements Wire with sendmmsg(2) on the non-blocking raw socket.
// Send and Recv make raw system calls, without the runtime's bookkeeping:
// neither blocks (the socket is non-blocking), and an ordinary system call
// wakes the runtime's monitor thread whenever the process leaves
// idleness, after which it naps every 20 µs for about a millisecond; the
// Runner sends and receives at each of its 100 wakeups a second.
func (w *SysWire) Send(family int, pkts []Packet) (int, error) {
	i := family / 6
	if w.tx[i] < 0 {
		return 0, ErrFamily
	}
	n := len(pkts)
	if cap(w.hdrs) < n {
		w.hdrs, w.iovs = make([]unix.Mmsghdr, n), make([]unix.Iovec, 2*n)
		w.names4, w.names6 = make([]unix.RawSockaddrInet4, n), make([]unix.RawSockaddrInet6, n)
		w.iph = make([][ipv4HeaderLen]byte, n)
	}
	hdrs := w.hdrs[:n]
	for j, p := range pkts {
		h := &hdrs[j].Hdr
		if i == 0 && w.hdrincl {
			// The IP header, then the segment.
			EncodeIPv4Header(w.iph[j][:], p.Src, p.Dst, len(p.Data), w.ttl)
			iov := w.iovs[2*j : 2*j+2]
			iov[0] = unix.Iovec{Base: &w.iph[j][0], Len: ipv4HeaderLen}
			iov[1] = unix.Iovec{Base: &p.Data[0], Len: uint64(len(p.Data))}
			*h = unix.Msghdr{Iov: &iov[0], Iovlen: 2}
		} else {
			w.iovs[j] = unix.Iovec{Base: &p.Data[0], Len: uint64(len(p.Data))}
			*h = unix.Msghdr{Iov: &w.iovs[j], Iovlen: 1}
		}
		if i == 0 {
			w.names4[j] = unix.RawSockaddrInet4{Family: unix.AF_INET, Addr: p.Dst.As4()}
			h.Name, h.Namelen = (*byte)(unsafe.Pointer(&w.names4[j])), unix.SizeofSockaddrInet4
		} else {
			w.names6[j] = unix.RawSockaddrInet6{Family: unix.AF_INET6, Addr: p.Dst.As16()}
			h.Name, h.Namelen = (*byte)(unsafe.Pointer(&w.names6[j])), unix.SizeofSockaddrInet6
		}
	}
	sent := 0
	for sent < n {
		r, _, e := unix.RawSyscall6(unix.SYS_SENDMMSG, uintptr(w.tx[i]), uintptr(unsafe.Pointer(&hdrs[sent])), uintptr(n-sent), 0, 0, 0)
		if e == unix.EINTR {
			continue
		}
		if e != 0 {
			return sent, e
		}
		sent += int(r)
	}
	return sent, nil
}

// Recv implements Wire with one non-blocking recvmmsg(2).
func (w *SysWire) Recv(family int, into []Segment) ([]Segment, error) {
	i := family / 6
	if w.rx[i] < 0 {
		return into, ErrFamily
	}
	if i == 0 && w.ring != nil {
		return w.ring.read(into, rxBatch), nil
	}
	b := &w.rxb[i]
	for j := range b.hdrs {
		b.iovs[j] = unix.Iovec{Base: &b.buf[j*rxSize], Len: rxSize}
		b.hdrs[j] = unix.Mmsghdr{Hdr: unix.Msghdr{Iov: &b.iovs[j], Iovlen: 1, Name: (*byte)(unsafe.Pointer(&b.names[j])), Namelen: unix.SizeofSockaddrInet6}}
	}
	r, _, e := unix.RawSyscall6(unix.SYS_RECVMMSG, uintptr(w.rx[i]), uintptr(unsafe.Pointer(&b.hdrs[0])), uintptr(len(b.hdrs)), unix.MSG_DONTWAIT, 0, 0)
	switch {
	case e == unix.EAGAIN || e == unix.EINTR:
		return into, nil
	case e != 0:
		return into, os.NewSyscallError("recvmmsg", e)
	}
	n := int(r)
	for j := range n {
		pkt := b.buf[j*rxSize : j*rxSize+min(int(b.hdrs[j].Len), rxSize)]
		var s Segment
		var err error
		if i == 0 {
			s, err = DecodeIPv4(pkt)
		} else {
			s, err = DecodeIPv6(netip.AddrFrom16(b.names[j].Addr), pkt)
		}
		if err == nil {
			into = append(into, s)
		}
	}
	return into, nil
}

// Close implements Wire.
func (w *SysWire) Close() error {
	for i := range w.tx {
		if w.rx[i] >= 0 && w.rx[i] != w.tx[i] {
			unix.Close(w.rx[i])
		}
		if w.tx[i] >= 0 {
			unix.Close(w.tx[i])
		}
		w.tx[i], w.rx[i] = -1, -1
		if w.lookup[i] >= 0 {
			unix.Close(w.lookup[i])
			w.lookup[i] = -1
		}
	}
	if w.ring != nil {
		w.ring.close()
		w.ring = nil
	}
	for _, fd := range w.reserve {
		unix.Close(fd)
	}
	w.reserve = nil
	return nil
}
