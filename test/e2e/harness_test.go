// Package e2e runs whole daemons (Vigil, and keepalived as the reference
// peer) in network namespaces built with internal/netlab and checks what
// they do to the network: which node holds a virtual address, whether a
// client reaches it, what is left behind after a stop.
//
// This file is the shared harness. Tests need root and skip with a clear
// message without it; every wait is bounded polling, never a fixed sleep.
package e2e

import (
	"errors"
	"fmt"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"vigil/internal/netlab"
)

// pollEvery is the interval of every bounded wait in this package.
const pollEvery = 50 * time.Millisecond

// vigilBin is the Vigil binary built once by TestMain; empty when it could
// not be built, in which case tests needing it fail with buildErr.
var (
	vigilBin string
	buildErr error
)

// TestMain builds the daemon once for the whole test binary, so that every
// test runs the same, current code.
func TestMain(m *testing.M) {
	os.Exit(runMain(m))
}

func runMain(m *testing.M) int {
	dir, err := os.MkdirTemp("", "vigil-e2e-")
	if err != nil {
		fmt.Fprintf(os.Stderr, "e2e: temporary directory: %v\n", err)
		return 1
	}
	defer os.RemoveAll(dir)
	// Only root can run these tests; do not spend a build on a run that
	// will skip everything.
	if os.Geteuid() == 0 {
		// With the race detector: the daemon's goroutines (the VRRP loop,
		// the link watcher, the status handlers, reload) share state, and
		// a race there is a defect these tests must catch (see raceCheck).
		vigilBin, buildErr = netlab.BuildDaemon(dir, true, 5*time.Minute)
	}
	return m.Run()
}

// needVigil skips without root and fails when the binary could not be built.
func needVigil(t testing.TB) {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("e2e: these tests run daemons in network namespaces and need root; skipping")
	}
	if buildErr != nil {
		t.Fatal(buildErr)
	}
}

// Daemon is a process started in a host's namespace by StartDaemon, with
// its output in a log file under the test's temporary directory. The tail of
// the log is printed when the test fails, or always when the environment
// variable VIGIL_E2E_LOGS is set.
type Daemon struct {
	t       testing.TB
	Host    *netlab.Host
	Label   string // short name for messages, e.g. "vigil@a"
	Dir     string // private directory: config, pid file, state, log
	LogFile string
	proc    *netlab.Proc
}

// StartDaemon runs bin with args inside h's namespace, its output appended
// to dir/label.log. dir must be a directory private to this daemon (Dir of
// the result). extraEnv is added to the environment (KEY=VALUE).
func StartDaemon(t testing.TB, h *netlab.Host, label, dir string, extraEnv []string, bin string, args ...string) *Daemon {
	t.Helper()
	// A daemon restarted in the same directory gets a log of its own
	// (label#2.log, ...), so that each log tells one run's story.
	base := strings.ReplaceAll(label, "/", "_")
	logPath := filepath.Join(dir, base+".log")
	for n := 2; ; n++ {
		f, err := os.OpenFile(logPath, os.O_CREATE|os.O_EXCL|os.O_WRONLY, 0o644)
		if err == nil {
			f.Close()
			break
		}
		if !errors.Is(err, os.ErrExist) || n > 100 {
			t.Fatalf("e2e: log file: %v", err)
		}
		label = fmt.Sprintf("%s#%d", strings.TrimSuffix(label, fmt.Sprintf("#%d", n-1)), n)
		logPath = filepath.Join(dir, fmt.Sprintf("%s#%d.log", base, n))
	}
	// netlab.Host.Start captures output in memory; a shell in front sends
	// it to the log file instead, so that a daemon's output survives the
	// test and can be read while it runs. env(1) passes the environment
	// through ip netns exec.
	shArgs := []string{"-c", `log="$1"; shift; exec "$@" >>"$log" 2>&1`, "sh", logPath, "env"}
	shArgs = append(shArgs, extraEnv...)
	shArgs = append(shArgs, bin)
	shArgs = append(shArgs, args...)
	p, err := h.Start("sh", shArgs...)
	if err != nil {
		t.Fatalf("e2e: %v", err)
	}
	d := &Daemon{t: t, Host: h, Label: label, Dir: dir, LogFile: logPath, proc: p}
	t.Cleanup(func() {
		// Stop first so the log is complete, then show it if needed.
		d.Stop()
		raceCheck(t, d)
		if t.Failed() || os.Getenv("VIGIL_E2E_LOGS") != "" {
			t.Logf("--- last lines of %s (%s) ---\n%s", d.Label, d.LogFile, d.Tail(60))
		}
	})
	return d
}

// raceReport is what the race detector prints for each race it finds.
const raceReport = "WARNING: DATA RACE"

// raceCheck fails the test when the daemon's log holds a race detector
// report: the daemon is built with -race, which reports a race and goes on.
func raceCheck(t testing.TB, d *Daemon) {
	t.Helper()
	if n := strings.Count(d.Log(), raceReport); n > 0 {
		t.Errorf("e2e: %s: the race detector reported %d data race(s); see %s", d.Label, n, d.LogFile)
	}
}

// Stop sends SIGTERM and waits (a few seconds, then SIGKILL). It returns
// the exit error, nil for a clean exit or an exit by SIGTERM.
func (d *Daemon) Stop() error { return d.proc.Stop() }

// Kill sends SIGKILL and waits for the exit: a crash, leaving whatever the
// daemon had added behind.
func (d *Daemon) Kill() {
	d.t.Helper()
	if err := d.proc.Signal(syscall.SIGKILL); err != nil {
		d.t.Fatalf("e2e: kill %s: %v", d.Label, err)
	}
	select {
	case <-d.proc.Done():
	case <-time.After(10 * time.Second):
		d.t.Fatalf("e2e: %s still running 10s after SIGKILL", d.Label)
	}
}

// Signal sends sig to the daemon (its process group).
func (d *Daemon) Signal(sig syscall.Signal) error { return d.proc.Signal(sig) }

// Done is closed when the daemon has exited.
func (d *Daemon) Done() <-chan struct{} { return d.proc.Done() }

// Running reports whether the daemon has not exited yet.
func (d *Daemon) Running() bool {
	select {
	case <-d.proc.Done():
		return false
	default:
		return true
	}
}

// WaitExit waits up to timeout for the daemon to exit by itself and returns
// its exit code; an end by SIGTERM or SIGKILL counts as 0, as in Stop. It
// fails the test on timeout.
func (d *Daemon) WaitExit(timeout time.Duration) int {
	d.t.Helper()
	select {
	case <-d.proc.Done():
	case <-time.After(timeout):
		d.t.Fatalf("e2e: %s did not exit within %v", d.Label, timeout)
	}
	err := d.proc.Stop() // already exited: only returns the status
	if err == nil {
		return 0
	}
	var ee *exec.ExitError
	if !errors.As(err, &ee) {
		d.t.Fatalf("e2e: %s: %v", d.Label, err)
	}
	return ee.ExitCode()
}

// Log returns the daemon's whole output so far.
func (d *Daemon) Log() string {
	b, err := os.ReadFile(d.LogFile)
	if err != nil {
		return fmt.Sprintf("(cannot read %s: %v)", d.LogFile, err)
	}
	return string(b)
}

// Tail returns the last n lines of the daemon's output.
func (d *Daemon) Tail(n int) string {
	lines := strings.Split(strings.TrimRight(d.Log(), "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}

// Vigil is a running vigil daemon.
type Vigil struct {
	*Daemon
	ConfFile string
	PidFile  string
	StateDir string
}

// StartVigil writes conf to a fresh directory and runs
// "vigil -f CONF -l -p PIDFILE" in h's namespace, with a state directory of
// its own (VIGIL_STATE_DIR) so that Vigils on one machine never share their
// record of added addresses. extraArgs are appended (e.g. "-D").
func StartVigil(t testing.TB, h *netlab.Host, conf string, extraArgs ...string) *Vigil {
	t.Helper()
	needVigil(t)
	dir := t.TempDir()
	return StartVigilIn(t, h, dir, conf, extraArgs...)
}

// StartVigilIn is StartVigil with a given directory, so that a restarted
// Vigil finds the state its predecessor left (stale address cleanup). The
// config file is rewritten with conf.
func StartVigilIn(t testing.TB, h *netlab.Host, dir, conf string, extraArgs ...string) *Vigil {
	t.Helper()
	needVigil(t)
	v := &Vigil{
		ConfFile: filepath.Join(dir, "keepalived.conf"),
		PidFile:  filepath.Join(dir, "vigil.pid"),
		StateDir: filepath.Join(dir, "state"),
	}
	if err := os.WriteFile(v.ConfFile, []byte(conf), 0o644); err != nil {
		t.Fatalf("e2e: write config: %v", err)
	}
	args := append([]string{"-f", v.ConfFile, "-l", "-p", v.PidFile}, extraArgs...)
	v.Daemon = StartDaemon(t, h, "vigil@"+h.String(), dir, []string{"VIGIL_STATE_DIR=" + v.StateDir}, vigilBin, args...)
	return v
}

// Eventually polls cond every 50 ms until it returns true or timeout
// passes, then fails the test with what and the last error cond returned.
// It returns the time cond first held.
func Eventually(t testing.TB, timeout time.Duration, what string, cond func() (bool, error)) time.Time {
	t.Helper()
	deadline := time.Now().Add(timeout)
	var last error
	for {
		ok, err := cond()
		if ok {
			return time.Now()
		}
		last = err
		if time.Now().After(deadline) {
			if last != nil {
				t.Fatalf("e2e: %s: not true after %v (last error: %v)", what, timeout, last)
			}
			t.Fatalf("e2e: %s: not true after %v", what, timeout)
		}
		time.Sleep(pollEvery)
	}
}

// Never polls cond every 50 ms for d and fails the test as soon as it is
// true. It is for "the VIP has not moved (yet)" assertions.
func Never(t testing.TB, d time.Duration, what string, cond func() (bool, error)) {
	t.Helper()
	deadline := time.Now().Add(d)
	for time.Now().Before(deadline) {
		ok, err := cond()
		if err != nil {
			t.Fatalf("e2e: %s: %v", what, err)
		}
		if ok {
			t.Fatalf("e2e: %s happened, but must not within %v", what, d)
		}
		time.Sleep(pollEvery)
	}
}

// HasAddr reports whether the host's interface carries addr (an address
// without prefix length, e.g. "10.77.0.100" or "fd00:77::100").
func HasAddr(h *netlab.Host, ifname, addr string) (bool, error) {
	want, err := netip.ParseAddr(addr)
	if err != nil {
		return false, err
	}
	as, err := h.Addrs(ifname)
	if err != nil {
		return false, err
	}
	for _, a := range as {
		if a.Addr() == want {
			return true, nil
		}
	}
	return false, nil
}

// Holders returns the hosts (short names) whose ifname carries addr.
func Holders(hosts []*netlab.Host, ifname, addr string) ([]string, error) {
	var res []string
	for _, h := range hosts {
		ok, err := HasAddr(h, ifname, addr)
		if err != nil {
			return nil, err
		}
		if ok {
			res = append(res, h.String())
		}
	}
	return res, nil
}

// WaitVIP waits until exactly the host holder (nil: none) among hosts
// carries addr on ifname, and returns when that first held.
func WaitVIP(t testing.TB, timeout time.Duration, hosts []*netlab.Host, ifname, addr string, holder *netlab.Host) time.Time {
	t.Helper()
	want := ""
	if holder != nil {
		want = holder.String()
	}
	var got []string
	return Eventually(t, timeout, fmt.Sprintf("%s held by [%s] only", addr, want), func() (bool, error) {
		var err error
		got, err = Holders(hosts, ifname, addr)
		if err != nil {
			return false, err
		}
		if holder == nil {
			return len(got) == 0, fmt.Errorf("held by %v", got)
		}
		return len(got) == 1 && got[0] == want, fmt.Errorf("held by %v", got)
	})
}

// AskName connects from client's namespace to addr:port (a server started
// by netlab's ServeName) and returns the name it answers with.
func AskName(client *netlab.Host, addr string, port int) (string, error) {
	to, err := netip.ParseAddr(addr)
	if err != nil {
		return "", err
	}
	return client.AskName(netip.Addr{}, netip.AddrPortFrom(to, uint16(port)), 3*time.Second)
}

// WaitServedBy waits until a client connecting to addr:port is answered by
// the host named want.
func WaitServedBy(t testing.TB, timeout time.Duration, client *netlab.Host, addr string, port int, want *netlab.Host) time.Time {
	t.Helper()
	return Eventually(t, timeout, fmt.Sprintf("%s:%d answered by %s", addr, port, want), func() (bool, error) {
		got, err := AskName(client, addr, port)
		if err != nil {
			return false, err
		}
		return got == want.String(), fmt.Errorf("answered by %q", got)
	})
}

// Instance describes one vrrp_instance block for Conf. Zero values leave a
// keyword out, so the daemon's default applies.
type Instance struct {
	Name         string   // vrrp_instance name; default "VI_1"
	State        string   // MASTER or BACKUP; default BACKUP
	Interface    string   // default eth0
	VRID         int      // virtual_router_id; default 51
	Priority     int      // priority; 0 leaves it out
	AdvertInt    string   // advert_int, e.g. "1", "0.1"
	Version      int      // per-instance "version" (2 or 3); 0 leaves it out
	NoPreempt    bool     // nopreempt
	PreemptDelay string   // preempt_delay, seconds
	UnicastSrc   string   // unicast_src_ip
	Peers        []string // unicast_peer addresses
	VIPs         []string // virtual_ipaddress lines, e.g. "10.77.0.100/24"
	Extra        []string // further lines, verbatim
}

// String renders the block in keepalived.conf syntax.
func (in Instance) String() string {
	var b strings.Builder
	def := func(s, d string) string {
		if s == "" {
			return d
		}
		return s
	}
	fmt.Fprintf(&b, "vrrp_instance %s {\n", def(in.Name, "VI_1"))
	fmt.Fprintf(&b, "    state %s\n", def(in.State, "BACKUP"))
	fmt.Fprintf(&b, "    interface %s\n", def(in.Interface, "eth0"))
	vrid := in.VRID
	if vrid == 0 {
		vrid = 51
	}
	fmt.Fprintf(&b, "    virtual_router_id %d\n", vrid)
	if in.Priority != 0 {
		fmt.Fprintf(&b, "    priority %d\n", in.Priority)
	}
	if in.AdvertInt != "" {
		fmt.Fprintf(&b, "    advert_int %s\n", in.AdvertInt)
	}
	if in.Version != 0 {
		fmt.Fprintf(&b, "    version %d\n", in.Version)
	}
	if in.NoPreempt {
		b.WriteString("    nopreempt\n")
	}
	if in.PreemptDelay != "" {
		fmt.Fprintf(&b, "    preempt_delay %s\n", in.PreemptDelay)
	}
	if in.UnicastSrc != "" {
		fmt.Fprintf(&b, "    unicast_src_ip %s\n", in.UnicastSrc)
	}
	if len(in.Peers) > 0 {
		b.WriteString("    unicast_peer {\n")
		for _, p := range in.Peers {
			fmt.Fprintf(&b, "        %s\n", p)
		}
		b.WriteString("    }\n")
	}
	for _, l := range in.Extra {
		fmt.Fprintf(&b, "    %s\n", l)
	}
	b.WriteString("    virtual_ipaddress {\n")
	for _, v := range in.VIPs {
		fmt.Fprintf(&b, "        %s\n", v)
	}
	b.WriteString("    }\n}\n")
	return b.String()
}

// Conf renders a keepalived.conf: a global_defs block with globalLines
// (verbatim, may be empty) and the instances.
func Conf(globalLines []string, instances ...Instance) string {
	var b strings.Builder
	b.WriteString("global_defs {\n")
	for _, l := range globalLines {
		fmt.Fprintf(&b, "    %s\n", l)
	}
	b.WriteString("}\n")
	for _, in := range instances {
		b.WriteString(in.String())
	}
	return b.String()
}

// transitionMsg is in the log line of every state change, and only there:
// Vigil logs keepalived's "(VI_1) Entering MASTER STATE" as the message,
// with instance, from, to and reason as attributes.
const transitionMsg = `) Entering `

// LogLines returns the lines of d's output containing every one of subs,
// in order. Vigil logs with log/slog, so a state change reads
// `msg="(VI_1) Entering MASTER STATE" instance=VI_1 vrid=51 from=BACKUP to=MASTER`.
func (d *Daemon) LogLines(subs ...string) []string {
	var res []string
	for _, l := range strings.Split(d.Log(), "\n") {
		ok := true
		for _, s := range subs {
			if !strings.Contains(l, s) {
				ok = false
				break
			}
		}
		if ok {
			res = append(res, l)
		}
	}
	return res
}
