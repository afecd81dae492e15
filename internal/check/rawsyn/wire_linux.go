package rawsyn

import (
	"errors"
	"fmt"
	"net/netip"
	"os"
	"unsafe"

	"golang.org/x/net/bpf"
	"golang.org/x/sys/unix"
)

// SysWire is the system's Wire (one goroutine at a time): a raw IPPROTO_TCP socket per family (it
// needs CAP_NET_RAW) behind a socket filter that passes only TCP segments
// to the reserved ports, and one bound, never listening, TCP socket per
// reserved port.
type SysWire struct {
	ports []uint16
	// reserve holds the ports: bound sockets take them from every other
	// socket of the host, and since none of them listens or connects, the
	// kernel answers a SYN-ACK to them with a reset.
	reserve []int
	raw     [2]int
	// lookup are UDP sockets per family for the route lookups.
	lookup [2]int

	hdrs   []unix.Mmsghdr
	iovs   []unix.Iovec
	names4 []unix.RawSockaddrInet4
	names6 []unix.RawSockaddrInet6

	rx [2]rxBufs
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

// OpenSys opens the system's Wire with nports reserved source ports. IPv6 is
// optional: a host without it gets a Wire of IPv4 only.
func OpenSys(nports int) (w *SysWire, err error) {
	w = &SysWire{raw: [2]int{-1, -1}, lookup: [2]int{-1, -1}}
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
		fd, err := unix.Socket(dom, unix.SOCK_RAW|unix.SOCK_NONBLOCK|unix.SOCK_CLOEXEC, unix.IPPROTO_TCP)
		if err != nil {
			if i == 1 && errors.Is(err, unix.EAFNOSUPPORT) {
				continue
			}
			return nil, os.NewSyscallError("socket", err)
		}
		if err := attachFilter(fd, i == 0, w.ports); err != nil {
			unix.Close(fd)
			return nil, err
		}
		if i == 0 {
			// Don't fragment, as the kernel's own SYNs: the IP ID then
			// comes from a per-socket counter rather than the hashed
			// per-destination one (a cache miss per SYN).
			if err := unix.SetsockoptInt(fd, unix.IPPROTO_IP, unix.IP_MTU_DISCOVER, unix.IP_PMTUDISC_DO); err != nil {
				unix.Close(fd)
				return nil, os.NewSyscallError("IP_MTU_DISCOVER", err)
			}
		}
		// Room for a burst of answers (best effort: as root FORCE works).
		if unix.SetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_RCVBUFFORCE, 4<<20) != nil {
			unix.SetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_RCVBUF, 4<<20)
		}
		if unix.SetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_SNDBUFFORCE, 4<<20) != nil {
			unix.SetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_SNDBUF, 4<<20)
		}
		// What arrived before the filter was attached is not filtered.
		drain(fd)
		w.raw[i] = fd
		u, err := unix.Socket(dom, unix.SOCK_DGRAM|unix.SOCK_CLOEXEC, 0)
		if err != nil {
			return nil, os.NewSyscallError("socket", err)
		}
		w.lookup[i] = u
		w.rx[i] = rxBufs{buf: make([]byte, rxBatch*rxSize), hdrs: make([]unix.Mmsghdr, rxBatch), iovs: make([]unix.Iovec, rxBatch), names: make([]unix.RawSockaddrInet6, rxBatch)}
	}
	return w, nil
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

func attachFilter(fd int, v4 bool, ports []uint16) error {
	raw, err := bpf.Assemble(Filter(v4, ports))
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
func (w *SysWire) Has(family int) bool { return w.raw[family/6] >= 0 }

// Source implements Wire: the source address of a UDP socket connected
// to dst (connecting a UDP socket is a route lookup and sends nothing).
func (w *SysWire) Source(dst netip.Addr) (netip.Addr, error) {
	i := familyOf(dst) / 6
	fd := w.lookup[i]
	if fd < 0 {
		return netip.Addr{}, ErrFamily
	}
	var sa unix.Sockaddr
	if i == 0 {
		sa = &unix.SockaddrInet4{Port: 9, Addr: dst.As4()}
	} else {
		sa = &unix.SockaddrInet6{Port: 9, Addr: dst.As16()}
	}
	// Dissolve the last lookup's connection first: a UDP socket keeps
	// the source address of its first connect otherwise.
	unix.Syscall(unix.SYS_CONNECT, uintptr(fd), uintptr(unsafe.Pointer(&unspec)), unsafe.Sizeof(unspec))
	if err := unix.Connect(fd, sa); err != nil {
		return netip.Addr{}, os.NewSyscallError("connect", err)
	}
	got, err := unix.Getsockname(fd)
	if err != nil {
		return netip.Addr{}, os.NewSyscallError("getsockname", err)
	}
	switch got := got.(type) {
	case *unix.SockaddrInet4:
		return netip.AddrFrom4(got.Addr), nil
	case *unix.SockaddrInet6:
		return netip.AddrFrom16(got.Addr), nil
	}
	return netip.Addr{}, fmt.Errorf("getsockname: unexpected %T", got)
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
	if w.raw[i] < 0 {
		return 0, ErrFamily
	}
	n := len(pkts)
	if cap(w.hdrs) < n {
		w.hdrs, w.iovs = make([]unix.Mmsghdr, n), make([]unix.Iovec, n)
		w.names4, w.names6 = make([]unix.RawSockaddrInet4, n), make([]unix.RawSockaddrInet6, n)
	}
	hdrs, iovs := w.hdrs[:n], w.iovs[:n]
	for j, p := range pkts {
		iovs[j] = unix.Iovec{Base: &p.Data[0], Len: uint64(len(p.Data))}
		h := &hdrs[j].Hdr
		*h = unix.Msghdr{Iov: &iovs[j], Iovlen: 1}
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
		r, _, e := unix.RawSyscall6(unix.SYS_SENDMMSG, uintptr(w.raw[i]), uintptr(unsafe.Pointer(&hdrs[sent])), uintptr(n-sent), 0, 0, 0)
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
	if w.raw[i] < 0 {
		return into, ErrFamily
	}
	b := &w.rx[i]
	for j := range b.hdrs {
		b.iovs[j] = unix.Iovec{Base: &b.buf[j*rxSize], Len: rxSize}
		b.hdrs[j] = unix.Mmsghdr{Hdr: unix.Msghdr{Iov: &b.iovs[j], Iovlen: 1, Name: (*byte)(unsafe.Pointer(&b.names[j])), Namelen: unix.SizeofSockaddrInet6}}
	}
	r, _, e := unix.RawSyscall6(unix.SYS_RECVMMSG, uintptr(w.raw[i]), uintptr(unsafe.Pointer(&b.hdrs[0])), uintptr(len(b.hdrs)), unix.MSG_DONTWAIT, 0, 0)
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
	for i := range w.raw {
		if w.raw[i] >= 0 {
			unix.Close(w.raw[i])
			w.raw[i] = -1
		}
		if w.lookup[i] >= 0 {
			unix.Close(w.lookup[i])
			w.lookup[i] = -1
		}
	}
	for _, fd := range w.reserve {
		unix.Close(fd)
	}
	w.reserve = nil
	return nil
}
