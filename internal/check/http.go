package check

import (
	"bytes"
	"context"
	"crypto/md5"
	"crypto/tls"
	"errors"
	"fmt"
	"hash"
	"io"
	"net"
	"net/netip"
	"regexp"
	"strconv"
	"sync"
	"time"

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

// readBufs holds DoHTTP's read buffers: a check a second on each of
// thousands of real servers would otherwise allocate and clear 16 KiB per
// check.
var readBufs = sync.Pool{New: func() any { b := make([]byte, 16<<10); return &b }}

// DoHTTP sends req on conn and reads the response until the peer closes,
// keeping at most keep body bytes. The deadline of ctx bounds every read.
// An error is returned with what was read so far: a reset or a timeout
// after the header fails the check as keepalived's read error does.
func DoHTTP(ctx context.Context, conn net.Conn, req []byte, keep int) (*HTTPResponse, error) {
	if d, ok := ctx.Deadline(); ok {
		conn.SetDeadline(d)
	}
	stop := context.AfterFunc(ctx, func() { conn.SetDeadline(time.Unix(1, 0)) })
	defer stop()
	if _, err := conn.Write(req); err != nil {
		return nil, fmt.Errorf("%w: %v", ErrSend, err)
	}
	resp := &HTTPResponse{ContentLength: -1}
	var h hash.Hash = md5.New()
	var head []byte
	headerDone := false
	bp := readBufs.Get().(*[]byte)
	defer readBufs.Put(bp)
	buf := *bp
	body := func(b []byte) {
		resp.BodyLen += int64(len(b))
		if resp.ContentLength >= 0 {
			counted := resp.BodyLen - int64(len(b))
			if counted >= resp.ContentLength {
				b = nil
			} else if counted+int64(len(b)) > resp.ContentLength {
				b = b[:resp.ContentLength-counted]
			}
		}
		h.Write(b)
		if room := keep - len(resp.Body); room > 0 {
			resp.Body = append(resp.Body, b[:min(room, len(b))]...)
		}
	}
	for {
		n, err := conn.Read(buf)
		resp.Received += int64(n)
		if n > 0 {
			if headerDone {
				body(buf[:n])
			} else {
				head = append(head, buf[:n]...)
				if i := bytes.Index(head, []byte("\r\n\r\n")); i >= 0 {
					headerDone = true
					resp.Header = head[:i+4]
					resp.Status = statusCode(resp.Header)
					resp.ContentLength = contentLength(resp.Header)
					body(head[i+4:])
				} else if len(head) > maxHeader {
					return resp, fmt.Errorf("%w: response header longer than %d bytes", ErrRead, maxHeader)
				}
			}
		}
		if err != nil {
			copy(resp.Digest[:], h.Sum(nil))
			var ne net.Error
			switch {
			case errors.Is(err, io.EOF) && !headerDone:
				return resp, ErrNoData
			case errors.Is(err, io.EOF):
				return resp, nil
			case ctx.Err() != nil || (errors.As(err, &ne) && ne.Timeout()):
				return resp, ErrReadTimeout
			default:
				return resp, fmt.Errorf("%w: %v", ErrRead, err)
			}
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

// HTTPProber is HTTP_GET, or SSL_GET when TLS is set.
type HTTPProber struct {
	Conn     Conn
	Dialer   Dialer
	Protocol string
	// TLS is the client configuration of SSL_GET (nil for HTTP_GET).
	TLS  *tls.Config
	URLs []URLCheck
}

// Probe fetches url block step and checks it.
func (p *HTTPProber) Probe(ctx context.Context, step int) Result {
	if step < 0 || step >= len(p.URLs) {
		return failure("no url block %d", step+1)
	}
	u := &p.URLs[step]
	conn, err := dialerFor(p.Dialer, p.Conn, "tcp").DialContext(ctx, "tcp", p.Conn.address())
	if err != nil {
		return failure("connection to %s failed: %v", p.Conn.Target, err)
	}
	defer conn.Close()
	if p.TLS != nil {
		cfg := p.TLS.Clone()
		cfg.ServerName = u.SNI
		tc := tls.Client(conn, cfg)
		if err := tc.HandshakeContext(ctx); err != nil {
			return failure("SSL handshake with %s failed: %v", p.Conn.Target, err)
		}
		conn = tc
	}
	keep := 0
	if u.Regex != nil {
		keep = regexKeep
		if u.MaxOffset != nil {
			keep = int(min(*u.MaxOffset, maxRegexKeep-regexKeep)) + regexKeep
		}
	}
	req := HTTPRequest{Path: u.Path, Protocol: p.Protocol, Host: u.Host, Target: p.Conn.Target}
	resp, err := DoHTTP(ctx, conn, req.Bytes(), keep)
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
