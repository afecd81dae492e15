package logging

import (
	"bytes"
	"errors"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"
)

// fakeSyslog is a syslog daemon of the test's own: a unixgram socket in a
// temporary directory, read after each write.
type fakeSyslog struct {
	path string
	ln   *net.UnixConn
}

func newFakeSyslog(t *testing.T) *fakeSyslog {
	t.Helper()
	p := filepath.Join(t.TempDir(), "log")
	ln, err := net.ListenUnixgram("unixgram", &net.UnixAddr{Name: p, Net: "unixgram"})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	return &fakeSyslog{path: p, ln: ln}
}

func (f *fakeSyslog) dial() (Datagrams, error) { return Dial(f.path) }

// next reads one datagram; the writes are synchronous, so it is there.
func (f *fakeSyslog) next(t *testing.T) string {
	t.Helper()
	buf := make([]byte, 8192)
	f.ln.SetReadDeadline(time.Now().Add(5 * time.Second))
	n, err := f.ln.Read(buf)
	if err != nil {
		t.Fatalf("fake syslog: %v", err)
	}
	return string(buf[:n])
}

func TestSyslogLines(t *testing.T) {
	fs := newFakeSyslog(t)
	conn, err := fs.dial()
	if err != nil {
		t.Fatal(err)
	}
	at := time.Date(2026, 3, 7, 9, 4, 5, 0, time.Local)
	h := NewSyslogHandler(conn, SyslogOptions{Facility: FacilityLocal0 + 7, Tag: "vigil", Now: func() time.Time { return at }})
	log := slog.New(h).With("instance", "VI_1")
	pid := strconv.Itoa(os.Getpid())
	tests := []struct {
		do   func()
		want string
	}{
		{func() { log.Info("(VI_1) Entering MASTER STATE", "vrid", 51) },
			"<190>Mar  7 09:04:05 vigil[" + pid + "]: (VI_1) Entering MASTER STATE instance=VI_1 vrid=51"},
		{func() { log.Warn("cannot add", "err", errors.New("file exists")) },
			"<188>Mar  7 09:04:05 vigil[" + pid + "]: cannot add instance=VI_1 err=\"file exists\""},
		{func() { log.Error("x", slog.Group("g", "a", 1)) },
			"<187>Mar  7 09:04:05 vigil[" + pid + "]: x instance=VI_1 g.a=1"},
		{func() { log.WithGroup("vrrp").Info("y", "k", "") },
			"<190>Mar  7 09:04:05 vigil[" + pid + "]: y instance=VI_1 vrrp.k=\"\""},
	}
	for _, tc := range tests {
		tc.do()
		if got := fs.next(t); got != tc.want {
			t.Errorf("line\n got %q\nwant %q", got, tc.want)
		}
	}
	// Debug is below the default level: nothing is sent, so the next line
	// read is the Info after it.
	log.Debug("hidden")
	log.Info("shown")
	if got := fs.next(t); !strings.HasSuffix(got, ": shown instance=VI_1") {
		t.Errorf("after a debug line: %q", got)
	}
}

// The syslog daemon restarting (a new socket at the same path) loses no
// line: the handler dials again.
func TestSyslogRedial(t *testing.T) {
	fs := newFakeSyslog(t)
	conn, err := fs.dial()
	if err != nil {
		t.Fatal(err)
	}
	log := slog.New(NewSyslogHandler(conn, SyslogOptions{Facility: FacilityDaemon, Redial: fs.dial}))
	log.Info("one")
	if got := fs.next(t); !strings.HasPrefix(got, "<30>") || !strings.HasSuffix(got, ": one") {
		t.Fatalf("first line %q", got)
	}
	fs.ln.Close()
	os.Remove(fs.path)
	fs2 := &fakeSyslog{path: fs.path}
	fs2.ln, err = net.ListenUnixgram("unixgram", &net.UnixAddr{Name: fs.path, Net: "unixgram"})
	if err != nil {
		t.Fatal(err)
	}
	defer fs2.ln.Close()
	log.Info("two")
	if got := fs2.next(t); !strings.HasSuffix(got, ": two") {
		t.Fatalf("after the restart: %q", got)
	}
}

func TestFacility(t *testing.T) {
	for in, want := range map[string]int{"0": 16, "7": 23, "local3": 19, "user": 1, "daemon": 3, "": 3} {
		if got, err := Facility(in); err != nil || got != want {
			t.Errorf("Facility(%q) = %d, %v; want %d", in, got, err, want)
		}
	}
	for _, bad := range []string{"8", "local8", "-1", "kern", "localx"} {
		if _, err := Facility(bad); err == nil {
			t.Errorf("Facility(%q): no error", bad)
		}
	}
}

func TestSetupDestinations(t *testing.T) {
	fs := newFakeSyslog(t)
	noSyslog := func() (Datagrams, error) { return nil, errors.New("dial unixgram /dev/log: no such file or directory") }
	tests := []struct {
		name                  string
		c                     Config
		syslog, console, file bool
		warn                  bool
	}{
		{"default: syslog only", Config{DialSyslog: fs.dial}, true, false, false, false},
		{"-l: the console instead", Config{Console: true, DialSyslog: fs.dial}, false, true, false, false},
		{"no /dev/log: stderr, with a warning", Config{DialSyslog: noSyslog}, false, true, false, true},
		{"-G: stderr rather than nothing", Config{NoSyslog: true, DialSyslog: fs.dial}, false, true, false, false},
		{"-g: syslog and the file", Config{File: "x", DialSyslog: fs.dial}, true, false, true, false},
		{"-G -g: the file only", Config{NoSyslog: true, File: "x", DialSyslog: fs.dial}, false, false, true, false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var stderr bytes.Buffer
			tc.c.Stderr = &stderr
			file := ""
			if tc.c.File != "" {
				file = filepath.Join(t.TempDir(), "vigil.log")
				tc.c.File = file
			}
			log, warns, closeLog, err := Setup(tc.c)
			if err != nil {
				t.Fatal(err)
			}
			log.Info("hello", "instance", "VI_1")
			closeLog()
			if (len(warns) > 0) != tc.warn {
				t.Errorf("warnings %q, want some: %v", warns, tc.warn)
			}
			if got := strings.Contains(stderr.String(), "msg=hello instance=VI_1"); got != tc.console {
				t.Errorf("console has the line: %v, want %v (%q)", got, tc.console, stderr.String())
			}
			if tc.syslog {
				if got := fs.next(t); !strings.HasSuffix(got, ": hello instance=VI_1") {
					t.Errorf("syslog line %q", got)
				}
			}
			if file != "" {
				b, _ := os.ReadFile(file)
				if got := strings.Contains(string(b), "msg=hello instance=VI_1"); got != tc.file {
					t.Errorf("file has the line: %v, want %v", got, tc.file)
				}
			}
		})
	}
	// Nothing else reached the fake syslog: it would have been read above.
	fs.ln.SetReadDeadline(time.Now())
	if n, err := fs.ln.Read(make([]byte, 10)); err == nil {
		t.Errorf("an unexpected syslog datagram of %d bytes", n)
	}
}
