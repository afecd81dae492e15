package vmlab

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"net"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"vigil/bench"
	"vigil/internal/dataplane"
	"vigil/internal/dataplane/ipvs"
	"vigil/internal/netlab"
	"vigil/internal/status"
)

// The side-by-side benchmark of Vigil's LVS process and keepalived's
// checker process (make vmtest-bench). It lives here, behind a flag, rather
// than in bench/, because it needs what this package already has: the lab
// (needLab), both daemons started the way the golden tests start them,
// and the test binary that make vmtest builds and runs in the guest. It
// reports; the only thing it asserts is a correctness property, that a
// reload changing one real server costs Vigil exactly one operation.
var (
	vmbench = flag.String("vmbench", os.Getenv("VIGIL_VMBENCH"),
		"run TestVMBench: short (500 services, 100 checks) or full (5,000 services, 1,000 checks); default $VIGIL_VMBENCH")
	vmbenchServices = flag.Int("vmbench.services", 0, "services (4 real servers each) of the table benchmark; 0: the mode's")
	vmbenchChecks   = flag.Int("vmbench.checks", 0, "real servers with a TCP_CHECK every second in the checker benchmark; 0: the mode's")
	vmbenchWindow   = flag.Duration("vmbench.window", 0, "CPU measuring window of the checker benchmark; 0: the mode's")
	vmbenchRounds   = flag.Int("vmbench.rounds", 0, "rounds of the table benchmark (alternating which daemon goes first); 0: the mode's")
	vmbenchReport   = flag.String("vmbench.report", "", "also write the results as markdown to this file (default: vmbench.md in the lab's results share)")
)

// benchParams are the sizes of one benchmark run.
type benchParams struct {
	services, reals int
	checks          int
	window, warmup  time.Duration
	rounds          int
	// bound limits every wait for a table.
	bound time.Duration
}

func benchParamsOf(mode string) (benchParams, error) {
	var p benchParams
	switch mode {
	case "short":
		p = benchParams{services: 500, reals: 4, checks: 40, window: 10 * time.Second, warmup: 4 * time.Second, rounds: 1, bound: 5 * time.Minute}
	case "full":
		p = benchParams{services: 5000, reals: 4, checks: 100, window: 30 * time.Second, warmup: 6 * time.Second, rounds: 1, bound: 15 * time.Minute}
	default:
		return p, fmt.Errorf("-vmbench %q: want short or full", mode)
	}
	if *vmbenchServices > 0 {
		p.services = *vmbenchServices
	}
	if *vmbenchChecks > 0 {
		p.checks = *vmbenchChecks
	}
	if *vmbenchWindow > 0 {
		p.window = *vmbenchWindow
	}
	if *vmbenchRounds > 0 {
		p.rounds = *vmbenchRounds
	}
	return p, nil
}

// benchVS is the address of virtual server i (10.1.x.y:80) and benchRS
// that of its real server r (10.(2+r).x.y:8080): up to 62,500 of each.
func benchVS(i int) netip.AddrPort {
	return netip.AddrPortFrom(netip.AddrFrom4([4]byte{10, 1, byte(i / 250), byte(i%250 + 1)}), 80)
}

func benchRS(i, r int) netip.AddrPort {
	return netip.AddrPortFrom(netip.AddrFrom4([4]byte{10, byte(2 + r), byte(i / 250), byte(i%250 + 1)}), 8080)
}

// benchChanged is the real server whose weight the reload changes: one in
// the middle of the file, so that neither daemon finds it first or last.
func benchChanged(services, reals int) (vs, rs netip.AddrPort) {
	i := services / 2
	return benchVS(i), benchRS(i, min(1, reals-1))
}

// benchCheckIP is where the TCP_CHECK of real server r of virtual server
// i connects: an address of its own in 127.0.0.0/8 (all of it is local),
// so that every check is a check of its own. With one address for all,
// Vigil would run one check for the lot (it shares a probe among real
// servers whose checks are identical), which is not the load measured.
func benchCheckIP(i, r int) netip.Addr {
	n := i*8 + r + 1
	return netip.AddrFrom4([4]byte{127, byte(n >> 16), byte(n >> 8), byte(n)})
}

// benchConfig is a keepalived.conf of services virtual servers (wrr, NAT,
// TCP), each with reals real servers of weight 1, but the one of
// benchChanged with weight changedWeight. With checkPort > 0 every real
// server has a TCP_CHECK every second (delay_loop 1) that connects to
// benchCheckIP:checkPort (connect_ip, connect_port) instead of the real
// server, so that every check of the run reaches the one local listener
// (bound to the namespace's 0.0.0.0);
// with 0 there are no checkers, and the table is all that is measured.
func benchConfig(services, reals, changedWeight, checkPort int) string {
	var b strings.Builder
	b.WriteString("global_defs {\n    router_id vmbench\n}\n")
	cvs, crs := benchChanged(services, reals)
	delay := 60
	if checkPort > 0 {
		delay = 1
	}
	for i := range services {
		vs := benchVS(i)
		fmt.Fprintf(&b, "virtual_server %s %d {\n    delay_loop %d\n    lvs_sched wrr\n    lvs_method NAT\n    protocol TCP\n", vs.Addr(), vs.Port(), delay)
		for r := range reals {
			rs := benchRS(i, r)
			w := 1
			if vs == cvs && rs == crs {
				w = changedWeight
			}
			fmt.Fprintf(&b, "    real_server %s %d {\n        weight %d\n", rs.Addr(), rs.Port(), w)
			if checkPort > 0 {
				fmt.Fprintf(&b, "        TCP_CHECK {\n            connect_ip %s\n            connect_port %d\n            connect_timeout 3\n        }\n", benchCheckIP(i, r), checkPort)
			}
			b.WriteString("    }\n")
		}
		b.WriteString("}\n")
	}
	return b.String()
}

// benchDaemon is one of the two implementations, started as the golden
// tests start them but without -D (detailed logging is not what a
// production LVS director runs with, and it would measure the logger).
type benchDaemon struct {
	name  string
	start func(h *netlab.Host, dir, conf string) (*netlab.Proc, error)
	// lvsPid is the process that programs IPVS and runs the checkers:
	// keepalived's checker child, Vigil's LVS process (under -C, the
	// daemon itself).
	lvsPid func(dir string, p *netlab.Proc) (int, error)
}

var benchKeepalived = benchDaemon{
	name: "keepalived",
	start: func(h *netlab.Host, dir, conf string) (*netlab.Proc, error) {
		return h.Start("keepalived", "-n", "-l", "-C", "-f", conf,
			"-p", filepath.Join(dir, "keepalived.pid"),
			"-c", filepath.Join(dir, "checkers.pid"),
			"-r", filepath.Join(dir, "vrrp.pid"))
	},
	lvsPid: func(dir string, _ *netlab.Proc) (int, error) {
		return readPid(filepath.Join(dir, "checkers.pid"))
	},
}

var benchVigil = benchDaemon{
	name: "vigil",
	start: func(h *netlab.Host, dir, conf string) (*netlab.Proc, error) {
		return h.Start(*vigilBin, "-n", "-l", "-C", "--dataplane", "ipvs", "-f", conf,
			"-p", filepath.Join(dir, "vigil.pid"),
			"-c", filepath.Join(dir, "checkers.pid"),
			"-r", filepath.Join(dir, "vrrp.pid"))
	},
	lvsPid: func(_ string, p *netlab.Proc) (int, error) { return p.Pid(), nil },
}

func readPid(path string) (int, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return 0, err
	}
	return strconv.Atoi(strings.TrimSpace(string(b)))
}

// procMem is a process's resident memory: RSS and PSS (its share of pages
// it shares with others, such as keepalived's parent and child).
type procMem struct{ rss, pss int64 }

func readMem(pid int) (procMem, error) {
	st, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return procMem{}, err
	}
	rss, err := bench.ParseRSS(string(st))
	if err != nil {
		return procMem{}, err
	}
	m := procMem{rss: rss, pss: -1}
	if r, err := os.ReadFile(fmt.Sprintf("/proc/%d/smaps_rollup", pid)); err == nil {
		if pss, err := bench.ParsePSS(string(r)); err == nil {
			m.pss = pss
		}
	}
	return m, nil
}

func readTicks(pid int) (uint64, error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0, err
	}
	s, err := bench.ParseStat(string(b))
	return s.Ticks, err
}

// clkTck is the kernel's USER_HZ, the unit of /proc/PID/stat's times: 100
// on every architecture Debian builds for.
const clkTck = 100

// benchPoll is how often a table is read while waiting.
const benchPoll = 200 * time.Millisecond

// benchWatch reads one namespace's IPVS table for the benchmark, as
// cheaply as it can, because it reads it often on the same two emulated
// CPUs that the daemon measured fills it with: the service count from one
// netlink dump (one request, whatever the size), the destination count
// from /proc/net/ip_vs only once every service is there (that file costs
// the kernel a walk from the start for every page it returns, quadratic
// in the table), and one destination's weight from a dump of its one
// service.
type benchWatch struct {
	h     *netlab.Host
	plane *ipvs.Plane
}

func newBenchWatch(t *testing.T, h *netlab.Host) *benchWatch {
	t.Helper()
	w := &benchWatch{h: h}
	// The netlink socket belongs to the namespace it is opened in.
	if err := h.Do(func() error {
		var err error
		w.plane, err = ipvs.Open(ipvs.Options{})
		return err
	}); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { w.plane.Close() })
	return w
}

func (w *benchWatch) services() (int, error) {
	ctx, cancel := context.WithTimeout(context.Background(), cmdTimeout)
	defer cancel()
	svcs, err := w.plane.Services(ctx)
	return len(svcs), err
}

// weight is the weight of destination rs of service vs, -1 while absent.
func (w *benchWatch) weight(vs, rs netip.AddrPort) (int, error) {
	ctx, cancel := context.WithTimeout(context.Background(), cmdTimeout)
	defer cancel()
	key := dataplane.ServiceKey{Family: dataplane.IPv4, Protocol: dataplane.ProtoTCP, Addr: vs.Addr(), Port: vs.Port()}
	ds, err := w.plane.Destinations(ctx, key)
	if err != nil {
		return -1, nil // the service is not there (yet)
	}
	for _, d := range ds {
		if d.Key.Addr == rs.Addr() && d.Key.Port == rs.Port() {
			return int(d.Weight), nil
		}
	}
	return -1, nil
}

// count reads the namespace's /proc/net/ip_vs (from a thread in it).
func (w *benchWatch) count() (ipvsCount, error) {
	var c ipvsCount
	err := w.h.Do(func() error {
		b, err := os.ReadFile("/proc/thread-self/net/ip_vs")
		if err != nil {
			return err
		}
		c, err = parseIPVSProc(string(b))
		return err
	})
	return c, err
}

// countNetlink counts the table over netlink: a dump per service. It is
// what count falls back to when /proc/net/ip_vs disagrees with the
// service dump: that file walks one hash table shared by every namespace
// and loses its place when another namespace holds services too (a test
// that left some behind), skipping entries.
func (w *benchWatch) countNetlink() (ipvsCount, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 10*cmdTimeout)
	defer cancel()
	t, err := dataplane.Read(ctx, w.plane)
	if err != nil {
		return ipvsCount{}, err
	}
	c := ipvsCount{services: len(t)}
	for _, e := range t {
		c.dests += len(e.Dests)
	}
	return c, nil
}

// tableCount is count, checked against the service dump (countNetlink
// when they disagree).
func (w *benchWatch) tableCount() (ipvsCount, error) {
	n, err := w.services()
	if err != nil {
		return ipvsCount{}, err
	}
	if c, err := w.count(); err == nil && c.services == n {
		return c, nil
	}
	return w.countNetlink()
}

// waitComplete waits until the namespace holds want's services and
// destinations, or bound passes (an error with what it holds), and
// returns when it saw the table complete. If first is not nil, it is set
// to when it first saw a service (the daemon's first request, to within a
// poll).
func (w *benchWatch) waitComplete(want ipvsCount, bound time.Duration, proc *netlab.Proc, first *time.Time) (time.Time, error) {
	deadline := time.Now().Add(bound)
	var c ipvsCount
	for {
		n, err := w.services()
		if err != nil {
			return time.Time{}, err
		}
		at := time.Now()
		if n > 0 && first != nil && first.IsZero() {
			*first = at
		}
		if n == want.services {
			if c, err = w.count(); err == nil && c.services != n {
				c, err = w.countNetlink()
			}
			if err != nil {
				return at, err
			}
			if c.services == want.services && c.dests == want.dests {
				return at, nil
			}
		}
		if at.After(deadline) {
			return at, fmt.Errorf("not complete within %v: %d services (%d destinations when last counted)", bound, n, c.dests)
		}
		select {
		case <-proc.Done():
			return at, fmt.Errorf("the daemon exited with %d services", n)
		case <-time.After(benchPoll):
		}
	}
}

// waitWeight waits until destination rs of service vs has weight want.
func (w *benchWatch) waitWeight(vs, rs netip.AddrPort, want int, bound time.Duration) (time.Time, error) {
	deadline := time.Now().Add(bound)
	for {
		got, err := w.weight(vs, rs)
		if err != nil {
			return time.Time{}, err
		}
		at := time.Now()
		if got == want {
			return at, nil
		}
		if at.After(deadline) {
			return at, fmt.Errorf("weight of %s in %s is %d after %v, want %d", rs, vs, got, bound, want)
		}
		time.Sleep(benchPoll / 4)
	}
}

// benchRestore is the floor under both daemons' start: the same table
// loaded by `ipvsadm -R` (one process, one netlink request per service and
// destination, nothing else to do), from its start to its exit.
func benchRestore(t *testing.T, lab *netlab.Lab, host string, p benchParams) time.Duration {
	t.Helper()
	h := lab.AddHost(host, "10.9.0.1/24")
	var rules strings.Builder
	for i := range p.services {
		vs := benchVS(i)
		fmt.Fprintf(&rules, "-A -t %s -s wrr\n", vs)
		for r := range p.reals {
			fmt.Fprintf(&rules, "-a -t %s -r %s -m -w 1\n", vs, benchRS(i, r))
		}
	}
	var took time.Duration
	var count ipvsCount
	err := h.Do(func() error {
		ctx, cancel := context.WithTimeout(context.Background(), p.bound)
		defer cancel()
		cmd := exec.CommandContext(ctx, "ipvsadm", "-R")
		cmd.Stdin = strings.NewReader(rules.String())
		t0 := time.Now()
		out, err := cmd.CombinedOutput()
		took = time.Since(t0)
		if err != nil {
			return fmt.Errorf("ipvsadm -R: %v: %s", err, out)
		}
		// This thread is in the namespace; no process of it is left.
		b, err := os.ReadFile("/proc/thread-self/net/ip_vs")
		if err != nil {
			return err
		}
		count, err = parseIPVSProc(string(b))
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	if count.services != p.services || count.dests != p.services*p.reals {
		t.Errorf("ipvsadm -R left %d services, %d destinations, want %d, %d", count.services, count.dests, p.services, p.services*p.reals)
	}
	if _, err := ipvsadm(h, "-C"); err != nil {
		t.Errorf("emptying the table of %s: %v", h, err)
	}
	return took
}

// tableResult is one daemon's table benchmark.
type tableResult struct {
	start, reload time.Duration
	// first is the time to the first service in the kernel: the start's
	// share before the daemon's first request (within a poll of 200 ms).
	first time.Duration
	// ops is the operations Vigil reports for the reload (-1: not known,
	// keepalived).
	ops          int
	lvs, parent  procMem
	parentIsSame bool
}

// checkResult is one daemon's checker benchmark.
type checkResult struct {
	lvsCPU, parentCPU float64 // percent of one CPU
	checksPerSec      float64
	lvs, parent       procMem
	parentIsSame      bool
}

// TestVMBench measures Vigil's LVS process next to keepalived's checker
// process in the lab, one after the other on the same files: the time
// from start to a complete table, a reload that changes one real server,
// memory, and the CPU of TCP_CHECKs every second. It runs only with
// -vmbench (make vmtest-bench); see docs/BENCHMARKS.md.
func TestVMBench(t *testing.T) {
	if *vmbench == "" {
		t.Skip("the side-by-side benchmark runs with -vmbench=short|full (make vmtest-bench)")
	}
	p, err := benchParamsOf(*vmbench)
	if err != nil {
		t.Fatal(err)
	}
	needLab(t, "keepalived")
	if *vigilBin == "" {
		t.Fatal("-vmbench measures the daemon: set VIGIL_BIN (make vmtest-bench builds bin/vmtest/vigil)")
	}
	loadBefore, _ := os.ReadFile("/proc/loadavg")
	lab := netlab.New(t)
	daemons := []benchDaemon{benchKeepalived, benchVigil}
	tables := map[string][]tableResult{}
	var restores []time.Duration
	n := 0
	for round := range p.rounds {
		n++
		restores = append(restores, benchRestore(t, lab, fmt.Sprintf("r%d", n), p))
		t.Logf("round %d ipvsadm -R: %v", round+1, restores[len(restores)-1].Round(time.Millisecond))
		order := daemons
		if round%2 == 1 {
			order = []benchDaemon{benchVigil, benchKeepalived}
		}
		for _, d := range order {
			n++
			r := benchTable(t, lab, fmt.Sprintf("t%d", n), d, p)
			t.Logf("round %d %s: table %v (first service %v), reload %v, ops %d, LVS RSS %.1f MB", round+1, d.name, r.start.Round(time.Millisecond), r.first.Round(time.Millisecond),
				r.reload.Round(time.Millisecond), r.ops, mb(r.lvs.rss))
			tables[d.name] = append(tables[d.name], r)
		}
	}
	checks := map[string]checkResult{}
	for _, d := range daemons {
		n++
		checks[d.name] = benchChecks(t, lab, fmt.Sprintf("c%d", n), d, p)
	}
	loadAfter, _ := os.ReadFile("/proc/loadavg")
	report := benchReport(p, bench.Median(restores), tables, checks, strings.TrimSpace(string(loadBefore)), strings.TrimSpace(string(loadAfter)))
	fmt.Println(report)
	path := *vmbenchReport
	if path == "" && resultsDir() != "" {
		path = filepath.Join(resultsDir(), "vmbench.md")
	}
	if path != "" {
		if err := os.WriteFile(path, []byte(report), 0o644); err != nil {
			t.Errorf("vmbench report: %v", err)
		}
	}
}

// benchTable runs d on the table-only file in a new namespace: the time
// until the kernel holds every service and destination, the memory then,
// and a reload that changes one real server's weight.
func benchTable(t *testing.T, lab *netlab.Lab, host string, d benchDaemon, p benchParams) tableResult {
	t.Helper()
	h := lab.AddHost(host, "10.9.0.1/24")
	dir := t.TempDir()
	conf := filepath.Join(dir, "keepalived.conf")
	if err := os.WriteFile(conf, []byte(benchConfig(p.services, p.reals, 1, 0)), 0o644); err != nil {
		t.Fatal(err)
	}
	cvs, crs := benchChanged(p.services, p.reals)
	want := ipvsCount{services: p.services, dests: p.services * p.reals}
	w := newBenchWatch(t, h)

	t0 := time.Now()
	proc, err := d.start(h, dir, conf)
	if err != nil {
		t.Fatal(err)
	}
	defer func() {
		keepLog(t, "vmbench-"+host+"-"+d.name+".log", proc.Output())
		benchKill(t, h, proc)
	}()
	var first time.Time
	at, err := w.waitComplete(want, p.bound, proc, &first)
	if err != nil {
		t.Fatalf("%s: the table did not complete: %v\n%s", d.name, err, tail(proc.Output()))
	}
	res := tableResult{start: at.Sub(t0), first: first.Sub(t0), ops: -1}
	// The memory once the table is complete and the daemon idle.
	time.Sleep(2 * time.Second)
	res.lvs, res.parent, res.parentIsSame = benchMems(t, d, dir, proc)

	// The reload: the file changes one real server's weight, 1 to 2.
	var ops0, reloads0 int
	client := status.NewClient(filepath.Join(dir, "vigil.sock"))
	if d.name == benchVigil.name {
		// The table is in the kernel before Vigil publishes the status
		// of its start: wait for that, so that the reload is measured on
		// a daemon done starting, and its operations counted alone.
		deadline := time.Now().Add(p.bound)
		l := vigilLVS(t, client)
		for (l.State != "running" || l.Operations < want.services+want.dests) && time.Now().Before(deadline) {
			time.Sleep(benchPoll)
			l = vigilLVS(t, client)
		}
		if l.State != "running" || l.Operations != want.services+want.dests {
			t.Fatalf("vigil's status after the start: %s, %d operations; want running, %d (a service and a destination each)",
				l.State, l.Operations, want.services+want.dests)
		}
		ops0, reloads0 = l.Operations, l.Reloads
	}
	if err := os.WriteFile(conf, []byte(benchConfig(p.services, p.reals, 2, 0)), 0o644); err != nil {
		t.Fatal(err)
	}
	t1 := time.Now()
	// To the main process only, as an operator's kill -HUP does: it
	// passes the reload on to its children itself.
	if err := syscall.Kill(proc.Pid(), syscall.SIGHUP); err != nil {
		t.Fatal(err)
	}
	at, err = w.waitWeight(cvs, crs, 2, p.bound)
	if err != nil {
		t.Fatalf("%s: the reload did not reach the kernel: %v\n%s", d.name, err, tail(proc.Output()))
	}
	res.reload = at.Sub(t1)
	if d.name == benchVigil.name {
		// The status is published once the reload is applied.
		deadline := time.Now().Add(p.bound)
		l := vigilLVS(t, client)
		for l.Reloads == reloads0 && time.Now().Before(deadline) {
			time.Sleep(benchPoll)
			l = vigilLVS(t, client)
		}
		if l.Reloads != reloads0+1 {
			t.Fatalf("vigil: %d reloads after one SIGHUP, want %d", l.Reloads, reloads0+1)
		}
		res.ops = l.Operations - ops0
		if res.ops != 1 {
			t.Errorf("vigil sent %d operations for a reload that changes one real server's weight, want 1", res.ops)
		}
	}
	// The rest of the table is as it was.
	c, err := w.tableCount()
	if err != nil || c.services != want.services || c.dests != want.dests {
		t.Errorf("%s: after the reload the table has %d services, %d destinations, want %d, %d; %v",
			d.name, c.services, c.dests, want.services, want.dests, err)
	}
	return res
}

// benchKill kills a daemon and empties its namespace's IPVS table. A
// kill, not a clean stop: removing 20,000 entries one by one is not what
// is measured. The table must go at once, though, not with the namespace
// at the end of the test: the kernel's /proc/net/ip_vs walks one hash
// table shared by all namespaces and loses its place (skips entries)
// when another namespace holds services too, so only one namespace may
// hold any while a table is counted.
func benchKill(t *testing.T, h *netlab.Host, proc *netlab.Proc) {
	t.Helper()
	_ = proc.Signal(syscall.SIGKILL)
	<-proc.Done()
	if _, err := ipvsadm(h, "-C"); err != nil {
		t.Errorf("emptying the table of %s: %v", h, err)
	}
}

// benchMems reads the memory of d's LVS process and of its parent (the
// process started; for Vigil under -C the same one).
func benchMems(t *testing.T, d benchDaemon, dir string, proc *netlab.Proc) (lvs, parent procMem, same bool) {
	t.Helper()
	pid, err := d.lvsPid(dir, proc)
	if err != nil {
		t.Fatalf("%s: the LVS process: %v", d.name, err)
	}
	if lvs, err = readMem(pid); err != nil {
		t.Fatalf("%s: %v", d.name, err)
	}
	if pid == proc.Pid() {
		return lvs, lvs, true
	}
	if parent, err = readMem(proc.Pid()); err != nil {
		t.Fatalf("%s: %v", d.name, err)
	}
	return lvs, parent, false
}

// vigilLVS reads the LVS side of `vigil status --json` (GET /status on the
// control socket, which is what that command prints).
func vigilLVS(t *testing.T, c *status.Client) status.LVSJSON {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), cmdTimeout)
	defer cancel()
	st, err := c.Status(ctx)
	if err != nil {
		t.Fatalf("vigil status: %v", err)
	}
	if st.LVS == nil {
		t.Fatal("vigil status has no LVS side")
	}
	return *st.LVS
}

// benchChecks runs d with p.checks real servers, each checked by a
// TCP_CHECK every second against a listener in the namespace (this
// process accepts and closes), and measures the CPU of its LVS process
// and its parent over p.window once every check runs.
func benchChecks(t *testing.T, lab *netlab.Lab, host string, d benchDaemon, p benchParams) checkResult {
	t.Helper()
	h := lab.AddHost(host, "10.9.0.1/24")
	var ln net.Listener
	if err := h.Do(func() error {
		var err error
		ln, err = net.Listen("tcp4", "0.0.0.0:0")
		return err
	}); err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	// The checks are counted as the SYNs that reach the listener's port
	// (countSYNs), not as accepted connections or the namespace's active
	// opens: Vigil's TCP_CHECK sends its SYNs from a raw socket and the
	// handshake ends in a reset, so its checks reach neither accept() nor
	// that counter; keepalived's connect to completion. Both send one SYN
	// per check.
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				if errors.Is(err, net.ErrClosed) {
					return
				}
				continue
			}
			c.Close()
		}
	}()
	port := ln.Addr().(*net.TCPAddr).Port
	// Four real servers a virtual server, as in the table benchmark.
	services := max(1, p.checks/p.reals)
	dir := t.TempDir()
	conf := filepath.Join(dir, "keepalived.conf")
	if err := os.WriteFile(conf, []byte(benchConfig(services, p.reals, 1, port)), 0o644); err != nil {
		t.Fatal(err)
	}
	proc, err := d.start(h, dir, conf)
	if err != nil {
		t.Fatal(err)
	}
	defer func() {
		keepLog(t, "vmbench-"+host+"-"+d.name+".log", proc.Output())
		benchKill(t, h, proc)
	}()
	want := ipvsCount{services: services, dests: services * p.reals}
	w := newBenchWatch(t, h)
	if _, err := w.waitComplete(want, p.bound, proc, nil); err != nil {
		t.Fatalf("%s: the table did not complete: %v\n%s", d.name, err, tail(proc.Output()))
	}
	// Past the first round of checks (which both spread over the first
	// delay_loop) and into the steady state.
	time.Sleep(p.warmup)
	pid, err := d.lvsPid(dir, proc)
	if err != nil {
		t.Fatalf("%s: the LVS process: %v", d.name, err)
	}
	lt0, err := readTicks(pid)
	if err != nil {
		t.Fatal(err)
	}
	pt0, err := readTicks(proc.Pid())
	if err != nil {
		t.Fatal(err)
	}
	syns, err := countSYNs(h, port)
	if err != nil {
		t.Fatal(err)
	}
	w0 := time.Now()
	time.Sleep(p.window)
	lt1, err := readTicks(pid)
	if err != nil {
		t.Fatal(err)
	}
	pt1, err := readTicks(proc.Pid())
	if err != nil {
		t.Fatal(err)
	}
	wall := time.Since(w0)
	syns.Stop()
	res := checkResult{
		lvsCPU:       bench.CPUPercent(lt1-lt0, clkTck, wall),
		parentCPU:    bench.CPUPercent(pt1-pt0, clkTck, wall),
		checksPerSec: float64(syns.Count()) / wall.Seconds(),
	}
	res.lvs, res.parent, res.parentIsSame = benchMems(t, d, dir, proc)
	// Every check passed all along: a failed one would have taken its
	// real server out of the table.
	if c, err := w.tableCount(); err != nil || c.services != want.services || c.dests != want.dests {
		t.Errorf("%s: after the window the table has %d services, %d destinations, want %d, %d (checks failed?); %v",
			d.name, c.services, c.dests, want.services, want.dests, err)
	}
	t.Logf("%s: %d checks/s: LVS process %.1f%% CPU, parent %.1f%%, LVS RSS %.1f MB", d.name, p.checks,
		res.lvsCPU, res.parentCPU, mb(res.lvs.rss))
	return res
}

func mb(b int64) float64 { return float64(b) / (1 << 20) }

// tail is the end of a daemon's output, for a failure message.
func tail(s string) string {
	if len(s) > 4000 {
		return "…" + s[len(s)-4000:]
	}
	return s
}

// benchReport is the markdown of a run: the figures of each daemon, and
// Vigil's over keepalived's where the issue sets a goal.
func benchReport(p benchParams, restore time.Duration, tables map[string][]tableResult, checks map[string]checkResult, loadBefore, loadAfter string) string {
	var b strings.Builder
	med := func(name string, f func(tableResult) time.Duration) time.Duration {
		var ds []time.Duration
		for _, r := range tables[name] {
			ds = append(ds, f(r))
		}
		return bench.Median(ds)
	}
	k, v := benchKeepalived.name, benchVigil.name
	ks := med(k, func(r tableResult) time.Duration { return r.start })
	vs := med(v, func(r tableResult) time.Duration { return r.start })
	kr := med(k, func(r tableResult) time.Duration { return r.reload })
	vr := med(v, func(r tableResult) time.Duration { return r.reload })
	ratio := func(a, b float64) string {
		if b == 0 {
			return "–"
		}
		return fmt.Sprintf("%.2f×", a/b)
	}
	fmt.Fprintf(&b, "#### Table: %d services × %d real servers (%d rounds, median; guest load %s before, %s after)\n\n",
		p.services, p.reals, p.rounds, loadBefore, loadAfter)
	b.WriteString("| | keepalived | Vigil | Vigil / keepalived | goal |\n|---|---|---|---|---|\n")
	fmt.Fprintf(&b, "| start to complete table | %s | %s | %s | ≤ 0.5× |\n", secs(ks), secs(vs), ratio(vs.Seconds(), ks.Seconds()))
	kf := med(k, func(r tableResult) time.Duration { return r.first })
	vf := med(v, func(r tableResult) time.Duration { return r.first })
	fmt.Fprintf(&b, "| of which start to the first service in the kernel (±0.2 s) | %s | %s | %s | |\n", secs(kf), secs(vf), ratio(vf.Seconds(), kf.Seconds()))
	fmt.Fprintf(&b, "| the same table by `ipvsadm -R` (the kernel's share) | %s | | | |\n", secs(restore))
	fmt.Fprintf(&b, "| SIGHUP to the changed weight in the kernel | %s | %s | %s | ≤ 0.1× |\n", secs(kr), secs(vr), ratio(vr.Seconds(), kr.Seconds()))
	var ops []string
	for _, r := range tables[v] {
		ops = append(ops, strconv.Itoa(r.ops))
	}
	fmt.Fprintf(&b, "| operations sent for that reload | – | %s | | = 1 |\n", strings.Join(ops, ", "))
	kl, vl := tables[k][len(tables[k])-1], tables[v][len(tables[v])-1]
	fmt.Fprintf(&b, "| RSS (PSS) of the LVS process: keepalived's checker child, Vigil's -C process | %s | %s | %s | |\n",
		mem(kl.lvs), mem(vl.lvs), ratio(float64(vl.lvs.rss), float64(kl.lvs.rss)))
	fmt.Fprintf(&b, "| RSS (PSS) of the parent | %s | %s | | |\n", parentMem(kl.parent, kl.parentIsSame), parentMem(vl.parent, vl.parentIsSame))
	kc, vc := checks[k], checks[v]
	fmt.Fprintf(&b, "\n#### Checkers: %d real servers × TCP_CHECK every second (%d virtual servers), %s window\n\n",
		p.checks, max(1, p.checks/p.reals), p.window)
	b.WriteString("| | keepalived | Vigil | Vigil / keepalived |\n|---|---|---|---|\n")
	fmt.Fprintf(&b, "| checks per second (SYNs reaching the listener) | %.0f | %.0f | |\n", kc.checksPerSec, vc.checksPerSec)
	fmt.Fprintf(&b, "| CPU of the LVS process (%% of one CPU) | %.1f | %.1f | %s |\n", kc.lvsCPU, vc.lvsCPU, ratio(vc.lvsCPU, kc.lvsCPU))
	vp := fmt.Sprintf("%.1f", vc.parentCPU)
	if vc.parentIsSame {
		vp = "(same process)"
	}
	fmt.Fprintf(&b, "| CPU of the parent (%%) | %.1f | %s | |\n", kc.parentCPU, vp)
	fmt.Fprintf(&b, "| RSS (PSS) of the LVS process | %s | %s | %s |\n", mem(kc.lvs), mem(vc.lvs), ratio(float64(vc.lvs.rss), float64(kc.lvs.rss)))
	fmt.Fprintf(&b, "| RSS (PSS) of the parent | %s | %s | |\n", parentMem(kc.parent, kc.parentIsSame), parentMem(vc.parent, vc.parentIsSame))
	return b.String()
}

func secs(d time.Duration) string { return fmt.Sprintf("%.2f s", d.Seconds()) }

func mem(m procMem) string {
	if m.pss < 0 {
		return fmt.Sprintf("%.1f MB", mb(m.rss))
	}
	return fmt.Sprintf("%.1f MB (%.1f)", mb(m.rss), mb(m.pss))
}

func parentMem(m procMem, same bool) string {
	if same {
		return "(same process)"
	}
	return mem(m)
}
