package sdnotify

import (
	"net"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"
)

// fakeSystemd is a NOTIFY_SOCKET listener in a temporary directory.
type fakeSystemd struct {
	t    *testing.T
	addr string
	conn *net.UnixConn
}

func newFakeSystemd(t *testing.T, abstract bool) *fakeSystemd {
	t.Helper()
	addr := filepath.Join(t.TempDir(), "notify.sock")
	if abstract {
		addr = "@vigil-sdnotify-test-" + strconv.FormatInt(time.Now().UnixNano(), 36)
	}
	c, err := net.ListenUnixgram("unixgram", &net.UnixAddr{Name: addr, Net: "unixgram"})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return &fakeSystemd{t: t, addr: addr, conn: c}
}

// next returns the next datagram, or fails after a bounded wait.
func (f *fakeSystemd) next() string {
	f.t.Helper()
	buf := make([]byte, 4096)
	f.conn.SetReadDeadline(time.Now().Add(5 * time.Second))
	n, err := f.conn.Read(buf)
	if err != nil {
		f.t.Fatalf("no notification: %v", err)
	}
	return string(buf[:n])
}

// none checks that nothing else was sent.
func (f *fakeSystemd) none() {
	f.t.Helper()
	buf := make([]byte, 4096)
	f.conn.SetReadDeadline(time.Now().Add(50 * time.Millisecond))
	if n, err := f.conn.Read(buf); err == nil {
		f.t.Fatalf("unexpected notification %q", buf[:n])
	}
}

func env(m map[string]string) func(string) string {
	return func(k string) string { return m[k] }
}

func TestLifecycleInOrder(t *testing.T) {
	for _, abstract := range []bool{false, true} {
		t.Run("abstract="+strconv.FormatBool(abstract), func(t *testing.T) {
			sd := newFakeSystemd(t, abstract)
			n := newNotifier(env(map[string]string{"NOTIFY_SOCKET": sd.addr, "WATCHDOG_USEC": "2000000"}), 42)
			n.monotonic = func() (uint64, error) { return 123456789, nil }
			t.Cleanup(func() { n.Close() })

			steps := []struct {
				do   func() error
				want string
			}{
				{func() error { return n.Ready("2 instances") }, "READY=1\nSTATUS=2 instances\n"},
				{n.Reloading, "RELOADING=1\nMONOTONIC_USEC=123456789\n"},
				{func() error { return n.Ready("reloaded") }, "READY=1\nSTATUS=reloaded\n"},
				{func() error { return n.Status("VI_1 MASTER\nVI_2 BACKUP") }, "STATUS=VI_1 MASTER VI_2 BACKUP\n"},
				{n.Watchdog, "WATCHDOG=1\n"},
				{n.Stopping, "STOPPING=1\n"},
			}
			for i, s := range steps {
				if err := s.do(); err != nil {
					t.Fatalf("step %d: %v", i, err)
				}
				if got := sd.next(); got != s.want {
					t.Fatalf("step %d: got %q, want %q", i, got, s.want)
				}
			}
			sd.none()
		})
	}
}

func TestWatchdogEnv(t *testing.T) {
	tests := []struct {
		name       string
		env        map[string]string
		wantOn     bool
		wantPeriod time.Duration
	}{
		{"no socket", map[string]string{"WATCHDOG_USEC": "1000000"}, false, 0},
		{"no watchdog", map[string]string{"NOTIFY_SOCKET": "/x"}, false, 0},
		{"ours", map[string]string{"NOTIFY_SOCKET": "/x", "WATCHDOG_USEC": "3000000", "WATCHDOG_PID": "7"}, true, 1500 * time.Millisecond},
		{"someone else's", map[string]string{"NOTIFY_SOCKET": "/x", "WATCHDOG_USEC": "3000000", "WATCHDOG_PID": "8"}, false, 0},
		{"garbage", map[string]string{"NOTIFY_SOCKET": "/x", "WATCHDOG_USEC": "soon"}, false, 0},
		{"zero", map[string]string{"NOTIFY_SOCKET": "/x", "WATCHDOG_USEC": "0"}, false, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			n := newNotifier(env(tt.env), 7)
			p, on := n.WatchdogPeriod()
			if on != tt.wantOn || p != tt.wantPeriod {
				t.Fatalf("WatchdogPeriod = %v, %v; want %v, %v", p, on, tt.wantPeriod, tt.wantOn)
			}
		})
	}
}

func TestInertWithoutSystemd(t *testing.T) {
	for name, n := range map[string]*Notifier{"nil": nil, "no socket": newNotifier(env(nil), 1)} {
		t.Run(name, func(t *testing.T) {
			if n.Enabled() {
				t.Fatal("Enabled without NOTIFY_SOCKET")
			}
			for _, f := range []func() error{
				func() error { return n.Ready("x") }, n.Reloading, n.Stopping, n.Watchdog,
				n.Close,
			} {
				if err := f(); err != nil {
					t.Fatalf("inert notifier returned %v", err)
				}
			}
		})
	}
}

func TestSendErrors(t *testing.T) {
	// Nobody listens: the error says so, and nothing panics.
	n := newNotifier(env(map[string]string{"NOTIFY_SOCKET": filepath.Join(t.TempDir(), "absent.sock")}), 1)
	err := n.Ready("x")
	if err == nil || !strings.Contains(err.Error(), "sd_notify") {
		t.Fatalf("Ready to a missing socket: %v", err)
	}
	n = newNotifier(env(map[string]string{"NOTIFY_SOCKET": "vsock:2:1234"}), 1)
	if err := n.Stopping(); err == nil {
		t.Fatal("vsock address accepted")
	}
}
