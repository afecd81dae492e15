package check

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"sync"
	"syscall"
	"time"
	"unsafe"

	"golang.org/x/sys/unix"
)

// The system TCP check, without the runtime's network poller when it can
// do without: TCP_CHECK only asks whether the real server answers a
// handshake, so it needs neither a net.Conn nor a goroutine parked on the
// poller. The socket is non-blocking; when the answer is there as
// connect(2) returns (on loopback and local addresses the kernel runs the
// listener's side inside the call), the check ends at once, on the
// Runner's goroutine. Otherwise the socket is handed to the poller
// (os.NewFile) and a worker goroutine waits for it, within the deadline.
//
// The socket is closed with a reset (SO_LINGER 0), as HAProxy closes its
// checks: no FIN exchange, and no TIME_WAIT socket per check on the
// checker's side (10,000 checks a second would otherwise keep 600,000).

// tcpSocket is a check's socket between its connect and its close.
type tcpSocket struct {
	fd     int
	family int
	// reusable: no source option was set on it (see spareSockets).
	reusable bool
}

// spareSockets keeps a few sockets of finished checks for the next ones.
// A connected TCP socket that connects to AF_UNSPEC is reset (the peer
// gets the same RST as from close with SO_LINGER 0) and returns to its
// fresh state, ready to connect again: the next check saves socket(2) and
// close(2), about a quarter of a check's system time. Only sockets with no
// source option (bindto, bind_port, bind_if, fwmark) are kept, and only
// after a check that connected.
var spareSockets struct {
	mu     sync.Mutex
	v4, v6 []int
}

// maxSpare bounds the sockets kept per family: as many as checks finish
// at once on the Runner's goroutine (one) with room for the workers'.
const maxSpare = 16

func takeSpare(family int) int {
	spareSockets.mu.Lock()
	defer spareSockets.mu.Unlock()
	l := &spareSockets.v4
	if family == unix.AF_INET6 {
		l = &spareSockets.v6
	}
	if n := len(*l); n > 0 {
		fd := (*l)[n-1]
		*l = (*l)[:n-1]
		return fd
	}
	return -1
}

func putSpare(family, fd int) bool {
	spareSockets.mu.Lock()
	defer spareSockets.mu.Unlock()
	l := &spareSockets.v4
	if family == unix.AF_INET6 {
		l = &spareSockets.v6
	}
	if len(*l) >= maxSpare {
		return false
	}
	*l = append(*l, fd)
	return true
}

// unspec is the address that dissolves a socket's connection.
var unspec = unix.RawSockaddr{Family: unix.AF_UNSPEC}

// disconnect resets a connected socket and leaves it ready to connect
// again (connect(2) to AF_UNSPEC).
func disconnect(fd int) error {
	_, _, e := unix.Syscall(unix.SYS_CONNECT, uintptr(fd), uintptr(unsafe.Pointer(&unspec)), unsafe.Sizeof(unspec))
	if e != 0 {
		return e
	}
	return nil
}

// done ends a check's socket after an outcome known at once: a socket
// that connected and has no source option is reset and kept for the next
// check; any other is closed with a reset.
func (s *tcpSocket) done(connected bool) {
	if s.fd < 0 {
		return
	}
	if connected && s.reusable && disconnect(s.fd) == nil && putSpare(s.family, s.fd) {
		s.fd = -1
		return
	}
	s.close()
}

// dialTCPStart opens a non-blocking socket with c's source options and
// starts connecting it to dst (c.sockaddr). done is true when the outcome is known at once:
// err is then the check's error (nil: connected). When done is false the
// connection is in progress and s must be waited on (wait) or closed.
func (c Conn) dialTCPStart(dst unix.Sockaddr, family int) (s tcpSocket, done bool, err error) {
	s.fd, s.family = -1, family
	s.reusable = c.BindIf == "" && c.Fwmark == 0 && !c.BindTo.IsValid() && c.BindPort == 0
	fd := -1
	if s.reusable {
		fd = takeSpare(family)
	}
	if fd < 0 {
		if fd, err = unix.Socket(family, unix.SOCK_STREAM|unix.SOCK_NONBLOCK|unix.SOCK_CLOEXEC, 0); err != nil {
			return s, true, os.NewSyscallError("socket", err)
		}
		s.fd = fd
		if err := c.sourceOptions(fd, family); err != nil {
			return s, true, err
		}
	}
	s.fd = fd
	// No quick ACK (set again on a reused socket, which the disconnect
	// resets): the last ACK of the handshake waits for data that
	// never comes, and the reset at close ends the connection before the
	// real server's kernel queues it for accept(2). The check still needs
	// the server's SYN-ACK, so it passes and fails exactly when a full
	// connection would; the real server's application never sees it (as
	// with HAProxy's checks) and its kernel never builds the socket.
	if err := unix.SetsockoptInt(fd, unix.IPPROTO_TCP, unix.TCP_QUICKACK, 0); err != nil {
		return s, true, os.NewSyscallError("TCP_QUICKACK", err)
	}
	err = unix.Connect(fd, dst)
	switch {
	case err == nil:
		return s, true, nil
	case !errors.Is(err, unix.EINPROGRESS):
		return s, true, os.NewSyscallError("connect", err)
	}
	// In progress: on loopback the handshake is already over (the kernel
	// ran the listener's side inside connect), so a poll that does not
	// wait says so without involving the runtime.
	pfd := []unix.PollFd{{Fd: int32(fd), Events: unix.POLLOUT}}
	n, err := unix.Poll(pfd, 0)
	if err != nil && !errors.Is(err, unix.EINTR) {
		return s, true, os.NewSyscallError("poll", err)
	}
	if n == 0 {
		return s, false, nil
	}
	return s, true, soError(fd)
}

// soError is the outcome of a finished non-blocking connect.
func soError(fd int) error {
	e, err := unix.GetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_ERROR)
	if err != nil {
		return os.NewSyscallError("getsockopt", err)
	}
	if e != 0 {
		return os.NewSyscallError("connect", syscall.Errno(e))
	}
	return nil
}

// wait waits, on the runtime's poller, for a connection dialTCPStart left
// in progress, until ctx ends. It closes the socket.
func (s *tcpSocket) wait(ctx context.Context) error {
	fd := s.fd
	s.fd = -1
	// The file owns the descriptor from here; it registers it with the
	// poller because it is non-blocking.
	f := os.NewFile(uintptr(fd), "tcp-check")
	defer f.Close()
	if d, ok := ctx.Deadline(); ok {
		f.SetWriteDeadline(d)
	}
	stop := context.AfterFunc(ctx, func() { f.SetWriteDeadline(time.Unix(1, 0)) })
	defer stop()
	rc, err := f.SyscallConn()
	if err != nil {
		return err
	}
	var cerr error
	err = rc.Write(func(fd uintptr) bool {
		e, gerr := unix.GetsockoptInt(int(fd), unix.SOL_SOCKET, unix.SO_ERROR)
		switch {
		case gerr != nil:
			cerr = os.NewSyscallError("getsockopt", gerr)
		case e == 0:
			// Writable and no error: connected, unless the wakeup was
			// spurious and the socket is still connecting.
			if _, perr := unix.Getpeername(int(fd)); errors.Is(perr, unix.ENOTCONN) {
				return false
			}
		case syscall.Errno(e) == unix.EINPROGRESS || syscall.Errno(e) == unix.EALREADY || syscall.Errno(e) == unix.EINTR:
			return false
		default:
			cerr = os.NewSyscallError("connect", syscall.Errno(e))
		}
		resetOnClose(int(fd))
		return true
	})
	if err != nil {
		if ctx.Err() != nil {
			return ctx.Err()
		}
		if errors.Is(err, os.ErrDeadlineExceeded) {
			return context.DeadlineExceeded
		}
		return err
	}
	return cerr
}

// close ends a check's socket with a reset.
func (s *tcpSocket) close() {
	if s.fd < 0 {
		return
	}
	resetOnClose(s.fd)
	unix.Close(s.fd)
	s.fd = -1
}

// resetOnClose makes close(2) send a reset rather than a FIN.
func resetOnClose(fd int) {
	unix.SetsockoptLinger(fd, unix.SOL_SOCKET, unix.SO_LINGER, &unix.Linger{Onoff: 1, Linger: 0})
}

// sockaddr is the destination with the zone of a link-local address on
// bind_if, as address() gives the system dialer.
func (c Conn) sockaddr() (unix.Sockaddr, int, error) {
	a := c.Target.Addr()
	if a.Is4() || a.Is4In6() {
		return &unix.SockaddrInet4{Port: int(c.Target.Port()), Addr: a.Unmap().As4()}, unix.AF_INET, nil
	}
	sa := &unix.SockaddrInet6{Port: int(c.Target.Port()), Addr: a.As16()}
	zone := a.Zone()
	if zone == "" && c.BindIf != "" && a.IsLinkLocalUnicast() {
		zone = c.BindIf
	}
	if zone != "" {
		id, err := zoneIndex(zone)
		if err != nil {
			return nil, 0, err
		}
		sa.ZoneId = id
	}
	return sa, unix.AF_INET6, nil
}

// zoneIndex is the interface index of an IPv6 zone (a name or a number).
func zoneIndex(zone string) (uint32, error) {
	if ifi, err := net.InterfaceByName(zone); err == nil {
		return uint32(ifi.Index), nil
	}
	var n uint32
	if _, err := fmt.Sscanf(zone, "%d", &n); err == nil && n > 0 {
		return n, nil
	}
	return 0, fmt.Errorf("unknown zone %q", zone)
}

// sourceOptions applies bind_if (SO_BINDTODEVICE), fwmark (SO_MARK) and
// bindto/bind_port (bind) to a check's socket, in the order the system
// dialer applies them.
func (c Conn) sourceOptions(fd, family int) error {
	if c.BindIf != "" {
		if err := unix.BindToDevice(fd, c.BindIf); err != nil {
			return os.NewSyscallError("SO_BINDTODEVICE "+c.BindIf, err)
		}
	}
	if c.Fwmark != 0 {
		if err := unix.SetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_MARK, int(c.Fwmark)); err != nil {
			return os.NewSyscallError("SO_MARK", err)
		}
	}
	if !c.BindTo.IsValid() && c.BindPort == 0 {
		return nil
	}
	var sa unix.Sockaddr
	a := c.BindTo
	if family == unix.AF_INET {
		if a.IsValid() && !(a.Is4() || a.Is4In6()) {
			return fmt.Errorf("bind %s: not an IPv4 address for an IPv4 target", a)
		}
		var b [4]byte
		if a.IsValid() {
			b = a.Unmap().As4()
		}
		sa = &unix.SockaddrInet4{Port: int(c.BindPort), Addr: b}
	} else {
		if a.IsValid() && a.Is4() {
			return fmt.Errorf("bind %s: not an IPv6 address for an IPv6 target", a)
		}
		s6 := &unix.SockaddrInet6{Port: int(c.BindPort)}
		if a.IsValid() {
			s6.Addr = a.As16()
			if c.BindIf != "" && a.IsLinkLocalUnicast() {
				id, err := zoneIndex(c.BindIf)
				if err != nil {
					return err
				}
				s6.ZoneId = id
			}
		}
		sa = s6
	}
	if err := unix.Bind(fd, sa); err != nil {
		return os.NewSyscallError("bind", err)
	}
	return nil
}
