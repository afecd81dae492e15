package vmlab

import (
	"bufio"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"vigil/internal/netlab"
)

// update rewrites the .ipvsadm goldens from keepalived's tables. The lab
// mounts the golden directory writable for it: make vmtest-update.
var update = flag.Bool("update", false, "rewrite testdata/ipvs-golden/*.ipvsadm from keepalived's tables")

// goldenDir holds the differential cases: NAME.conf is a keepalived.conf
// whose first lines say what it covers ("# covers: kw, kw"), NAME.ipvsadm
// the table Debian's keepalived 2.2.7 programs from it (see ipvsTable).
const goldenDir = "testdata/ipvs-golden"

// plane is a program that turns a keepalived.conf into an IPVS table: the
// reference (keepalived) or an implementation under test. start runs it in
// h's namespace on the config at conf (dir is private to this run) and
// returns the running process; the harness stops it with SIGTERM.
//
// Comparing Vigil with the goldens is one more plane and one test:
//
//	var vigilPlane = plane{name: "vigil", start: func(...) {...}}
//	func TestVigilGolden(t *testing.T) { runGolden(t, vigilPlane) }
type plane struct {
	name  string
	tools []string // programs the plane needs in the lab
	start func(h *netlab.Host, dir, conf string) (*netlab.Proc, error)
}

// keepalivedPlane runs Debian's keepalived in the foreground, logging to
// the console. Configs without a vrrp_instance run the checker process
// only (-C), as the process model does; the sync daemon that
// follows a VRRP instance needs both.
var keepalivedPlane = plane{
	name:  "keepalived",
	tools: []string{"keepalived"},
	start: func(h *netlab.Host, dir, conf string) (*netlab.Proc, error) {
		args := []string{"-n", "-l", "-D", "-f", conf,
			"-p", filepath.Join(dir, "keepalived.pid"),
			"-c", filepath.Join(dir, "checkers.pid"),
			"-r", filepath.Join(dir, "vrrp.pid")}
		text, err := os.ReadFile(conf)
		if err != nil {
			return nil, err
		}
		if !regexp.MustCompile(`(?m)^\s*vrrp_instance\s`).Match(text) {
			args = append(args, "-C")
		}
		return h.Start("keepalived", args...)
	},
}

// goldenCase is one NAME.conf with its expected table.
type goldenCase struct {
	name   string
	conf   string // path of the config
	want   string // expected table; empty when not recorded yet
	covers []string
	// With a plane's deliberate difference (override): why it differs,
	// and whether the plane refuses the config instead of programming
	// want.
	why     string
	refused bool
}

// override replaces c's expected table with the deliberate difference
// recorded for plane in NAME.PLANE.ipvsadm, if there is one: "# " lines
// saying why (required), then the plane's table, or the single line
// "refused" when the plane rejects the config (exits with an error and
// changes nothing).
func (c *goldenCase) override(plane string) error {
	path := strings.TrimSuffix(c.conf, ".conf") + "." + plane + ".ipvsadm"
	b, err := os.ReadFile(path)
	if os.IsNotExist(err) {
		return nil
	}
	if err != nil {
		return err
	}
	var why []string
	rest := string(b)
	for {
		l, r, ok := strings.Cut(rest, "\n")
		if !strings.HasPrefix(l, "# ") || !ok {
			break
		}
		why, rest = append(why, strings.TrimPrefix(l, "# ")), r
	}
	if len(why) == 0 {
		return fmt.Errorf("%s:1: a deliberate difference must say why (\"# \" lines first)", path)
	}
	c.why = strings.Join(why, " ")
	if strings.TrimSpace(rest) == "refused" {
		c.refused, c.want = true, ""
		return nil
	}
	if rest == "" {
		return fmt.Errorf("%s: no table after the reason", path)
	}
	c.want = rest
	return nil
}

// loadGolden reads every case of goldenDir.
func loadGolden(t *testing.T) []goldenCase {
	t.Helper()
	confs, err := filepath.Glob(filepath.Join(goldenDir, "*.conf"))
	if err != nil || len(confs) == 0 {
		t.Fatalf("no configs in %s (%v)", goldenDir, err)
	}
	slices.Sort(confs)
	var cases []goldenCase
	for _, c := range confs {
		gc := goldenCase{name: strings.TrimSuffix(filepath.Base(c), ".conf"), conf: c}
		gc.covers, err = coveredKeywords(c)
		if err != nil {
			t.Fatal(err)
		}
		if b, err := os.ReadFile(strings.TrimSuffix(c, ".conf") + ".ipvsadm"); err == nil {
			gc.want = string(b)
		} else if !os.IsNotExist(err) {
			t.Fatal(err)
		}
		cases = append(cases, gc)
	}
	return cases
}

// coveredKeywords reads the "# covers:" lines at the top of a config.
func coveredKeywords(path string) ([]string, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	var kws []string
	sc := bufio.NewScanner(f)
	for line := 1; sc.Scan(); line++ {
		l := strings.TrimSpace(sc.Text())
		if !strings.HasPrefix(l, "#") {
			break
		}
		if rest, ok := strings.CutPrefix(l, "# covers:"); ok {
			for _, k := range strings.Split(rest, ",") {
				if k = strings.TrimSpace(k); k != "" {
					kws = append(kws, k)
				}
			}
		}
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	if len(kws) == 0 {
		return nil, fmt.Errorf("%s:1: no \"# covers:\" line saying what the case is for", path)
	}
	return kws, nil
}

// requiredKeywords is the list of what keepalived expresses at the
// level of the IPVS table; every one must be covered by some case.
var requiredKeywords = []string{
	"weight", "inhibit_on_failure", "quorum", "hysteresis", "quorum_up", "quorum_down",
	"sorry_server", "sorry_server_inhibit", "sorry_server_lvs_method", "alpha", "omega",
	"ha_suspend", "virtual_server_group", "group range", "group fwmark",
	"persistence_timeout", "persistence_granularity", "persistence_engine", "ops",
	"sh-port", "sh-fallback", "mh-port", "mh-fallback", "flag-1", "flag-2", "flag-3",
	"NAT", "DR", "TUN", "ipip", "gue", "gre", "nocsum", "csum", "remcsum",
	"uthreshold", "lthreshold", "lvs_timeouts", "lvs_sync_daemon",
	"IPv4", "IPv6", "TCP", "UDP", "SCTP", "fwmark",
	"rr", "wrr", "lc", "wlc", "lblc", "lblcr", "dh", "sh", "mh", "sed", "nq", "fo", "ovf",
}

// TestGoldenCoverage checks the cases themselves (it runs anywhere): there
// are at least 30, together they cover every required keyword, and each
// case's claims are backed by its text, so a "covers" line cannot lie
// about a keyword the config does not contain.
func TestGoldenCoverage(t *testing.T) {
	cases := loadGolden(t)
	if len(cases) < 30 {
		t.Errorf("%d cases in %s, want at least 30", len(cases), goldenDir)
	}
	covered := map[string]bool{}
	for _, c := range cases {
		text, err := os.ReadFile(c.conf)
		if err != nil {
			t.Fatal(err)
		}
		body := stripComments(string(text))
		for _, k := range c.covers {
			covered[k] = true
			if !mentions(body, k) {
				t.Errorf("%s: covers %q but the config does not use it", c.conf, k)
			}
		}
	}
	for _, k := range requiredKeywords {
		if !covered[k] {
			t.Errorf("no case covers %q", k)
		}
	}
}

// stripComments drops comment lines and trailing comments.
func stripComments(s string) string {
	var b strings.Builder
	for _, l := range strings.Split(s, "\n") {
		if i := strings.IndexAny(l, "#!"); i >= 0 {
			l = l[:i]
		}
		b.WriteString(l)
		b.WriteByte('\n')
	}
	return b.String()
}

// mentions reports whether a config body uses the coverage keyword k.
// Most keywords are words of the config; a few name a shape of it.
func mentions(body, k string) bool {
	word := func(w string) bool {
		return regexp.MustCompile(`(^|\s)` + regexp.QuoteMeta(w) + `(\s|$)`).MatchString(body)
	}
	switch k {
	case "IPv4":
		return regexp.MustCompile(`(?m)^\s*(virtual|real)_server\s+\d+\.\d+\.\d+\.\d+`).MatchString(body)
	case "IPv6":
		return regexp.MustCompile(`(?m)^\s*(virtual|real)_server\s+[0-9a-fA-F]*:[0-9a-fA-F:]*`).MatchString(body)
	case "fwmark":
		return regexp.MustCompile(`(?m)^\s*virtual_server\s+fwmark\s+\d+`).MatchString(body)
	case "group range":
		return regexp.MustCompile(`(?m)^\s*[0-9a-fA-F.:]+-[0-9a-fA-F.:]+(\s|$)|^\s*[0-9a-fA-F.:]+/\d+(\s|$)`).MatchString(body)
	case "group fwmark":
		return regexp.MustCompile(`(?s)virtual_server_group\s+\S+\s*\{[^}]*fwmark`).MatchString(body)
	case "weight":
		return word("weight")
	case "rr", "wrr", "lc", "wlc", "lblc", "lblcr", "dh", "sh", "mh", "sed", "nq", "fo", "ovf":
		return regexp.MustCompile(`(?m)^\s*lvs_sched\s+` + k + `\s*$`).MatchString(body)
	}
	return word(k)
}

// TestKeepalivedGolden runs Debian's keepalived on every case and checks
// that it programs the recorded table (with -update: records it).
func TestKeepalivedGolden(t *testing.T) {
	runGolden(t, keepalivedPlane)
}

// labParallel is how many cases run at once, each in a namespace of its
// own; the emulated guest spends most of a case starting processes, so a
// few at a time use its two CPUs better than one.
var labParallel = flag.Int("lab.parallel", 3, "golden cases run at once (make vmtest)")

// runGolden runs p on every case and compares the table it programs with
// the case's golden; with -update it records keepalived's table instead.
// It also checks that a clean stop leaves the namespace's IPVS state as
// it was, as keepalived's does. Cases run in parallel on a pool of namespaces, each
// in a lab of its own (so that one case's multicast, VRRP or sync daemon
// never reaches another's), reset to the pristine table between cases.
func runGolden(t *testing.T, p plane) {
	needLab(t, p.tools...)
	if *update && p.name != keepalivedPlane.name {
		t.Fatalf("-update records keepalived's tables only, not %s's", p.name)
	}
	cases := loadGolden(t)
	n := max(1, min(*labParallel, len(cases)))
	pool := make(chan *netlab.Host, n)
	var pristine string
	for i := range n {
		h := netlab.New(t).AddHost("lvs", "10.9.0.1/24", "fd00:9::1/64")
		table, err := ipvsTable(h)
		if err != nil {
			t.Fatal(err)
		}
		if services(table) != 0 {
			t.Fatalf("a new namespace has services:\n%s", table)
		}
		if i == 0 {
			pristine = table
		}
		pool <- h
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			if p.name != keepalivedPlane.name {
				if err := c.override(p.name); err != nil {
					t.Fatal(err)
				}
			}
			if c.want == "" && !c.refused && !*update {
				t.Fatalf("%s has no recorded table; record it with make vmtest-update", c.conf)
			}
			h := <-pool
			defer func() { pool <- h }()
			runCase(t, p, h, c, pristine)
		})
	}
}

// runCase runs one case on h, whose table is pristine, and leaves it
// pristine again.
func runCase(t *testing.T, p plane, h *netlab.Host, c goldenCase, pristine string) {
	if c.why != "" {
		t.Logf("deliberate difference for %s: %s", p.name, c.why)
	}
	conf, err := filepath.Abs(c.conf)
	if err != nil {
		t.Fatal(err)
	}
	proc, err := p.start(h, t.TempDir(), conf)
	if err != nil {
		t.Fatal(err)
	}
	defer func() { keepLog(t, c.name+"."+p.name+".log", proc.Output()) }()
	var got string
	if c.refused {
		// The plane refuses the config: it must exit with an error and
		// leave the table as it was.
		select {
		case <-proc.Done():
		case <-time.After(waitTimeout):
			t.Fatalf("%s did not refuse %s", p.name, c.conf)
		}
		if err := proc.Stop(); err == nil {
			t.Errorf("%s accepted %s, which it should refuse: %s", p.name, c.conf, c.why)
		}
		if after, err := ipvsTable(h); err != nil || after != pristine {
			t.Errorf("%s refused %s but changed IPVS state (%v):\n%s", p.name, c.conf, err, diffLines(pristine, after))
			_ = resetIPVS(h, pristine)
		}
		return
	}
	if *update {
		got = waitStable(t, h, proc)
	} else {
		got = waitTable(t, h, proc, c.want)
	}
	if err := proc.Stop(); err != nil {
		t.Errorf("%s exited with %v on SIGTERM", p.name, err)
	}
	// keepalived's clean stop leaves the namespace as it found it: no
	// service, the timeouts it found, no sync daemon.
	after, err := ipvsTable(h)
	if err != nil {
		t.Fatal(err)
	}
	if after != pristine {
		t.Errorf("%s left IPVS state behind after a clean stop:\n%s", p.name, diffLines(pristine, after))
		if err := resetIPVS(h, pristine); err != nil {
			t.Fatal(err)
		}
	}
	if *update {
		path := strings.TrimSuffix(c.conf, ".conf") + ".ipvsadm"
		if err := os.WriteFile(path, []byte(got), 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	if got != c.want {
		t.Errorf("%s programs a different table from %s:\n%s", p.name, c.conf, diffLines(c.want, got))
	}
}

// resetIPVS brings h's IPVS state back to pristine: no services, the
// timeouts of a new namespace, no sync daemon.
func resetIPVS(h *netlab.Host, pristine string) error {
	if _, err := ipvsadm(h, "-C"); err != nil {
		return err
	}
	for _, l := range nonEmpty(pristine) {
		if rest, ok := strings.CutPrefix(l, "timeout Timeout (tcp tcpfin udp):"); ok {
			if _, err := ipvsadm(h, append([]string{"--set"}, strings.Fields(rest)...)...); err != nil {
				return err
			}
		}
	}
	for _, state := range []string{"master", "backup"} {
		// Fails when that daemon is not running, which is fine.
		_, _ = ipvsadm(h, "--stop-daemon", state)
	}
	table, err := ipvsTable(h)
	if err != nil {
		return err
	}
	if table != pristine {
		return fmt.Errorf("cannot reset the IPVS state of %s:\n%s", h, diffLines(pristine, table))
	}
	return nil
}

// settle is how long a table must stay the same to count as complete:
// long enough for checkers with delay_loop 1 to have acted on their first
// results.
const settle = 4 * time.Second

// confirm is how long a table that matches the golden must keep matching.
// The goldens are final states (checkers done), which a table reaches
// and then keeps; this only catches one that passes through it.
const confirm = time.Second

// waitTimeout bounds every wait for a table.
const waitTimeout = 120 * time.Second

// waitTable waits until the namespace's table equals want and still does
// a moment later (a passing state does not count), or gives up and
// returns the last table read.
func waitTable(t *testing.T, h *netlab.Host, proc *netlab.Proc, want string) string {
	t.Helper()
	deadline := time.Now().Add(waitTimeout)
	var got string
	for time.Now().Before(deadline) {
		var err error
		if got, err = ipvsTable(h); err != nil {
			t.Fatal(err)
		}
		if got == want {
			until := time.Now().Add(confirm)
			for got == want && time.Now().Before(until) {
				time.Sleep(pollEvery)
				if got, err = ipvsTable(h); err != nil {
					t.Fatal(err)
				}
			}
			if got == want {
				return got
			}
		}
		select {
		case <-proc.Done():
			t.Fatalf("exited before the table was complete:\n%s", proc.Output())
		case <-time.After(pollEvery):
		}
	}
	return got
}

// waitStable waits until the table has services and has not changed for
// settle, and returns it. It is for recording goldens only.
func waitStable(t *testing.T, h *netlab.Host, proc *netlab.Proc) string {
	t.Helper()
	deadline := time.Now().Add(waitTimeout)
	last, since := "", time.Now()
	for time.Now().Before(deadline) {
		got, err := ipvsTable(h)
		if err != nil {
			t.Fatal(err)
		}
		if got != last {
			last, since = got, time.Now()
		} else if services(got) > 0 && time.Since(since) >= settle {
			return got
		}
		select {
		case <-proc.Done():
			t.Fatalf("exited before the table was complete:\n%s", proc.Output())
		case <-time.After(pollEvery):
		}
	}
	t.Fatalf("the table did not settle within %v; last:\n%s", waitTimeout, last)
	return ""
}

// TestGoldenOverrides checks the deliberate differences (it runs
// anywhere): each NAME.PLANE.ipvsadm belongs to a case, names a plane
// other than keepalived, says why and holds a table or "refused".
func TestGoldenOverrides(t *testing.T) {
	cases := map[string]goldenCase{}
	for _, c := range loadGolden(t) {
		cases[c.name] = c
	}
	files, err := filepath.Glob(filepath.Join(goldenDir, "*.*.ipvsadm"))
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range files {
		name, plane, _ := strings.Cut(strings.TrimSuffix(filepath.Base(f), ".ipvsadm"), ".")
		c, ok := cases[name]
		if !ok {
			t.Errorf("%s: no case %s.conf", f, name)
			continue
		}
		if plane == keepalivedPlane.name || plane != vigilPlane.name {
			t.Errorf("%s: no plane %q to override", f, plane)
			continue
		}
		if err := c.override(plane); err != nil {
			t.Error(err)
		} else if c.why == "" || (!c.refused && c.want == "") {
			t.Errorf("%s: override without reason or table", f)
		}
	}
}
