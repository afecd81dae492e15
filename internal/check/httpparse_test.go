package check

import (
	"bytes"
	"crypto/md5"
	"errors"
	"strconv"
	"strings"
	"testing"
)

// parseAll feeds stream to a parser in pieces cut at the given offsets
// and ends it as the stream ends (eof, or the error end).
func parseAll(stream []byte, cuts []int, keep int, end error) (HTTPResponse, error) {
	var resp HTTPResponse
	var p respParser
	p.reset(&resp, keep, true)
	prev := 0
	for _, c := range append(cuts, len(stream)) {
		if err := p.feed(stream[prev:c]); err != nil {
			return resp, p.finish(false, false, err)
		}
		prev = c
	}
	switch {
	case end == nil:
		return resp, p.finish(true, false, nil)
	case errors.Is(end, ErrReadTimeout):
		return resp, p.finish(false, true, end)
	default:
		return resp, p.finish(false, false, end)
	}
}

func TestRespParser(t *testing.T) {
	long := strings.Repeat("x", 100000)
	hugeHeader := "HTTP/1.1 200 OK\r\nX: " + strings.Repeat("h", maxHeader) + "\r\n\r\nbody"
	// A header that ends exactly at the bound, and one a byte past it.
	pad := func(total int) string {
		base := "HTTP/1.0 200 OK\r\nX: \r\n\r\n"
		return "HTTP/1.0 200 OK\r\nX: " + strings.Repeat("p", total-len(base)) + "\r\n\r\nok"
	}
	tests := []struct {
		name    string
		stream  string
		keep    int
		end     error // how the stream ends: nil is EOF
		status  int
		clen    int64
		digest  string // what the digest is over
		body    string // what is kept (keep > 0)
		bodyLen int64
		err     error
	}{
		{name: "1.0 close-delimited", stream: "HTTP/1.0 200 OK\r\nServer: x\r\n\r\nhello world\n", keep: 100,
			status: 200, clen: -1, digest: "hello world\n", body: "hello world\n", bodyLen: 12},
		{name: "1.1 content-length, extra bytes counted not digested", stream: "HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nhelloEXTRA",
			status: 200, clen: 5, digest: "hello", bodyLen: 10},
		{name: "content-length longer than the body", stream: "HTTP/1.1 200 OK\r\nContent-Length: 50\r\n\r\nshort",
			status: 200, clen: 50, digest: "short", bodyLen: 5},
		{name: "chunked: the framing is digested, as keepalived does", stream: "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\n\r\n",
			status: 200, clen: -1, digest: "5\r\nhello\r\n0\r\n\r\n", bodyLen: 15},
		{name: "404 with a body", stream: "HTTP/1.1 404 Not Found\r\nContent-Length: 3\r\n\r\nnope", status: 404, clen: 3, digest: "nop", bodyLen: 4},
		{name: "empty body", stream: "HTTP/1.0 204 No Content\r\n\r\n", status: 204, clen: -1, digest: ""},
		{name: "status of two digits", stream: "HTTP/1.1 20 OK\r\n\r\nx", status: 0, clen: -1, digest: "x", bodyLen: 1},
		{name: "status of four digits", stream: "HTTP/1.1 2000 OK\r\n\r\nx", status: 0, clen: -1, digest: "x", bodyLen: 1},
		{name: "no space in the status line", stream: "HTTP/1.1\r\n\r\nx", status: 0, clen: -1, digest: "x", bodyLen: 1},
		{name: "letters for a status", stream: "HTTP/1.1 2x0 OK\r\n\r\n", status: 0, clen: -1, digest: ""},
		{name: "bad content-length is ignored", stream: "HTTP/1.1 200 OK\r\nContent-Length: 5x\r\n\r\nhello!", status: 200, clen: -1, digest: "hello!", bodyLen: 6},
		{name: "content-length spelled otherwise is not read (as keepalived)", stream: "HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\nhello", status: 200, clen: -1, digest: "hello", bodyLen: 5},
		{name: "bare LF header never ends", stream: "HTTP/1.1 200 OK\n\nhello", err: ErrNoData},
		{name: "no header at all", stream: "220 smtp ready\r\n", err: ErrNoData},
		{name: "nothing", stream: "", err: ErrNoData},
		{name: "keep bounds the kept body", stream: "HTTP/1.0 200 OK\r\n\r\n" + long, keep: 10,
			status: 200, clen: -1, digest: long, body: long[:10], bodyLen: 100000},
		{name: "header ending at the bound", stream: pad(maxHeader), status: 200, clen: -1, digest: "ok", bodyLen: 2},
		{name: "header a byte past the bound", stream: pad(maxHeader + 1), err: errHeaderTooLong},
		{name: "oversize header", stream: hugeHeader, err: errHeaderTooLong},
		{name: "reset after the header", stream: "HTTP/1.0 200 OK\r\nContent-Length: 100\r\n\r\npart", end: errors.New("connection reset"), err: ErrRead},
		{name: "deadline in an endless body", stream: "HTTP/1.0 200 OK\r\n\r\n" + long, end: ErrReadTimeout, err: ErrReadTimeout},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			stream := []byte(tc.stream)
			check := func(how string, resp HTTPResponse, err error) {
				t.Helper()
				if !errors.Is(err, tc.err) {
					t.Fatalf("%s: error %v, want %v", how, err, tc.err)
				}
				if tc.err != nil {
					return
				}
				if resp.Status != tc.status || resp.ContentLength != tc.clen || resp.BodyLen != tc.bodyLen || resp.Received != int64(len(stream)) {
					t.Fatalf("%s: status %d length %d body %d received %d, want %d %d %d %d", how,
						resp.Status, resp.ContentLength, resp.BodyLen, resp.Received, tc.status, tc.clen, tc.bodyLen, len(stream))
				}
				if resp.Digest != md5.Sum([]byte(tc.digest)) {
					t.Fatalf("%s: digest %x, want the MD5 of %q", how, resp.Digest, tc.digest)
				}
				if string(resp.Body) != tc.body {
					t.Fatalf("%s: kept %q, want %q", how, resp.Body, tc.body)
				}
				if i := bytes.Index(stream, crlf2); !bytes.Equal(resp.Header, stream[:i+4]) {
					t.Fatalf("%s: header %q", how, resp.Header)
				}
			}
			resp, err := parseAll(stream, nil, tc.keep, tc.end)
			check("in one piece", resp, err)
			// Every cut into two pieces, for the short streams (and
			// around the header's end for all of them).
			step := 1
			if len(stream) > 512 {
				step = len(stream)/200 + 1
			}
			for c := 0; c <= len(stream); c += step {
				resp, err := parseAll(stream, []int{c}, tc.keep, tc.end)
				check("cut at "+strconv.Itoa(c), resp, err)
			}
			if i := bytes.Index(stream, crlf2); i >= 0 {
				for c := max(0, i-2); c <= min(len(stream), i+6); c++ {
					resp, err := parseAll(stream, []int{c}, tc.keep, tc.end)
					check("cut at "+strconv.Itoa(c), resp, err)
				}
			}
			if len(stream) <= 4096 {
				cuts := make([]int, 0, len(stream))
				for c := 1; c < len(stream); c++ {
					cuts = append(cuts, c)
				}
				resp, err := parseAll(stream, cuts, tc.keep, tc.end)
				check("byte by byte", resp, err)
			}
		})
	}
}
