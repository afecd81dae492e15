package check

import (
	"bytes"
	"context"
	"crypto/md5"
	"errors"
	"net"
	"net/netip"
	"regexp"
	"testing"
	"time"
)

// FuzzHTTPResponse feeds arbitrary bytes as a server's response: reading
// and judging it never panics, and a response without a complete header
// never passes.
func FuzzHTTPResponse(f *testing.F) {
	f.Add([]byte("HTTP/1.0 200 OK\r\nContent-Length: 5\r\n\r\nhello"))
	f.Add([]byte("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\n\r\n"))
	f.Add([]byte("HTTP/1.1 404 X\r\nContent-Length: 99999999999999999999\r\n\r\n"))
	f.Add([]byte("220 smtp\r\n"))
	f.Add([]byte("HTTP/1.0 2000 OK\r\n\r\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		srv, cli := net.Pipe()
		go func() {
			buf := make([]byte, 512)
			srv.Read(buf)
			srv.Write(data)
			srv.Close()
		}()
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		resp, err := DoHTTP(ctx, cli, HTTPRequest{Path: "/", Protocol: "1.0", Target: netip.MustParseAddrPort("10.0.0.1:80")}.Bytes(), 1<<20)
		cli.Close()
		if err != nil {
			return
		}
		if !bytes.Contains(data, []byte("\r\n\r\n")) {
			t.Fatalf("a response without a header end was accepted: %q", data)
		}
		u := URLCheck{Path: "/", Status: ok2xx, Regex: regexp.MustCompile("h.llo"), MinOffset: 1}
		r := u.Judge(resp)
		if r.OK && (resp.Status < 200 || resp.Status > 299) {
			t.Fatalf("status %d passed", resp.Status)
		}
	})
}

// FuzzSMTPStatus: the reply code reader never panics and accepts only
// three digits followed by a space or the end of the line.
func FuzzSMTPStatus(f *testing.F) {
	for _, s := range []string{"220 ok\r\n", "250-more\r\n", "25", "+20 x", "999\n", ""} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, line []byte) {
		v := smtpStatus(line)
		if v >= 0 && (v > 999 || len(bytes.TrimRight(line, "\r\n")) < 3) {
			t.Fatalf("smtpStatus(%q) = %d", line, v)
		}
	})
}

// FuzzMachine drives a machine with arbitrary events: it never panics,
// never asks for a check while one runs, and never waits into the past.
func FuzzMachine(f *testing.F) {
	f.Add([]byte{0, 1, 2, 1, 3, 1, 3, 1, 2}, uint8(1), uint8(2), false)
	f.Add([]byte{0, 1, 3, 1, 3, 1, 2, 1, 2}, uint8(0), uint8(3), true)
	f.Fuzz(func(t *testing.T, evs []byte, retry, fam uint8, alpha bool) {
		m := NewMachine(MachineConfig{Family: Family(fam % 4), Timing: tim(int(retry % 5)), Steps: 3, Alpha: alpha, FastRecovery: fam&4 != 0})
		now := t0
		running := false
		for _, e := range evs {
			now = now.Add(time.Duration(e>>2) * time.Second)
			var ev Event
			switch e & 3 {
			case 0:
				ev = Start{Jitter: float64(e) / 256}
			case 1:
				ev = Timer{}
			case 2:
				ev = Result{OK: true, Weight: int(e), HasWeight: e&4 != 0}
			case 3:
				ev = Result{Why: "x"}
			}
			if _, ok := ev.(Result); ok {
				running = false
			}
			for _, a := range m.Handle(now, ev) {
				switch a.Kind {
				case ActRun:
					if running {
						t.Fatal("a second check while one runs")
					}
					running = true
				case ActWait:
					if a.Wait.At.Before(now) {
						t.Fatalf("wait into the past: %v < %v", a.Wait.At, now)
					}
				}
			}
		}
	})
}

// FuzzRespParser: however a stream is cut into reads, the incremental
// parser gives what a reading of the whole stream at once gives: the
// header ends at the first empty line (within maxHeader), the digest is
// over the body bytes up to Content-Length, every byte is counted.
func FuzzRespParser(f *testing.F) {
	f.Add([]byte("HTTP/1.0 200 OK\r\nContent-Length: 5\r\n\r\nhello"), uint64(7))
	f.Add([]byte("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\n\r\n"), uint64(1))
	f.Add([]byte("HTTP/1.1 404 X\r\nContent-Length: 99999999999999999999\r\n\r\n"), uint64(3))
	f.Add([]byte("HTTP/1.1 200 OK\r\n\r"), uint64(0))
	f.Add([]byte("\r\n\r\n\r\n\r\n"), uint64(2))
	f.Fuzz(func(t *testing.T, data []byte, seed uint64) {
		// Cuts from the seed: pieces of 1 to 16 bytes.
		var cuts []int
		for c := 0; ; {
			c += int(seed%16) + 1
			seed = seed*6364136223846793005 + 1442695040888963407
			if c >= len(data) {
				break
			}
			cuts = append(cuts, c)
		}
		resp, err := parseAll(data, cuts, 64, nil)
		i := bytes.Index(data, crlf2)
		switch {
		case i < 0 && len(data) >= maxHeader, i >= 0 && i+4 > maxHeader:
			if !errors.Is(err, errHeaderTooLong) {
				t.Fatalf("header past the bound: %v", err)
			}
			return
		case i < 0:
			if !errors.Is(err, ErrNoData) {
				t.Fatalf("no header end: %v", err)
			}
			return
		case err != nil:
			t.Fatalf("complete header: %v", err)
		}
		head, body := data[:i+4], data[i+4:]
		want := HTTPResponse{Status: statusCode(head), ContentLength: contentLength(head), BodyLen: int64(len(body)), Received: int64(len(data))}
		digested := body
		if want.ContentLength >= 0 && int64(len(body)) > want.ContentLength {
			digested = body[:want.ContentLength]
		}
		if resp.Status != want.Status || resp.ContentLength != want.ContentLength || resp.BodyLen != want.BodyLen || resp.Received != want.Received ||
			resp.Digest != md5.Sum(digested) || !bytes.Equal(resp.Header, head) || !bytes.Equal(resp.Body, digested[:min(64, len(digested))]) {
			t.Fatalf("cut at %v: got %+v, want %+v over %q", cuts, resp, want, digested)
		}
	})
}
