package e2e

// Helpers for the interoperability tests against Debian's keepalived, the
// reference peer: installing it when missing, running its VRRP process in a
// lab host, and reading the state of either daemon from its log.

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"vigil/internal/netlab"
)

// keepalivedBin is where Debian's keepalived package installs the daemon.
const keepalivedBin = "/usr/sbin/keepalived"

// keepalivedInstall makes sure keepalived is installed, once per test binary.
var keepalivedInstall struct {
	once sync.Once
	err  error
}

// needKeepalived skips the test unless it runs as root, Vigil was built, and
// keepalived is installed or can be installed with apt-get.
func needKeepalived(t testing.TB) {
	t.Helper()
	needVigil(t)
	keepalivedInstall.once.Do(func() { keepalivedInstall.err = installKeepalived() })
	if keepalivedInstall.err != nil {
		t.Skipf("e2e: keepalived, the reference peer, is not installed and could not be installed: %v; skipping", keepalivedInstall.err)
	}
}

// installKeepalived runs "apt-get install -y keepalived" when the binary is
// missing. A failure (no network, not Debian) is reported, not fatal: the
// interop tests skip then.
func installKeepalived() error {
	if _, err := os.Stat(keepalivedBin); err == nil {
		return nil
	}
	if _, err := exec.LookPath("apt-get"); err != nil {
		return fmt.Errorf("%s is missing and apt-get is not available", keepalivedBin)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, "apt-get", "install", "-y", "keepalived")
	cmd.Env = append(os.Environ(), "DEBIAN_FRONTEND=noninteractive")
	if out, err := cmd.CombinedOutput(); err != nil {
		return fmt.Errorf("apt-get install -y keepalived: %v: %s", err, iopLastLines(string(out), 5))
	}
	if _, err := os.Stat(keepalivedBin); err != nil {
		return fmt.Errorf("apt-get installed keepalived but %s is missing: %w", keepalivedBin, err)
	}
	return nil
}

// iopLastLines returns the last n lines of s.
func iopLastLines(s string, n int) string {
	lines := strings.Split(strings.TrimRight(s, "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}

// Keepalived is a running keepalived (VRRP subsystem only) in a lab host.
// Everything it writes (config, pid files, log) is in its private
// directory; it logs to its console only, never to the host's syslog.
type Keepalived struct {
	*Daemon
	ConfFile    string
	PidFile     string // the parent process
	VRRPPidFile string // the VRRP child
}

// StartKeepalived writes conf to a fresh directory and runs
// "keepalived -n -l -D -G --vrrp -f CONF -p P1 -r P2 -c P3" in h's
// namespace. It is stopped (and its log shown on failure) at cleanup.
func StartKeepalived(t testing.TB, h *netlab.Host, conf string) *Keepalived {
	t.Helper()
	needKeepalived(t)
	dir := t.TempDir()
	k := &Keepalived{
		ConfFile:    filepath.Join(dir, "keepalived.conf"),
		PidFile:     filepath.Join(dir, "keepalived.pid"),
		VRRPPidFile: filepath.Join(dir, "vrrp.pid"),
	}
	if err := os.WriteFile(k.ConfFile, []byte(conf), 0o644); err != nil {
		t.Fatalf("e2e: write keepalived config: %v", err)
	}
	// -n: stay in the foreground, so the harness owns the process group
	// (parent and VRRP child); -l -D: detailed log on the console, which
	// is where the tests read states from; -G: nothing to the syslog of
	// the machine running the tests.
	args := []string{"-n", "-l", "-D", "-G", "--vrrp", "-f", k.ConfFile,
		"-p", k.PidFile, "-r", k.VRRPPidFile, "-c", filepath.Join(dir, "checkers.pid")}
	k.Daemon = StartDaemon(t, h, "keepalived@"+h.String(), dir, nil, keepalivedBin, args...)
	return k
}

// Terminate sends SIGTERM to keepalived's parent process only, as its
// service manager does, and waits for the whole daemon to exit: the parent
// stops its VRRP child, which sends its priority 0 advert on the way out.
func (k *Keepalived) Terminate(t testing.TB) {
	t.Helper()
	var pid int
	Eventually(t, 5*time.Second, "keepalived pid file "+k.PidFile, func() (bool, error) {
		b, err := os.ReadFile(k.PidFile)
		if err != nil {
			return false, err
		}
		pid, err = strconv.Atoi(strings.TrimSpace(string(b)))
		return err == nil && pid > 1, err
	})
	if err := syscall.Kill(pid, syscall.SIGTERM); err != nil {
		t.Fatalf("e2e: SIGTERM to keepalived (pid %d): %v", pid, err)
	}
	select {
	case <-k.Done():
	case <-time.After(15 * time.Second):
		t.Fatalf("e2e: %s still running 15s after SIGTERM", k.Label)
	}
}

// keepalivedStateRE matches keepalived's state change lines, e.g.
// "(VI_1) Entering BACKUP STATE (init)".
var keepalivedStateRE = regexp.MustCompile(`\((\S+)\) Entering ([A-Z]+) STATE`)

// VRRPState returns the last state keepalived logged entering for instance,
// "" before the first.
func (k *Keepalived) VRRPState(instance string) string {
	state := ""
	for _, m := range keepalivedStateRE.FindAllStringSubmatch(k.Log(), -1) {
		if m[1] == instance {
			state = m[2]
		}
	}
	return state
}

// vigilStateRE matches the target state of Vigil's state change lines,
// `msg="(VI_1) Entering MASTER STATE" instance=VI_1 vrid=51 from=BACKUP to=MASTER ...`.
var vigilStateRE = regexp.MustCompile(`\bto=([A-Z]+)\b`)

// VRRPState returns the last state Vigil logged for instance, "" before the
// first.
func (v *Vigil) VRRPState(instance string) string {
	state := ""
	for _, l := range v.LogLines(transitionMsg, "instance="+instance+" ") {
		if m := vigilStateRE.FindStringSubmatch(l); m != nil {
			state = m[1]
		}
	}
	return state
}

// vrrpStater is a daemon whose VRRP state can be read from its log.
type vrrpStater interface {
	VRRPState(instance string) string
}

// WaitVRRPState waits until d's last logged state for instance is want.
func WaitVRRPState(t testing.TB, timeout time.Duration, label string, d vrrpStater, instance, want string) {
	t.Helper()
	Eventually(t, timeout, fmt.Sprintf("%s: %s in state %s", label, instance, want), func() (bool, error) {
		got := d.VRRPState(instance)
		return got == want, fmt.Errorf("last state %q", got)
	})
}

// iopPassAuth returns the authentication block of a v2 instance with PASS
// authentication, as Instance.Extra lines.
func iopPassAuth(pass string) []string {
	return []string{"authentication {", "    auth_type PASS", "    auth_pass " + pass, "}"}
}

// iopLogHas reports an error naming the daemon unless one line of its log
// contains every one of subs.
func iopLogHas(d *Daemon, subs ...string) error {
	if len(d.LogLines(subs...)) == 0 {
		return fmt.Errorf("%s logged no line with %q", d.Label, subs)
	}
	return nil
}

// keepalivedRxErrors are the messages keepalived 2.2.7 logs when it rejects
// a received VRRP packet. None may appear while it talks to a correctly
// configured Vigil: each would mean Vigil's packets differ on the wire.
var keepalivedRxErrors = []string{
	"invalid TTL/HL",
	"wrong version",
	"auth, expecting",
	"received an invalid passwd",
	"Invalid auth type",
	"advertisement interval mismatch",
	"Invalid packet type",
	"unexpected ip number count",
	"ip_tot_len mismatch",
	"VIPs but received",
	"not in range",
	"not present in MASTER advert",
	"Invalid VRRPv3 checksum",
	"Invalid VRRPv2 checksum",
	"icast packet on",
	"Expected ",
	"Discarding bogus packet",
	"Received AH header",
}

// vigilRxErrors are the lines Vigil logs (without -D) when it rejects or
// questions an advert from a peer whose configuration matches its own.
var vigilRxErrors = [][]string{
	{`msg="advert dropped"`},
	{`msg="advertised address list differs from ours"`},
	{"level=ERROR"},
}

// iopCheckCleanWire fails the test if either daemon logged rejecting an advert
// of the other, or Vigil logged an error of any kind.
func iopCheckCleanWire(t testing.TB, v *Vigil, k *Keepalived) {
	t.Helper()
	for _, l := range strings.Split(k.Log(), "\n") {
		for _, e := range keepalivedRxErrors {
			if strings.Contains(l, e) {
				t.Errorf("keepalived rejected an advert from vigil: %s", l)
			}
		}
	}
	for _, subs := range vigilRxErrors {
		for _, l := range v.LogLines(subs...) {
			t.Errorf("vigil logged rejecting an advert, or an error: %s", l)
		}
	}
}
