package logging

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"time"
)

// Config says where the daemon logs, from keepalived's flags.
type Config struct {
	Console  bool   // -l: the console (Stderr) instead of syslog
	NoSyslog bool   // -G: not syslog
	File     string // -g FILE: a file as well
	Facility int    // -S: the syslog facility
	Tag      string // the syslog program name
	Debug    bool   // -D
	Stderr   io.Writer
	// DialSyslog connects to the syslog socket; nil dials DevLog.
	DialSyslog func() (Datagrams, error)
}

// Setup builds the logger. keepalived logs to syslog unless -G, and to the
// console with -l and to a file with -g as well; Vigil takes -l to mean the
// console instead of syslog (under systemd both end in the journal, and
// keepalived's -l without -G writes every line there twice). With neither
// syslog nor a file (-G, or no syslog socket), the console is used, so that
// the daemon never runs without a log. warnings are what the caller should
// log once the logger exists (a missing /dev/log). close releases the
// syslog socket and the file.
func Setup(c Config) (log *slog.Logger, warnings []string, close func() error, err error) {
	if c.Stderr == nil {
		c.Stderr = os.Stderr
	}
	if c.DialSyslog == nil {
		c.DialSyslog = func() (Datagrams, error) { return Dial(DevLog) }
	}
	if c.Tag == "" {
		c.Tag = "vigil"
	}
	lvl := slog.LevelInfo
	if c.Debug {
		lvl = slog.LevelDebug
	}
	text := func(w io.Writer) slog.Handler {
		return slog.NewTextHandler(w, &slog.HandlerOptions{Level: lvl})
	}
	var hs []slog.Handler
	var closers []func() error
	console := c.Console
	if !c.Console && !c.NoSyslog {
		conn, derr := c.DialSyslog()
		if derr != nil {
			warnings = append(warnings, fmt.Sprintf("no syslog (%v): logging to stderr instead", derr))
			console = true
		} else {
			sh := NewSyslogHandler(conn, SyslogOptions{Facility: c.Facility, Tag: c.Tag, Level: lvl, Redial: c.DialSyslog})
			hs = append(hs, sh)
			closers = append(closers, sh.Close)
		}
	}
	if c.File != "" {
		f, ferr := os.OpenFile(c.File, os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o640)
		if ferr != nil {
			for _, cl := range closers {
				cl()
			}
			return nil, nil, nil, fmt.Errorf("log file: %w", ferr)
		}
		// Unbuffered: every line is in the file when the call returns.
		hs = append(hs, text(f))
		closers = append(closers, f.Close)
	}
	if console || len(hs) == 0 {
		// Through a queue: a console nobody reads never stalls a caller.
		q := NewQueue(c.Stderr, consoleQueueLines)
		hs = append(hs, text(q))
		closers = append(closers, func() error { return q.Close(time.After(consoleFlushTimeout)) })
	}
	var h slog.Handler = hs[0]
	if len(hs) > 1 {
		h = fanout(hs)
	}
	return slog.New(h), warnings, func() error {
		var errs []error
		for _, cl := range closers {
			errs = append(errs, cl())
		}
		return errors.Join(errs...)
	}, nil
}

// fanout sends every record to each of its handlers.
type fanout []slog.Handler

func (f fanout) Enabled(ctx context.Context, l slog.Level) bool {
	for _, h := range f {
		if h.Enabled(ctx, l) {
			return true
		}
	}
	return false
}

func (f fanout) Handle(ctx context.Context, r slog.Record) error {
	var errs []error
	for _, h := range f {
		if h.Enabled(ctx, r.Level) {
			errs = append(errs, h.Handle(ctx, r.Clone()))
		}
	}
	return errors.Join(errs...)
}

func (f fanout) WithAttrs(as []slog.Attr) slog.Handler {
	g := make(fanout, len(f))
	for i, h := range f {
		g[i] = h.WithAttrs(as)
	}
	return g
}

func (f fanout) WithGroup(name string) slog.Handler {
	g := make(fanout, len(f))
	for i, h := range f {
		g[i] = h.WithGroup(name)
	}
	return g
}
