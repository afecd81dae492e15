package bench

import (
	"flag"
	"fmt"
	"os"
	"os/exec"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
	"vigil/internal/netlab"
)

// vigilBin is the Vigil binary built once by TestMain for the benchmarks.
var (
	vigilBin string
	buildErr error
)

// quick shortens every scenario (one trial, 5 s windows) for developing
// the benchmarks; its numbers are not for the record.
var quick = os.Getenv("VIGIL_BENCH_QUICK") != ""

// noRace builds the daemon without the race detector, for figures worth
// recording (see TestMain).
var noRace = os.Getenv("VIGIL_BENCH_NORACE") != ""

// TestMain builds Vigil when benchmarks are to run as root, and writes the
// results to $VIGIL_BENCH_REPORT (markdown) at the end if that is set.
func TestMain(m *testing.M) {
	flag.Parse()
	dir, err := os.MkdirTemp("", "vigil-bench-")
	if err != nil {
		fmt.Fprintf(os.Stderr, "bench: temporary directory: %v\n", err)
		os.Exit(1)
	}
	benching := flag.Lookup("test.bench") != nil && flag.Lookup("test.bench").Value.String() != ""
	if bin := os.Getenv("VIGIL_BENCH_BIN"); bin != "" && benching {
		// A build given from outside, to compare two builds in the same
		// conditions; it is used as it is.
		vigilBin = bin
	} else if benching && os.Geteuid() == 0 {
		// Built with the race detector, as for the e2e tests, unless
		// VIGIL_BENCH_NORACE is set (make bench sets it): the detector
		// multiplies CPU time and memory, so the figures for
		// docs/BENCHMARKS.md are taken from the binary the package ships
		// (packaging/build-deb.sh): static, without cgo.
		vigilBin, buildErr = netlab.BuildDaemon(dir, !noRace, 5*time.Minute)
	}
	cleanupOnSignal(func() { os.RemoveAll(dir) })
	rep.start = time.Now()
	rep.load = loadAvg()
	code := m.Run()
	if path := os.Getenv("VIGIL_BENCH_REPORT"); path != "" && benching {
		if err := os.WriteFile(path, []byte(rep.markdown()), 0o644); err != nil {
			fmt.Fprintf(os.Stderr, "bench: writing report: %v\n", err)
			code = 1
		}
	}
	os.RemoveAll(dir)
	os.Exit(code)
}

// need skips without root or keepalived and fails if Vigil did not build.
func need(b *testing.B) {
	b.Helper()
	if os.Geteuid() != 0 {
		b.Skip("bench: these benchmarks run daemons in network namespaces and need root; skipping")
	}
	if _, err := os.Stat(keepalivedBin); err != nil {
		b.Skipf("bench: keepalived is the reference and is not installed (%v); skipping", err)
	}
	if _, err := exec.LookPath("ping"); err != nil {
		b.Skip("bench: ping(8) is needed to check the lab; skipping")
	}
	if buildErr != nil {
		b.Fatal(buildErr)
	}
}

// advertCase is one advert interval and VRRP version.
type advertCase struct {
	name    string // for the results: "v2 1 s"
	sub     string // sub-benchmark name
	conf    string // advert_int as written in the config
	version int
	d       time.Duration
}

var adverts = []advertCase{
	{"v2, advert_int 1", "v2_1s", "1", 2, time.Second},
	{"v3, advert_int 0.05", "v3_50ms", "0.05", 3, 50 * time.Millisecond},
	{"v3, advert_int 0.01", "v3_10ms", "0.01", 3, 10 * time.Millisecond},
}

// probeEvery is the client's ping interval.
const probeEvery = 5 * time.Millisecond

// trials is how many times a failover is measured: 5, but 3 at advert_int
// 1, whose trials take about 10 s each, so that a whole run stays within
// go test's default 10-minute limit.
func trials(advert time.Duration) int {
	switch {
	case quick:
		return 1
	case advert >= time.Second:
		return 3
	}
	return 5
}

func window(full time.Duration) time.Duration {
	if quick {
		return 5 * time.Second
	}
	return full
}

func oneVIP(ac advertCase) []instance {
	return []instance{{name: "VI_1", vrid: 51, advertInt: ac.conf, version: ac.version, vips: []string{vipStr + "/24"}}}
}

// failover runs trials of event against the master of a fresh pair and
// reports the outage the client saw. event must leave a reachable node;
// restore brings the master back.
func failover(b *testing.B, section string, event func(p *pair), restore func(p *pair)) {
	need(b)
	for _, im := range []impl{implVigil, implKeepalived} {
		b.Run(im.name, func(b *testing.B) {
			for _, ac := range adverts {
				b.Run(ac.sub, func(b *testing.B) {
					p := newPair(b, im, oneVIP(ac), ac.d)
					var gaps []time.Duration
					failed := 0
					for i := 0; i < trials(ac.d); i++ {
						done := make(chan struct{})
						r := probe(b, p.client, p.vip, probeEvery, time.Second, 10*time.Second+10*ac.d, func() {
							defer close(done)
							event(p)
						})
						<-done
						if !r.recovered {
							failed++
						}
						gaps = append(gaps, r.gap)
						b.Logf("%s %s trial %d: longest gap %v (%d/%d answered, recovered %v)", im.name, ac.name, i+1, r.gap, r.answered, r.sent, r.recovered)
						restore(p)
						p.settle()
					}
					med, max := Median(gaps), Max(gaps)
					b.ReportMetric(ms(med), "outage_ms_median")
					b.ReportMetric(ms(max), "outage_ms_max")
					b.ReportMetric(float64(len(gaps)), "trials")
					rep.add(section, []string{ac.name, im.name, strconv.Itoa(len(gaps)), fmtMS(med), fmtMS(max), strconv.Itoa(failed)})
				})
			}
		})
	}
}

// BenchmarkFailoverLinkCut: the client pings the VIP every 5 ms while the
// master's cable is pulled (the bridge-side end of its link goes down).
func BenchmarkFailoverLinkCut(b *testing.B) {
	rep.header(secLinkCut, "| adverts | implementation | trials | median outage (ms) | max outage (ms) | no recovery |")
	failover(b, secLinkCut,
		func(p *pair) {
			if err := p.a.h.CutWire("eth0", true); err != nil {
				p.b.Error(err)
			}
		},
		func(p *pair) {
			if err := p.a.h.CutWire("eth0", false); err != nil {
				p.b.Fatal(err)
			}
		})
}

// BenchmarkFailoverStop: the same client while the master gets SIGTERM
// (it sends priority 0 and gives up its VIP; the backup should take over
// within its skew time).
func BenchmarkFailoverStop(b *testing.B) {
	rep.header(secStop, "| adverts | implementation | trials | median outage (ms) | max outage (ms) | no recovery |")
	failover(b, secStop,
		func(p *pair) { p.a.stop() },
		func(p *pair) { p.a.start() })
}

// BenchmarkIdle200: CPU and memory of master and backup with 200
// instances at advert_int 0.1 (v3), measured over 30 s.
func BenchmarkIdle200(b *testing.B) {
	need(b)
	rep.header(secIdle, "| implementation | master CPU % | backup CPU % | master RSS (MB) | backup RSS (MB) | processes (master) |")
	var ins []instance
	for i := 1; i <= 200; i++ {
		ins = append(ins, instance{name: fmt.Sprintf("VI_%d", i), vrid: i, advertInt: "0.1", version: 3,
			vips: []string{fmt.Sprintf("10.77.1.%d/32", i)}})
	}
	for _, im := range []impl{implVigil, implKeepalived} {
		b.Run(im.name, func(b *testing.B) {
			p := newPair(b, im, ins, 100*time.Millisecond)
			pa, pb := p.a.proc.Pid(), p.bk.proc.Pid()
			a0, errA := sampleGroup(pa)
			b0, errB := sampleGroup(pb)
			if errA != nil || errB != nil {
				b.Fatal(errA, errB)
			}
			t0 := time.Now()
			time.Sleep(window(30 * time.Second))
			a1, errA := sampleGroup(pa)
			b1, errB := sampleGroup(pb)
			wall := time.Since(t0)
			if errA != nil || errB != nil {
				b.Fatal(errA, errB)
			}
			p.a.mustRun()
			p.bk.mustRun()
			ca, cb := cpuBetween(a0, a1, wall), cpuBetween(b0, b1, wall)
			ra, rb := mb(a1.rss), mb(b1.rss)
			b.ReportMetric(ca, "cpu_pct_master")
			b.ReportMetric(cb, "cpu_pct_backup")
			b.ReportMetric(ra, "rss_MB_master")
			b.ReportMetric(rb, "rss_MB_backup")
			rep.add(secIdle, []string{im.name, fmt.Sprintf("%.1f", ca), fmt.Sprintf("%.1f", cb),
				fmt.Sprintf("%.1f", ra), fmt.Sprintf("%.1f", rb), strconv.Itoa(len(a1.ticks))})
		})
	}
}

// BenchmarkSpuriousUnderLoad: 8 busy loops saturate the CPUs for 60 s while
// a pair runs one instance at advert_int 0.01 (v3); every state change
// logged by either node in that time is spurious.
func BenchmarkSpuriousUnderLoad(b *testing.B) {
	need(b)
	rep.header(secLoad, "| implementation | global_defs | transitions on a | transitions on b | VIP holder after |")
	vigilRT := impl{name: "vigil (rt)", vigil: true, global: rtLines}
	keepalivedRT := impl{name: "keepalived (rt)", global: rtLines}
	ac := adverts[2]
	for _, im := range []impl{implVigil, vigilRT, implKeepalived, keepalivedRT} {
		b.Run(strings.NewReplacer(" ", "_", "(", "", ")", "").Replace(im.name), func(b *testing.B) {
			p := newPair(b, im, oneVIP(ac), ac.d)
			note := ""
			if im.vigil && len(im.global) > 0 {
				// The real-time variant must really be real time; until the
				// daemon applies the settings itself, apply the same policy
				// from outside and say so.
				ok, err := threadsRR(p.a.proc.Pid())
				if err != nil {
					b.Fatal(err)
				}
				if !ok {
					note = " (SCHED_RR applied with chrt: this Vigil build does not apply vrrp_rt_priority itself)"
					for _, n := range []*node{p.a, p.bk} {
						out, err := exec.Command("chrt", "-a", "-r", "-p", "10", strconv.Itoa(n.proc.Pid())).CombinedOutput()
						if err != nil {
							b.Fatalf("chrt: %v: %s", err, out)
						}
					}
				}
			}
			markA, markB := len(p.a.output()), len(p.bk.output())
			stop := spinners(b, 8)
			time.Sleep(window(60 * time.Second))
			stop()
			// Changes caused by the load may be logged a moment later.
			time.Sleep(time.Second)
			p.a.mustRun()
			p.bk.mustRun()
			ta := CountTransitions(p.a.output()[markA:])
			tb := CountTransitions(p.bk.output()[markB:])
			holders := []string{}
			for _, h := range p.hosts {
				if n, err := countVIPs(h); err == nil && n > 0 {
					holders = append(holders, h.String())
				}
			}
			b.ReportMetric(float64(Total(ta)+Total(tb)), "transitions")
			g := "(defaults)"
			if len(im.global) > 0 {
				g = "`" + strings.Join(im.global, "`, `") + "`" + note
			}
			rep.add(secLoad, []string{im.name, g, fmtCounts(ta), fmtCounts(tb), strings.Join(holders, ", ")})
		})
	}
}

func ms(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }

func fmtMS(d time.Duration) string { return fmt.Sprintf("%.0f", ms(d)) }

func mb(b int64) float64 { return float64(b) / (1 << 20) }

func fmtCounts(m map[string]int) string {
	if Total(m) == 0 {
		return "0"
	}
	var parts []string
	for _, k := range []string{"MASTER", "BACKUP", "FAULT"} {
		if m[k] > 0 {
			parts = append(parts, fmt.Sprintf("%d→%s", m[k], k))
		}
	}
	return fmt.Sprintf("%d (%s)", Total(m), strings.Join(parts, ", "))
}

// Report sections, in the order they are written.
const (
	secLinkCut = "Outage when the master's link is cut"
	secStop    = "Outage when the master is stopped (SIGTERM)"
	secIdle    = "CPU and memory: 200 instances, advert_int 0.1 (v3), 30 s"
	secLoad    = "Spurious transitions: 8 busy loops for 60 s, advert_int 0.01 (v3)"
)

// report collects the rows of every scenario for the markdown file.
type report struct {
	mu      sync.Mutex
	start   time.Time
	load    string
	order   []string
	headers map[string]string
	loads   map[string]string
	rows    map[string][][]string
}

var rep = &report{headers: map[string]string{}, loads: map[string]string{}, rows: map[string][][]string{}}

// header registers a section with its table header and notes the load
// average as the scenario starts.
func (r *report) header(sec, h string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if _, ok := r.headers[sec]; !ok {
		r.order = append(r.order, sec)
		r.loads[sec] = loadAvg()
	}
	r.headers[sec] = h
}

func (r *report) add(sec string, row []string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.rows[sec] = append(r.rows[sec], row)
}

func (r *report) markdown() string {
	r.mu.Lock()
	defer r.mu.Unlock()
	var b strings.Builder
	host, _ := os.Hostname()
	fmt.Fprintf(&b, "Run of %s (%s), %d CPUs, %s/%s, host %q; load average before the run: %s.\n",
		r.start.UTC().Format("2006-01-02 15:04 MST"), time.Since(r.start).Round(time.Second), runtime.NumCPU(), runtime.GOOS, runtime.GOARCH, host, r.load)
	if quick {
		b.WriteString("\nVIGIL_BENCH_QUICK was set: one trial and 5 s windows; not for the record.\n")
	}
	if !noRace {
		b.WriteString("\nVigil was built with -race (VIGIL_BENCH_NORACE unset): its CPU and memory figures are not for the record.\n")
	}
	for _, sec := range r.order {
		rows := r.rows[sec]
		if len(rows) == 0 {
			continue
		}
		fmt.Fprintf(&b, "\n#### %s\n\nLoad average at the start: %s.\n\n%s\n", sec, r.loads[sec], r.headers[sec])
		n := strings.Count(r.headers[sec], "|") - 1
		b.WriteString(strings.Repeat("|---", n) + "|\n")
		for _, row := range rows {
			b.WriteString("| " + strings.Join(row, " | ") + " |\n")
		}
	}
	return b.String()
}
