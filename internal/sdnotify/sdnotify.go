// Package sdnotify tells systemd how the daemon is doing (sd_notify(3)):
// READY=1 once the instances run, RELOADING=1 and READY=1 around a reload,
// STOPPING=1 on the way out, STATUS= lines, and WATCHDOG=1 keep-alives.
//
// Outside systemd (no NOTIFY_SOCKET) every call does nothing and returns
// nil, so the daemon calls it unconditionally.
//
// The watchdog is deliberately not a goroutine of its own: a free-running
// ticker would keep telling systemd all is well while the daemon's event
// loop is stuck. The loop itself calls Watchdog on every tick of a ticker of
// WatchdogPeriod in its select, so the pings stop when it does.
package sdnotify

import (
	"errors"
	"fmt"
	"net"
	"os"
	"strconv"
	"strings"
	"sync"
	"time"

	"golang.org/x/sys/unix"
)

// Notifier sends notifications to the service manager. The zero value and a
// nil *Notifier are inert. It is safe for concurrent use.
type Notifier struct {
	addr     string        // NOTIFY_SOCKET; empty: inert
	watchdog time.Duration // WATCHDOG_USEC, if meant for this process
	// monotonic returns CLOCK_MONOTONIC in microseconds, for RELOADING=1.
	monotonic func() (uint64, error)

	mu   sync.Mutex
	conn *net.UnixConn
}

// FromEnv returns a Notifier configured from NOTIFY_SOCKET, WATCHDOG_USEC
// and WATCHDOG_PID. The variables are left in place: a reload notifies
// again, and a child process that is not the service has nothing to do with
// them (WATCHDOG_PID tells it so).
func FromEnv() *Notifier {
	return newNotifier(os.Getenv, os.Getpid())
}

func newNotifier(getenv func(string) string, pid int) *Notifier {
	n := &Notifier{addr: getenv("NOTIFY_SOCKET"), monotonic: monotonicUsec}
	if us, err := strconv.ParseUint(getenv("WATCHDOG_USEC"), 10, 63); err == nil && us > 0 {
		wp := getenv("WATCHDOG_PID")
		if wp == "" || wp == strconv.Itoa(pid) {
			n.watchdog = time.Duration(us) * time.Microsecond
		}
	}
	return n
}

// Enabled reports whether a service manager listens.
func (n *Notifier) Enabled() bool { return n != nil && n.addr != "" }

// WatchdogPeriod returns how often Watchdog must be called (half of the
// service's WatchdogSec, as sd_watchdog_enabled(3) advises) and whether the
// watchdog is on at all.
func (n *Notifier) WatchdogPeriod() (time.Duration, bool) {
	if !n.Enabled() || n.watchdog <= 0 {
		return 0, false
	}
	return n.watchdog / 2, true
}

// Ready reports that start-up (or a reload) is complete, with a status line.
func (n *Notifier) Ready(status string) error {
	return n.send("READY=1", statusLine(status))
}

// Reloading reports that a reload has begun. systemd (since 253) wants the
// monotonic time with it, to tell this reload from an earlier one; Ready
// ends it.
func (n *Notifier) Reloading() error {
	if !n.Enabled() {
		return nil
	}
	us, err := n.monotonic()
	if err != nil {
		return fmt.Errorf("sd_notify: reading the monotonic clock: %w", err)
	}
	return n.send("RELOADING=1", "MONOTONIC_USEC="+strconv.FormatUint(us, 10))
}

// Stopping reports that the daemon is shutting down.
func (n *Notifier) Stopping() error { return n.send("STOPPING=1") }

// Status sets the free-form status line `systemctl status` shows.
func (n *Notifier) Status(status string) error { return n.send(statusLine(status)) }

// Watchdog sends one keep-alive at once.
func (n *Notifier) Watchdog() error { return n.send("WATCHDOG=1") }

// Close releases the socket.
func (n *Notifier) Close() error {
	if n == nil {
		return nil
	}
	n.mu.Lock()
	defer n.mu.Unlock()
	if n.conn == nil {
		return nil
	}
	err := n.conn.Close()
	n.conn = nil
	return err
}

// statusLine makes a STATUS= assignment; a newline would end it early and
// start a bogus assignment, so newlines become spaces.
func statusLine(s string) string {
	return "STATUS=" + strings.ReplaceAll(s, "\n", " ")
}

// send writes the assignments as one datagram.
func (n *Notifier) send(assignments ...string) error {
	if !n.Enabled() {
		return nil
	}
	msg := []byte(strings.Join(assignments, "\n") + "\n")
	n.mu.Lock()
	defer n.mu.Unlock()
	if n.conn == nil {
		c, err := dial(n.addr)
		if err != nil {
			return err
		}
		n.conn = c
	}
	if _, err := n.conn.Write(msg); err != nil {
		// systemd may have been restarted (daemon-reexec): dial again next
		// time.
		n.conn.Close()
		n.conn = nil
		return fmt.Errorf("sd_notify: %w", err)
	}
	return nil
}

// dial connects to NOTIFY_SOCKET: a path, or an abstract socket written
// with a leading '@'. (systemd also allows vsock addresses, for VMs; Vigil
// does not run there.)
func dial(addr string) (*net.UnixConn, error) {
	if strings.HasPrefix(addr, "vsock:") {
		return nil, errors.New("sd_notify: vsock NOTIFY_SOCKET is not supported")
	}
	// package net turns a leading '@' into the abstract namespace's NUL.
	c, err := net.DialUnix("unixgram", nil, &net.UnixAddr{Name: addr, Net: "unixgram"})
	if err != nil {
		return nil, fmt.Errorf("sd_notify: %w", err)
	}
	return c, nil
}

func monotonicUsec() (uint64, error) {
	var ts unix.Timespec
	if err := unix.ClockGettime(unix.CLOCK_MONOTONIC, &ts); err != nil {
		return 0, err
	}
	return uint64(ts.Sec)*1e6 + uint64(ts.Nsec)/1e3, nil
}
