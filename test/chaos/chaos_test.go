package chaos

import (
	"context"
	"flag"
	"fmt"
	"os"
	"os/exec"
	"regexp"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"vigil/internal/netlab"
	"vigil/internal/status"
)

var (
	flagSeed   = flag.Uint64("chaos.seed", 0, "seed of the campaign; 0 draws one (env VIGIL_CHAOS_SEED)")
	flagEvents = flag.Int("chaos.events", 60, "random events in the campaign (env VIGIL_CHAOS_EVENTS); make chaos runs 500")
	flagKnown  = flag.Bool("chaos.known", false, "add use_vmac and a virtual_rules entry with a preference, which an unchanged reload restarts today (issue 11)")
)

// vigilBin is the daemon under test, built with the race detector by
// TestMain; buildErr says why not.
var (
	vigilBin string
	buildErr error
)

func TestMain(m *testing.M) {
	flag.Parse()
	os.Exit(runMain(m))
}

func runMain(m *testing.M) int {
	dir, err := os.MkdirTemp("", "vigil-chaos-")
	if err != nil {
		fmt.Fprintf(os.Stderr, "chaos: temporary directory: %v\n", err)
		return 1
	}
	defer os.RemoveAll(dir)
	// Only a root run without -short runs the campaign; do not spend a
	// race build on one that skips.
	if os.Geteuid() == 0 && !testing.Short() && wantsCampaign() {
		vigilBin, buildErr = netlab.BuildDaemon(dir, true, 10*time.Minute)
	}
	return m.Run()
}

// wantsCampaign reports whether -run can select TestChaos; a run of the
// unit tests alone does not need the daemon.
func wantsCampaign() bool {
	f := flag.Lookup("test.run")
	if f == nil || f.Value.String() == "" {
		return true
	}
	re, err := regexp.Compile(strings.SplitN(f.Value.String(), "/", 2)[0])
	return err != nil || re.MatchString("TestChaos")
}

// campaignParams returns the seed (drawn when none is given) and the event
// count, from the flags or the environment.
func campaignParams(t *testing.T) (uint64, int) {
	seed, events := *flagSeed, *flagEvents
	if s := os.Getenv("VIGIL_CHAOS_SEED"); s != "" && seed == 0 {
		v, err := strconv.ParseUint(s, 10, 64)
		if err != nil {
			t.Fatalf("VIGIL_CHAOS_SEED=%q: %v", s, err)
		}
		seed = v
	}
	if s := os.Getenv("VIGIL_CHAOS_EVENTS"); s != "" {
		v, err := strconv.Atoi(s)
		if err != nil || v < 1 {
			t.Fatalf("VIGIL_CHAOS_EVENTS=%q: want a positive count", s)
		}
		events = v
	}
	if seed == 0 {
		seed = uint64(time.Now().UnixNano())
	}
	return seed, events
}

// stableFor is how long the invariants must hold, poll after poll, for the
// network to count as settled: many adverts of the 10 ms and 100 ms
// instances, so a disturbance that comes a moment late is not missed.
const stableFor = 300 * time.Millisecond

// quietFor is the stability asked after an unchanged reload and a burst of
// malformed packets, events after which nothing may move at all: long
// enough for a reload to have run and for a restarted instance to show.
const quietFor = time.Second

// pollEvery is the interval between two observations.
const pollEvery = 50 * time.Millisecond

// logEntry is one line of the event log printed on failure.
type logEntry struct {
	at     time.Duration
	text   string
	settle time.Duration
}

// campaign is one run.
type campaign struct {
	*lab
	seed     uint64
	began    time.Time
	log      []logEntry
	checks   int      // settled checks, each of every invariant
	spurious []string // transitions in windows where nothing should move (not violations by themselves)
	maxKind  map[EventKind]time.Duration
	polls    int // observations
	longest  time.Duration
	longestE string
}

// TestChaos runs the campaign: -chaos.events random events from
// -chaos.seed against two Vigils and a keepalived. See the package doc.
func TestChaos(t *testing.T) {
	if testing.Short() {
		t.Skip("chaos: the campaign runs daemons for minutes; skipped with -short")
	}
	if os.Geteuid() != 0 {
		t.Skip("chaos: the campaign runs daemons in network namespaces and needs root; skipping")
	}
	if _, err := os.Stat(keepalivedBin); err != nil {
		t.Skipf("chaos: keepalived, the third node, is not installed (%v); skipping", err)
	}
	if _, err := exec.LookPath("nft"); err != nil {
		t.Skip("chaos: nft(8) is needed for the network faults and is not installed; skipping")
	}
	if buildErr != nil {
		t.Fatal(buildErr)
	}
	seed, n := campaignParams(t)
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	w := Default()
	if *flagKnown {
		w = WithKnownDefects(w)
	}
	events := Generate(seed, n, w)
	c := &campaign{lab: newLab(t, ctx, w.Clone()), seed: seed, began: time.Now(), maxKind: map[EventKind]time.Duration{}}
	t.Logf("chaos: seed %d, %d events; replay with: %s", seed, n, c.replay(n))
	for _, nd := range c.nodes {
		c.start(nd)
	}
	c.settle("start", 3*c.w.SettleBound(), stableFor, nil)
	kinds := map[EventKind]int{}
	for i, ev := range events {
		c.run(i+1, ev)
		kinds[ev.Kind]++
	}
	var mix []string
	for k := EvFault; k <= EvGarbage; k++ {
		mix = append(mix, fmt.Sprintf("%s %d (longest settle %v)", kindNames[k], kinds[k], c.maxKind[k].Round(time.Millisecond)))
	}
	t.Logf("chaos: seed %d: %d events (%s), %d invariant checks over %d observations, 0 violations, longest settle %v (%s), %d spurious transitions in quiet windows, %v in all",
		seed, len(events), strings.Join(mix, ", "), c.checks, c.polls, c.longest.Round(time.Millisecond), c.longestE, len(c.spurious), time.Since(c.began).Round(time.Second))
	for _, s := range c.spurious {
		t.Logf("chaos: spurious: %s", s)
	}
}

var kindNames = [...]string{"fault", "heal", "kill", "stop", "start", "hup-same", "hup-change", "cpu", "garbage"}

// run performs event i, then waits for the network to settle and checks it.
func (c *campaign) run(i int, ev Event) {
	t := c.t
	t.Helper()
	desc := fmt.Sprintf("#%d %s", i, ev.Describe(c.w))
	c.log = append(c.log, logEntry{at: time.Since(c.began), text: desc})
	stable := stableFor
	var quiet func(to time.Time) []string
	switch ev.Kind {
	case EvFault, EvHeal:
		ev.Apply(c.w)
		if err := c.setFaults(); err != nil {
			c.fail(desc, []string{err.Error()})
		}
	case EvKill:
		nd := c.nodes[ev.Node]
		if err := nd.proc.Signal(syscall.SIGKILL); err != nil {
			c.fail(desc, []string{err.Error()})
		}
		if err := nd.waitExit(10 * time.Second); err != nil {
			c.fail(desc, []string{err.Error()})
		}
		c.start(nd)
	case EvStop:
		ev.Apply(c.w)
		nd := c.nodes[ev.Node]
		if err := nd.signal(syscall.SIGTERM); err != nil {
			c.fail(desc, []string{err.Error()})
		}
		if err := nd.waitExit(15 * time.Second); err != nil {
			c.fail(desc, []string{err.Error()})
		}
	case EvStart:
		ev.Apply(c.w)
		c.start(c.nodes[ev.Node])
	case EvHupSame:
		c.waitStreams(desc)
		from := time.Now()
		nd := c.nodes[ev.Node]
		if err := nd.signal(syscall.SIGHUP); err != nil {
			c.fail(desc, []string{err.Error()})
		}
		stable = quietFor
		what := "an unchanged reload of " + nd.spec.Name
		quiet = func(to time.Time) []string { return Restarted(what, nd.spec.Name, nd.transitions(), from, to) }
		defer c.countSpurious(from)
	case EvHupChange:
		before := c.w.Clone()
		ev.Apply(c.w)
		for _, nd := range c.nodes {
			if err := os.WriteFile(nd.conf(), []byte(c.w.Conf(nd.idx)), 0o644); err != nil {
				t.Fatal(err)
			}
		}
		for _, n := range Reloaded(before, c.w) {
			if err := c.nodes[n].signal(syscall.SIGHUP); err != nil {
				c.fail(desc, []string{err.Error()})
			}
		}
	case EvCPU:
		c.cpuBurst(ev.Dur)
	case EvGarbage:
		c.waitStreams(desc)
		ds := Garbage(ev.Seed, ev.Count, strangerAddr, c.w)
		before := c.drops()
		from := time.Now()
		if err := c.sendGarbage(ds); err != nil {
			c.fail(desc, []string{"sending malformed packets: " + err.Error()})
		}
		stable = quietFor
		quiet = func(to time.Time) []string {
			var v []string
			for _, nd := range c.nodes {
				v = append(v, ObeyedStranger(strangerAddr, nd.transitions(), from, to)...)
			}
			return v
		}
		defer c.countSpurious(from)
		defer c.checkDrops(desc, ds, before)
	}
	d := c.settle(desc, c.w.SettleBound(), stable, quiet)
	c.log[len(c.log)-1].settle = d
	c.maxKind[ev.Kind] = max(c.maxKind[ev.Kind], d)
}

// countSpurious adds the transitions every Vigil reported since from, in
// a window where nothing should have moved, to the campaign's count.
func (c *campaign) countSpurious(from time.Time) {
	now := time.Now()
	for _, nd := range c.nodes {
		for _, tr := range Between(nd.transitions(), from, now) {
			c.spurious = append(c.spurious, fmt.Sprintf("after %s: %s", c.log[len(c.log)-1].text, tr))
		}
	}
}

// drops returns the sum of every instance's drop counters per running
// Vigil node (-1 for the others).
func (c *campaign) drops() []int64 {
	out := make([]int64, len(c.nodes))
	for i, nd := range c.nodes {
		out[i] = -1
		if nd.spec.Kind != Vigil || !nd.running() {
			continue
		}
		ctx, cancel := context.WithTimeout(c.ctx, 2*time.Second)
		st, err := status.NewClient(nd.socket()).Status(ctx)
		cancel()
		if err != nil {
			continue
		}
		var sum int64
		for _, in := range st.Instances {
			for _, n := range in.Drops {
				sum += int64(n)
			}
		}
		out[i] = sum
	}
	return out
}

// checkDrops fails unless every Vigil that hears the stranger counted
// drops for the burst ds, when ds carried a VRID of a present instance:
// the packets must have arrived and been refused, not gone unseen.
func (c *campaign) checkDrops(desc string, ds []Datagram, before []int64) {
	aimed := false
	for _, d := range ds {
		for _, in := range c.w.Instances {
			if in.Present && len(d.Data) > 1 && int(d.Data[1]) == in.Spec.VRID && d.TTL == 255 {
				aimed = true
			}
		}
	}
	if !aimed {
		return
	}
	after := c.drops()
	var v []string
	for i, nd := range c.nodes {
		if before[i] < 0 || after[i] < 0 || !c.w.HearsStranger(i) {
			continue
		}
		if after[i] <= before[i] {
			v = append(v, fmt.Sprintf("%s counted no drop for %d malformed packets (drops %d before, %d after)", nd.spec.Name, len(ds), before[i], after[i]))
		}
	}
	if len(v) > 0 {
		c.fail(desc, v)
	}
}

// waitStreams waits until the event stream of every running Vigil is
// open, so that a quiet check cannot miss a transition.
func (c *campaign) waitStreams(desc string) {
	deadline := time.Now().Add(5 * time.Second)
	for _, nd := range c.nodes {
		for nd.spec.Kind == Vigil && nd.running() && !nd.streamOpen() {
			if time.Now().After(deadline) {
				c.fail(desc, []string{nd.spec.Name + ": the event stream does not open"})
			}
			time.Sleep(pollEvery)
		}
	}
}

// settle polls until every invariant has held for stable, which must
// begin within bound; it returns how long after the call that began. A
// quiet check, when given, must hold over the whole wait.
func (c *campaign) settle(desc string, bound, stable time.Duration, quiet func(to time.Time) []string) time.Duration {
	begin := time.Now()
	deadline := begin.Add(bound)
	var okSince time.Time
	var last []string
	for {
		now := time.Now()
		v := Check(c.w, c.observe())
		c.polls++
		if quiet != nil {
			// A transition that happened never un-happens: no waiting.
			if q := quiet(time.Now()); len(q) > 0 {
				c.fail(desc, q)
			}
		}
		if len(v) == 0 {
			if okSince.IsZero() {
				okSince = now
			}
			if time.Since(okSince) >= stable {
				c.checks++
				d := okSince.Sub(begin)
				if d > c.longest {
					c.longest, c.longestE = d, desc
				}
				return d
			}
		} else {
			okSince = time.Time{}
			last = v
			if now.After(deadline) {
				c.fail(desc, append([]string{fmt.Sprintf("not settled %v after the event", bound)}, last...))
			}
		}
		time.Sleep(pollEvery)
	}
}

// replay is the command that runs the first n events of this campaign again.
func (c *campaign) replay(n int) string {
	s := fmt.Sprintf("go test ./test/chaos -run '^TestChaos$' -v -chaos.seed=%d -chaos.events=%d", c.seed, n)
	if *flagKnown {
		s += " -chaos.known"
	}
	return s
}

// fail ends the campaign with what was violated, the seed and the event
// log, and the end of every daemon's log.
func (c *campaign) fail(desc string, violations []string) {
	t := c.t
	t.Helper()
	var b strings.Builder
	fmt.Fprintf(&b, "chaos: violation after %s\n", desc)
	for _, v := range violations {
		fmt.Fprintf(&b, "  - %s\n", v)
	}
	fmt.Fprintf(&b, "seed %d; replay with: %s\n", c.seed, c.replay(len(c.log)))
	b.WriteString("event log (time since start, event, time to settle):\n")
	for _, e := range c.log {
		fmt.Fprintf(&b, "  %9s  %s", e.at.Round(time.Millisecond), e.text)
		if e.settle > 0 {
			fmt.Fprintf(&b, "  [settled in %v]", e.settle.Round(time.Millisecond))
		}
		b.WriteString("\n")
	}
	for _, nd := range c.nodes {
		var trs []string
		for _, tr := range nd.transitions() {
			trs = append(trs, fmt.Sprintf("    %s %s", tr.At.Format("15:04:05.000"), tr))
		}
		if len(trs) > 20 {
			trs = trs[len(trs)-20:]
		}
		if len(trs) > 0 {
			fmt.Fprintf(&b, "last transitions of %s:\n%s\n", nd.spec.Name, strings.Join(trs, "\n"))
		}
		if nd.log != "" {
			fmt.Fprintf(&b, "--- last lines of %s ---\n%s\n", nd.log, nd.tail(40))
		}
	}
	t.Fatal(b.String())
}
