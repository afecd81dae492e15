// Package logging is where the daemon's log lines go: syslog (as keepalived,
// by default), the console (-l) or a file (-g). The lines are log/slog
// records; the syslog handler writes them to the local syslog socket as
// RFC 3164 messages.
package logging

import (
	"bytes"
	"context"
	"fmt"
	"log/slog"
	"net"
	"os"
	"strconv"
	"strings"
	"sync"
	"time"
	"unicode"
)

// DevLog is the local syslog socket (journald and rsyslog both listen there).
const DevLog = "/dev/log"

// Facility numbers of RFC 3164 (LOG_DAEMON is 3, LOG_LOCAL0 16, ...).
const (
	FacilityUser   = 1
	FacilityDaemon = 3
	FacilityLocal0 = 16
)

// Datagrams is the syslog socket as the handler uses it: one datagram per
// line. *net.UnixConn is one; tests use a socket of their own.
type Datagrams interface {
	Write(b []byte) (int, error)
	Close() error
}

// Dial connects to a syslog socket at path (DevLog normally).
func Dial(path string) (Datagrams, error) {
	return net.DialUnix("unixgram", nil, &net.UnixAddr{Name: path, Net: "unixgram"})
}

// SyslogHandler is a slog.Handler that sends each record to syslog as one
// RFC 3164 line in the form glibc's syslog(3) uses on the local socket:
// "<PRI>Mmm dd hh:mm:ss TAG[PID]: MSG key=value ...", without a host name
// (the local daemons add it). The record's message comes first, so that the
// keepalived texts operators grep for ("(VI_1) Entering MASTER STATE") read
// in the journal as they did; the attributes follow as key=value.
type SyslogHandler struct {
	out      *syslogOut
	facility int
	tag      string
	level    slog.Leveler
	prefix   string // attributes from WithAttrs, already formatted
	group    string // WithGroup's names, dot-joined, with a trailing dot
}

// syslogOut is the connection, shared by the handlers WithAttrs derives.
type syslogOut struct {
	mu   sync.Mutex
	conn Datagrams
	// redial reconnects after a write error (syslog restarted); nil for none.
	redial func() (Datagrams, error)
	pid    int
	now    func() time.Time
}

// SyslogOptions configure NewSyslogHandler.
type SyslogOptions struct {
	Facility int          // FacilityDaemon, FacilityUser, FacilityLocal0+N
	Tag      string       // the program name in the line ("vigil")
	Level    slog.Leveler // the lowest level sent; nil for Info
	// Redial reconnects when a write fails (the syslog daemon was
	// restarted and its socket is new); nil to drop the line instead.
	Redial func() (Datagrams, error)
	// Now is the clock of the timestamps; nil for time.Now.
	Now func() time.Time
}

// NewSyslogHandler returns a handler writing to conn.
func NewSyslogHandler(conn Datagrams, o SyslogOptions) *SyslogHandler {
	if o.Level == nil {
		o.Level = slog.LevelInfo
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.Tag == "" {
		o.Tag = "vigil"
	}
	return &SyslogHandler{
		out:      &syslogOut{conn: conn, redial: o.Redial, pid: os.Getpid(), now: o.Now},
		facility: o.Facility,
		tag:      o.Tag,
		level:    o.Level,
	}
}

// Enabled implements slog.Handler.
func (h *SyslogHandler) Enabled(_ context.Context, l slog.Level) bool {
	return l >= h.level.Level()
}

// severity maps a slog level to a syslog severity.
func severity(l slog.Level) int {
	switch {
	case l >= slog.LevelError:
		return 3 // err
	case l >= slog.LevelWarn:
		return 4 // warning
	case l >= slog.LevelInfo:
		return 6 // info
	}
	return 7 // debug
}

// Handle implements slog.Handler.
func (h *SyslogHandler) Handle(_ context.Context, r slog.Record) error {
	var b bytes.Buffer
	// The clock, not r.Time: the two differ by the call, and tests fix it.
	t := h.out.now()
	// RFC 3164 TIMESTAMP: "Mmm dd hh:mm:ss", the day padded with a space.
	fmt.Fprintf(&b, "<%d>%s %s[%d]: ", h.facility*8+severity(r.Level), t.Format(time.Stamp), h.tag, h.out.pid)
	b.WriteString(r.Message)
	b.WriteString(h.prefix)
	r.Attrs(func(a slog.Attr) bool {
		appendAttr(&b, h.group, a)
		return true
	})
	return h.out.write(b.Bytes())
}

func (o *syslogOut) write(line []byte) error {
	o.mu.Lock()
	defer o.mu.Unlock()
	if o.conn != nil {
		if _, err := o.conn.Write(line); err == nil {
			return nil
		}
	}
	if o.redial == nil {
		return fmt.Errorf("syslog: line dropped")
	}
	if o.conn != nil {
		o.conn.Close()
		o.conn = nil
	}
	c, err := o.redial()
	if err != nil {
		return fmt.Errorf("syslog: %w", err)
	}
	o.conn = c
	_, err = c.Write(line)
	return err
}

// WithAttrs implements slog.Handler.
func (h *SyslogHandler) WithAttrs(as []slog.Attr) slog.Handler {
	h2 := *h
	var b bytes.Buffer
	for _, a := range as {
		appendAttr(&b, h.group, a)
	}
	h2.prefix += b.String()
	return &h2
}

// WithGroup implements slog.Handler.
func (h *SyslogHandler) WithGroup(name string) slog.Handler {
	if name == "" {
		return h
	}
	h2 := *h
	h2.group += name + "."
	return &h2
}

// Close closes the connection.
func (h *SyslogHandler) Close() error {
	h.out.mu.Lock()
	defer h.out.mu.Unlock()
	if h.out.conn == nil {
		return nil
	}
	err := h.out.conn.Close()
	h.out.conn = nil
	return err
}

// appendAttr writes " key=value", quoting the value when it would not read
// back as one word, as slog's text handler does.
func appendAttr(b *bytes.Buffer, group string, a slog.Attr) {
	a.Value = a.Value.Resolve()
	if a.Equal(slog.Attr{}) {
		return
	}
	if a.Value.Kind() == slog.KindGroup {
		g := group
		if a.Key != "" {
			g += a.Key + "."
		}
		for _, ga := range a.Value.Group() {
			appendAttr(b, g, ga)
		}
		return
	}
	b.WriteByte(' ')
	b.WriteString(group)
	b.WriteString(a.Key)
	b.WriteByte('=')
	v := a.Value.String()
	if needsQuote(v) {
		v = strconv.Quote(v)
	}
	b.WriteString(v)
}

func needsQuote(s string) bool {
	if s == "" {
		return true
	}
	for _, r := range s {
		if unicode.IsSpace(r) || r == '"' || r == '=' || !unicode.IsPrint(r) {
			return true
		}
	}
	return false
}

// Facility turns keepalived's -S value (0-7 for local0-7, "user",
// "daemon") into a syslog facility number.
func Facility(s string) (int, error) {
	switch s {
	case "user":
		return FacilityUser, nil
	case "daemon", "":
		return FacilityDaemon, nil
	}
	n, err := strconv.Atoi(strings.TrimPrefix(s, "local"))
	if err != nil || n < 0 || n > 7 {
		return 0, fmt.Errorf("invalid log facility %q (0-7, local0-local7, user or daemon)", s)
	}
	return FacilityLocal0 + n, nil
}
