package check

import (
	"context"
	"crypto/rand"
	"errors"
	"net"
	"syscall"
	"time"
)

// UDPProber is UDP_CHECK: a datagram is sent; without require_reply the
// check passes unless an ICMP error (port unreachable) comes back before
// the deadline; with it, a reply must come, of min..max length, matching
// the expected bytes where the mask says.
type UDPProber struct {
	Conn   Conn
	Dialer Dialer
	// Payload is sent; empty: a random 16-byte payload.
	Payload      []byte
	RequireReply bool
	ReplyData    []byte
	// ReplyMask has a bit set for every bit of ReplyData that must match;
	// nil: all of them.
	ReplyMask      []byte
	MinReplyLength int
	MaxReplyLength int
}

// Probe sends and waits.
func (p *UDPProber) Probe(ctx context.Context, _ int) Result {
	conn, err := dialerFor(p.Dialer, p.Conn, "udp").DialContext(ctx, "udp", p.Conn.address())
	if err != nil {
		return failure("UDP connection to %s failed: %v", p.Conn.Target, err)
	}
	defer conn.Close()
	if d, ok := ctx.Deadline(); ok {
		conn.SetDeadline(d)
	}
	stop := context.AfterFunc(ctx, func() { conn.SetDeadline(time.Unix(1, 0)) })
	defer stop()
	payload := p.Payload
	if len(payload) == 0 {
		payload = make([]byte, 16)
		rand.Read(payload)
	}
	if _, err := conn.Write(payload); err != nil {
		return failure("UDP send to %s: %v", p.Conn.Target, err)
	}
	buf := make([]byte, max(p.MaxReplyLength, 1)+1)
	n, err := conn.Read(buf)
	if err != nil {
		var ne net.Error
		if errors.As(err, &ne) && ne.Timeout() && !errors.Is(err, syscall.ECONNREFUSED) {
			if !p.RequireReply {
				return Result{OK: true}
			}
			return failure("no UDP reply from %s", p.Conn.Target)
		}
		return failure("UDP connection to %s failed: %v", p.Conn.Target, err)
	}
	if !p.RequireReply {
		return Result{OK: true}
	}
	reply := buf[:n]
	if n < p.MinReplyLength || n > p.MaxReplyLength {
		return failure("UDP reply from %s is %d bytes, want %d to %d", p.Conn.Target, n, p.MinReplyLength, p.MaxReplyLength)
	}
	for i := 0; i < len(p.ReplyData) && i < n; i++ {
		m := byte(0xff)
		if p.ReplyMask != nil {
			m = p.ReplyMask[i]
		}
		if (reply[i]^p.ReplyData[i])&m != 0 {
			return failure("UDP reply data mismatch from %s at byte %d", p.Conn.Target, i)
		}
	}
	return Result{OK: true}
}
