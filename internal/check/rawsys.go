package check

import (
	"net/netip"
	"syscall"
	"unsafe"

	"golang.org/x/sys/unix"
)

// The system calls of the polled HTTP check, made raw: none of them can
// block (the socket is non-blocking; connect on it returns at once), and a
// raw call skips the runtime's bookkeeping around a system call. That
// bookkeeping wakes the runtime's monitor thread whenever the process
// comes out of idleness with a system call (to take the processor back
// should the call block); the monitor then naps every 20 µs for about a
// millisecond. The Runner wakes a hundred times a second, each time out of
// idleness: with ordinary calls that was about a tenth of the CPU of a
// thousand HTTP checks a second.

// errnoErr keeps the common errors allocation-free, as the syscall
// package does.
func errnoErr(e syscall.Errno) error {
	switch e {
	case 0:
		return nil
	case unix.EAGAIN:
		return unix.EAGAIN
	case unix.EINPROGRESS:
		return unix.EINPROGRESS
	case unix.EINTR:
		return unix.EINTR
	}
	return e
}

func rawSocket(family int) (int, error) {
	fd, _, e := unix.RawSyscall(unix.SYS_SOCKET, uintptr(family), unix.SOCK_STREAM|unix.SOCK_NONBLOCK|unix.SOCK_CLOEXEC, 0)
	if e != 0 {
		return -1, errnoErr(e)
	}
	return int(fd), nil
}

func rawSetsockoptInt(fd, level, opt, v int) error {
	val := int32(v)
	_, _, e := unix.RawSyscall6(unix.SYS_SETSOCKOPT, uintptr(fd), uintptr(level), uintptr(opt), uintptr(unsafe.Pointer(&val)), 4, 0)
	return errnoErr(e)
}

func rawWrite(fd int, b []byte) (int, error) {
	if len(b) == 0 {
		return 0, nil
	}
	n, _, e := unix.RawSyscall(unix.SYS_WRITE, uintptr(fd), uintptr(unsafe.Pointer(&b[0])), uintptr(len(b)))
	if e != 0 {
		return 0, errnoErr(e)
	}
	return int(n), nil
}

// rawRead returns 0, nil at the end of the stream.
func rawRead(fd int, b []byte) (int, error) {
	n, _, e := unix.RawSyscall(unix.SYS_READ, uintptr(fd), uintptr(unsafe.Pointer(&b[0])), uintptr(len(b)))
	if e != 0 {
		return 0, errnoErr(e)
	}
	return int(n), nil
}

func rawClose(fd int) {
	unix.RawSyscall(unix.SYS_CLOSE, uintptr(fd), 0, 0)
}

// rawSockaddr is a destination in the kernel's layout, built once.
type rawSockaddr struct {
	v4  unix.RawSockaddrInet4
	v6  unix.RawSockaddrInet6
	is6 bool
}

// newRawSockaddr lays out ap (zone: the interface index of a link-local
// IPv6 address, 0 for none).
func newRawSockaddr(ap netip.AddrPort, zone uint32) *rawSockaddr {
	r := &rawSockaddr{}
	port := ap.Port()
	a := ap.Addr()
	if a.Is4() || a.Is4In6() {
		r.v4.Family = unix.AF_INET
		p := (*[2]byte)(unsafe.Pointer(&r.v4.Port))
		p[0], p[1] = byte(port>>8), byte(port)
		r.v4.Addr = a.Unmap().As4()
		return r
	}
	r.is6 = true
	r.v6.Family = unix.AF_INET6
	p := (*[2]byte)(unsafe.Pointer(&r.v6.Port))
	p[0], p[1] = byte(port>>8), byte(port)
	r.v6.Addr = a.As16()
	r.v6.Scope_id = zone
	return r
}

func rawConnect(fd int, sa *rawSockaddr) error {
	var e syscall.Errno
	if sa.is6 {
		_, _, e = unix.RawSyscall(unix.SYS_CONNECT, uintptr(fd), uintptr(unsafe.Pointer(&sa.v6)), unsafe.Sizeof(sa.v6))
	} else {
		_, _, e = unix.RawSyscall(unix.SYS_CONNECT, uintptr(fd), uintptr(unsafe.Pointer(&sa.v4)), unsafe.Sizeof(sa.v4))
	}
	return errnoErr(e)
}

// rawDisconnect resets a connected socket (connect to AF_UNSPEC) and
// leaves it ready to connect again.
func rawDisconnect(fd int) error {
	_, _, e := unix.RawSyscall(unix.SYS_CONNECT, uintptr(fd), uintptr(unsafe.Pointer(&unspec)), unsafe.Sizeof(unspec))
	return errnoErr(e)
}
