package check

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"os"
	"sync/atomic"
	"syscall"

	"golang.org/x/sys/unix"

	"vigil/internal/check/rawsyn"
)

// Prober performs one check. Probe must return by ctx's deadline; the
// Runner does not rely on it (it gives up on a late check), but a prober
// that honours the deadline frees its socket in time.
type Prober interface {
	// Probe checks url block step (always 0 but for HTTP_GET/SSL_GET).
	Probe(ctx context.Context, step int) Result
}

// Dialer opens the connections of the network checkers; tests replace it
// to inject faults.
type Dialer interface {
	DialContext(ctx context.Context, network, address string) (net.Conn, error)
}

// Conn is where a network checker connects and from where: connect_ip /
// connect_port (already defaulted to the real server), bindto, bind_port,
// bind_if and fwmark.
type Conn struct {
	Target   netip.AddrPort
	BindTo   netip.Addr
	BindPort uint16
	BindIf   string
	Fwmark   uint32
}

// NetDialer returns the system dialer for c's source options: the local
// address and port, the device (SO_BINDTODEVICE) and the mark (SO_MARK).
func (c Conn) NetDialer(network string) *net.Dialer {
	// No TCP keepalive: a check's connection lives for one check, and
	// setting it up costs several system calls per connection.
	d := &net.Dialer{KeepAlive: -1}
	if c.BindTo.IsValid() || c.BindPort != 0 {
		a := c.BindTo
		if !a.IsValid() {
			a = netip.IPv4Unspecified()
			if c.Target.Addr().Is6() {
				a = netip.IPv6Unspecified()
			}
		}
		ap := netip.AddrPortFrom(a, c.BindPort)
		if c.BindIf != "" && a.Is6() && a.IsLinkLocalUnicast() {
			ap = netip.AddrPortFrom(a.WithZone(c.BindIf), c.BindPort)
		}
		switch network {
		case "udp", "udp4", "udp6":
			d.LocalAddr = net.UDPAddrFromAddrPort(ap)
		default:
			d.LocalAddr = net.TCPAddrFromAddrPort(ap)
		}
	}
	if c.BindIf != "" || c.Fwmark != 0 {
		d.Control = func(_, _ string, rc syscall.RawConn) error {
			var serr error
			err := rc.Control(func(fd uintptr) {
				if c.BindIf != "" {
					if e := unix.BindToDevice(int(fd), c.BindIf); e != nil {
						serr = os.NewSyscallError("SO_BINDTODEVICE "+c.BindIf, e)
						return
					}
				}
				if c.Fwmark != 0 {
					if e := unix.SetsockoptInt(int(fd), unix.SOL_SOCKET, unix.SO_MARK, int(c.Fwmark)); e != nil {
						serr = os.NewSyscallError("SO_MARK", e)
					}
				}
			})
			return errors.Join(err, serr)
		}
	}
	return d
}

// address is the target with a zone for a link-local address on bind_if.
func (c Conn) address() string {
	a := c.Target.Addr()
	if c.BindIf != "" && a.Is6() && a.IsLinkLocalUnicast() && a.Zone() == "" {
		a = a.WithZone(c.BindIf)
	}
	return netip.AddrPortFrom(a, c.Target.Port()).String()
}

// dialerFor picks the dialer: the one given (tests) or the system one.
func dialerFor(d Dialer, c Conn, network string) Dialer {
	if d != nil {
		return d
	}
	return c.NetDialer(network)
}

// failure is a failed Result.
func failure(format string, args ...any) Result {
	return Result{Why: fmt.Sprintf(format, args...)}
}

// Starter is a Prober that can often end a check without blocking. The
// Runner calls Start on its own goroutine: a check whose outcome is known
// at once costs no goroutine, no channel and no timer. Only when the check
// must wait does the Runner hand wait to a worker goroutine, as it would a
// Probe.
type Starter interface {
	Prober
	// Start begins check step. When wait is nil the check is over and r
	// is its outcome; otherwise wait finishes it by ctx's deadline and
	// must be called exactly once. Start must not block.
	Start(step int) (r Result, wait func(ctx context.Context) Result)
}

// TCPProber is TCP_CHECK: the check passes when a connection opens.
type TCPProber struct {
	Conn   Conn
	Dialer Dialer

	// dst caches the destination socket address of the connect path,
	// built on its first use: a check on the raw-socket path never
	// needs it, and the LVS process holds 10,000 of these.
	dst atomic.Pointer[tcpDst]

	// syn is the target of the raw-socket check, made on first use;
	// noSYN says the check cannot be one (see synTarget).
	syn   *rawsyn.Target
	noSYN bool
}

// tcpDst is a TCPProber's destination socket address (Conn.sockaddr).
type tcpDst struct {
	sa     unix.Sockaddr
	family int
	err    error
}

// dest returns the destination socket address, built on first use.
// Checks of one prober may run on several goroutines (a check the
// Runner gave up on still running on a worker): two may build it at
// once, and both get the one stored first.
func (p *TCPProber) dest() *tcpDst {
	if d := p.dst.Load(); d != nil {
		return d
	}
	d := &tcpDst{}
	d.sa, d.family, d.err = p.Conn.sockaddr()
	if p.dst.CompareAndSwap(nil, d) {
		return d
	}
	return p.dst.Load()
}

// synTarget is the check's target on the raw-socket path, or nil when
// it must connect: a test's Dialer, a source option (bindto, bind_port,
// bind_if, fwmark: the SYN would need them, and the answer's route), a
// link-local or zoned target (the route lookup needs the interface).
func (p *TCPProber) synTarget() *rawsyn.Target {
	if p.syn != nil || p.noSYN {
		return p.syn
	}
	c, a := p.Conn, p.Conn.Target.Addr()
	if p.Dialer != nil || c.BindIf != "" || c.Fwmark != 0 || c.BindTo.IsValid() || c.BindPort != 0 ||
		a.Zone() != "" || a.Unmap().IsLinkLocalUnicast() || !a.IsValid() || p.Conn.Target.Port() == 0 {
		p.noSYN = true
		return nil
	}
	p.syn = rawsyn.NewTarget(c.Target)
	return p.syn
}

// Probe connects and closes.
func (p *TCPProber) Probe(ctx context.Context, step int) Result {
	r, wait := p.Start(step)
	if wait != nil {
		return wait(ctx)
	}
	return r
}

// Start connects without blocking (see dialTCPStart); with a Dialer
// given (tests), the check always waits and uses it.
func (p *TCPProber) Start(int) (Result, func(context.Context) Result) {
	if p.Dialer != nil {
		return Result{}, p.probeDialer
	}
	d := p.dest()
	if d.err != nil {
		return p.outcome(d.err), nil
	}
	s, done, err := p.Conn.dialTCPStart(d.sa, d.family)
	if done {
		s.done(err == nil)
		return p.outcome(err), nil
	}
	return Result{}, func(ctx context.Context) Result { return p.outcome(s.wait(ctx)) }
}

func (p *TCPProber) probeDialer(ctx context.Context) Result {
	c, err := p.Dialer.DialContext(ctx, "tcp", p.Conn.address())
	if err != nil {
		return p.outcome(err)
	}
	c.Close()
	return Result{OK: true}
}

// outcome is the Result of a raw-socket check that ended with err: a nil
// err is Result{OK: true}, which pumpSYN gives without calling it.
func (p *TCPProber) outcome(err error) Result {
	if err != nil {
		return failure("TCP connection to %s failed: %v", p.Conn.Target, err)
	}
	return Result{OK: true}
}
