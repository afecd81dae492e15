package check

import (
	"bytes"
	"crypto/md5"
	"fmt"
	"hash"
)

// crlf2 ends a response header.
var crlf2 = []byte("\r\n\r\n")

// respParser reads an HTTP response incrementally, as the bytes arrive,
// with keepalived's reading: the header up to the first empty line (the
// status code and Content-Length read from it), then every body byte up to
// the end of the stream. The body is not decoded: chunked framing is part
// of what is digested, as keepalived digests it, and bytes past
// Content-Length are counted but not digested. Nothing of the response is
// copied but a header that arrives in pieces (into head, bounded by
// maxHeader) and the first keep body bytes (for the regex).
type respParser struct {
	resp *HTTPResponse
	// keep is how many body bytes resp.Body keeps.
	keep int
	// keepHeader copies the header into resp.Header (genhash prints it).
	keepHeader bool
	md5        hash.Hash
	// head holds a header that did not arrive in one piece.
	head       []byte
	headerDone bool
}

// errHeaderTooLong is feed's error for a header that does not end within
// maxHeader bytes.
var errHeaderTooLong = fmt.Errorf("%w: response header longer than %d bytes", ErrRead, maxHeader)

// reset prepares p for a new response written into resp.
func (p *respParser) reset(resp *HTTPResponse, keep int, keepHeader bool) {
	*resp = HTTPResponse{ContentLength: -1, Body: resp.Body[:0]}
	p.resp, p.keep, p.keepHeader = resp, keep, keepHeader
	if p.md5 == nil {
		p.md5 = md5.New()
	} else {
		p.md5.Reset()
	}
	p.head = p.head[:0]
	p.headerDone = false
}

// feed takes the next bytes of the stream. Its only error is a header
// longer than maxHeader (the header must end, empty line included, within
// maxHeader bytes, however the stream is cut).
func (p *respParser) feed(b []byte) error {
	p.resp.Received += int64(len(b))
	if p.headerDone {
		p.body(b)
		return nil
	}
	if len(p.head) == 0 {
		// The usual case: the whole header in the first read, parsed
		// where it lies.
		if i := bytes.Index(b, crlf2); i >= 0 && i+4 <= maxHeader {
			p.header(b[:i+4])
			p.body(b[i+4:])
			return nil
		}
	}
	from := max(0, len(p.head)-3)
	take := b[:min(len(b), maxHeader-len(p.head))]
	p.head = append(p.head, take...)
	i := bytes.Index(p.head[from:], crlf2)
	if i < 0 {
		if len(p.head) >= maxHeader {
			return errHeaderTooLong
		}
		return nil
	}
	end := from + i + 4
	p.header(p.head[:end])
	p.body(p.head[end:])
	p.body(b[len(take):])
	return nil
}

// header reads the status code and Content-Length of a complete header.
func (p *respParser) header(h []byte) {
	p.headerDone = true
	p.resp.Status = statusCode(h)
	p.resp.ContentLength = contentLength(h)
	if p.keepHeader {
		p.resp.Header = append([]byte(nil), h...)
	}
}

// body counts body bytes, digests those within Content-Length and keeps
// the first keep of them.
func (p *respParser) body(b []byte) {
	if len(b) == 0 {
		return
	}
	r := p.resp
	counted := r.BodyLen
	r.BodyLen += int64(len(b))
	if r.ContentLength >= 0 {
		if counted >= r.ContentLength {
			return
		}
		if counted+int64(len(b)) > r.ContentLength {
			b = b[:r.ContentLength-counted]
		}
	}
	p.md5.Write(b)
	if room := p.keep - len(r.Body); room > 0 {
		r.Body = append(r.Body, b[:min(room, len(b))]...)
	}
}

// finish sets the digest and judges the end of the stream: eof is an
// orderly end (read returned 0), otherwise err is why reading stopped
// (timedOut: the deadline). It returns DoHTTP's errors.
func (p *respParser) finish(eof, timedOut bool, err error) error {
	p.md5.Sum(p.resp.Digest[:0])
	switch {
	case eof && !p.headerDone:
		return ErrNoData
	case eof:
		return nil
	case timedOut:
		return ErrReadTimeout
	case err == errHeaderTooLong:
		return err
	default:
		return fmt.Errorf("%w: %v", ErrRead, err)
	}
}
