// Package vmlab holds the tests that need a kernel with IPVS: they run
// inside the qemu guest of scripts/vmlab (make vmtest), which loads ip_vs,
// its schedulers, veth, bridge, nftables and the tunnel modules. Anywhere
// else (no /proc/net/ip_vs) they skip with a message; the pure checks of
// the golden configs run everywhere.
//
// Every test builds its own network namespaces with internal/netlab, so
// each gets an IPVS table of its own and leaves nothing behind.
package vmlab

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"vigil/internal/netlab"
)

// pollEvery is the interval of every bounded wait in this package.
const pollEvery = 100 * time.Millisecond

// cmdTimeout bounds every single command the tests run. The guest is
// emulated (TCG), so it is generous.
const cmdTimeout = 30 * time.Second

// needLab skips the test outside a kernel with IPVS, and fails it inside
// the lab when a tool the lab is supposed to have is missing: there a skip
// would hide a broken lab.
func needLab(t *testing.T, tools ...string) {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("vmlab: needs root and a kernel with IPVS; run it with `make vmtest`")
	}
	if _, err := os.Stat("/proc/net/ip_vs"); err != nil {
		t.Skip("vmlab: this kernel has no IPVS (no /proc/net/ip_vs); run it with `make vmtest`")
	}
	for _, tool := range append([]string{"ip", "ipvsadm"}, tools...) {
		if _, err := exec.LookPath(tool); err != nil {
			t.Fatalf("vmlab: %s is not installed in the lab's root (make vmtest installs it)", tool)
		}
	}
}

// ipvsadm runs ipvsadm in h's namespace and returns its standard output.
// It forks from a thread inside the namespace instead of going through
// "ip netns exec": in the emulated guest every exec costs a fraction of a
// second, and tables are read often.
func ipvsadm(h *netlab.Host, args ...string) (string, error) {
	var out []byte
	err := h.Do(func() error {
		ctx, cancel := context.WithTimeout(context.Background(), cmdTimeout)
		defer cancel()
		var stderr bytes.Buffer
		cmd := exec.CommandContext(ctx, "ipvsadm", args...)
		cmd.Stderr = &stderr
		var err error
		if out, err = cmd.Output(); err != nil {
			return fmt.Errorf("ipvsadm %s in %s: %w: %s", strings.Join(args, " "), h, err, bytes.TrimSpace(stderr.Bytes()))
		}
		return nil
	})
	return string(out), err
}

// ipvsTable is the IPVS state of h's namespace as text that compares
// equal exactly when the tables do: `ipvsadm -Sn` sorted (services and
// destinations with the attributes ipvsadm saves), then what -S leaves
// out: the destinations' connection thresholds, the connection timeouts
// and the sync daemons.
func ipvsTable(h *netlab.Host) (string, error) {
	save, err := ipvsadm(h, "-Sn")
	if err != nil {
		return "", err
	}
	lines := nonEmpty(save)
	slices.Sort(lines)
	thr, err := ipvsadm(h, "-Ln", "--thresholds")
	if err != nil {
		return "", err
	}
	lines = append(lines, thresholds(thr)...)
	tmo, err := ipvsadm(h, "-Ln", "--timeout")
	if err != nil {
		return "", err
	}
	for _, l := range nonEmpty(tmo) {
		lines = append(lines, "timeout "+l)
	}
	daemons, err := ipvsadm(h, "-Ln", "--daemon")
	if err != nil {
		return "", err
	}
	d := nonEmpty(daemons)
	slices.Sort(d)
	for _, l := range d {
		lines = append(lines, "daemon "+l)
	}
	return strings.Join(lines, "\n") + "\n", nil
}

// thresholds turns `ipvsadm -Ln --thresholds` into one sorted line per
// destination with a threshold set ("threshold SERVICE -> DEST u U l L").
// Destinations without thresholds are left out: -Sn already lists them.
func thresholds(out string) []string {
	var lines []string
	svc := ""
	for _, l := range nonEmpty(out) {
		f := strings.Fields(l)
		switch {
		case len(f) >= 2 && (f[0] == "TCP" || f[0] == "UDP" || f[0] == "SCTP" || f[0] == "FWM"):
			svc = f[0] + " " + f[1]
		case len(f) >= 4 && f[0] == "->" && f[1] != "RemoteAddress:Port":
			// "-> ADDR:PORT UTHRESHOLD LTHRESHOLD ACTIVE INACTIVE"
			if f[2] != "0" || f[3] != "0" {
				lines = append(lines, fmt.Sprintf("threshold %s -> %s u %s l %s", svc, f[1], f[2], f[3]))
			}
		}
	}
	slices.Sort(lines)
	return lines
}

// nonEmpty splits s into lines without surrounding blanks, dropping empty
// ones.
func nonEmpty(s string) []string {
	var out []string
	for _, l := range strings.Split(s, "\n") {
		if l = strings.TrimSpace(l); l != "" {
			out = append(out, l)
		}
	}
	return out
}

// services is the number of services in a table from ipvsTable.
func services(table string) int {
	n := 0
	for _, l := range strings.Split(table, "\n") {
		if strings.HasPrefix(l, "-A ") {
			n++
		}
	}
	return n
}

// resultsDir is where the lab's host side collects files for people to
// read (daemon logs); empty outside the lab.
func resultsDir() string {
	if d := os.Getenv("VMLAB_RESULTS"); d != "" {
		if st, err := os.Stat(d); err == nil && st.IsDir() {
			return d
		}
	}
	return ""
}

// keepLog copies a daemon's log into the results directory under name, so
// that a run's logs can be read on the host after the guest is gone.
func keepLog(t *testing.T, name, log string) {
	dir := resultsDir()
	if dir == "" {
		return
	}
	p := filepath.Join(dir, "logs", name)
	if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
		t.Logf("vmlab: keep log: %v", err)
		return
	}
	if err := os.WriteFile(p, []byte(log), 0o644); err != nil {
		t.Logf("vmlab: keep log: %v", err)
	}
}

// diffLines is a short line diff of want and got for failure messages.
func diffLines(want, got string) string {
	w, g := nonEmpty(want), nonEmpty(got)
	var b bytes.Buffer
	for _, l := range w {
		if !slices.Contains(g, l) {
			fmt.Fprintf(&b, "- %s\n", l)
		}
	}
	for _, l := range g {
		if !slices.Contains(w, l) {
			fmt.Fprintf(&b, "+ %s\n", l)
		}
	}
	if b.Len() == 0 {
		return "(same lines, different order or count)\n"
	}
	return b.String()
}
