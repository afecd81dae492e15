package check

import (
	"bytes"
	"context"
	"crypto/md5"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"net"
	"net/netip"
	"regexp"
	"strconv"
	"sync"
	"time"

	"golang.org/x/sys/unix"

	"vigil/internal/config"
)

// maxHeader bounds the response header kept while looking for its end.
const maxHeader = 64 << 10

// regexKeep is how much of a body is kept for the regex beyond
// regex_max_offset (or from the start, without one). keepalived matches
// while streaming; Vigil matches on this bounded prefix.
const regexKeep = 1 << 20

// maxRegexKeep bounds the body kept for a regex whatever regex_max_offset
// says: a check must not hold an unbounded body in memory.
const maxRegexKeep = 16 << 20

// HTTPRequest is one GET as keepalived sends it.
type HTTPRequest struct {
	Path string
	// Protocol is "1.0", "1.0C" or "1.1".
	Protocol string
	// Host is the virtual host; empty: the target address and port.
	Host   string
	Target netip.AddrPort
}

// Bytes renders the request: keepalived's request line, User-Agent,
// "Connection: close" for 1.0C and 1.1, and Host.
func (r HTTPRequest) Bytes() []byte {
	minor := 0
	if r.Protocol == "1.1" {
		minor = 1
	}
	conn := ""
	if r.Protocol == "1.0C" || r.Protocol == "1.1" {
		conn = "Connection: close\r\n"
	}
	host := r.Host
	if host == "" {
		a := r.Target.Addr().WithZone("")
		if a.Is6() && !a.Is4In6() {
			host = fmt.Sprintf("[%s]:%d", a, r.Target.Port())
		} else {
			host = fmt.Sprintf("%s:%d", a, r.Target.Port())
		}
	}
	return fmt.Appendf(nil, "GET %s HTTP/1.%d\r\nUser-Agent: KeepAliveClient\r\n%sHost: %s\r\n\r\n", r.Path, minor, conn, host)
}

// HTTPResponse is what a GET brought back, read as keepalived reads it: the
// header up to the first empty line, then the raw body bytes (chunked
// framing included) up to Content-Length or the end of the stream. The MD5
// digest is over those bytes.
type HTTPResponse struct {
	Header []byte
	// Status is the status code, 0 when the status line cannot be read.
	Status int
	// ContentLength is -1 without a (readable) Content-Length.
	ContentLength int64
	// Digest is the MD5 of the body bytes counted.
	Digest [md5.Size]byte
	// Body is the start of the digested body, up to the keep limit.
	Body []byte
	// BodyLen is the number of body bytes received.
	BodyLen int64
	// Received counts every byte read, header included.
	Received int64
}

// Errors of DoHTTP, for callers that tell them apart (genhash prints
// keepalived's message for each).
var (
	// ErrSend: the request could not be sent.
	ErrSend = errors.New("cannot send the request")
	// ErrNoData: the stream ended before the end of a response header.
	ErrNoData = errors.New("no data received")
	// ErrReadTimeout: the deadline passed while reading.
	ErrReadTimeout = errors.New("read timed out")
	// ErrRead: reading failed (a reset, for one).
	ErrRead = errors.New("read error")
)

// readBufs holds the read buffers of DoHTTP and of the system HTTP check:
// a check a second on each of thousands of real servers would otherwise
// allocate and clear 16 KiB per check.
var readBufs = sync.Pool{New: func() any { b := make([]byte, 16<<10); return &b }}

// DoHTTP sends req on conn and reads the response until the peer closes,
// keeping at most keep body bytes and the header. The deadline of ctx
// bounds every read. An error is returned with what was read so far: a
// reset or a timeout after the header fails the check as keepalived's
// read error does.
func DoHTTP(ctx context.Context, conn net.Conn, req []byte, keep int) (*HTTPResponse, error) {
	if d, ok := ctx.Deadline(); ok {
		conn.SetDeadline(d)
	}
	stop := context.AfterFunc(ctx, func() { conn.SetDeadline(time.Unix(1, 0)) })
	defer stop()
	if _, err := conn.Write(req); err != nil {
		return nil, fmt.Errorf("%w: %v", ErrSend, err)
	}
	resp := &HTTPResponse{}
	var p respParser
	p.reset(resp, keep, true)
	bp := readBufs.Get().(*[]byte)
	defer readBufs.Put(bp)
	buf := *bp
	for {
		n, err := conn.Read(buf)
		if n > 0 {
			if ferr := p.feed(buf[:n]); ferr != nil {
				return resp, p.finish(false, false, ferr)
			}
		}
		if err != nil {
			var ne net.Error
			timedOut := ctx.Err() != nil || (errors.As(err, &ne) && ne.Timeout())
			return resp, p.finish(errors.Is(err, io.EOF), timedOut, err)
		}
	}
}

// statusCode reads the status code as keepalived does: three digits after
// the first space of the status line, followed by a space.
func statusCode(h []byte) int {
	i := bytes.IndexAny(h, " \r")
	if i < 0 || h[i] != ' ' {
		return 0
	}
	s := h[i+1:]
	if len(s) < 4 || s[0] == ' ' || s[3] != ' ' {
		return 0
	}
	v, err := strconv.Atoi(string(s[:3]))
	if err != nil || v < 0 {
		return 0
	}
	return v
}

// contentLength finds "Content-Length:" (spelled so, as keepalived looks
// for it) in the header; -1 when absent or unreadable.
func contentLength(h []byte) int64 {
	i := bytes.Index(h, []byte("Content-Length:"))
	if i < 0 {
		return -1
	}
	s := bytes.TrimLeft(h[i+len("Content-Length:"):], " \t")
	j := 0
	for j < len(s) && s[j] >= '0' && s[j] <= '9' {
		j++
	}
	if j == 0 || (j < len(s) && s[j] != '\r' && s[j] != '\n') {
		return -1
	}
	v, err := strconv.ParseInt(string(s[:j]), 10, 64)
	if err != nil {
		return -1
	}
	return v
}

// URLCheck is one url block, resolved.
type URLCheck struct {
	Path string
	// Host is the virtual host of the request (url, checker, real server
	// or virtual server virtualhost, in that order); SNI is the name sent
	// in the TLS handshake with enable_sni (the same chain without the
	// real server's, as keepalived has it).
	Host, SNI string
	// Digest is the expected MD5 of the body; nil: not checked.
	Digest []byte
	Status []config.StatusRange
	// Regex, when set, must match the body (or must not, with NoMatch),
	// starting between MinOffset and MaxOffset (nil: anywhere after
	// MinOffset).
	Regex     *regexp.Regexp
	NoMatch   bool
	MinOffset uint64
	MaxOffset *uint64
}

// HTTPProber is HTTP_GET, or SSL_GET when TLS is set. Its fields must not
// change once it has run: what it builds from them (requests, addresses,
// TLS configurations and sessions) is built once.
type HTTPProber struct {
	Conn     Conn
	Dialer   Dialer
	Protocol string
	// TLS is the client configuration of SSL_GET (nil for HTTP_GET).
	TLS  *tls.Config
	URLs []URLCheck

	// Built once, on first use: the request of each url block, the
	// TLS configuration of each (its SNI and a session cache of its own,
	// so that the next check resumes the session), and the destination
	// socket address of the system HTTP check.
	once     sync.Once
	requests [][]byte
	tlsURL   []*tls.Config
	saOnce   sync.Once
	sa       unix.Sockaddr
	rsa      *rawSockaddr
	family   int
	saErr    error
}

// sessionsPerURL bounds the TLS sessions kept per url block: one is
// resumed per check; a server that issues several tickets (TLS 1.3 sends
// two by default) needs no more than the newest.
const sessionsPerURL = 2

// tlsCurves are the key exchanges SSL_GET offers, X25519 first: the
// default list of the runtime puts a post-quantum hybrid first, whose key
// share costs several times X25519's on both sides. A health check's
// session protects nothing worth that.
var tlsCurves = []tls.CurveID{tls.X25519, tls.CurveP256, tls.CurveP384}

func (p *HTTPProber) init() {
	p.once.Do(func() {
		p.requests = make([][]byte, len(p.URLs))
		for i, u := range p.URLs {
			p.requests[i] = HTTPRequest{Path: u.Path, Protocol: p.Protocol, Host: u.Host, Target: p.Conn.Target}.Bytes()
		}
		if p.TLS == nil {
			return
		}
		p.tlsURL = make([]*tls.Config, len(p.URLs))
		for i, u := range p.URLs {
			cfg := p.TLS.Clone()
			cfg.ServerName = u.SNI
			if cfg.ClientSessionCache == nil {
				cfg.ClientSessionCache = tls.NewLRUClientSessionCache(sessionsPerURL)
			}
			if cfg.CurvePreferences == nil {
				cfg.CurvePreferences = tlsCurves
			}
			p.tlsURL[i] = cfg
		}
	})
}

// request is url block step's request, built once.
func (p *HTTPProber) request(step int) []byte {
	p.init()
	return p.requests[step]
}

// keep is how many body bytes the url block's regex needs.
func (u *URLCheck) keep() int {
	if u.Regex == nil {
		return 0
	}
	if u.MaxOffset != nil {
		return int(min(*u.MaxOffset, maxRegexKeep-regexKeep)) + regexKeep
	}
	return regexKeep
}

// StartPoll begins check step (see PollStarter): HTTP_GET on the
// system's network, without a Dialer, connects and sends the request at
// once, on the caller's goroutine, and leaves the response to poll for.
// SSL_GET and a test's Dialer go to a worker, as Probe.
func (p *HTTPProber) StartPoll(step int) (Result, Pending, func(context.Context) Result) {
	if step < 0 || step >= len(p.URLs) {
		return failure("no url block %d", step+1), nil, nil
	}
	if p.TLS != nil || p.Dialer != nil {
		return Result{}, nil, func(ctx context.Context) Result { return p.probeConn(ctx, step) }
	}
	r, pend := p.httpStart(step)
	if pend == nil {
		return r, nil, nil
	}
	return Result{}, pend, nil
}

// Probe fetches url block step and checks it.
func (p *HTTPProber) Probe(ctx context.Context, step int) Result {
	r, pend, wait := p.StartPoll(step)
	switch {
	case pend != nil:
		return pend.Wait(ctx)
	case wait != nil:
		return wait(ctx)
	}
	return r
}

// probeConn is the check on a net.Conn: SSL_GET, and HTTP_GET through a
// test's Dialer.
func (p *HTTPProber) probeConn(ctx context.Context, step int) Result {
	u := &p.URLs[step]
	req := p.request(step)
	conn, err := dialerFor(p.Dialer, p.Conn, "tcp").DialContext(ctx, "tcp", p.Conn.address())
	if err != nil {
		return failure("connection to %s failed: %v", p.Conn.Target, err)
	}
	defer conn.Close()
	if p.TLS != nil {
		tc := tls.Client(conn, p.tlsURL[step])
		if err := tc.HandshakeContext(ctx); err != nil {
			return failure("SSL handshake with %s failed: %v", p.Conn.Target, err)
		}
		conn = tc
	}
	resp, err := DoHTTP(ctx, conn, req, u.keep())
	if err != nil {
		return failure("%s%s: %v", u.Host, u.Path, err)
	}
	return u.Judge(resp)
}

// Judge applies the url block's tests to a response, in keepalived's
// order: status code, digest, regex.
func (u *URLCheck) Judge(resp *HTTPResponse) Result {
	okStatus := false
	for _, r := range u.Status {
		if resp.Status >= r.Lo && resp.Status <= r.Hi {
			okStatus = true
			break
		}
	}
	if !okStatus {
		return failure("%s%s: HTTP status code %d", u.Host, u.Path, resp.Status)
	}
	if u.Digest != nil && !bytes.Equal(u.Digest, resp.Digest[:]) {
		return failure("%s%s: MD5 digest %x, want %x", u.Host, u.Path, resp.Digest, u.Digest)
	}
	if u.Regex != nil && u.regexMatches(resp.Body) == u.NoMatch {
		return failure("%s%s: regex match failed", u.Host, u.Path)
	}
	return Result{OK: true}
}

// regexMatches reports whether the regex matches with its start within
// [MinOffset, MaxOffset].
func (u *URLCheck) regexMatches(body []byte) bool {
	for _, m := range u.Regex.FindAllIndex(body, -1) {
		start := uint64(m[0])
		if start < u.MinOffset {
			continue
		}
		return u.MaxOffset == nil || start <= *u.MaxOffset
	}
	return false
}
