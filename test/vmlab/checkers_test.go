package vmlab

import (
	"bufio"
	"cmp"
	"crypto/md5"
	"encoding/hex"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/miekg/dns"

	"vigil/internal/config"
	"vigil/internal/netlab"
)

// The checkers' timing in every scenario: short, so that a step settles in
// seconds, and the same for every checker so that one bound covers all.
// connect_timeout is not the shortest keepalived takes: the guest is
// emulated, and an HTTP answer from a busy guest can take over a second.
const (
	ckDelayLoop        = 1 // seconds
	ckConnectTimeout   = 2
	ckMiscTimeout      = 10 // a script's fork and exec take seconds in a busy guest
	ckRetry            = 1
	ckDelayBeforeRetry = 1
)

// ckBound is how long keepalived's semantics give a checker to act on a
// change of its real server: retry × (connect_timeout +
// delay_before_retry) + delay_loop, with misc_timeout standing for
// connect_timeout in MISC_CHECK.
func ckBound(timeout int) time.Duration {
	return time.Duration(ckRetry*(timeout+ckDelayBeforeRetry)+ckDelayLoop) * time.Second
}

// ckSlack is what the test adds to the bound before it says a daemon was
// late: the guest is emulated (TCG) and shared by parallel scenarios, so a
// script or a check can take seconds longer than on hardware. A daemon
// whose last change of a step comes later than the bound + ckSlack fails
// the test.
const ckSlack = 8 * time.Second

// ckQuiet is how long the table, the notify log and the FIFO must stay the
// same, once the step has changed them, for the step to count as settled
// (a daemon makes one change's table update and FIFO lines together; its
// scripts are waited for on their own, see scriptsDue).
const ckQuiet = 2 * time.Second

// ckGiveUp bounds the wait for a daemon to program its virtual server at
// start.
const ckGiveUp = 60 * time.Second

// The lab: one bridge; scenario i has the network 10.7.i.0/24 (NET in its
// config), its own director NET.1 (where the daemon runs and checks from,
// with an IPVS table of its own) and two real servers NET.11 and NET.12.
// Every real server lives in one namespace ("rs"), each listening on its
// own address: the emulated guest makes namespaces slowly.
func ckNet(i int) string { return fmt.Sprintf("10.7.%d", i) }

// ckPage is the page rs2 serves at /page; its MD5 is the digest
// HTTP_GET expects.
const ckPage = "vigil checker lab page\n"

// ckScenario is one configuration and the failures scripted against it.
// The config is a template: DIR is the scenario's directory (scripts,
// notify log, FIFO, MISC_CHECK exit codes), NET its network (ckNet).
type ckScenario struct {
	name   string
	conf   string
	closed []int // real servers (1-based) whose port starts closed
	// timeout is the checkers' connect_timeout (misc_timeout) for the
	// timing bound.
	timeout int
	steps   []ckStep
	// stop records the notifications of a clean stop as a last step
	// (omega: keepalived runs notify_down at shutdown).
	stop bool
	// stopNotify are the notify lines a clean stop may have, sorted.
	// keepalived gives these scripts one second before it kills them and
	// exits (Vigil one second each); in the emulated guest a script's
	// start can take longer, so either daemon runs some of them or none,
	// and the comparison leaves them out: each daemon's must be among
	// these. The stop's FIFO lines, written by the daemon itself, are
	// compared with the rest.
	stopNotify []string
}

// ckStep changes the real servers' world; the daemon's reaction is
// recorded once the lab has settled.
type ckStep struct {
	name string
	do   func(r *ckLab) error
}

// realServer is the common block of every real server of the scenarios:
// its weight, notify scripts and a checker block.
func realServer(n, weight int, extra, checker string) string {
	return fmt.Sprintf(`	real_server NET.1%d 80 {
		weight %d
		notify_up "DIR/notify.sh up rs%d"
		notify_down "DIR/notify.sh down rs%d"
%s		%s
	}
`, n, weight, n, n, extra, checker)
}

// timing is the checker options of TCP_CHECK.
var timing = timingWith(ckConnectTimeout)

// ckServedTimeout is connect_timeout for the checkers whose servers are
// this test's own goroutines (HTTP, SMTP, DNS, UDP): with six scenarios
// starting at once, the busy guest has been seen to keep an answer past
// two seconds, which fails a first check at once (keepalived starts a
// checker with its retries spent).
const ckServedTimeout = 5

// served is the checker options of the checkers this test serves.
var served = timingWith(ckServedTimeout)

func timingWith(connectTimeout int) string {
	return fmt.Sprintf("connect_timeout %d\n\t\t\tretry %d\n\t\t\tdelay_before_retry %d",
		connectTimeout, ckRetry, ckDelayBeforeRetry)
}

// miscTiming is timing for MISC_CHECK, whose misc_timeout (set to
// connect_timeout's value in the scenarios) stands for connect_timeout.
var miscTiming = fmt.Sprintf("retry %d\n\t\t\tdelay_before_retry %d", ckRetry, ckDelayBeforeRetry)

func tcpCheck() string { return "TCP_CHECK {\n\t\t\t" + timing + "\n\t\t}" }

func virtualServer(extra string, reals ...string) string {
	return fmt.Sprintf(`global_defs {
	lvs_notify_fifo DIR/fifo
	script_user root
	enable_script_security
}
virtual_server NET.100 80 {
	delay_loop %d
	lb_algo wrr
	lb_kind NAT
	protocol TCP
%s%s}
`, ckDelayLoop, extra, strings.Join(reals, ""))
}

func closePort(n int) ckStep {
	return ckStep{fmt.Sprintf("rs%d closes its port", n), func(r *ckLab) error { return r.rs[n-1].close() }}
}

func openPort(n int) ckStep {
	return ckStep{fmt.Sprintf("rs%d listens again", n), func(r *ckLab) error { return r.rs[n-1].listen() }}
}

// together makes one step of several.
func together(steps ...ckStep) ckStep {
	var names []string
	for _, s := range steps {
		names = append(names, s.name)
	}
	return ckStep{strings.Join(names, ", "), func(r *ckLab) error {
		for _, s := range steps {
			if err := s.do(r); err != nil {
				return err
			}
		}
		return nil
	}}
}

func miscExit(n, code int) ckStep {
	return ckStep{fmt.Sprintf("rs%d's MISC_CHECK script exits %d", n, code), func(r *ckLab) error { return r.setMisc(n, code) }}
}

// ckScenarios covers TCP_CHECK, HTTP_GET (status and digest), MISC_CHECK
// (plain and misc_dynamic), SMTP_CHECK, DNS_CHECK, UDP_CHECK (two checkers
// on one real server), inhibit_on_failure, quorum with hysteresis and a
// sorry server, and alpha/omega.
var ckScenarios = []ckScenario{
	{
		name: "tcp",
		conf: virtualServer("",
			realServer(1, 1, "", tcpCheck()),
			realServer(2, 2, "\t\tinhibit_on_failure\n", tcpCheck())),
		steps: []ckStep{closePort(1), closePort(2), together(openPort(1), openPort(2))},
	},
	{
		name: "http",
		conf: virtualServer("",
			realServer(1, 1, "", "HTTP_GET {\n\t\t\turl {\n\t\t\t\tpath /health\n\t\t\t\tstatus_code 200\n\t\t\t}\n\t\t\t"+served+"\n\t\t}"),
			realServer(2, 1, "", "HTTP_GET {\n\t\t\turl {\n\t\t\t\tpath /page\n\t\t\t\tdigest "+md5hex(ckPage)+"\n\t\t\t}\n\t\t\t"+served+"\n\t\t}")),
		steps: []ckStep{
			{"rs1 answers 500", func(r *ckLab) error { r.rs[0].set(500, ""); return nil }},
			{"rs1 answers 200 again", func(r *ckLab) error { r.rs[0].set(200, ""); return nil }},
			{"rs2 serves another page (wrong digest)", func(r *ckLab) error { r.rs[1].set(200, "another page\n"); return nil }},
			{"rs2 serves its page again", func(r *ckLab) error { r.rs[1].set(200, ckPage); return nil }},
		},
		timeout: ckServedTimeout,
	},
	{
		name: "misc",
		conf: virtualServer("",
			realServer(1, 1, "", "MISC_CHECK {\n\t\t\tmisc_path \"DIR/misc.sh rs1\"\n\t\t\tmisc_timeout "+fmt.Sprint(ckMiscTimeout)+"\n\t\t\t"+miscTiming+"\n\t\t}"),
			realServer(2, 10, "", "MISC_CHECK {\n\t\t\tmisc_path \"DIR/misc.sh rs2\"\n\t\t\tmisc_timeout "+fmt.Sprint(ckMiscTimeout)+"\n\t\t\tmisc_dynamic\n\t\t\t"+miscTiming+"\n\t\t}")),
		steps: []ckStep{
			together(miscExit(1, 1), miscExit(2, 7)), // misc_dynamic: weight 7-2
			together(miscExit(1, 0), miscExit(2, 1)),
			miscExit(2, 0), // up again: which weight?
		},
		timeout: ckMiscTimeout,
	},
	{
		name: "quorum",
		conf: virtualServer(`	quorum 2
	hysteresis 0
	sorry_server NET.13 80
	quorum_up "DIR/notify.sh quorum_up vs"
	quorum_down "DIR/notify.sh quorum_down vs"
`,
			realServer(1, 1, "", tcpCheck()),
			realServer(2, 1, "", tcpCheck())),
		steps: []ckStep{closePort(1), closePort(2), together(openPort(1), openPort(2))},
	},
	{
		name: "smtp-dns-udp",
		conf: virtualServer("",
			realServer(1, 1, "", "SMTP_CHECK {\n\t\t\thelo_name lab.test\n\t\t\tconnect_port 25\n\t\t\t"+served+"\n\t\t}\n\t\t"+
				"UDP_CHECK {\n\t\t\tconnect_port 5353\n\t\t\tpayload 68656c6c6f\n\t\t\trequire_reply\n\t\t\t"+served+"\n\t\t}"),
			realServer(2, 1, "", "DNS_CHECK {\n\t\t\ttype A\n\t\t\tname lab.test\n\t\t\tconnect_port 53\n\t\t\t"+served+"\n\t\t}")),
		steps: []ckStep{
			{"rs1's SMTP server greets with garbage, rs2's DNS server answers SERVFAIL", func(r *ckLab) error {
				r.proto.smtpGarbage.Store(true)
				r.proto.dnsFail.Store(true)
				return nil
			}},
			{"rs1's SMTP and rs2's DNS servers answer well again", func(r *ckLab) error {
				r.proto.smtpGarbage.Store(false)
				r.proto.dnsFail.Store(false)
				return nil
			}},
			{"rs1's UDP echo stops replying", func(r *ckLab) error { r.proto.udpSilent.Store(true); return nil }},
			{"rs1's UDP echo replies again", func(r *ckLab) error { r.proto.udpSilent.Store(false); return nil }},
		},
		timeout: ckServedTimeout,
	},
	{
		name: "alpha-omega",
		conf: virtualServer(`	alpha
	omega
	quorum 1
	quorum_up "DIR/notify.sh quorum_up vs"
	quorum_down "DIR/notify.sh quorum_down vs"
`,
			realServer(1, 1, "", tcpCheck()),
			realServer(2, 1, "", tcpCheck())),
		closed:     []int{2},
		steps:      []ckStep{openPort(2)},
		stop:       true,
		stopNotify: []string{"down rs1", "down rs2", "quorum_down vs"},
	},
}

func md5hex(s string) string {
	sum := md5.Sum([]byte(s))
	return hex.EncodeToString(sum[:])
}

// TestCheckers runs keepalived and then Vigil on each scenario's config,
// with the same scripted failures of the real servers, and checks that
// both produce the same sequence of IPVS tables (ipvsadm -Sn, sorted, one
// per step once the lab has settled) and the same notify script and
// lvs_notify_fifo lines per step, each step settling within keepalived's
// timing bound (ckBound, plus ckSlack for the emulated guest).
func TestCheckers(t *testing.T) {
	needLab(t, "keepalived")
	if *vigilBin == "" {
		t.Skip("TestCheckers compares the vigil daemon with keepalived; set VIGIL_BIN (make vmtest does)")
	}
	// The whole lab first, on this test (its cleanup runs after every
	// scenario): netlab's hosts belong to the test that made them.
	setup := time.Now()
	lab := netlab.New(t)
	var rsAddrs []string
	for i := range ckScenarios {
		rsAddrs = append(rsAddrs, ckNet(i)+".11/24", ckNet(i)+".12/24")
	}
	rsHost := lab.AddHost("rs", rsAddrs...)
	var dirs []*netlab.Host
	for i := range ckScenarios {
		dirs = append(dirs, lab.AddHost(fmt.Sprintf("dir%d", i), ckNet(i)+".1/24"))
	}
	t.Logf("lab ready in %v", time.Since(setup).Round(time.Millisecond))
	// Every scenario at once, whatever -test.parallel says: they spend
	// their time waiting on checkers' timers, each has its own director,
	// and a second wave would add its whole length to the guest's time.
	// (Subtests started from goroutines of their own run concurrently.)
	var wg sync.WaitGroup
	for i, sc := range ckScenarios {
		wg.Add(1)
		go func() {
			defer wg.Done()
			t.Run(sc.name, func(t *testing.T) {
				r := newCkLab(t, sc, i, dirs[i], rsHost)
				ka := r.run(t, keepalivedPlane)
				vg := r.run(t, vigilPlane)
				if k, v := ka.String(), vg.String(); k != v {
					t.Errorf("vigil and keepalived differ on %s\n--- keepalived:\n%s--- vigil:\n%s", sc.name, k, v)
				}
				r.compareStop(t, ka, vg)
			})
		}()
	}
	wg.Wait()
}

// ckLab is one scenario's part of the lab: its director and real
// servers, the scenario's directory and the FIFO's reader.
type ckLab struct {
	sc    ckScenario
	dir   *netlab.Host
	rs    []*ckServer
	path  string // the scenario's directory
	conf  string
	fifo  *fifoReader
	proto *ckProto
}

func newCkLab(t *testing.T, sc ckScenario, i int, dir, rsHost *netlab.Host) *ckLab {
	t.Helper()
	r := &ckLab{sc: sc, dir: dir, path: t.TempDir()}
	for n := range 2 {
		s := &ckServer{h: rsHost, addr: fmt.Sprintf("%s.1%d:80", ckNet(i), n+1), status: 200, body: ckPage}
		t.Cleanup(func() { _ = s.close() })
		r.rs = append(r.rs, s)
	}
	r.proto = &ckProto{}
	if err := r.proto.start(t, rsHost, ckNet(i)+".11", ckNet(i)+".12"); err != nil {
		t.Fatal(err)
	}
	files := map[string]string{
		"notify.sh": "#!/bin/sh\necho \"$*\" >> " + r.path + "/notify.log\n",
		// read is the shell's own: one exec less in the slow guest.
		"misc.sh": "#!/bin/sh\nread code < " + r.path + "/misc-$1\nexit $code\n",
	}
	for name, text := range files {
		if err := os.WriteFile(filepath.Join(r.path, name), []byte(text), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	conf := strings.NewReplacer("DIR", r.path, "NET", ckNet(i)).Replace(sc.conf)
	r.conf = filepath.Join(r.path, "keepalived.conf")
	if err := os.WriteFile(r.conf, []byte(conf), 0o644); err != nil {
		t.Fatal(err)
	}
	fifo := filepath.Join(r.path, "fifo")
	if err := syscall.Mkfifo(fifo, 0o600); err != nil {
		t.Fatal(err)
	}
	var err error
	if r.fifo, err = openFIFO(fifo); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(r.fifo.close)
	return r
}

// reset puts the real servers in the scenario's initial state and empties
// the notify log and the FIFO's record.
func (r *ckLab) reset(t *testing.T) {
	t.Helper()
	for i, s := range r.rs {
		s.set(200, ckPage)
		var err error
		if slices.Contains(r.sc.closed, i+1) {
			err = s.close()
		} else {
			err = s.listen()
		}
		if err != nil {
			t.Fatal(err)
		}
		if err := r.setMisc(i+1, 0); err != nil {
			t.Fatal(err)
		}
	}
	r.proto.smtpGarbage.Store(false)
	r.proto.dnsFail.Store(false)
	r.proto.udpSilent.Store(false)
	if err := os.WriteFile(filepath.Join(r.path, "notify.log"), nil, 0o644); err != nil {
		t.Fatal(err)
	}
	r.fifo.take()
}

// setMisc sets the exit code of real server n's MISC_CHECK script.
func (r *ckLab) setMisc(n, code int) error {
	return os.WriteFile(filepath.Join(r.path, fmt.Sprintf("misc-rs%d", n)), []byte(fmt.Sprintf("%d\n", code)), 0o644)
}

// ckStepRecord is what one step left: the settled table, the notify
// script lines and the FIFO lines it produced (each sorted: scripts of
// different servers run concurrently), and when its last change came.
type ckStepRecord struct {
	step   string
	table  string
	notify []string
	fifo   []string
	last   time.Duration // from the step to its last change
}

// ckStopStep names the record of a clean stop.
const ckStopStep = "clean stop"

// compareStop checks the notify lines of a clean stop (see stopNotify):
// each daemon's are among the scenario's.
func (r *ckLab) compareStop(t *testing.T, ka, vg ckRecording) {
	t.Helper()
	if !r.sc.stop {
		return
	}
	for _, rec := range []struct {
		name string
		rec  ckRecording
	}{{"keepalived", ka}, {"vigil", vg}} {
		i := slices.IndexFunc(rec.rec, func(s ckStepRecord) bool { return s.step == ckStopStep })
		if i < 0 {
			t.Fatalf("no %q in %s's recording", ckStopStep, rec.name)
		}
		got := rec.rec[i].notify
		for _, l := range got {
			if !slices.Contains(r.sc.stopNotify, l) {
				t.Errorf("%s ran %q at a clean stop; the scenario expects only %q", rec.name, l, r.sc.stopNotify)
			}
		}
		t.Logf("%s's notify lines at a clean stop (one second in the guest): %q", rec.name, got)
	}
}

// ckRecording is one daemon's run of a scenario.
type ckRecording []ckStepRecord

// String renders the recording for comparison: per step its name, the
// table when it differs from the previous step's (consecutive duplicates
// collapsed), the notify and FIFO lines. Timing is left out: it is
// checked against the bound on its own.
func (rec ckRecording) String() string {
	var b strings.Builder
	prev := "\x00"
	for _, s := range rec {
		fmt.Fprintf(&b, "== %s\n", s.step)
		if s.table != prev {
			b.WriteString(indent(s.table, "   table: "))
			prev = s.table
		}
		if s.step == ckStopStep {
			b.WriteString("   notify: (compared on their own)\n")
		} else {
			for _, l := range s.notify {
				fmt.Fprintf(&b, "   notify: %s\n", l)
			}
		}
		for _, l := range s.fifo {
			fmt.Fprintf(&b, "   fifo: %s\n", l)
		}
	}
	return b.String()
}

func indent(s, prefix string) string {
	lines := nonEmpty(s)
	if len(lines) == 0 {
		return prefix + "(empty)\n"
	}
	var b strings.Builder
	for _, l := range lines {
		b.WriteString(prefix + l + "\n")
	}
	return b.String()
}

// run starts p on the scenario's config, plays the steps and stops it,
// and returns what it recorded. The namespace's table is empty before and
// must be empty again after the clean stop.
func (r *ckLab) run(t *testing.T, p plane) ckRecording {
	t.Helper()
	r.reset(t)
	if table, err := ipvsadm(r.dir, "-Sn"); err != nil || strings.TrimSpace(table) != "" {
		t.Fatalf("the director's table is not empty before %s (%v):\n%s", p.name, err, table)
	}
	bound := ckBound(cmp.Or(r.sc.timeout, ckConnectTimeout))
	var rec ckRecording
	notifyAt := 0
	record := func(step string, s ckStepRecord) {
		t.Helper()
		table, err := ipvsadm(r.dir, "-Sn")
		if err != nil {
			t.Fatal(err)
		}
		s.step, s.table = step, strings.Join(sortedLines(table), "\n")
		log := r.notifyLog(t)
		s.notify = sortedLines(log[notifyAt:])
		notifyAt = len(log)
		s.fifo = sortedLines(r.fifo.take())
		if s.last > bound+ckSlack {
			t.Errorf("%s, step %q: the last change came %v after the step, past keepalived's bound %v (retry × (connect_timeout + delay_before_retry) + delay_loop) + %v for the emulated guest",
				p.name, step, s.last.Round(time.Millisecond), bound, ckSlack)
		}
		rec = append(rec, s)
	}
	proc, err := p.start(r.dir, t.TempDir(), r.conf)
	if err != nil {
		t.Fatal(err)
	}
	defer func() { keepLog(t, "checkers."+r.sc.name+"."+p.name+".log", proc.Output()) }()
	// The start: from the moment the virtual server is in the table
	// (both daemons add it before any check), the first checks come
	// within delay_loop (warmup) and act within the bound; nothing need
	// change.
	since := r.waitService(t, p.name, proc)
	scriptsDone := func() bool {
		return len(nonEmpty(r.notifyLog(t)[notifyAt:])) >= r.scriptsDue(r.fifo.peek())
	}
	record("start", r.settle(t, p.name, "start", since, bound, false, scriptsDone, proc))
	for _, st := range r.sc.steps {
		since := time.Now()
		if err := st.do(r); err != nil {
			t.Fatalf("step %q: %v", st.name, err)
		}
		record(st.name, r.settle(t, p.name, st.name, since, bound, true, scriptsDone, proc))
	}
	if err := proc.Stop(); err != nil {
		t.Errorf("%s exited with %v on SIGTERM:\n%s", p.name, err, proc.Output())
	}
	table, err := ipvsadm(r.dir, "-Sn")
	if err != nil {
		t.Fatal(err)
	}
	if strings.TrimSpace(table) != "" {
		t.Errorf("%s left services behind after a clean stop:\n%s", p.name, table)
		_, _ = ipvsadm(r.dir, "-C")
	}
	if r.sc.stop {
		// Scripts of the stop may still be running in their own
		// process group: wait until the log is quiet.
		r.quietLog(t)
		record(ckStopStep, ckStepRecord{})
	}
	t.Logf("%s:\n%s", p.name, rec)
	return rec
}

// waitService waits until the daemon has put its virtual server in the
// table and returns when it saw it.
func (r *ckLab) waitService(t *testing.T, name string, proc *netlab.Proc) time.Time {
	t.Helper()
	start := time.Now()
	for {
		table := r.procTable(t)
		if strings.Contains(table, "TCP  ") {
			return time.Now()
		}
		if time.Since(start) > ckGiveUp {
			t.Fatalf("%s did not add its virtual server within %v:\n%s", name, ckGiveUp, proc.Output())
		}
		select {
		case <-proc.Done():
			t.Fatalf("%s exited at start:\n%s", name, proc.Output())
		case <-time.After(ckPoll):
		}
	}
}

// ckPoll is the interval of the waits for a step to settle.
const ckPoll = 250 * time.Millisecond

// settle waits until a step's effects are over and says when the table
// or the FIFO last changed. With changes set, the step is one that
// keepalived acts on (a table, a script or a FIFO line): the wait ends
// ckQuiet after the last change once the bound has passed (a step of two
// changes may make its quick one first), or after the bound + ckSlack
// when nothing changed. Without, it lasts the bound and then until nothing changed for
// ckQuiet. Either way it also waits (up to ckScripts) until scriptsDone:
// a notify script runs after its change, and in the busy guest its line
// can come seconds later.
func (r *ckLab) settle(t *testing.T, name, step string, since time.Time, bound time.Duration, changes bool, scriptsDone func() bool, proc *netlab.Proc) ckStepRecord {
	t.Helper()
	snapshot := func() string { return r.procTable(t) + "\x00" + r.fifo.peek() }
	last, changed, moved := snapshot(), since, false
	log, logChanged := r.notifyLog(t), since
	for {
		now := time.Now()
		if snap := snapshot(); snap != last {
			last, changed, moved = snap, now, true
		}
		if l := r.notifyLog(t); l != log {
			log, logChanged = l, now
		}
		quiet := now.Sub(changed) >= ckQuiet && now.Sub(logChanged) >= ckQuiet
		done := quiet && (scriptsDone() || now.Sub(changed) >= ckScripts)
		switch {
		case changes && moved && done && now.Sub(since) >= bound:
			return ckStepRecord{last: changed.Sub(since)}
		case now.Sub(since) >= bound && done && (!changes || !moved && now.Sub(since) >= bound+ckSlack):
			return ckStepRecord{last: changed.Sub(since)}
		case now.Sub(since) > bound+ckSlack+ckGiveUp:
			t.Fatalf("%s, step %q: the lab did not settle within %v:\n%s", name, step, bound+ckSlack+ckGiveUp, proc.Output())
		}
		select {
		case <-proc.Done():
			t.Fatalf("%s exited during step %q:\n%s", name, step, proc.Output())
		case <-time.After(ckPoll):
		}
	}
}

// ckScripts bounds the wait for the notify scripts of a step's changes.
const ckScripts = 20 * time.Second

// scriptsDue is how many notify script lines the FIFO lines so far call
// for: every real server of the scenarios has notify_up and notify_down,
// so one per RS line; one per VS line where the scenario has quorum
// scripts.
func (r *ckLab) scriptsDue(fifo string) int {
	n := 0
	quorum := strings.Contains(r.sc.conf, "quorum_up")
	for _, l := range nonEmpty(fifo) {
		if strings.HasPrefix(l, "RS ") || quorum && strings.HasPrefix(l, "VS ") {
			n++
		}
	}
	return n
}

// procTable is the director's IPVS table as the kernel shows it in
// /proc: cheap to read (no process to start in the emulated guest), for
// noticing changes; the recording is ipvsadm's.
func (r *ckLab) procTable(t *testing.T) string {
	t.Helper()
	var b []byte
	if err := r.dir.Do(func() error {
		var err error
		// thread-self: the namespace of this thread, which Do moved.
		b, err = os.ReadFile("/proc/thread-self/net/ip_vs")
		return err
	}); err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func (r *ckLab) notifyLog(t *testing.T) string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(r.path, "notify.log"))
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// quietLog waits (bounded) until the notify log and the FIFO have not
// changed for ckQuiet.
func (r *ckLab) quietLog(t *testing.T) {
	t.Helper()
	snapshot := func() string { return r.notifyLog(t) + "\x00" + r.fifo.peek() }
	last, changed, start := snapshot(), time.Now(), time.Now()
	for time.Since(changed) < ckQuiet && time.Since(start) < ckGiveUp {
		time.Sleep(ckPoll)
		if l := snapshot(); l != last {
			last, changed = l, time.Now()
		}
	}
}

func sortedLines(s string) []string {
	l := nonEmpty(s)
	slices.Sort(l)
	return l
}

// ckServer is a real server: an HTTP server on its address
// whose status and body the steps set, and whose port they close and
// open again (TCP_CHECK connects to the same port).
type ckServer struct {
	h      *netlab.Host
	addr   string // where it listens, host:port
	mu     sync.Mutex
	status int
	body   string
	srv    *http.Server
}

func (s *ckServer) set(status int, body string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.status = status
	if body != "" {
		s.body = body
	}
}

func (s *ckServer) ServeHTTP(w http.ResponseWriter, _ *http.Request) {
	s.mu.Lock()
	status, body := s.status, s.body
	s.mu.Unlock()
	w.Header().Set("Content-Type", "text/plain")
	w.WriteHeader(status)
	_, _ = w.Write([]byte(body))
}

// listen opens port 80 (a no-op when it is open).
func (s *ckServer) listen() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.srv != nil {
		return nil
	}
	var ln net.Listener
	if err := s.h.Do(func() error {
		var err error
		ln, err = net.Listen("tcp4", s.addr)
		return err
	}); err != nil {
		return fmt.Errorf("listen on %s in %s: %w", s.addr, s.h, err)
	}
	srv := &http.Server{Handler: s, ReadTimeout: 5 * time.Second, WriteTimeout: 5 * time.Second}
	srv.SetKeepAlivesEnabled(false)
	go func() { _ = srv.Serve(ln) }()
	s.srv = srv
	return nil
}

// close closes port 80 and every open connection: a connect is refused.
func (s *ckServer) close() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.srv == nil {
		return nil
	}
	err := s.srv.Close()
	s.srv = nil
	return err
}

// fifoReader reads a FIFO's lines as they come. It holds the FIFO open
// for writing as well, so it never sees an end of file between the
// daemons' runs.
type fifoReader struct {
	f    *os.File
	mu   sync.Mutex
	buf  strings.Builder
	done chan struct{}
}

func openFIFO(path string) (*fifoReader, error) {
	f, err := os.OpenFile(path, os.O_RDWR, 0)
	if err != nil {
		return nil, err
	}
	r := &fifoReader{f: f, done: make(chan struct{})}
	go func() {
		defer close(r.done)
		b := make([]byte, 4096)
		for {
			n, err := f.Read(b)
			if n > 0 {
				r.mu.Lock()
				r.buf.Write(b[:n])
				r.mu.Unlock()
			}
			if err != nil {
				return
			}
		}
	}()
	return r, nil
}

// peek returns what was read since the last take.
func (r *fifoReader) peek() string {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.buf.String()
}

// take returns what was read since the last take and forgets it.
func (r *fifoReader) take() string {
	r.mu.Lock()
	defer r.mu.Unlock()
	s := r.buf.String()
	r.buf.Reset()
	return s
}

func (r *fifoReader) close() {
	r.f.Close()
	<-r.done
}

// TestCheckersConfigs checks the scenarios' configs themselves (it runs
// anywhere): Vigil loads each without an error or a warning, so no
// keyword a scenario relies on is parsed and left unacted; and where
// keepalived is installed, `keepalived -t` accepts each too.
func TestCheckersConfigs(t *testing.T) {
	for _, sc := range ckScenarios {
		t.Run(sc.name, func(t *testing.T) {
			dir := t.TempDir()
			for _, f := range []string{"notify.sh", "misc.sh"} {
				if err := os.WriteFile(filepath.Join(dir, f), []byte("#!/bin/sh\nexit 0\n"), 0o755); err != nil {
					t.Fatal(err)
				}
			}
			conf := filepath.Join(dir, "keepalived.conf")
			text := strings.NewReplacer("DIR", dir, "NET", ckNet(0)).Replace(sc.conf)
			if err := os.WriteFile(conf, []byte(text), 0o644); err != nil {
				t.Fatal(err)
			}
			_, diags := config.Load(conf, config.LoadOptions{})
			for _, d := range diags {
				t.Errorf("%s", d)
			}
			if _, err := exec.LookPath("keepalived"); err != nil {
				return
			}
			out, err := exec.Command("keepalived", "-t", "-f", conf).CombinedOutput()
			if err != nil {
				t.Errorf("keepalived -t refuses the %s config: %v\n%s\n%s", sc.name, err, out, text)
			}
		})
	}
}

// ckProto are the real servers of SMTP_CHECK and UDP_CHECK (on rs1:25 and
// rs1:5353) and of DNS_CHECK (rs2:53), each with the fault a step turns
// on.
type ckProto struct {
	smtpGarbage atomic.Bool // greet with garbage instead of 220
	dnsFail     atomic.Bool // answer SERVFAIL
	udpSilent   atomic.Bool // read and never reply
}

func (p *ckProto) start(t *testing.T, h *netlab.Host, rs1, rs2 string) error {
	var smtp net.Listener
	var echo, dnsConn net.PacketConn
	if err := h.Do(func() error {
		var err error
		if smtp, err = net.Listen("tcp4", rs1+":25"); err != nil {
			return err
		}
		if echo, err = net.ListenPacket("udp4", rs1+":5353"); err != nil {
			return err
		}
		dnsConn, err = net.ListenPacket("udp4", rs2+":53")
		return err
	}); err != nil {
		return fmt.Errorf("listen in %s: %w", h, err)
	}
	var wg sync.WaitGroup
	wg.Add(2)
	go func() {
		defer wg.Done()
		for {
			c, err := smtp.Accept()
			if err != nil {
				return
			}
			wg.Add(1)
			go func() {
				defer wg.Done()
				p.smtpSession(c)
			}()
		}
	}()
	go func() {
		defer wg.Done()
		b := make([]byte, 2048)
		for {
			n, from, err := echo.ReadFrom(b)
			if err != nil {
				return
			}
			if !p.udpSilent.Load() {
				_, _ = echo.WriteTo(b[:n], from)
			}
		}
	}()
	srv := &dns.Server{PacketConn: dnsConn, Handler: dns.HandlerFunc(func(w dns.ResponseWriter, req *dns.Msg) {
		m := new(dns.Msg)
		if p.dnsFail.Load() {
			m.SetRcode(req, dns.RcodeServerFailure)
		} else {
			m.SetReply(req)
			if rr, err := dns.NewRR(req.Question[0].Name + " 60 IN A 10.0.0.1"); err == nil {
				m.Answer = append(m.Answer, rr)
			}
		}
		_ = w.WriteMsg(m)
	})}
	wg.Add(1)
	go func() {
		defer wg.Done()
		_ = srv.ActivateAndServe()
	}()
	t.Cleanup(func() {
		smtp.Close()
		echo.Close()
		_ = srv.Shutdown()
		dnsConn.Close()
		wg.Wait()
	})
	return nil
}

// smtpSession is a minimal SMTP server's side of one connection: the
// greeting, then 250 to everything but QUIT.
func (p *ckProto) smtpSession(c net.Conn) {
	defer c.Close()
	_ = c.SetDeadline(time.Now().Add(10 * time.Second))
	if p.smtpGarbage.Load() {
		_, _ = io.WriteString(c, "hello, this is no mail server\r\n")
		return
	}
	_, _ = io.WriteString(c, "220 lab.test ESMTP\r\n")
	br := bufio.NewReader(c)
	for {
		line, err := br.ReadString('\n')
		if err != nil {
			return
		}
		if strings.HasPrefix(strings.ToUpper(line), "QUIT") {
			_, _ = io.WriteString(c, "221 bye\r\n")
			return
		}
		_, _ = io.WriteString(c, "250 ok\r\n")
	}
}
