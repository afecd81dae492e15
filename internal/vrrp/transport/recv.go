package transport

import (
	"encoding/binary"
	"errors"
	"net/netip"
	"syscall"

	"golang.org/x/sys/unix"
)

// The receive fast path. With hundreds of instances a backup reads
// thousands of adverts a second; x/net's generic ReadFrom allocates control
// message structures and makes an extra getsockopt for every one of them.
// recvFast calls recvmsg itself on the socket's file descriptor (through the
// runtime poller, so it still parks instead of blocking a thread), into a
// control-message buffer it reuses, and picks out the few fields Meta needs.
// Only the Mux's one reader goroutine calls ReadFrom, so the buffer needs no
// lock.

// oobLen holds IP_PKTINFO / IPV6_PKTINFO and IP_TTL / IPV6_HOPLIMIT.
var oobLen = unix.CmsgSpace(unix.SizeofInet6Pktinfo) + unix.CmsgSpace(4) +
	unix.CmsgSpace(unix.SizeofInet4Pktinfo) + unix.CmsgSpace(4)

// recvFast reads one datagram into b and decodes it.
func (c *Conn) recvFast(b []byte) (int, Meta, error) {
	if c.oob == nil {
		c.oob = make([]byte, oobLen)
		c.name = new(unix.RawSockaddrAny)
	}
	var n, oobn int
	var rerr error
	err := c.raw.Read(func(fd uintptr) bool {
		n, oobn, rerr = recvmsg(int(fd), b, c.oob, c.name)
		return !errors.Is(rerr, syscall.EAGAIN)
	})
	if err == nil {
		err = rerr
	}
	if err != nil {
		// A closed socket's error matches net.ErrClosed, as the Mux expects.
		return 0, Meta{}, err
	}
	return c.decode(b, n, c.name, c.oob[:oobn])
}

// decode turns one datagram read into b (n bytes), with its sender's
// address and control messages, into what ReadFrom returns: for IPv4 the
// kernel hands raw sockets the IP header too, which is stripped here (its
// TTL and destination are what Meta needs) except on an AH socket, whose
// callers want the whole datagram; for IPv6 the payload comes alone and the
// hop limit and destination come from control messages.
func (c *Conn) decode(b []byte, n int, name *unix.RawSockaddrAny, oob []byte) (int, Meta, error) {
	var meta Meta
	switch name.Addr.Family {
	case unix.AF_INET:
		sa := (*unix.RawSockaddrInet4)(unsafePointer((*byte)(unsafePointer2(name))))
		meta.Src = netip.AddrFrom4(sa.Addr)
	case unix.AF_INET6:
		sa := (*unix.RawSockaddrInet6)(unsafePointer((*byte)(unsafePointer2(name))))
		meta.Src = netip.AddrFrom16(sa.Addr)
	}
	parseCmsgs(oob, &meta)
	if c.family == 4 {
		if n < 20 || b[0]>>4 != 4 {
			return n, meta, ErrTruncated
		}
		ihl := int(b[0]&0x0f) * 4
		if ihl < 20 || n < ihl {
			return n, meta, ErrTruncated
		}
		meta.TTL = int(b[8])
		meta.Dst = netip.AddrFrom4([4]byte(b[16:20]))
		if n >= len(b) {
			return n, meta, ErrTruncated
		}
		if c.AH() {
			meta.Src = netip.AddrFrom4([4]byte(b[12:16]))
			return n, meta, nil
		}
		copy(b, b[ihl:n])
		return n - ihl, meta, nil
	}
	if n >= len(b) {
		return n, meta, ErrTruncated
	}
	return n, meta, nil
}

// parseCmsgs fills meta from the control messages in oob without
// allocating: the interface index, and for IPv6 the destination and the
// hop limit.
func parseCmsgs(oob []byte, meta *Meta) {
	for len(oob) >= unix.SizeofCmsghdr {
		h := (*unix.Cmsghdr)(unsafePointer(&oob[0]))
		l := int(h.Len)
		if l < unix.SizeofCmsghdr || l > len(oob) {
			return
		}
		data := oob[unix.CmsgLen(0):l]
		switch {
		case h.Level == unix.IPPROTO_IP && h.Type == unix.IP_PKTINFO && len(data) >= unix.SizeofInet4Pktinfo:
			meta.IfIndex = int(int32(binary.NativeEndian.Uint32(data[0:4])))
		case h.Level == unix.IPPROTO_IPV6 && h.Type == unix.IPV6_PKTINFO && len(data) >= unix.SizeofInet6Pktinfo:
			meta.Dst = netip.AddrFrom16([16]byte(data[0:16]))
			meta.IfIndex = int(binary.NativeEndian.Uint32(data[16:20]))
		case h.Level == unix.IPPROTO_IPV6 && h.Type == unix.IPV6_HOPLIMIT && len(data) >= 4:
			meta.TTL = int(int32(binary.NativeEndian.Uint32(data[0:4])))
		}
		next := unix.CmsgSpace(l - unix.CmsgLen(0))
		if next > len(oob) {
			return
		}
		oob = oob[next:]
	}
}

// recvmsg is recvmsg(2) into b, oob and name, without the sockaddr
// conversion of unix.Recvmsg (which asks the socket for its protocol with
// a getsockopt on every call).
func recvmsg(fd int, b, oob []byte, name *unix.RawSockaddrAny) (n, oobn int, err error) {
	iov := unix.Iovec{Base: &b[0]}
	iov.SetLen(len(b))
	msg := unix.Msghdr{
		Name:    (*byte)(unsafePointer2(name)),
		Namelen: uint32(unix.SizeofSockaddrAny),
		Iov:     &iov,
		Iovlen:  1,
	}
	if len(oob) > 0 {
		msg.Control = &oob[0]
		msg.SetControllen(len(oob))
	}
	r, _, e := unix.RawSyscall(unix.SYS_RECVMSG, uintptr(fd), uintptr(unsafePointer2(&msg)), 0)
	if e != 0 {
		return 0, 0, e
	}
	return int(r), int(msg.Controllen), nil
}
