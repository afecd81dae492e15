package e2e

// Health checkers through the real daemon: real servers of every checker
// kind in a namespace of their own, faults injected kind by kind, and the
// LVS side's verdicts read from `vigil status --json`. One daemon checks
// every case at once (one virtual server per kind × fault), so the faults
// of all cases take effect in the same few seconds.

import (
	"bufio"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"errors"
	"fmt"
	"io"
	"log"
	"math/big"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/miekg/dns"

	"vigil/internal/netlab"
	"vigil/internal/notify/smtptest"
)

// The timing every case uses: keepalived's bound on detecting a fault is
// delay_loop (until the next check) + (retry+1) × connect_timeout (each
// failing check runs to its deadline at worst) + retry × delay_before_retry,
// plus Vigil's grace on a check that overruns its deadline (0.5 s); a
// repair is seen after one success, within delay_loop + connect_timeout
// (HTTP_GET and SSL_GET: two, since a url that failed passes once and then
// every url is checked again from the first).
const (
	ckDelayLoop = time.Second
	ckTimeout   = time.Second
	ckRetry     = 1
	ckDBR       = time.Second
	ckGrace     = 500 * time.Millisecond
	ckDownBound = ckDelayLoop + (ckRetry+1)*ckTimeout + ckRetry*ckDBR + ckGrace
	ckUpBound   = 2*(ckDelayLoop+ckTimeout) + ckGrace
	// ckSlack is the margin for a loaded machine (the daemon runs under
	// the race detector, CI runs several packages at once): the test
	// asserts bound + slack, and logs what it measured against the bound.
	ckSlack = 10 * time.Second
)

// ckStatus is the LVS part of `vigil status --json` these tests read.
type ckStatus struct {
	Config struct {
		Diagnostics []string `json:"diagnostics"`
	} `json:"config"`
	LVS *struct {
		State          string `json:"state"`
		Reloads        int    `json:"reloads"`
		VirtualServers []struct {
			Name  string `json:"name"`
			Reals []struct {
				Addr   string `json:"addr"`
				Alive  bool   `json:"alive"`
				Weight int    `json:"weight"`
			} `json:"real_servers"`
		} `json:"virtual_servers"`
		Checkers []struct {
			Name  string `json:"name"`
			Reals []struct {
				VirtualServer string `json:"virtual_server"`
				Addr          string `json:"addr"`
			} `json:"real_servers"`
			Up        bool      `json:"up"`
			LastError string    `json:"last_error"`
			Start     uint64    `json:"start"`
			StartedAt time.Time `json:"started_at"`
		} `json:"checkers"`
		CheckerProblems []string `json:"checker_problems"`
	} `json:"lvs"`
}

func ckStatusOf(h *netlab.Host, v *Vigil) (ckStatus, error) {
	var st ckStatus
	out, err := statusInto(h, v, &st)
	if err == nil && st.LVS == nil {
		err = fmt.Errorf("no lvs in %q", out)
	}
	return st, err
}

// ckReal is a real server's state in a status, by its address ("ip:port").
type ckReal struct {
	Alive  bool
	Weight int
}

func (st ckStatus) reals() map[string]ckReal {
	m := map[string]ckReal{}
	for _, vs := range st.LVS.VirtualServers {
		for _, r := range vs.Reals {
			m[r.Addr] = ckReal{r.Alive, r.Weight}
		}
	}
	return m
}

// checkers maps a real server's address to its checker's start number and
// last error (every real server here has one checker).
func (st ckStatus) checkers() map[string]struct {
	Start     uint64
	LastError string
	Name      string
} {
	m := map[string]struct {
		Start     uint64
		LastError string
		Name      string
	}{}
	for _, c := range st.LVS.Checkers {
		for _, r := range c.Reals {
			m[r.Addr] = struct {
				Start     uint64
				LastError string
				Name      string
			}{c.Start, c.LastError, c.Name}
		}
	}
	return m
}

// ---- real servers ----

// ckPort is a server that a fault closes and a repair opens again, on the
// same address.
type ckPort struct {
	open func() (io.Closer, error)
	mu   sync.Mutex
	c    io.Closer
}

func (p *ckPort) up(t *testing.T) {
	t.Helper()
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.c != nil {
		return
	}
	c, err := p.open()
	if err != nil {
		t.Fatalf("open: %v", err)
	}
	p.c = c
}

func (p *ckPort) down(t *testing.T) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.c != nil {
		p.c.Close()
		p.c = nil
	}
}

// ckListen opens a TCP listener in h's namespace.
func ckListen(h *netlab.Host, addr string) (net.Listener, error) {
	var ln net.Listener
	err := h.Do(func() error {
		var err error
		ln, err = net.Listen("tcp", addr)
		return err
	})
	return ln, err
}

// ckListenUDP opens a UDP socket in h's namespace.
func ckListenUDP(h *netlab.Host, addr string) (net.PacketConn, error) {
	var c net.PacketConn
	err := h.Do(func() error {
		var err error
		c, err = net.ListenPacket("udp", addr)
		return err
	})
	return c, err
}

// Web modes: what the web server answers.
const (
	webOK       int32 = iota
	webStatus         // 500
	webDigest         // another body
	webMaint          // "maintenance" (fails a regex, matches a regex_no_match)
	webReset          // a reset in the middle of the body
	webSlow           // an answer after 3 s, past connect_timeout
	webEndless        // a body that never ends
	webTLSError       // the TLS handshake fails
)

// ckBody is the web servers' page; its MD5 is ckDigest.
const (
	ckBody   = "hello world\n"
	ckDigest = "6f5902ac237024bdd0c176cb93063dc4"
)

// ckWeb is an HTTP (or HTTPS) server whose answer follows its mode.
type ckWeb struct {
	mode atomic.Int32
	// stop ends the handlers that wait or stream (slow, endless).
	stop chan struct{}
}

func (w *ckWeb) ServeHTTP(rw http.ResponseWriter, r *http.Request) {
	switch w.mode.Load() {
	case webStatus:
		rw.WriteHeader(http.StatusInternalServerError)
		io.WriteString(rw, ckBody)
	case webDigest:
		io.WriteString(rw, "hello world, changed\n")
	case webMaint:
		io.WriteString(rw, "maintenance\n")
	case webReset:
		hj, ok := rw.(http.Hijacker)
		if !ok {
			return
		}
		c, buf, err := hj.Hijack()
		if err != nil {
			return
		}
		buf.WriteString("HTTP/1.0 200 OK\r\nContent-Length: 1000\r\n\r\nhello")
		buf.Flush()
		if tc, ok := c.(*net.TCPConn); ok {
			tc.SetLinger(0) // close with a reset
		}
		c.Close()
	case webSlow:
		select {
		case <-time.After(3 * time.Second):
		case <-r.Context().Done():
			return
		case <-w.stop:
			return
		}
		io.WriteString(rw, ckBody)
	case webEndless:
		chunk := []byte(strings.Repeat("endless ", 512))
		f, _ := rw.(http.Flusher)
		deadline := time.After(20 * time.Second) // bounds the stream
		for {
			select {
			case <-deadline:
				return
			case <-w.stop:
				return
			default:
			}
			if _, err := rw.Write(chunk); err != nil {
				return
			}
			if f != nil {
				f.Flush()
			}
		}
	default:
		io.WriteString(rw, ckBody)
	}
}

// serveWeb runs w on addr in h (with TLS when cert is set) until the test
// ends.
func serveWeb(t *testing.T, h *netlab.Host, addr string, w *ckWeb, cert *tls.Certificate) {
	t.Helper()
	ln, err := ckListen(h, addr)
	if err != nil {
		t.Fatal(err)
	}
	// The handshakes the test refuses are not news: no log of them.
	srv := &http.Server{Handler: w, ReadHeaderTimeout: 5 * time.Second, ErrorLog: log.New(io.Discard, "", 0)}
	if cert != nil {
		srv.TLSConfig = &tls.Config{Certificates: []tls.Certificate{*cert},
			GetConfigForClient: func(*tls.ClientHelloInfo) (*tls.Config, error) {
				if w.mode.Load() == webTLSError {
					return nil, errors.New("handshake refused by the test")
				}
				return nil, nil
			}}
		go srv.ServeTLS(ln, "", "")
	} else {
		go srv.Serve(ln)
	}
	t.Cleanup(func() { srv.Close() })
}

// selfSigned makes a certificate for the HTTPS server.
func selfSigned(t *testing.T) tls.Certificate {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "rs.test"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour), DNSNames: []string{"rs.test"}}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	return tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key}
}

// ckSMTP is an SMTP server that answers garbage while garbage is set.
type ckSMTP struct{ garbage atomic.Bool }

func (s *ckSMTP) serve(c net.Conn) {
	defer c.Close()
	c.SetDeadline(time.Now().Add(10 * time.Second)) // bounds a stuck client
	if s.garbage.Load() {
		io.WriteString(c, "HTTP/1.1 400 Bad Request\r\n\r\n")
		return
	}
	io.WriteString(c, "220 rs.test ESMTP\r\n")
	r := bufio.NewReader(c)
	for {
		l, err := r.ReadString('\n')
		if err != nil {
			return
		}
		switch strings.ToUpper(strings.Fields(l + " x")[0]) {
		case "HELO", "EHLO":
			io.WriteString(c, "250 rs.test\r\n")
		case "QUIT":
			io.WriteString(c, "221 bye\r\n")
			return
		default:
			io.WriteString(c, "502 unknown\r\n")
		}
	}
}

// acceptLoop serves every connection of ln with serve until ln closes.
func acceptLoop(ln net.Listener, serve func(net.Conn)) {
	for {
		c, err := ln.Accept()
		if err != nil {
			return
		}
		go serve(c)
	}
}

// ckDNS answers DNS queries (an SOA for any name) or, while garbage is
// set, a datagram with the query's id and no DNS message after it.
type ckDNS struct{ garbage atomic.Bool }

func (d *ckDNS) serve(pc net.PacketConn) {
	buf := make([]byte, 1500)
	for {
		n, from, err := pc.ReadFrom(buf)
		if err != nil {
			return
		}
		if d.garbage.Load() {
			if n >= 2 {
				pc.WriteTo(append([]byte{buf[0], buf[1]}, "garbage, not DNS"...), from)
			}
			continue
		}
		var q dns.Msg
		if q.Unpack(buf[:n]) != nil {
			continue
		}
		var m dns.Msg
		m.SetReply(&q)
		if len(q.Question) > 0 {
			m.Answer = append(m.Answer, &dns.SOA{Hdr: dns.RR_Header{Name: q.Question[0].Name, Rrtype: dns.TypeSOA, Class: dns.ClassINET, Ttl: 60},
				Ns: "ns.rs.test.", Mbox: "ops.rs.test.", Serial: 1, Refresh: 60, Retry: 60, Expire: 60, Minttl: 60})
		}
		if out, err := m.Pack(); err == nil {
			pc.WriteTo(out, from)
		}
	}
}

// udpEcho answers every datagram with itself.
func udpEcho(pc net.PacketConn) {
	buf := make([]byte, 1500)
	for {
		n, from, err := pc.ReadFrom(buf)
		if err != nil {
			return
		}
		pc.WriteTo(buf[:n], from)
	}
}

// closerFunc is an io.Closer made of a function.
type closerFunc func() error

func (f closerFunc) Close() error { return f() }

// ---- the cases ----

// ckSays reports whether text says one of the words of why, which are
// separated by "|" (empty: anything goes).
func ckSays(text, why string) bool {
	if why == "" {
		return true
	}
	for _, w := range strings.Split(why, "|") {
		if strings.Contains(text, w) {
			return true
		}
	}
	return false
}

// ckCase is one kind × fault: a virtual server of its own with one real
// server on rs, whose checker block is check; fault injects the fault and
// repair removes it; why is a word the checker's last error must carry
// while the fault holds (words separated by "|": one of them; empty: not
// checked).
type ckCase struct {
	name   string
	proto  string // TCP or UDP
	addr   string // real server address (default ckRS)
	port   int
	weight int
	check  string
	fault  func(t *testing.T)
	repair func(t *testing.T)
	why    string
}

const (
	ckRS   = "10.77.0.3"
	ckPing = "10.77.0.30"
	ckVIP  = "10.77.0.100"
)

func (c ckCase) rsAddr() string {
	a := c.addr
	if a == "" {
		a = ckRS
	}
	return fmt.Sprintf("%s:%d", a, c.port)
}

// ckConf renders the configuration of cases with global_defs lines g;
// alpha starts every real server down, so that it is up only once its
// checker has passed.
func ckConf(g []string, cases []ckCase, alpha bool) string {
	var b strings.Builder
	b.WriteString("global_defs {\n")
	for _, l := range g {
		fmt.Fprintf(&b, "    %s\n", l)
	}
	b.WriteString("}\n")
	for _, c := range cases {
		a := c.addr
		if a == "" {
			a = ckRS
		}
		proto, w := c.proto, c.weight
		if proto == "" {
			proto = "TCP"
		}
		if w == 0 {
			w = 1
		}
		fmt.Fprintf(&b, `virtual_server %s %d {
    # %s
    delay_loop %d
    lb_algo rr
    lb_kind NAT
    protocol %s
    real_server %s %d {
        weight %d
        retry %d
        delay_before_retry %d
        connect_timeout %d
        warmup 0
%s%s
    }
}
`, ckVIP, c.port, c.name, int(ckDelayLoop/time.Second), proto, a, c.port, w, ckRetry, int(ckDBR/time.Second), int(ckTimeout/time.Second), map[bool]string{true: "        alpha\n"}[alpha], c.check)
	}
	return b.String()
}

// ckLab is a director (lb) and a host of real servers (rs), with rs's
// second address for PING_CHECK.
func ckLab(t *testing.T) (lb, rs *netlab.Host) {
	t.Helper()
	needVigil(t)
	l := netlab.New(t)
	lb = l.AddHost("lb", "10.77.0.2/24")
	rs = l.AddHost("rs", ckRS+"/24", ckPing+"/24")
	return lb, rs
}

// TestCheckersFaults runs every checker kind against real servers in a
// namespace and injects each fault: every one takes its real server down
// within keepalived's bound (ckDownBound + ckSlack) and its repair brings
// it back (ckUpBound + ckSlack). Then reloads: an unchanged one restarts no
// checker and moves no real server (one that is down stays down, without
// a transient up, and the others stay up); one that changes a checker's
// connect_timeout restarts that checker only; one that changes the
// delay_loop of the down real server restarts its checker with its state
// (it stays down). And the smtp_alert mails of
// the checkers say what failed.
func TestCheckersFaults(t *testing.T) {
	lb, rs := ckLab(t)
	dir := t.TempDir()

	// The SMTP server of smtp_alert, on the director's loopback.
	mailLn, err := ckListen(lb, "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	mails := smtptest.Serve(t, mailLn)
	var mailMu sync.Mutex
	var gotMails []smtptest.Mail
	go func() {
		for m := range mails {
			mailMu.Lock()
			gotMails = append(gotMails, m)
			mailMu.Unlock()
		}
	}()

	cert := selfSigned(t)
	stop := make(chan struct{})
	t.Cleanup(func() { close(stop) })
	web := func(port int, tlsOn bool) *ckWeb {
		w := &ckWeb{stop: stop}
		var c *tls.Certificate
		if tlsOn {
			c = &cert
		}
		serveWeb(t, rs, fmt.Sprintf("%s:%d", ckRS, port), w, c)
		return w
	}
	setMode := func(w *ckWeb, m int32) func(*testing.T) { return func(*testing.T) { w.mode.Store(m) } }
	url := func(lines ...string) string {
		return "        url {\n            path /\n            " + strings.Join(lines, "\n            ") + "\n        }"
	}

	// TCP_CHECK: the port closes.
	tcpPort := &ckPort{open: func() (io.Closer, error) {
		ln, err := ckListen(rs, ckRS+":8001")
		if err == nil {
			go acceptLoop(ln, func(c net.Conn) { c.Close() })
		}
		return ln, err
	}}
	tcpPort.up(t)
	t.Cleanup(func() { tcpPort.down(t) })

	// SMTP_CHECK and DNS_CHECK: garbage instead of the protocol.
	smtp := &ckSMTP{}
	smtpLn, err := ckListen(rs, ckRS+":8025")
	if err != nil {
		t.Fatal(err)
	}
	go acceptLoop(smtpLn, smtp.serve)
	t.Cleanup(func() { smtpLn.Close() })
	dnsSrv := &ckDNS{}
	dnsConn, err := ckListenUDP(rs, ckRS+":8053")
	if err != nil {
		t.Fatal(err)
	}
	go dnsSrv.serve(dnsConn)
	t.Cleanup(func() { dnsConn.Close() })

	// UDP_CHECK: the echo's port closes.
	udpPort := &ckPort{open: func() (io.Closer, error) {
		pc, err := ckListenUDP(rs, ckRS+":8007")
		if err == nil {
			go udpEcho(pc)
		}
		return pc, err
	}}
	udpPort.up(t)
	t.Cleanup(func() { udpPort.down(t) })

	// MISC_CHECK: scripts exit with the code in a file.
	script := func(name string) (path, code string) {
		code = filepath.Join(dir, name+".code")
		path = filepath.Join(dir, name+".sh")
		if err := os.WriteFile(code, []byte("0\n"), 0o644); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, []byte("#!/bin/sh\nexit $(cat "+code+")\n"), 0o755); err != nil {
			t.Fatal(err)
		}
		return path, code
	}
	writeFile := func(path, v string) func(*testing.T) {
		return func(t *testing.T) {
			if err := os.WriteFile(path, []byte(v+"\n"), 0o644); err != nil {
				t.Fatal(err)
			}
		}
	}
	miscPath, miscCode := script("misc")
	dynPath, dynCode := script("dyn")

	// FILE_CHECK: a tracked file whose non-zero value is a fault.
	trackPath := filepath.Join(dir, "track.value")
	writeFile(trackPath, "0")(t)

	// PING_CHECK: the address goes away.
	pingAddr := func(add bool) func(*testing.T) {
		return func(t *testing.T) {
			op := "del"
			if add {
				op = "add"
			}
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			if out, err := rs.Exec(ctx, "ip", "addr", op, ckPing+"/24", "dev", "eth0"); err != nil {
				t.Fatalf("ip addr %s %s: %v %s", op, ckPing, err, out)
			}
		}
	}

	wReset, wSlow, wStatus, wDigest := web(8002, false), web(8003, false), web(8004, false), web(8005, false)
	wRegex, wNoMatch, wEndless, wTLS := web(8006, false), web(8008, false), web(8009, false), web(8443, true)

	cases := []ckCase{
		{name: "TCP_CHECK, port closed", port: 8001, check: "        TCP_CHECK {\n        }",
			fault: tcpPort.down, repair: tcpPort.up, why: "refused"},
		{name: "HTTP_GET, reset mid-response", port: 8002, check: "        HTTP_GET {\n" + url("digest "+ckDigest) + "\n        }",
			fault: setMode(wReset, webReset), repair: setMode(wReset, webOK), why: "reset"},
		{name: "HTTP_GET, slow past connect_timeout", port: 8003, check: "        HTTP_GET {\n" + url("status_code 200") + "\n        }",
			fault: setMode(wSlow, webSlow), repair: setMode(wSlow, webOK), why: "timed out|deadline"},
		{name: "HTTP_GET, wrong status", port: 8004, check: "        HTTP_GET {\n" + url("status_code 200") + "\n        }",
			fault: setMode(wStatus, webStatus), repair: setMode(wStatus, webOK), why: "status code 500"},
		{name: "HTTP_GET, wrong digest", port: 8005, check: "        HTTP_GET {\n" + url("digest "+ckDigest) + "\n        }",
			fault: setMode(wDigest, webDigest), repair: setMode(wDigest, webOK), why: "MD5 digest"},
		{name: "HTTP_GET, body fails the regex", port: 8006, check: "        HTTP_GET {\n" + url(`regex "^hello"`) + "\n        }",
			fault: setMode(wRegex, webMaint), repair: setMode(wRegex, webOK), why: "regex"},
		{name: "HTTP_GET, body matches regex_no_match", port: 8008, check: "        HTTP_GET {\n" + url(`regex "maintenance"`, "regex_no_match") + "\n        }",
			fault: setMode(wNoMatch, webMaint), repair: setMode(wNoMatch, webOK), why: "regex"},
		{name: "HTTP_GET, endless body", port: 8009, check: "        HTTP_GET {\n" + url("digest "+ckDigest) + "\n        }",
			fault: setMode(wEndless, webEndless), repair: setMode(wEndless, webOK), why: "timed out|deadline"},
		{name: "SSL_GET, TLS handshake failure", port: 8443, check: "        SSL_GET {\n" + url("status_code 200") + "\n        }",
			fault: setMode(wTLS, webTLSError), repair: setMode(wTLS, webOK), why: "handshake"},
		{name: "SMTP_CHECK, garbage instead of SMTP", port: 8025, check: "        SMTP_CHECK {\n        }",
			fault: func(*testing.T) { smtp.garbage.Store(true) }, repair: func(*testing.T) { smtp.garbage.Store(false) }, why: "greeting"},
		{name: "DNS_CHECK, garbage instead of DNS", proto: "UDP", port: 8053, check: "        DNS_CHECK {\n            type SOA\n            name rs.test\n        }",
			fault: func(*testing.T) { dnsSrv.garbage.Store(true) }, repair: func(*testing.T) { dnsSrv.garbage.Store(false) }, why: "malformed DNS reply"},
		{name: "UDP_CHECK, echo port closed", proto: "UDP", port: 8007, check: "        UDP_CHECK {\n            payload 68656c6c6f\n            require_reply 68656c6c6f\n        }",
			fault: udpPort.down, repair: udpPort.up, why: "UDP"},
		{name: "MISC_CHECK, script fails", port: 8101, check: "        MISC_CHECK {\n            misc_path " + miscPath + "\n            misc_timeout 2\n        }",
			fault: writeFile(miscCode, "1"), repair: writeFile(miscCode, "0"), why: "exit"},
		{name: "MISC_CHECK misc_dynamic, script fails", port: 8102, weight: 3, check: "        MISC_CHECK {\n            misc_path " + dynPath + "\n            misc_timeout 2\n            misc_dynamic\n        }",
			fault: writeFile(dynCode, "1"), repair: writeFile(dynCode, "0"), why: "exit"},
		{name: "PING_CHECK, address gone", addr: ckPing, port: 8103, check: "        PING_CHECK {\n        }",
			fault: pingAddr(false), repair: pingAddr(true), why: "ICMP"},
		{name: "FILE_CHECK, tracked file in fault", port: 8104, check: "        FILE_CHECK {\n            track_file ckfile\n            weight 0\n        }",
			fault: writeFile(trackPath, "1"), repair: writeFile(trackPath, "0"), why: "tracked file"},
	}
	host, port, _ := net.SplitHostPort(mailLn.Addr().String())
	global := []string{"router_id ckt", "smtp_server " + host + " " + port, "notification_email {", "    ops@example.org", "}",
		"notification_email_from vigil@example.org", "smtp_connect_timeout 5"}
	conf := "track_file ckfile {\n    file " + trackPath + "\n}\n" + ckConf(global, cases, true)
	v := StartVigil(t, lb, conf)

	var st ckStatus
	state := func() map[string]ckReal {
		var err error
		st, err = ckStatusOf(lb, v)
		if err != nil {
			return nil
		}
		return st.reals()
	}
	waitAll := func(what string, bound time.Duration, want func(c ckCase) bool) {
		t.Helper()
		start := time.Now()
		seen := map[string]time.Duration{}
		Eventually(t, bound+ckSlack, what, func() (bool, error) {
			r := state()
			if r == nil {
				return false, errors.New("no status")
			}
			var missing []string
			for _, c := range cases {
				if r[c.rsAddr()].Alive == want(c) {
					if _, ok := seen[c.name]; !ok {
						seen[c.name] = time.Since(start)
					}
				} else {
					missing = append(missing, c.name)
				}
			}
			return len(missing) == 0, fmt.Errorf("not yet: %v", missing)
		})
		var worst time.Duration
		slowest := ""
		for name, d := range seen {
			if d >= worst {
				worst, slowest = d, name
			}
		}
		t.Logf("%s: every real server within %v, the last %s (keepalived's bound %v, measured from the first poll; the test allows %v more for a loaded machine)",
			what, worst.Round(10*time.Millisecond), slowest, bound, ckSlack)
	}

	// Every real server comes up: under alpha, only once its checker has
	// passed against its server.
	Eventually(t, 15*time.Second, "the LVS side runs every checker", func() (bool, error) {
		r := state()
		return r != nil && st.LVS.State == "running" && len(st.LVS.Checkers) == len(cases), fmt.Errorf("status %+v", st.LVS)
	})
	if len(st.LVS.CheckerProblems) != 0 {
		t.Fatalf("checker problems: %q", st.LVS.CheckerProblems)
	}
	waitAll("start (the first check is due 1 s after start)", time.Second+ckUpBound, func(ckCase) bool { return true })

	// misc_dynamic: exit 2+w sets the real server's weight to w.
	writeFile(dynCode, "7")(t)
	dyn := cases[13].rsAddr()
	Eventually(t, ckUpBound+ckSlack, "misc_dynamic exit 7 sets weight 5", func() (bool, error) {
		r := state()
		return r != nil && r[dyn].Alive && r[dyn].Weight == 5, fmt.Errorf("%s: %+v", dyn, r[dyn])
	})
	writeFile(dynCode, "0")(t)
	Eventually(t, ckUpBound+ckSlack, "misc_dynamic exit 0 restores the configured weight 3", func() (bool, error) {
		r := state()
		return r != nil && r[dyn].Alive && r[dyn].Weight == 3, fmt.Errorf("%s: %+v", dyn, r[dyn])
	})

	// Every fault at once.
	for _, c := range cases {
		c.fault(t)
	}
	waitAll("faults", ckDownBound, func(ckCase) bool { return false })
	chk := st.checkers()
	for _, c := range cases {
		if !ckSays(chk[c.rsAddr()].LastError, c.why) {
			t.Errorf("%s: the checker's last error %q does not say %q", c.name, chk[c.rsAddr()].LastError, c.why)
		}
	}
	for _, c := range cases {
		c.repair(t)
	}
	waitAll("repairs", ckUpBound, func(ckCase) bool { return true })

	// Reloads. One real server is down (its status fault is back), the
	// others up.
	downCase := cases[3]
	downCase.fault(t)
	Eventually(t, ckDownBound+ckSlack, downCase.name+": down again", func() (bool, error) {
		r := state()
		return r != nil && !r[downCase.rsAddr()].Alive, nil
	})
	before := st.checkers()
	f := followEvents(t, lb, v, true)
	reload := func(n int, text string) {
		t.Helper()
		if err := os.WriteFile(v.ConfFile, []byte(text), 0o644); err != nil {
			t.Fatal(err)
		}
		if err := v.Signal(syscall.SIGHUP); err != nil {
			t.Fatal(err)
		}
		Eventually(t, 15*time.Second, fmt.Sprintf("reload %d applied", n), func() (bool, error) {
			r := state()
			return r != nil && st.LVS.Reloads == n, nil
		})
	}
	// steady watches the real servers for d: the down one never up, the
	// others never down.
	steady := func(what string, d time.Duration) {
		t.Helper()
		Never(t, d, what+": a real server changed state", func() (bool, error) {
			r := state()
			if r == nil {
				return false, nil
			}
			for _, c := range cases {
				if r[c.rsAddr()].Alive != (c.name != downCase.name) {
					return true, fmt.Errorf("%s alive %v", c.name, r[c.rsAddr()].Alive)
				}
			}
			return false, nil
		})
	}
	reload(1, conf)
	steady("unchanged reload", 2*ckDelayLoop+ckTimeout)
	after := st.checkers()
	for addr, c := range before {
		if after[addr].Start != c.Start {
			t.Errorf("an unchanged reload restarted the checker of %s (start %d → %d)", addr, c.Start, after[addr].Start)
		}
	}

	// A new connect_timeout for the TCP_CHECK restarts that checker only.
	changed := strings.Replace(conf, "        TCP_CHECK {\n        }", "        TCP_CHECK {\n            connect_timeout 2\n        }", 1)
	if changed == conf {
		t.Fatal("the TCP_CHECK block is not in the configuration")
	}
	reload(2, changed)
	steady("reload changing one checker", 2*ckDelayLoop+ckTimeout)
	after = st.checkers()
	for addr, c := range before {
		restarted := after[addr].Start != c.Start
		if want := addr == cases[0].rsAddr(); restarted != want {
			t.Errorf("reload changing the TCP_CHECK of %s: the checker of %s restarted: %v, want %v", cases[0].rsAddr(), addr, restarted, want)
		}
	}
	// A new delay_loop for the checker of the real server that is down
	// restarts it with its state: the server stays down.
	before = after
	rescheduled := strings.Replace(changed, "    # "+downCase.name+"\n    delay_loop 1\n", "    # "+downCase.name+"\n    delay_loop 2\n", 1)
	if rescheduled == changed {
		t.Fatal("the down case's delay_loop is not in the configuration")
	}
	reload(3, rescheduled)
	steady("reload changing the schedule of the down real server's checker", 2*ckDelayLoop+ckTimeout)
	after = st.checkers()
	for addr, c := range before {
		restarted := after[addr].Start != c.Start
		if want := addr == downCase.rsAddr(); restarted != want {
			t.Errorf("reload changing the delay_loop of %s: the checker of %s restarted: %v, want %v", downCase.rsAddr(), addr, restarted, want)
		}
	}
	for _, l := range strings.Split(f.p.Output(), "\n") {
		if strings.Contains(l, `"real-up"`) || strings.Contains(l, `"real-down"`) {
			t.Errorf("vigil events during the reloads: %s", l)
		}
	}

	// The checkers' mails say what failed.
	mailMu.Lock()
	defer mailMu.Unlock()
	for _, c := range []ckCase{cases[3], cases[9]} {
		subject := fmt.Sprintf("Realserver [%s]:tcp:%d of virtual server [%s]:tcp:%d - DOWN", ckRS, c.port, ckVIP, c.port)
		found := false
		for _, m := range gotMails {
			if strings.Contains(m.Data, subject) && strings.Contains(m.Data, "=> CHECK failed on service : ") && ckSays(m.Data, c.why) {
				found = true
			}
		}
		if !found {
			var subjects []string
			for _, m := range gotMails {
				subjects = append(subjects, strings.SplitN(m.Data, "\n", 2)[0])
			}
			t.Errorf("%s: no mail %q whose body says %q; mails: %q", c.name, subject, c.why, subjects)
		}
	}
}

// TestCheckersBadInput: checkers that cannot run are reported with
// file:line by `vigil -t` and in the status of a daemon that starts past
// them; each real server is left in the state keepalived 2.2.7 gives it
// and the other virtual servers come up.
//   - a MISC_CHECK whose script is missing: without alpha its real server
//     is judged by its other checkers (none: up); with alpha it stays down
//     (keepalived marks the checker failed before dropping it);
//   - connect_port out of range: keepalived ignores the line, so the
//     checker connects to the real server's port;
//   - an SSL block whose certificate cannot be loaded: the SSL_GET
//     checkers are not run (keepalived's checker process exits there;
//     Vigil runs everything else), their real servers as for the script.
func TestCheckersBadInput(t *testing.T) {
	lb, rs := ckLab(t)
	dir := t.TempDir()
	for _, p := range []int{9003, 9005} {
		ln, err := ckListen(rs, fmt.Sprintf("%s:%d", ckRS, p))
		if err != nil {
			t.Fatal(err)
		}
		go acceptLoop(ln, func(c net.Conn) { c.Close() })
		t.Cleanup(func() { ln.Close() })
	}
	badCert := filepath.Join(dir, "cert.pem")
	if err := os.WriteFile(badCert, []byte("not a certificate\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	missing := filepath.Join(dir, "missing.sh")
	cases := []ckCase{
		{name: "missing script", port: 9001, check: "        MISC_CHECK {\n            misc_path " + missing + "\n        }"},
		{name: "missing script, alpha", port: 9002, check: "        alpha\n        MISC_CHECK {\n            misc_path " + missing + "\n        }"},
		{name: "connect_port out of range", port: 9003, check: "        alpha\n        TCP_CHECK {\n            connect_port 70000\n        }"},
		{name: "unreadable certificate", port: 9004, check: "        SSL_GET {\n            url {\n                path /\n                status_code 200\n            }\n        }"},
		{name: "a virtual server without a fault", port: 9005, check: "        alpha\n        TCP_CHECK {\n        }"},
	}
	conf := ckConf([]string{"router_id ckbad"}, cases, false) + "SSL {\n    certificate " + badCert + "\n}\n"
	lineOf := func(sub string, nth int) int {
		for i, l := range strings.Split(conf, "\n") {
			if strings.Contains(l, sub) {
				if nth == 0 {
					return i + 1
				}
				nth--
			}
		}
		t.Fatalf("%q not in the configuration", sub)
		return 0
	}
	dirConf := filepath.Join(dir, "keepalived.conf")
	want := []string{
		fmt.Sprintf("%s:%d: MISC_CHECK", dirConf, lineOf("MISC_CHECK {", 0)),
		fmt.Sprintf("%s:%d: MISC_CHECK", dirConf, lineOf("MISC_CHECK {", 1)),
		fmt.Sprintf("%s:%d: SSL_GET", dirConf, lineOf("SSL_GET {", 0)),
	}
	portLine := fmt.Sprintf("%s:%d: error: connect_port", dirConf, lineOf("connect_port 70000", 0))

	// vigil -t names each, with its file:line.
	if err := os.WriteFile(dirConf, []byte(conf), 0o644); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	// -t writes its report on stderr.
	out, err := lb.Exec(ctx, "sh", "-c", `exec "$0" -t -f "$1" 2>&1`, vigilBin, dirConf)
	var ee *exec.ExitError
	if !errors.As(err, &ee) || ee.ExitCode() != 5 {
		t.Fatalf("vigil -t: %v, want exit 5\n%s", err, out)
	}
	for _, w := range append(slices.Clone(want), portLine) {
		if !strings.Contains(string(out), w) {
			t.Errorf("vigil -t does not report %q:\n%s", w, out)
		}
	}

	// The daemon starts past them, and says so in its status.
	v := StartVigilIn(t, lb, dir, conf)
	var st ckStatus
	reals := func() map[string]ckReal {
		var err error
		if st, err = ckStatusOf(lb, v); err != nil {
			return nil
		}
		return st.reals()
	}
	Eventually(t, 20*time.Second, "the other virtual servers come up", func() (bool, error) {
		r := reals()
		return r != nil && r[cases[2].rsAddr()].Alive && r[cases[4].rsAddr()].Alive, fmt.Errorf("%+v", r)
	})
	if len(st.LVS.CheckerProblems) != len(want) {
		t.Errorf("checker problems %q, want %d", st.LVS.CheckerProblems, len(want))
	}
	for _, w := range want {
		if !slices.ContainsFunc(st.LVS.CheckerProblems, func(p string) bool { return strings.HasPrefix(p, w) }) {
			t.Errorf("the status's checker problems %q lack %q", st.LVS.CheckerProblems, w)
		}
	}
	if !slices.ContainsFunc(st.Config.Diagnostics, func(d string) bool { return strings.HasPrefix(d, portLine) }) {
		t.Errorf("the status's configuration diagnostics %q lack %q", st.Config.Diagnostics, portLine)
	}
	// connect_port ignored: the checker connects to the real server's
	// port (and it passed: its alpha real server is up).
	if name := st.checkers()[cases[2].rsAddr()].Name; !strings.Contains(name, fmt.Sprintf("[%s]:9003", ckRS)) {
		t.Errorf("the checker with connect_port 70000 is %q; want it on the real server's port 9003", name)
	}
	// Each real server in keepalived's state, and it stays there.
	wantAlive := map[string]bool{cases[0].rsAddr(): true, cases[1].rsAddr(): false, cases[2].rsAddr(): true, cases[3].rsAddr(): true, cases[4].rsAddr(): true}
	Never(t, 2*ckDelayLoop+ckTimeout, "a real server leaves keepalived's state", func() (bool, error) {
		r := reals()
		if r == nil {
			return false, nil
		}
		for a, w := range wantAlive {
			if r[a].Alive != w {
				return true, fmt.Errorf("%s alive %v, want %v", a, r[a].Alive, w)
			}
		}
		return false, nil
	})
}
