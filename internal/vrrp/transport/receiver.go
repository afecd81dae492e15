package transport

import (
	"errors"
	"fmt"
	"net/netip"
	"sync"

	"golang.org/x/sys/unix"
)

// Receiver reads what a Conn's socket would receive through a socket of its
// own, for an event loop that waits on its descriptor itself (Fd) and reads
// whole batches at once (ReadBatch).
//
// Why a second socket: the Conn's socket lives in the Go runtime's poller,
// which wakes the process for every datagram that arrives, whether anyone
// reads it or not. A backup of two hundred instances receives its adverts in
// bursts of two hundred; a loop that waits on a socket outside the poller
// can take the first datagram's wake-up, let the rest of the burst arrive,
// and read it all with a few recvmmsg calls. While a Receiver is open the
// Conn's own socket discards what arrives (a socket filter that accepts
// nothing), so it neither wakes the poller nor fills its buffer; it still
// sends, and holds the multicast memberships, which the Receiver mirrors.
type Receiver struct {
	c  *Conn
	fd int

	// Owned by the one reader.
	bufs  [][]byte
	oobs  [][]byte
	names []unix.RawSockaddrAny
	iovs  []unix.Iovec
	hdrs  []unix.Mmsghdr

	closeOnce sync.Once
}

// receiverBatch is how many datagrams one recvmmsg call may return.
const receiverBatch = 64

// receiverBufSize holds the largest valid advert with room to spare: VRRPv3
// over IPv6 with 255 addresses is 4,088 bytes; an IPv4 datagram with AH far
// less. A longer datagram is reported as truncated.
const receiverBufSize = 4608

// OpenReceiver opens the Receiver of c. Only one may be open at a time.
func (c *Conn) OpenReceiver() (*Receiver, error) {
	c.rxMu.Lock()
	defer c.rxMu.Unlock()
	if c.rx != nil {
		return nil, errors.New("transport: a receiver is open already")
	}
	proto := ipProtocol
	if c.AH() {
		proto = ahProtocol
	}
	domain := unix.AF_INET
	if c.family == 6 {
		domain = unix.AF_INET6
	}
	fd, err := unix.Socket(domain, unix.SOCK_RAW|unix.SOCK_NONBLOCK|unix.SOCK_CLOEXEC, proto)
	if err != nil {
		return nil, fmt.Errorf("transport: receiver on %s: %w", c.ifi.Name, err)
	}
	r := &Receiver{c: c, fd: fd}
	if err := r.setup(); err != nil {
		unix.Close(fd)
		return nil, fmt.Errorf("transport: receiver on %s: %w", c.ifi.Name, err)
	}
	for g := range c.groups {
		if err := r.membership(g, true); err != nil {
			unix.Close(fd)
			return nil, fmt.Errorf("transport: receiver on %s: join %v: %w", c.ifi.Name, g, err)
		}
	}
	if err := c.discardIncoming(true); err != nil {
		unix.Close(fd)
		return nil, fmt.Errorf("transport: receiver on %s: %w", c.ifi.Name, err)
	}
	r.bufs = make([][]byte, receiverBatch)
	r.oobs = make([][]byte, receiverBatch)
	r.names = make([]unix.RawSockaddrAny, receiverBatch)
	r.iovs = make([]unix.Iovec, receiverBatch)
	r.hdrs = make([]unix.Mmsghdr, receiverBatch)
	for k := range r.hdrs {
		r.bufs[k] = make([]byte, receiverBufSize)
		r.oobs[k] = make([]byte, oobLen)
	}
	c.rx = r
	return r, nil
}

// setup gives the socket the receive side of what Listen gives the Conn's:
// bound to the device, only the groups it joins, and the control messages
// Meta is made of.
func (r *Receiver) setup() error {
	fd := r.fd
	if err := unix.BindToDevice(fd, r.c.ifi.Name); err != nil {
		return fmt.Errorf("SO_BINDTODEVICE: %w", err)
	}
	type opt struct {
		what        string
		level, name int
		value       int
	}
	var opts []opt
	if r.c.family == 4 {
		// No control messages: an IPv4 raw socket reads the IP header,
		// which holds the destination and the TTL, and the interface is
		// the one the socket is bound to. Each control message is work
		// for the kernel on every datagram.
		opts = []opt{
			{what: "IP_MULTICAST_ALL", level: unix.IPPROTO_IP, name: unix.IP_MULTICAST_ALL, value: 0},
		}
	} else {
		opts = []opt{
			{what: "IPV6_RECVPKTINFO", level: unix.IPPROTO_IPV6, name: unix.IPV6_RECVPKTINFO, value: 1},
			{what: "IPV6_RECVHOPLIMIT", level: unix.IPPROTO_IPV6, name: unix.IPV6_RECVHOPLIMIT, value: 1},
		}
	}
	for _, o := range opts {
		if err := unix.SetsockoptInt(fd, o.level, o.name, o.value); err != nil {
			return fmt.Errorf("%s: %w", o.what, err)
		}
	}
	return nil
}

// membership joins or leaves group on the receiver's socket.
func (r *Receiver) membership(group netip.Addr, join bool) error {
	if r.c.family == 4 {
		mreq := &unix.IPMreqn{Multiaddr: group.As4(), Ifindex: int32(r.c.ifi.Index)}
		opt := unix.IP_ADD_MEMBERSHIP
		if !join {
			opt = unix.IP_DROP_MEMBERSHIP
		}
		return unix.SetsockoptIPMreqn(r.fd, unix.IPPROTO_IP, opt, mreq)
	}
	mreq := &unix.IPv6Mreq{Multiaddr: group.As16(), Interface: uint32(r.c.ifi.Index)}
	opt := unix.IPV6_JOIN_GROUP
	if !join {
		opt = unix.IPV6_LEAVE_GROUP
	}
	return unix.SetsockoptIPv6Mreq(r.fd, unix.IPPROTO_IPV6, opt, mreq)
}

// Fd returns the socket's descriptor, non-blocking, for the caller's own
// epoll. It is valid until Close.
func (r *Receiver) Fd() int { return r.fd }

// ReadBatch reads the datagrams queued on the socket, at most one batch,
// without blocking, and calls f with each: the payload as Conn.ReadFrom
// returns it (IPv4 header stripped, or the whole datagram on an AH socket),
// valid only during the call, or an error for a datagram that was truncated
// or malformed (ErrTruncated). It returns how many datagrams it read; 0 and
// a nil error when none was queued. Call it from one goroutine at a time.
func (r *Receiver) ReadBatch(f func(payload []byte, meta Meta, err error)) (int, error) {
	for k := range r.hdrs {
		r.iovs[k] = unix.Iovec{Base: &r.bufs[k][0]}
		r.iovs[k].SetLen(len(r.bufs[k]))
		h := &r.hdrs[k].Hdr
		*h = unix.Msghdr{Iov: &r.iovs[k], Iovlen: 1}
		if r.c.family == 6 {
			// IPv4 datagrams come with their header, which holds the
			// sender and everything else Meta needs: no address and no
			// control messages for the kernel to write out.
			h.Name = (*byte)(unsafePointer2(&r.names[k]))
			h.Namelen = uint32(unix.SizeofSockaddrAny)
			h.Control = &r.oobs[k][0]
			h.SetControllen(len(r.oobs[k]))
		}
		r.hdrs[k].Len = 0
	}
	n, _, e := unix.RawSyscall6(unix.SYS_RECVMMSG, uintptr(r.fd), uintptr(unsafePointer2(&r.hdrs[0])), uintptr(len(r.hdrs)), 0, 0, 0)
	if e != 0 {
		if e == unix.EAGAIN || e == unix.EINTR {
			return 0, nil
		}
		return 0, e
	}
	for k := range int(n) {
		h := &r.hdrs[k]
		size := int(h.Len)
		b := r.bufs[k]
		if h.Hdr.Flags&unix.MSG_TRUNC != 0 || size >= len(b) {
			f(nil, Meta{}, ErrTruncated)
			continue
		}
		var src netip.Addr
		if r.c.family == 4 && size >= 20 {
			src = netip.AddrFrom4([4]byte(b[12:16])) // before decode moves the payload up
		}
		m, meta, err := r.c.decode(b, size, &r.names[k], r.oobs[k][:h.Hdr.Controllen])
		if src.IsValid() {
			meta.Src = src
		}
		if meta.IfIndex == 0 {
			meta.IfIndex = r.c.ifi.Index // bound to it
		}
		if err != nil {
			f(nil, meta, err)
			continue
		}
		f(b[:m], meta, nil)
	}
	return int(n), nil
}

// Close closes the receiver's socket and lets the Conn's own socket receive
// again. Closing twice is harmless.
func (r *Receiver) Close() error {
	var err error
	r.closeOnce.Do(func() {
		r.c.rxMu.Lock()
		defer r.c.rxMu.Unlock()
		if r.c.rx == r {
			r.c.rx = nil
			if derr := r.c.discardIncoming(false); derr != nil && !errors.Is(derr, unix.EBADF) {
				err = derr
			}
		}
		if cerr := unix.Close(r.fd); cerr != nil && err == nil {
			err = cerr
		}
	})
	return err
}

// discardIncoming attaches (on) or detaches a socket filter that accepts
// nothing to the Conn's own socket.
func (c *Conn) discardIncoming(on bool) error {
	if c.raw == nil {
		return errors.New("no access to the socket's descriptor")
	}
	var serr error
	err := c.raw.Control(func(fd uintptr) {
		if on {
			drop := []unix.SockFilter{{Code: unix.BPF_RET | unix.BPF_K, K: 0}}
			prog := &unix.SockFprog{Len: 1, Filter: &drop[0]}
			serr = unix.SetsockoptSockFprog(int(fd), unix.SOL_SOCKET, unix.SO_ATTACH_FILTER, prog)
			if serr == nil {
				// The filter stops what arrives from now on; what is
				// queued already (the Receiver has it too, or it is
				// stale) would otherwise be read after the Receiver
				// closes.
				var buf [1]byte
				for {
					_, _, e := unix.RawSyscall6(unix.SYS_RECVFROM, fd, uintptr(unsafePointer2(&buf[0])), 1, unix.MSG_DONTWAIT, 0, 0)
					if e != 0 {
						break
					}
				}
			}
		} else {
			serr = unix.SetsockoptInt(int(fd), unix.SOL_SOCKET, unix.SO_DETACH_FILTER, 0)
			if errors.Is(serr, unix.ENOENT) {
				serr = nil
			}
		}
	})
	if err != nil {
		return err
	}
	if serr != nil {
		return fmt.Errorf("socket filter: %w", serr)
	}
	return nil
}
