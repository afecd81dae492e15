package transport

import (
	"encoding/binary"
	"errors"
	"net/netip"
	"sync"
	"syscall"

	"golang.org/x/sys/unix"
)

// The send fast path, the counterpart of recv.go: a master with hundreds of
// instances sends thousands of adverts a second. sendFast builds the
// destination and the control message (source address, interface, and for
// IPv6 the hop limit) on the stack and calls sendmsg on the non-blocking
// socket directly, without going through the runtime's system-call
// bookkeeping (a raw call cannot block here: a full socket buffer answers
// EAGAIN, and then the caller takes the ordinary, poller-aware path).
// WriteTo may be called from several instances at once; each call takes its
// own scratch space from a pool. The scratch space, not the stack, holds what
// the system call needs because the function handed to RawConn.Write would
// otherwise move it to the heap on every send.

// errSendAgain says the fast path could not send without blocking.
var errSendAgain = errors.New("transport: send would block")

// sendScratch is one send's destination, control message and result.
type sendScratch struct {
	oob           [64]byte
	name          [unix.SizeofSockaddrInet6]byte
	oobn, namelen int
	payload       []byte
	n             int
	err           error
	write         func(fd uintptr) bool // s.send, bound once
}

var sendScratchPool = sync.Pool{New: func() any {
	s := &sendScratch{}
	s.write = s.send
	return s
}}

// send is the RawConn.Write callback.
func (s *sendScratch) send(fd uintptr) bool {
	s.n, s.err = sendmsg(int(fd), s.payload, s.oob[:s.oobn], s.name[:s.namelen])
	return true // never wait here: EAGAIN goes to the ordinary path
}

func (c *Conn) sendFast(payload []byte, src, dst netip.Addr) (int, error) {
	if len(payload) == 0 || c.raw == nil {
		return 0, errSendAgain
	}
	s := sendScratchPool.Get().(*sendScratch)
	defer func() {
		s.payload, s.err = nil, nil
		sendScratchPool.Put(s)
	}()
	s.oob = [64]byte{}
	s.name = [unix.SizeofSockaddrInet6]byte{}
	oob, name := &s.oob, &s.name
	var oobn, namelen int
	if c.family == 4 {
		namelen = unix.SizeofSockaddrInet4
		sa := (*unix.RawSockaddrInet4)(unsafePointer(&name[0]))
		sa.Family = unix.AF_INET
		sa.Addr = dst.As4()
		h := (*unix.Cmsghdr)(unsafePointer(&oob[0]))
		h.Level, h.Type = unix.IPPROTO_IP, unix.IP_PKTINFO
		h.SetLen(unix.CmsgLen(unix.SizeofInet4Pktinfo))
		pi := (*unix.Inet4Pktinfo)(unsafePointer(&oob[unix.CmsgLen(0)]))
		pi.Ifindex = int32(c.ifi.Index)
		if src.IsValid() {
			pi.Spec_dst = src.As4()
		}
		oobn = unix.CmsgSpace(unix.SizeofInet4Pktinfo)
	} else {
		namelen = unix.SizeofSockaddrInet6
		sa := (*unix.RawSockaddrInet6)(unsafePointer(&name[0]))
		sa.Family = unix.AF_INET6
		sa.Addr = dst.As16()
		if dst.IsLinkLocalUnicast() || dst.IsLinkLocalMulticast() {
			sa.Scope_id = uint32(c.ifi.Index)
		}
		h := (*unix.Cmsghdr)(unsafePointer(&oob[0]))
		h.Level, h.Type = unix.IPPROTO_IPV6, unix.IPV6_PKTINFO
		h.SetLen(unix.CmsgLen(unix.SizeofInet6Pktinfo))
		pi := (*unix.Inet6Pktinfo)(unsafePointer(&oob[unix.CmsgLen(0)]))
		pi.Ifindex = uint32(c.ifi.Index)
		if src.IsValid() {
			pi.Addr = src.As16()
		}
		off := unix.CmsgSpace(unix.SizeofInet6Pktinfo)
		h2 := (*unix.Cmsghdr)(unsafePointer(&oob[off]))
		h2.Level, h2.Type = unix.IPPROTO_IPV6, unix.IPV6_HOPLIMIT
		h2.SetLen(unix.CmsgLen(4))
		hop := c.unicastHop
		if dst.IsMulticast() {
			hop = vrrpTTL
		}
		binary.NativeEndian.PutUint32(oob[off+unix.CmsgLen(0):], uint32(int32(hop)))
		oobn = off + unix.CmsgSpace(4)
	}
	s.oobn, s.namelen, s.payload = oobn, namelen, payload
	err := c.raw.Write(s.write)
	if err == nil {
		err = s.err
	}
	if errors.Is(err, syscall.EAGAIN) {
		return 0, errSendAgain
	}
	return s.n, err
}

// sendmsg is sendmsg(2) on a non-blocking socket as a raw system call.
func sendmsg(fd int, b, oob, name []byte) (int, error) {
	iov := unix.Iovec{Base: &b[0]}
	iov.SetLen(len(b))
	msg := unix.Msghdr{
		Name:    &name[0],
		Namelen: uint32(len(name)),
		Iov:     &iov,
		Iovlen:  1,
	}
	if len(oob) > 0 {
		msg.Control = &oob[0]
		msg.SetControllen(len(oob))
	}
	r, _, e := unix.RawSyscall(unix.SYS_SENDMSG, uintptr(fd), uintptr(unsafePointer2(&msg)), 0)
	if e != 0 {
		return 0, e
	}
	return int(r), nil
}
