package check

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"os"
	"sync/atomic"
	"time"

	"golang.org/x/net/icmp"
	"golang.org/x/net/ipv4"
	"golang.org/x/net/ipv6"
	"golang.org/x/sys/unix"
)

// PingProber is PING_CHECK: one ICMP (or ICMPv6) echo request, passing
// when the matching echo reply comes back before the deadline.
type PingProber struct {
	Conn Conn
	// Listen opens the ICMP socket; nil: ListenICMP. Tests replace it.
	Listen func(c Conn) (net.PacketConn, bool, error)
}

var pingSeq atomic.Uint32

// Probe sends the echo and waits for its reply.
func (p *PingProber) Probe(ctx context.Context, _ int) Result {
	listen := p.Listen
	if listen == nil {
		listen = ListenICMP
	}
	pc, dgram, err := listen(p.Conn)
	if err != nil {
		return failure("ICMP socket: %v", err)
	}
	defer pc.Close()
	if d, ok := ctx.Deadline(); ok {
		pc.SetDeadline(d)
	}
	stop := context.AfterFunc(ctx, func() { pc.SetDeadline(time.Unix(1, 0)) })
	defer stop()

	target := p.Conn.Target.Addr()
	v6 := target.Is6() && !target.Is4In6()
	var typ, replyType icmp.Type = ipv4.ICMPTypeEcho, ipv4.ICMPTypeEchoReply
	proto := 1
	if v6 {
		typ, replyType, proto = ipv6.ICMPTypeEchoRequest, ipv6.ICMPTypeEchoReply, 58
	}
	id := os.Getpid() & 0xffff
	seq := int(pingSeq.Add(1) & 0xffff)
	data := make([]byte, 16)
	rand.Read(data)
	msg, err := (&icmp.Message{Type: typ, Body: &icmp.Echo{ID: id, Seq: seq, Data: data}}).Marshal(nil)
	if err != nil {
		return failure("ICMP echo: %v", err)
	}
	var dst net.Addr = &net.IPAddr{IP: target.AsSlice(), Zone: target.Zone()}
	if dgram {
		dst = &net.UDPAddr{IP: target.AsSlice(), Zone: target.Zone()}
	}
	if _, err := pc.WriteTo(msg, dst); err != nil {
		return failure("ICMP echo to %s: %v", target, err)
	}
	buf := make([]byte, 1500)
	for {
		n, from, err := pc.ReadFrom(buf)
		if err != nil {
			var ne net.Error
			if errors.As(err, &ne) && ne.Timeout() {
				return failure("no ICMP echo reply from %s", target)
			}
			return failure("ICMP read: %v", err)
		}
		if a := addrOf(from); a.IsValid() && a.Unmap().WithZone("") != target.Unmap().WithZone("") {
			continue
		}
		m, err := icmp.ParseMessage(proto, buf[:n])
		if err != nil || m.Type != replyType {
			continue
		}
		e, ok := m.Body.(*icmp.Echo)
		// A datagram socket's kernel rewrites the id; the sequence and the
		// data identify our echo.
		if !ok || e.Seq != seq || string(e.Data) != string(data) || (!dgram && e.ID != id) {
			continue
		}
		return Result{OK: true}
	}
}

func addrOf(a net.Addr) netip.Addr {
	switch v := a.(type) {
	case *net.IPAddr:
		x, _ := netip.AddrFromSlice(v.IP)
		return x
	case *net.UDPAddr:
		x, _ := netip.AddrFromSlice(v.IP)
		return x
	}
	return netip.Addr{}
}

// ListenICMP opens an ICMP socket for c's family, unprivileged (a datagram
// "ping" socket, allowed by net.ipv4.ping_group_range) where possible and
// raw otherwise, bound to bindto / bind_if and marked with fwmark. dgram
// reports which kind it is.
func ListenICMP(c Conn) (pc net.PacketConn, dgram bool, err error) {
	a := c.Target.Addr()
	family, proto := unix.AF_INET, unix.IPPROTO_ICMP
	if a.Is6() && !a.Is4In6() {
		family, proto = unix.AF_INET6, unix.IPPROTO_ICMPV6
	}
	fd, err := unix.Socket(family, unix.SOCK_DGRAM|unix.SOCK_CLOEXEC, proto)
	dgram = err == nil
	if err != nil {
		fd, err = unix.Socket(family, unix.SOCK_RAW|unix.SOCK_CLOEXEC, proto)
		if err != nil {
			return nil, false, os.NewSyscallError("socket", err)
		}
	}
	fail := func(what string, e error) (net.PacketConn, bool, error) {
		unix.Close(fd)
		return nil, false, os.NewSyscallError(what, e)
	}
	if c.BindIf != "" {
		if e := unix.BindToDevice(fd, c.BindIf); e != nil {
			return fail("SO_BINDTODEVICE "+c.BindIf, e)
		}
	}
	if c.Fwmark != 0 {
		if e := unix.SetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_MARK, int(c.Fwmark)); e != nil {
			return fail("SO_MARK", e)
		}
	}
	if c.BindTo.IsValid() {
		var sa unix.Sockaddr
		if family == unix.AF_INET {
			sa = &unix.SockaddrInet4{Addr: c.BindTo.Unmap().As4()}
		} else {
			sa = &unix.SockaddrInet6{Addr: c.BindTo.As16()}
		}
		if e := unix.Bind(fd, sa); e != nil {
			return fail("bind", e)
		}
	}
	f := os.NewFile(uintptr(fd), "icmp")
	defer f.Close()
	pc, err = net.FilePacketConn(f)
	if err != nil {
		return nil, false, fmt.Errorf("ICMP socket: %w", err)
	}
	return pc, dgram, nil
}
