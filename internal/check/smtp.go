package check

import (
	"bytes"
	"context"
	"fmt"
	"net"
	"strconv"
	"time"
)

// DefaultHeloName is the HELO name of SMTP_CHECK without helo_name.
const DefaultHeloName = "smtpchecker.keepalived.org"

// smtpLineMax bounds a reply line, as keepalived's 512-byte buffer does.
const smtpLineMax = 512

// SMTPProber is SMTP_CHECK: a 220 greeting, HELO answered with 250, then
// QUIT and any answer.
type SMTPProber struct {
	Conn     Conn
	Dialer   Dialer
	HeloName string
}

// Probe runs the dialogue.
func (p *SMTPProber) Probe(ctx context.Context, _ int) Result {
	conn, err := dialerFor(p.Dialer, p.Conn, "tcp").DialContext(ctx, "tcp", p.Conn.address())
	if err != nil {
		return failure("SMTP connection to %s failed: %v", p.Conn.Target, err)
	}
	defer conn.Close()
	if d, ok := ctx.Deadline(); ok {
		conn.SetDeadline(d)
	}
	stop := context.AfterFunc(ctx, func() { conn.SetDeadline(time.Unix(1, 0)) })
	defer stop()
	r := &lineReader{c: conn}
	line, err := r.line()
	if err != nil {
		return failure("SMTP greeting from %s: %v", p.Conn.Target, err)
	}
	if smtpStatus(line) != 220 {
		return failure("bad greeting banner from SMTP server %s: %q", p.Conn.Target, line)
	}
	helo := p.HeloName
	if helo == "" {
		helo = DefaultHeloName
	}
	if _, err := fmt.Fprintf(conn, "HELO %s\r\n", helo); err != nil {
		return failure("SMTP HELO to %s: %v", p.Conn.Target, err)
	}
	if line, err = r.line(); err != nil {
		return failure("SMTP HELO reply from %s: %v", p.Conn.Target, err)
	}
	if smtpStatus(line) != 250 {
		return failure("bad HELO response from SMTP server %s: %q", p.Conn.Target, line)
	}
	if _, err := conn.Write([]byte("QUIT\r\n")); err != nil {
		return failure("SMTP QUIT to %s: %v", p.Conn.Target, err)
	}
	if _, err := r.line(); err != nil {
		return failure("SMTP QUIT reply from %s: %v", p.Conn.Target, err)
	}
	return Result{OK: true}
}

// smtpStatus reads a reply code as keepalived does: exactly three digits,
// then a space or the end of the line ("250-" continuation lines fail).
func smtpStatus(line []byte) int {
	line = bytes.TrimRight(line, "\r\n")
	if len(line) < 3 || (len(line) > 3 && line[3] != ' ') {
		return -1
	}
	v, err := strconv.Atoi(string(line[:3]))
	if err != nil || line[0] == '+' || line[0] == '-' {
		return -1
	}
	return v
}

// lineReader reads lines of at most smtpLineMax bytes.
type lineReader struct {
	c   net.Conn
	buf []byte
}

func (r *lineReader) line() ([]byte, error) {
	tmp := make([]byte, smtpLineMax)
	for {
		if i := bytes.IndexByte(r.buf, '\n'); i >= 0 {
			l := r.buf[:i+1]
			r.buf = r.buf[i+1:]
			return l, nil
		}
		if len(r.buf) >= smtpLineMax {
			return nil, fmt.Errorf("line longer than %d bytes", smtpLineMax)
		}
		n, err := r.c.Read(tmp[:smtpLineMax-len(r.buf)])
		r.buf = append(r.buf, tmp[:n]...)
		if err != nil && n == 0 {
			return nil, err
		}
	}
}
