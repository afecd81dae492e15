package check

import (
	"context"
	"net"
	"strings"
	"time"

	"github.com/miekg/dns"
)

// DNSProber is DNS_CHECK: a query of Type for Name over UDP with recursion
// desired; any answer with the query's id, the response bit and rcode
// NOERROR passes (keepalived does not look at the answer section).
type DNSProber struct {
	Conn   Conn
	Dialer Dialer
	Type   string
	Name   string
}

// Probe sends the query and reads the reply.
func (p *DNSProber) Probe(ctx context.Context, _ int) Result {
	qt, ok := dns.StringToType[strings.ToUpper(p.Type)]
	if !ok {
		return failure("DNS query type %q unknown", p.Type)
	}
	m := new(dns.Msg)
	m.SetQuestion(dns.Fqdn(p.Name), qt)
	m.RecursionDesired = true
	out, err := m.Pack()
	if err != nil {
		return failure("DNS query for %s: %v", p.Name, err)
	}
	conn, err := dialerFor(p.Dialer, p.Conn, "udp").DialContext(ctx, "udp", p.Conn.address())
	if err != nil {
		return failure("DNS connection to %s failed: %v", p.Conn.Target, err)
	}
	defer conn.Close()
	if d, ok := ctx.Deadline(); ok {
		conn.SetDeadline(d)
	}
	stop := context.AfterFunc(ctx, func() { conn.SetDeadline(time.Unix(1, 0)) })
	defer stop()
	if _, err := conn.Write(out); err != nil {
		return failure("DNS query to %s: %v", p.Conn.Target, err)
	}
	buf := make([]byte, 65535)
	for {
		n, err := conn.Read(buf)
		if err != nil {
			if ne, ok := err.(net.Error); ok && ne.Timeout() {
				return failure("read timeout from DNS server %s", p.Conn.Target)
			}
			return failure("DNS reply from %s: %v", p.Conn.Target, err)
		}
		var r dns.Msg
		if err := r.Unpack(buf[:n]); err != nil {
			if len(buf[:n]) >= 2 && (uint16(buf[0])<<8|uint16(buf[1])) != m.Id {
				continue // not ours: keep waiting for the reply
			}
			return failure("malformed DNS reply from %s: %v", p.Conn.Target, err)
		}
		if r.Id != m.Id {
			continue
		}
		if !r.Response {
			return failure("DNS reply from %s is not a response", p.Conn.Target)
		}
		if r.Rcode != dns.RcodeSuccess {
			return failure("DNS error from %s (rcode = %d)", p.Conn.Target, r.Rcode)
		}
		return Result{OK: true}
	}
}
