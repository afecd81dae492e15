package check

import (
	"context"
	"crypto/md5"
	"crypto/tls"
	"encoding/hex"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"vigil/internal/config"
)

// probeCtx bounds a probe in tests; a healthy loopback server answers in
// well under it, and the failing cases fail for a reason other than time
// (or never answer at all).
func probeCtx(t *testing.T, d time.Duration) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), d)
	t.Cleanup(cancel)
	return ctx
}

func addrPort(t *testing.T, a net.Addr) netip.AddrPort {
	t.Helper()
	ap, err := netip.ParseAddrPort(a.String())
	if err != nil {
		t.Fatal(err)
	}
	return ap
}

// closedPort returns a loopback port nothing listens on.
func closedPort(t *testing.T) netip.AddrPort {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ap := addrPort(t, l.Addr())
	l.Close()
	return ap
}

// rawServer serves each connection with fn on loopback.
func rawServer(t *testing.T, fn func(c net.Conn)) netip.AddrPort {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { l.Close() })
	go func() {
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			go func() { defer c.Close(); fn(c) }()
		}
	}()
	return addrPort(t, l.Addr())
}

func md5hex(s string) []byte { h := md5.Sum([]byte(s)); return h[:] }

var ok2xx = []config.StatusRange{{Lo: 200, Hi: 299}}

func TestHTTPProber(t *testing.T) {
	mux := http.NewServeMux()
	mux.HandleFunc("/ok", func(w http.ResponseWriter, r *http.Request) {
		if r.Header.Get("User-Agent") != "KeepAliveClient" {
			w.WriteHeader(400)
			return
		}
		io.WriteString(w, "hello world\n")
	})
	mux.HandleFunc("/vhost", func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, "host="+r.Host) })
	mux.HandleFunc("/missing", http.NotFound)
	mux.HandleFunc("/endless", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/plain")
		chunk := []byte(strings.Repeat("x", 4096))
		for r.Context().Err() == nil {
			if _, err := w.Write(chunk); err != nil {
				return
			}
		}
	})
	srv := httptest.NewServer(mux)
	t.Cleanup(srv.Close)
	target := addrPort(t, srv.Listener.Addr())

	reset := rawServer(t, func(c net.Conn) {
		buf := make([]byte, 1024)
		c.Read(buf)
		io.WriteString(c, "HTTP/1.0 200 OK\r\nContent-Length: 100000\r\n\r\npartial")
		c.(*net.TCPConn).SetLinger(0) // close with RST
	})
	silent := rawServer(t, func(c net.Conn) { io.Copy(io.Discard, c) })
	garbage := rawServer(t, func(c net.Conn) {
		buf := make([]byte, 1024)
		c.Read(buf)
		io.WriteString(c, "220 this is an SMTP server\r\n")
	})

	tests := []struct {
		name   string
		target netip.AddrPort
		url    URLCheck
		proto  string
		ok     bool
		why    string
	}{
		{name: "200 with digest", target: target, url: URLCheck{Path: "/ok", Status: ok2xx, Digest: md5hex("hello world\n")}, ok: true},
		{name: "HTTP/1.1", target: target, proto: "1.1", url: URLCheck{Path: "/ok", Status: ok2xx, Digest: md5hex("hello world\n")}, ok: true},
		{name: "wrong digest", target: target, url: URLCheck{Path: "/ok", Status: ok2xx, Digest: md5hex("something else")}, why: "MD5 digest"},
		{name: "wrong status", target: target, url: URLCheck{Path: "/missing", Status: ok2xx}, why: "status code 404"},
		{name: "status range accepts 404", target: target, url: URLCheck{Path: "/missing", Status: []config.StatusRange{{Lo: 200, Hi: 200}, {Lo: 400, Hi: 404}}}, ok: true},
		{name: "regex matches", target: target, url: URLCheck{Path: "/ok", Status: ok2xx, Regex: regexp.MustCompile("wor.d")}, ok: true},
		{name: "regex does not match", target: target, url: URLCheck{Path: "/ok", Status: ok2xx, Regex: regexp.MustCompile("planet")}, why: "regex"},
		{name: "regex_no_match with a match", target: target, url: URLCheck{Path: "/ok", Status: ok2xx, Regex: regexp.MustCompile("world"), NoMatch: true}, why: "regex"},
		{name: "regex_no_match without a match", target: target, url: URLCheck{Path: "/ok", Status: ok2xx, Regex: regexp.MustCompile("planet"), NoMatch: true}, ok: true},
		{name: "regex before regex_min_offset", target: target, url: URLCheck{Path: "/ok", Status: ok2xx, Regex: regexp.MustCompile("hello"), MinOffset: 1}, why: "regex"},
		{name: "regex within offsets", target: target, url: URLCheck{Path: "/ok", Status: ok2xx, Regex: regexp.MustCompile("world"), MinOffset: 6, MaxOffset: ptr(uint64(6))}, ok: true},
		{name: "regex past regex_max_offset", target: target, url: URLCheck{Path: "/ok", Status: ok2xx, Regex: regexp.MustCompile("world"), MaxOffset: ptr(uint64(5))}, why: "regex"},
		{name: "virtualhost", target: target, url: URLCheck{Path: "/vhost", Status: ok2xx, Host: "www.example.com", Digest: md5hex("host=www.example.com")}, ok: true},
		{name: "no virtualhost: address and port", target: target, url: URLCheck{Path: "/vhost", Status: ok2xx, Digest: md5hex("host=" + target.String())}, ok: true},
		{name: "port closed", target: closedPort(t), url: URLCheck{Path: "/", Status: ok2xx}, why: "connection"},
		{name: "reset mid-response", target: reset, url: URLCheck{Path: "/", Status: ok2xx}, why: "read error"},
		{name: "silent server past the deadline", target: silent, url: URLCheck{Path: "/", Status: ok2xx}, why: "timed out"},
		{name: "endless body, bounded", target: target, url: URLCheck{Path: "/endless", Status: ok2xx, Regex: regexp.MustCompile("never")}, why: "timed out"},
		{name: "garbage instead of HTTP", target: garbage, url: URLCheck{Path: "/", Status: ok2xx}, why: "no data received"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			p := &HTTPProber{Conn: Conn{Target: tc.target}, Protocol: tc.proto, URLs: []URLCheck{tc.url}}
			if p.Protocol == "" {
				p.Protocol = "1.0"
			}
			d := 5 * time.Second
			if tc.why == "timed out" {
				d = 300 * time.Millisecond
			}
			r := p.Probe(probeCtx(t, d), 0)
			if r.OK != tc.ok || (tc.why != "" && !strings.Contains(r.Why, tc.why)) {
				t.Errorf("got %+v, want ok=%v with %q", r, tc.ok, tc.why)
			}
		})
	}
}

func ptr[T any](v T) *T { return &v }

func TestSSLProber(t *testing.T) {
	var sni string
	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.WriteString(w, "secure\n")
	}))
	srv.TLS = &tls.Config{GetConfigForClient: func(h *tls.ClientHelloInfo) (*tls.Config, error) {
		sni = h.ServerName
		return nil, nil
	}}
	srv.StartTLS()
	t.Cleanup(srv.Close)
	plain := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {}))
	t.Cleanup(plain.Close)

	// keepalived does not verify the server's certificate (the test
	// server's is self-signed).
	p := &HTTPProber{Conn: Conn{Target: addrPort(t, srv.Listener.Addr())}, Protocol: "1.1", TLS: &tls.Config{InsecureSkipVerify: true},
		URLs: []URLCheck{{Path: "/", Status: ok2xx, Digest: md5hex("secure\n"), SNI: "www.example.com"}}}
	if r := p.Probe(probeCtx(t, 5*time.Second), 0); !r.OK {
		t.Fatalf("SSL_GET: %+v", r)
	}
	if sni != "www.example.com" {
		t.Errorf("SNI %q, want www.example.com", sni)
	}
	// A prober is built for one target (its address, requests and TLS
	// sessions are set up once): another prober for the plain server.
	p = &HTTPProber{Conn: Conn{Target: addrPort(t, plain.Listener.Addr())}, Protocol: "1.1", TLS: p.TLS, URLs: p.URLs}
	if r := p.Probe(probeCtx(t, 5*time.Second), 0); r.OK || !strings.Contains(r.Why, "handshake") {
		t.Errorf("SSL_GET to a plain HTTP server: %+v, want a handshake failure", r)
	}
}

func TestHTTPRequestBytes(t *testing.T) {
	tests := []struct {
		req  HTTPRequest
		want string
	}{
		{HTTPRequest{Path: "/a", Protocol: "1.0", Target: netip.MustParseAddrPort("10.0.0.1:80")},
			"GET /a HTTP/1.0\r\nUser-Agent: KeepAliveClient\r\nHost: 10.0.0.1:80\r\n\r\n"},
		{HTTPRequest{Path: "/a", Protocol: "1.0C", Host: "www", Target: netip.MustParseAddrPort("10.0.0.1:80")},
			"GET /a HTTP/1.0\r\nUser-Agent: KeepAliveClient\r\nConnection: close\r\nHost: www\r\n\r\n"},
		{HTTPRequest{Path: "/", Protocol: "1.1", Target: netip.MustParseAddrPort("[2001:db8::1]:8080")},
			"GET / HTTP/1.1\r\nUser-Agent: KeepAliveClient\r\nConnection: close\r\nHost: [2001:db8::1]:8080\r\n\r\n"},
	}
	for _, tc := range tests {
		if got := string(tc.req.Bytes()); got != tc.want {
			t.Errorf("got %q, want %q", got, tc.want)
		}
	}
}

func TestStatusAndLength(t *testing.T) {
	for _, c := range []struct {
		h      string
		status int
		length int64
	}{
		{"HTTP/1.0 200 OK\r\nContent-Length: 12\r\n\r\n", 200, 12},
		{"HTTP/1.1 404 Not Found\r\ncontent-length: 3\r\n\r\n", 404, -1}, // keepalived looks for "Content-Length:" only
		{"HTTP/1.1 2000 X\r\n\r\n", 0, -1},
		{"garbage\r\n\r\n", 0, -1},
		{"HTTP/1.0 301 Moved\r\nContent-Length: x\r\n\r\n", 301, -1},
	} {
		if s := statusCode([]byte(c.h)); s != c.status {
			t.Errorf("statusCode(%q) = %d, want %d", c.h, s, c.status)
		}
		if l := contentLength([]byte(c.h)); l != c.length {
			t.Errorf("contentLength(%q) = %d, want %d", c.h, l, c.length)
		}
	}
}

// The digest is over the raw body, chunk framing included, and stops at
// Content-Length, as keepalived computes it.
func TestHTTPDigestRawBody(t *testing.T) {
	chunked := rawServer(t, func(c net.Conn) {
		c.Read(make([]byte, 1024))
		io.WriteString(c, "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\n\r\n")
	})
	extra := rawServer(t, func(c net.Conn) {
		c.Read(make([]byte, 1024))
		io.WriteString(c, "HTTP/1.0 200 OK\r\nContent-Length: 5\r\n\r\nhelloEXTRA")
	})
	for _, c := range []struct {
		ap   netip.AddrPort
		body string
	}{{chunked, "5\r\nhello\r\n0\r\n\r\n"}, {extra, "hello"}} {
		conn, err := net.Dial("tcp", c.ap.String())
		if err != nil {
			t.Fatal(err)
		}
		resp, err := DoHTTP(probeCtx(t, 5*time.Second), conn, HTTPRequest{Path: "/", Protocol: "1.1", Target: c.ap}.Bytes(), 0)
		conn.Close()
		if err != nil {
			t.Fatal(err)
		}
		if got, want := hex.EncodeToString(resp.Digest[:]), hex.EncodeToString(md5hex(c.body)); got != want {
			t.Errorf("digest %s, want MD5(%q) %s", got, c.body, want)
		}
	}
}

// TestSSLResumes: the second SSL_GET of a checker resumes the session of
// the first (TLS 1.3 tickets and TLS 1.2 session IDs/tickets), as the
// server sees it; each url block's virtual host keeps its own sessions.
func TestSSLResumes(t *testing.T) {
	for _, v := range []uint16{tls.VersionTLS12, tls.VersionTLS13} {
		t.Run(tls.VersionName(v), func(t *testing.T) {
			var resumed []bool
			var curves []tls.CurveID
			srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				resumed = append(resumed, r.TLS.DidResume)
				curves = append(curves, r.TLS.CurveID)
				io.WriteString(w, "secure\n")
			}))
			srv.TLS = &tls.Config{MaxVersion: v}
			srv.StartTLS()
			t.Cleanup(srv.Close)
			p := &HTTPProber{Conn: Conn{Target: addrPort(t, srv.Listener.Addr())}, Protocol: "1.0", TLS: &tls.Config{InsecureSkipVerify: true},
				URLs: []URLCheck{{Path: "/", Status: ok2xx, Digest: md5hex("secure\n")}}}
			for i := range 3 {
				if r := p.Probe(probeCtx(t, 5*time.Second), 0); !r.OK {
					t.Fatalf("check %d: %+v", i+1, r)
				}
			}
			if want := []bool{false, true, true}; !slices.Equal(resumed, want) {
				t.Errorf("resumed %v, want %v", resumed, want)
			}
			if v == tls.VersionTLS13 && curves[0] != tls.X25519 {
				t.Errorf("key exchange %v, want X25519", curves[0])
			}
		})
	}
}

// TestHTTPPolled: the system HTTP_GET as the Runner runs it, started and
// then polled until it ends (never waited on): the outcome is Probe's.
func TestHTTPPolled(t *testing.T) {
	ok := rawServer(t, func(c net.Conn) {
		buf := make([]byte, 1024)
		c.Read(buf)
		io.WriteString(c, "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\n\r\n")
	})
	reset := rawServer(t, func(c net.Conn) {
		buf := make([]byte, 1024)
		c.Read(buf)
		io.WriteString(c, "HTTP/1.0 200 OK\r\nContent-Length: 100000\r\n\r\npartial")
		c.(*net.TCPConn).SetLinger(0)
	})
	tests := []struct {
		name   string
		target netip.AddrPort
		url    URLCheck
		ok     bool
		why    string
	}{
		{name: "chunked body digested raw", target: ok, url: URLCheck{Path: "/", Status: ok2xx, Digest: md5hex("5\r\nhello\r\n0\r\n\r\n")}, ok: true},
		{name: "wrong digest", target: ok, url: URLCheck{Path: "/", Status: ok2xx, Digest: md5hex("hello")}, why: "MD5 digest"},
		{name: "status not in range", target: ok, url: URLCheck{Path: "/", Status: []config.StatusRange{{Lo: 300, Hi: 399}}}, why: "status code 200"},
		{name: "reset mid-response", target: reset, url: URLCheck{Path: "/", Status: ok2xx}, why: "read error"},
		{name: "port closed", target: closedPort(t), url: URLCheck{Path: "/", Status: ok2xx}, why: "connection"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			p := &HTTPProber{Conn: Conn{Target: tc.target}, Protocol: "1.1", URLs: []URLCheck{tc.url}}
			r, pend, wait := p.StartPoll(0)
			if wait != nil {
				t.Fatal("the system HTTP check went to a worker")
			}
			// Polled as the Runner would, but without its limit on polls:
			// at most 5 s (loopback answers in well under a second).
			for end := time.Now().Add(5 * time.Second); pend != nil; {
				var done bool
				if r, done = pend.Poll(); done {
					break
				}
				if time.Now().After(end) {
					pend.Abort()
					t.Fatal("no outcome after 5 s of polls")
				}
				time.Sleep(time.Millisecond)
			}
			if r.OK != tc.ok || (tc.why != "" && !strings.Contains(r.Why, tc.why)) {
				t.Errorf("got %+v, want ok=%v with %q", r, tc.ok, tc.why)
			}
		})
	}
}

// TestHTTPIPv6: the system HTTP_GET to an IPv6 real server.
func TestHTTPIPv6(t *testing.T) {
	l, err := net.Listen("tcp6", "[::1]:0")
	if err != nil {
		t.Skipf("no IPv6 loopback: %v", err)
	}
	srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, "six\n") })}
	go srv.Serve(l)
	t.Cleanup(func() { srv.Close() })
	p := &HTTPProber{Conn: Conn{Target: addrPort(t, l.Addr())}, Protocol: "1.0", URLs: []URLCheck{{Path: "/", Status: ok2xx, Digest: md5hex("six\n")}}}
	for i := range 3 {
		if r := p.Probe(probeCtx(t, 5*time.Second), 0); !r.OK {
			t.Fatalf("check %d: %+v", i+1, r)
		}
	}
}
