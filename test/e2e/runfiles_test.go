package e2e

// Several Vigils on one machine, each in its network namespace, kept apart
// the way keepalived daemons are: with -s/--namespace (or net_namespace)
// and with -p/-r/-c, and nothing else (no environment variable). Each
// daemon's pid file, control socket and record of added addresses are its
// own, so that each starts, answers `vigil status` and stops without
// touching the others.

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"vigil/internal/netlab"
	"vigil/internal/runpath"
)

// runDaemon is one daemon of the test: where it runs, its flags and its VIP.
type runDaemon struct {
	name    string
	host    *netlab.Host // the namespace it must end up in
	startIn *netlab.Host // the namespace it is started in
	args    []string     // the keepalived flags that keep it apart
	vip     string
	pidFile string
	d       *Daemon
}

func TestTwoDaemonsInTwoNamespaces(t *testing.T) {
	hs := lab(t, "a", "b", "x")
	a, b, x := hs["a"], hs["b"], hs["x"]
	// The daemons started with -s keep their files in /run/vigil/<netns>
	// (the lab's namespaces have random names): remove those directories,
	// and /run/vigil if this test made it, after the daemons stopped
	// (cleanups run last-registered first).
	_, statErr := os.Stat(runpath.Dir)
	madeRunDir := errors.Is(statErr, os.ErrNotExist)
	t.Cleanup(func() {
		for _, h := range []*netlab.Host{a, b} {
			os.RemoveAll(filepath.Join(runpath.Dir, h.Name()))
		}
		if madeRunDir {
			os.Remove(runpath.Dir) // only if empty: another daemon may have started since
		}
	})
	dir := t.TempDir()
	ds := []*runDaemon{
		// Started inside its namespace (ip netns exec), as the lab does;
		// -s names its runtime files /run/vigil/<netns>/.
		{name: "a", host: a, startIn: a, args: []string{"-s", a.Name()}, vip: "10.77.0.161",
			pidFile: filepath.Join(runpath.Dir, a.Name(), "vigil.pid")},
		// Started in another namespace (a's): -s moves it into b's, as
		// keepalived's -s does.
		{name: "b", host: b, startIn: a, args: []string{"--namespace=" + b.Name()}, vip: "10.77.0.162",
			pidFile: filepath.Join(runpath.Dir, b.Name(), "vigil.pid")},
		// Pid files of its own, as two keepalived daemons are told apart
		// without namespaces: socket and address record go beside them.
		{name: "x", host: x, startIn: x, args: []string{"-p", filepath.Join(dir, "x.pid"), "-r", filepath.Join(dir, "x_vrrp.pid"), "-c", filepath.Join(dir, "x_checkers.pid")},
			vip: "10.77.0.163", pidFile: filepath.Join(dir, "x.pid")},
	}
	for i, rd := range ds {
		conf := filepath.Join(dir, rd.name+".conf")
		text := Conf(nil, Instance{Name: "VI_" + rd.name, State: "MASTER", VRID: 61 + i, Priority: 150, AdvertInt: "1", VIPs: []string{rd.vip + "/24"}})
		if err := os.WriteFile(conf, []byte(text), 0o644); err != nil {
			t.Fatal(err)
		}
		rd.args = append([]string{"-f", conf, "-l"}, rd.args...)
		d := t.TempDir()
		rd.d = StartDaemon(t, rd.startIn, "vigil-"+rd.name, d, nil, vigilBin, rd.args...)
	}
	hosts := []*netlab.Host{a, b, x}
	for _, rd := range ds {
		WaitVIP(t, 15*time.Second, hosts, "eth0", rd.vip, rd.host)
	}
	for _, rd := range ds {
		if !rd.d.Running() {
			t.Fatalf("%s is not running:\n%s", rd.name, rd.d.Tail(20))
		}
		runWaitStatus(t, rd, "VI_"+rd.name, "MASTER")
		b, err := os.ReadFile(rd.pidFile)
		if err != nil {
			t.Errorf("%s: pid file: %v", rd.name, err)
			continue
		}
		if rd.name != "x" {
			// The namespace's runtime directory holds its control socket:
			// 0700, as the default one.
			if di, err := os.Stat(filepath.Dir(rd.pidFile)); err != nil {
				t.Errorf("%s: runtime directory: %v", rd.name, err)
			} else if di.Mode().Perm() != 0o700 {
				t.Errorf("%s: runtime directory %s has mode %v, want 0700", rd.name, filepath.Dir(rd.pidFile), di.Mode().Perm())
			}
		}
		pid, err := strconv.Atoi(strings.TrimSpace(string(b)))
		if err != nil || syscall.Kill(pid, 0) != nil {
			t.Errorf("%s: pid file %s holds %q, not a live process", rd.name, rd.pidFile, b)
		}
	}

	// Stopping one leaves the others' addresses and sockets alone.
	if err := ds[0].d.Stop(); err != nil {
		t.Errorf("a: exit after SIGTERM: %v", err)
	}
	if ok, err := HasAddr(a, "eth0", ds[0].vip); err != nil || ok {
		t.Errorf("a's VIP still on a after its stop (%v)", err)
	}
	if _, err := os.Stat(ds[0].pidFile); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("a's pid file %s is left after its stop (%v)", ds[0].pidFile, err)
	}
	Never(t, 3*time.Second, "b's or x's VIP leaving", func() (bool, error) {
		for _, rd := range ds[1:] {
			ok, err := HasAddr(rd.host, "eth0", rd.vip)
			if err != nil || !ok {
				return true, err
			}
		}
		return false, nil
	})
	for _, rd := range ds[1:] {
		runWaitStatus(t, rd, "VI_"+rd.name, "MASTER")
	}
}

// runWaitStatus waits until `vigil <the daemon's flags> status --json`,
// run as an operator would with the same flags, reports instance in state.
func runWaitStatus(t *testing.T, rd *runDaemon, instance, state string) {
	t.Helper()
	Eventually(t, 10*time.Second, fmt.Sprintf("%s: vigil status says %s %s", rd.name, instance, state), func() (bool, error) {
		out, err := opsCLI(rd.host, nil, append(rd.args, "status", "--json")...)
		if err != nil {
			return false, fmt.Errorf("%v: %s", err, out)
		}
		var st opsStatus
		if err := json.Unmarshal([]byte(out), &st); err != nil {
			return false, fmt.Errorf("%v in %q", err, out)
		}
		in, ok := st.find(instance)
		if !ok {
			return false, fmt.Errorf("no %s in %q", instance, out)
		}
		return in.State == state, fmt.Errorf("state %s", in.State)
	})
}
