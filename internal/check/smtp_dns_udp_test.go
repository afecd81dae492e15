package check

import (
	"bufio"
	"io"
	"net"
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/miekg/dns"
)

// smtpServer speaks a scripted SMTP dialogue: greeting, then the reply to
// HELO, and records the HELO line.
func smtpServer(t *testing.T, greeting, heloReply string, helo chan<- string) netip.AddrPort {
	return rawServer(t, func(c net.Conn) {
		io.WriteString(c, greeting)
		r := bufio.NewReader(c)
		l, err := r.ReadString('\n')
		if err != nil {
			return
		}
		if helo != nil {
			helo <- l
		}
		io.WriteString(c, heloReply)
		if _, err := r.ReadString('\n'); err == nil {
			io.WriteString(c, "221 bye\r\n")
		}
	})
}

func TestSMTPProber(t *testing.T) {
	helo := make(chan string, 1)
	tests := []struct {
		name   string
		target netip.AddrPort
		helo   string
		ok     bool
		why    string
		d      time.Duration
	}{
		{name: "good server", target: smtpServer(t, "220 mx ESMTP\r\n", "250 hello\r\n", helo), helo: "check.example", ok: true},
		{name: "bad greeting", target: smtpServer(t, "554 go away\r\n", "250 hello\r\n", nil), why: "greeting"},
		{name: "multi-line greeting is not accepted", target: smtpServer(t, "220-mx\r\n220 mx\r\n", "250 hello\r\n", nil), why: "greeting"},
		{name: "bad HELO reply", target: smtpServer(t, "220 mx\r\n", "500 what\r\n", nil), why: "HELO"},
		{name: "garbage instead of SMTP", target: rawServer(t, func(c net.Conn) { io.WriteString(c, "HTTP/1.0 400 Bad\r\n\r\n") }), why: "greeting"},
		{name: "port closed", target: closedPort(t), why: "refused"},
		{name: "silent server", target: rawServer(t, func(c net.Conn) { io.Copy(io.Discard, c) }), why: "timeout", d: 300 * time.Millisecond},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			d := tc.d
			if d == 0 {
				d = 5 * time.Second
			}
			r := (&SMTPProber{Conn: Conn{Target: tc.target}, HeloName: tc.helo}).Probe(probeCtx(t, d), 0)
			if r.OK != tc.ok || (tc.why != "" && !strings.Contains(r.Why, tc.why)) {
				t.Errorf("got %+v, want ok=%v with %q", r, tc.ok, tc.why)
			}
		})
	}
	if got := <-helo; got != "HELO check.example\r\n" {
		t.Errorf("HELO line %q", got)
	}
	if got := smtpStatus([]byte("250\r\n")); got != 250 {
		t.Errorf("smtpStatus(250) = %d", got)
	}
}

// dnsServer answers on loopback UDP with handler.
func dnsServer(t *testing.T, handler dns.HandlerFunc) netip.AddrPort {
	pc, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := &dns.Server{PacketConn: pc, Handler: handler}
	go srv.ActivateAndServe()
	t.Cleanup(func() { srv.Shutdown() })
	return addrPort(t, pc.LocalAddr())
}

// udpServer answers each datagram with fn's reply (nil: no reply).
func udpServer(t *testing.T, fn func([]byte) []byte) netip.AddrPort {
	pc, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { pc.Close() })
	go func() {
		buf := make([]byte, 65535)
		for {
			n, a, err := pc.ReadFrom(buf)
			if err != nil {
				return
			}
			if r := fn(buf[:n]); r != nil {
				pc.WriteTo(r, a)
			}
		}
	}()
	return addrPort(t, pc.LocalAddr())
}

func closedUDPPort(t *testing.T) netip.AddrPort {
	pc, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ap := addrPort(t, pc.LocalAddr())
	pc.Close()
	return ap
}

func TestDNSProber(t *testing.T) {
	asked := make(chan dns.Question, 1)
	good := dnsServer(t, func(w dns.ResponseWriter, r *dns.Msg) {
		select {
		case asked <- r.Question[0]:
		default:
		}
		m := new(dns.Msg)
		m.SetReply(r)
		if !r.RecursionDesired {
			m.Rcode = dns.RcodeRefused
		}
		w.WriteMsg(m)
	})
	servfail := dnsServer(t, func(w dns.ResponseWriter, r *dns.Msg) {
		m := new(dns.Msg)
		m.SetRcode(r, dns.RcodeServerFailure)
		w.WriteMsg(m)
	})
	tests := []struct {
		name   string
		target netip.AddrPort
		ok     bool
		why    string
		d      time.Duration
	}{
		{name: "answer", target: good, ok: true},
		{name: "SERVFAIL", target: servfail, why: "rcode = 2"},
		{name: "garbage instead of DNS", target: udpServer(t, func(q []byte) []byte { return append(q[:2:2], "garbage"...) }), why: "malformed"},
		{name: "reply with another id is not ours", target: udpServer(t, func(q []byte) []byte {
			m := new(dns.Msg)
			m.Unpack(q)
			m.Response, m.Id = true, m.Id+1
			b, _ := m.Pack()
			return b
		}), why: "timeout", d: 300 * time.Millisecond},
		{name: "port closed", target: closedUDPPort(t), why: "refused"},
		{name: "silent", target: udpServer(t, func([]byte) []byte { return nil }), why: "timeout", d: 300 * time.Millisecond},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			d := tc.d
			if d == 0 {
				d = 5 * time.Second
			}
			r := (&DNSProber{Conn: Conn{Target: tc.target}, Type: "MX", Name: "example.com"}).Probe(probeCtx(t, d), 0)
			if r.OK != tc.ok || (tc.why != "" && !strings.Contains(r.Why, tc.why)) {
				t.Errorf("got %+v, want ok=%v with %q", r, tc.ok, tc.why)
			}
		})
	}
	if q := <-asked; q.Name != "example.com." || q.Qtype != dns.TypeMX {
		t.Errorf("question %+v, want example.com. MX", q)
	}
}

func TestUDPProber(t *testing.T) {
	echo := udpServer(t, func(q []byte) []byte { return q })
	silent := udpServer(t, func([]byte) []byte { return nil })
	tests := []struct {
		name string
		p    UDPProber
		ok   bool
		why  string
	}{
		{name: "echo, reply required and matching", p: UDPProber{Conn: Conn{Target: echo}, Payload: []byte("ping"), RequireReply: true, ReplyData: []byte("pi"), MaxReplyLength: 255}, ok: true},
		{name: "reply data with ignored nibbles", p: UDPProber{Conn: Conn{Target: echo}, Payload: []byte{0x12, 0x34}, RequireReply: true, ReplyData: []byte{0x10, 0x34}, ReplyMask: []byte{0xf0, 0xff}, MaxReplyLength: 255}, ok: true},
		{name: "reply data mismatch", p: UDPProber{Conn: Conn{Target: echo}, Payload: []byte("ping"), RequireReply: true, ReplyData: []byte("po"), MaxReplyLength: 255}, why: "mismatch"},
		{name: "reply too short", p: UDPProber{Conn: Conn{Target: echo}, Payload: []byte("ping"), RequireReply: true, MinReplyLength: 5, MaxReplyLength: 255}, why: "4 bytes"},
		{name: "reply too long", p: UDPProber{Conn: Conn{Target: echo}, Payload: []byte("ping"), RequireReply: true, MaxReplyLength: 3}, why: "bytes"},
		{name: "no reply required, silence passes", p: UDPProber{Conn: Conn{Target: silent}, MaxReplyLength: 255}, ok: true},
		{name: "reply required, silence fails", p: UDPProber{Conn: Conn{Target: silent}, RequireReply: true, MaxReplyLength: 255}, why: "no UDP reply"},
		{name: "port closed: ICMP unreachable fails", p: UDPProber{Conn: Conn{Target: closedUDPPort(t)}, MaxReplyLength: 255}, why: "refused"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			// A reply comes at once; only the silent cases wait out the
			// deadline.
			d := 5 * time.Second
			if strings.Contains(tc.name, "silence") {
				d = 300 * time.Millisecond
			}
			r := tc.p.Probe(probeCtx(t, d), 0)
			if r.OK != tc.ok || (tc.why != "" && !strings.Contains(r.Why, tc.why)) {
				t.Errorf("got %+v, want ok=%v with %q", r, tc.ok, tc.why)
			}
		})
	}
}
