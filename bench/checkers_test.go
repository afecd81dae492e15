package bench

import (
	"bufio"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/md5"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"errors"
	"fmt"
	"math/big"
	"net"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"vigil/internal/netlab"
)

// secCheckers is the report section of BenchmarkCheckers.
const secCheckers = "Health checks: Vigil's LVS process and HAProxy, same real servers, checks every 1 s"

// checkScenario is one checker load: kind and count of real servers.
type checkScenario struct {
	name string // sub-benchmark name
	desc string // for the report
	kind string // "tcp", "http" or "ssl"
	n    int
	// net is the second octet of the real servers' addresses
	// (10.NET.x.y), routed locally on the namespace's loopback.
	net  int
	port uint16
}

// checkBody is what every HTTP real server answers; its MD5 is the digest
// Vigil's HTTP_GET and SSL_GET expect.
const checkBody = "vigil checker benchmark\n"

// checkScenarios: the loads. VIGIL_BENCH_CHECKS sets the number
// of TCP checks (10,000; 2,000 with VIGIL_BENCH_QUICK), and
// VIGIL_BENCH_HTTP_CHECKS that of HTTP and SSL checks (1,000).
func checkScenarios() []checkScenario {
	nTCP := 10000
	if quick {
		nTCP = 2000
	}
	nTCP = envInt("VIGIL_BENCH_CHECKS", nTCP)
	nHTTP := envInt("VIGIL_BENCH_HTTP_CHECKS", 1000)
	return []checkScenario{
		{name: fmt.Sprintf("TCP_CHECK_%d", nTCP), desc: fmt.Sprintf("%d × TCP_CHECK", nTCP), kind: "tcp", n: nTCP, net: 201, port: 8080},
		{name: fmt.Sprintf("HTTP_GET_%d", nHTTP), desc: fmt.Sprintf("%d × HTTP_GET (digest)", nHTTP), kind: "http", n: nHTTP, net: 202, port: 8080},
		{name: fmt.Sprintf("SSL_GET_%d", nHTTP), desc: fmt.Sprintf("%d × SSL_GET (digest)", nHTTP), kind: "ssl", n: nHTTP, net: 203, port: 8443},
	}
}

// addr is real server i of the scenario: 10.NET.(i/250).(i%250+1).
func (s checkScenario) addr(i int) netip.AddrPort {
	return netip.AddrPortFrom(netip.AddrFrom4([4]byte{10, byte(s.net), byte(i / 250), byte(i%250 + 1)}), s.port)
}

// perVS is how many real servers each virtual server (or HAProxy backend)
// has: the loads are spread over several services, as in a real table.
const perVS = 250

// vigilConf is the keepalived.conf of the scenario: one virtual server per
// perVS real servers, delay_loop 1, the checker's defaults otherwise.
func (s checkScenario) vigilConf() string {
	var b strings.Builder
	b.WriteString("global_defs {\n    router_id checkbench\n}\n")
	sum := md5.Sum([]byte(checkBody))
	for v := 0; v*perVS < s.n; v++ {
		fmt.Fprintf(&b, "virtual_server 10.200.%d.%d 80 {\n    delay_loop 1\n    lb_algo rr\n    lb_kind NAT\n    protocol TCP\n", s.net, v+1)
		for i := v * perVS; i < min(s.n, (v+1)*perVS); i++ {
			a := s.addr(i)
			fmt.Fprintf(&b, "    real_server %s %d {\n        weight 1\n", a.Addr(), a.Port())
			switch s.kind {
			case "tcp":
				b.WriteString("        TCP_CHECK {\n            connect_timeout 3\n        }\n")
			case "http", "ssl":
				fmt.Fprintf(&b, "        %s_GET {\n            url {\n                path /check\n                digest %x\n            }\n            connect_timeout 3\n        }\n",
					map[string]string{"http": "HTTP", "ssl": "SSL"}[s.kind], sum)
			}
			b.WriteString("    }\n")
		}
		b.WriteString("}\n")
	}
	return b.String()
}

// haproxyConf is the equivalent HAProxy configuration: one backend per
// perVS servers, every server checked every second (`check inter 1s`),
// with an HTTP check (`option httpchk`, status 200) for HTTP_GET and the
// same over TLS (`check-ssl`) for SSL_GET. HAProxy cannot check a digest;
// it reads the status line, and the rest of the exchange is the same.
func (s checkScenario) haproxyConf() string {
	var b strings.Builder
	b.WriteString("global\n    maxconn 4096\n\ndefaults\n    mode tcp\n    timeout connect 3s\n    timeout check 3s\n    timeout client 10s\n    timeout server 10s\n\n")
	// HAProxy refuses to start without a listener; this one is never used.
	b.WriteString("frontend fe\n    bind 127.0.0.1:18000\n    default_backend b0\n\n")
	for v := 0; v*perVS < s.n; v++ {
		fmt.Fprintf(&b, "backend b%d\n    balance roundrobin\n", v)
		if s.kind != "tcp" {
			b.WriteString("    option httpchk GET /check\n    http-check expect status 200\n")
		}
		for i := v * perVS; i < min(s.n, (v+1)*perVS); i++ {
			a := s.addr(i)
			fmt.Fprintf(&b, "    server s%d %s check inter 1s", i, a)
			if s.kind == "ssl" {
				b.WriteString(" check-ssl verify none")
			}
			b.WriteString("\n")
		}
		b.WriteString("\n")
	}
	return b.String()
}

// checkListener is the real servers of a scenario: one listening socket
// per real server, made in the lab's namespace but served by this process
// (which is not measured). It counts the checks it served completely: a
// response written (HTTP, SSL). TCP checks are counted by the kernel
// instead (synCounter): HAProxy never completes the handshake of a TCP
// check (it leaves the last ACK out and resets), so no accept(2) sees it.
type checkListener struct {
	served atomic.Int64
	// count is how checks are counted: served, or the SYN counter.
	count func() int64
	lns   []net.Listener
	wg    sync.WaitGroup
}

// listen opens the scenario's listeners in h's namespace. Their addresses
// are made local by the route 10.NET.0.0/16 on lo (see BenchmarkCheckers).
func listen(h *netlab.Host, s checkScenario, cert *tls.Certificate) (*checkListener, error) {
	l := &checkListener{}
	// Plain TCP listeners, as the real servers checks meet (nginx,
	// HAProxy, a database) open them. Go opens a listener as MPTCP by
	// default since 1.24, and the kernel then runs MPTCP's code on every
	// SYN: in the checker's context, since on loopback the listener's
	// side of each handshake runs in the sender's (about 8 % of the LVS
	// process's CPU, and as much of HAProxy's, by a perf profile).
	var lc net.ListenConfig
	lc.SetMultipathTCP(false)
	err := h.Do(func() error {
		for i := range s.n {
			ln, err := lc.Listen(context.Background(), "tcp4", s.addr(i).String())
			if err != nil {
				return err
			}
			l.lns = append(l.lns, ln)
		}
		return nil
	})
	if err != nil {
		l.close()
		return nil, err
	}
	l.count = l.served.Load
	if s.kind == "tcp" {
		if l.count, err = synCounter(h, s); err != nil {
			l.close()
			return nil, err
		}
	}
	var tcfg *tls.Config
	if s.kind == "ssl" {
		tcfg = &tls.Config{Certificates: []tls.Certificate{*cert}}
	}
	resp := []byte(fmt.Sprintf("HTTP/1.0 200 OK\r\nContent-Type: text/plain\r\nContent-Length: %d\r\n\r\n%s", len(checkBody), checkBody))
	for _, ln := range l.lns {
		l.wg.Add(1)
		go func() {
			defer l.wg.Done()
			for {
				c, err := ln.Accept()
				if err != nil {
					if errors.Is(err, net.ErrClosed) {
						return
					}
					continue // EMFILE and the like: the check fails, we go on
				}
				if s.kind == "tcp" {
					c.Close()
					continue
				}
				go func() {
					defer c.Close()
					c.SetDeadline(time.Now().Add(5 * time.Second))
					if tcfg != nil {
						c = tls.Server(c, tcfg)
					}
					// Read the request up to its empty line, answer, close.
					rd := bufio.NewReader(c)
					for {
						line, err := rd.ReadString('\n')
						if err != nil {
							return
						}
						if line == "\r\n" || line == "\n" {
							break
						}
					}
					if _, err := c.Write(resp); err == nil {
						l.served.Add(1)
					}
				}()
			}
		}()
	}
	return l, nil
}

// synCounter counts, with an nftables rule in h's namespace, the SYNs that
// reach the scenario's real servers: one per TCP check, whether the
// checker completes the handshake or not.
func synCounter(h *netlab.Host, s checkScenario) (func() int64, error) {
	rules := fmt.Sprintf(`table inet chkbench {
	chain in {
		type filter hook input priority -300; policy accept;
		ip daddr 10.%d.0.0/16 tcp dport %d tcp flags & (syn | ack) == syn counter
	}
}
`, s.net, s.port)
	cmd := exec.Command("ip", "netns", "exec", h.Name(), "nft", "-f", "-")
	cmd.Stdin = strings.NewReader(rules)
	if out, err := cmd.CombinedOutput(); err != nil {
		return nil, fmt.Errorf("nft: %v: %s", err, out)
	}
	re := regexp.MustCompile(`counter packets (\d+)`)
	return func() int64 {
		out, err := exec.Command("ip", "netns", "exec", h.Name(), "nft", "list", "chain", "inet", "chkbench", "in").Output()
		if err != nil {
			return -1
		}
		m := re.FindSubmatch(out)
		if m == nil {
			return -1
		}
		n, _ := strconv.ParseInt(string(m[1]), 10, 64)
		return n
	}, nil
}

func (l *checkListener) close() {
	for _, ln := range l.lns {
		ln.Close()
	}
	l.wg.Wait()
}

// selfSigned makes a throwaway ECDSA certificate for the SSL real servers.
func selfSigned() (*tls.Certificate, error) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, err
	}
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "checkbench"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(24 * time.Hour)}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		return nil, err
	}
	return &tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key}, nil
}

// procSample is one process's CPU time (all threads) and RSS.
type procSample struct {
	ticks uint64
	rss   int64
}

func sampleProc(pid int) (procSample, error) {
	st, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return procSample{}, err
	}
	ps, err := ParseStat(string(st))
	if err != nil {
		return procSample{}, err
	}
	status, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return procSample{}, err
	}
	rss, err := ParseRSS(string(status))
	if err != nil {
		return procSample{}, err
	}
	return procSample{ticks: ps.Ticks, rss: rss}, nil
}

// children lists the child processes of pid (from every process's
// /proc/PID/stat: the kernel may lack the children file).
func children(pid int) []int {
	ents, _ := os.ReadDir("/proc")
	var res []int
	for _, e := range ents {
		c, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		st, err := os.ReadFile(filepath.Join("/proc", e.Name(), "stat"))
		if err != nil {
			continue
		}
		s := string(st)
		f := strings.Fields(s[strings.LastIndexByte(s, ')')+1:])
		if len(f) > 1 && f[1] == strconv.Itoa(pid) {
			res = append(res, c)
		}
	}
	return res
}

// minRate is the share of N checks a second below which a run is void: a
// check starts delay_loop (inter) after the previous one ends, so the
// rate is a little under N/s (the HTTP and SSL exchanges take longer).
const minRate = 0.9

// steadyAfter is how long after its start a checker is first measured,
// whatever it does (the same for Vigil and HAProxy): the window shows the
// steady cost of checking every second, not a start's (Vigil's LVS process
// loads its table, reports every server once and settles its memory 10 s
// after the start, see memtrim; HAProxy spreads its first checks over the
// first interval).
var steadyAfter = 30 * time.Second

// perfRuns numbers the profiles VIGIL_BENCH_PERF asks for.
var perfRuns int

// checkRun is one measured window of one checker.
type checkRun struct {
	cpu   float64 // % of one core
	rss   float64 // MB, at the end of the window
	rate  float64 // checks served per second, as the listener counted
	other string  // note: the other processes of the implementation
}

// measureChecker starts a checker (vigil or haproxy) on the scenario, waits
// until the listener sees the full rate (or a minute), and measures the
// checking process over the window.
func measureChecker(b *testing.B, h *netlab.Host, s checkScenario, l *checkListener, who string, win time.Duration) checkRun {
	b.Helper()
	dir := b.TempDir()
	var p *netlab.Proc
	var err error
	switch who {
	case "vigil":
		conf := filepath.Join(dir, "keepalived.conf")
		if err := os.WriteFile(conf, []byte(s.vigilConf()), 0o644); err != nil {
			b.Fatal(err)
		}
		p, err = h.Start("env", "VIGIL_STATE_DIR="+filepath.Join(dir, "state"), vigilBin,
			"-n", "-l", "--dataplane", benchPlane(), "-f", conf,
			"-p", filepath.Join(dir, "vigil.pid"), "-c", filepath.Join(dir, "checkers.pid"))
	case "haproxy":
		conf := filepath.Join(dir, "haproxy.cfg")
		if err := os.WriteFile(conf, []byte(s.haproxyConf()), 0o644); err != nil {
			b.Fatal(err)
		}
		p, err = h.Start(haproxyBin, "-db", "-f", conf)
	}
	if err != nil {
		b.Fatal(err)
	}
	trackGroup(p.Pid(), true)
	defer func() {
		if err := p.Stop(); err != nil {
			b.Logf("%s: exit: %v", who, err)
		}
		trackGroup(p.Pid(), false)
	}()
	// The measured process: HAProxy itself (one process, its threads);
	// Vigil's LVS child (the VRRP parent only supervises it).
	pid := p.Pid()
	deadline := time.Now().Add(60 * time.Second)
	if who == "vigil" {
		for {
			if c := children(p.Pid()); len(c) > 0 {
				pid = c[0]
				break
			}
			if time.Now().After(deadline) {
				b.Fatalf("vigil started no LVS process:\n%s", tail(p.Output(), 30))
			}
			time.Sleep(100 * time.Millisecond)
		}
	}
	// Wait for the full rate: two consecutive seconds at minRate of n,
	// and no sooner than steadyAfter the start.
	started := time.Now()
	good := 0
	for good < 2 || time.Since(started) < steadyAfter {
		select {
		case <-p.Done():
			b.Fatalf("%s exited:\n%s", who, tail(p.Output(), 30))
		default:
		}
		c0 := l.count()
		time.Sleep(time.Second)
		if float64(l.count()-c0) >= minRate*float64(s.n) {
			good++
		} else {
			good = 0
		}
		if time.Now().After(deadline) {
			b.Logf("%s did not reach %d checks/s within a minute; measuring anyway", who, s.n)
			break
		}
	}
	s0, err := sampleProc(pid)
	if err != nil {
		b.Fatal(err)
	}
	parent0, _ := sampleProc(p.Pid())
	c0 := l.count()
	t0 := time.Now()
	var endPerf func()
	if dir := os.Getenv("VIGIL_BENCH_PERF"); dir != "" {
		// A profile of the measured process over the window, for work on
		// a checker: perf record into DIR/<who>-<n>.data (it costs the
		// process some CPU: the figures of such a run are not the bench's).
		perfRuns++
		endPerf = startProfiler(b, "perf", "record", "-g", "-o", filepath.Join(dir, fmt.Sprintf("%s-%d.data", who, perfRuns)), "-p", strconv.Itoa(pid))
	}
	time.Sleep(win)
	s1, err := sampleProc(pid)
	if endPerf != nil {
		endPerf()
	}
	wall := time.Since(t0)
	c1 := l.count()
	if err != nil {
		b.Fatalf("%s: %v\n%s", who, err, tail(p.Output(), 30))
	}
	r := checkRun{cpu: CPUPercent(s1.ticks-s0.ticks, userHZ, wall), rss: mb(s1.rss), rate: float64(c1-c0) / wall.Seconds()}
	if r.rate < minRate*float64(s.n) {
		// Say why: the checker's own account of its failures.
		var lines []string
		for _, l := range strings.Split(p.Output(), "\n") {
			if strings.Contains(l, "fail") || strings.Contains(l, "DOWN") || strings.Contains(l, "ALERT") {
				lines = append(lines, l)
			}
		}
		if len(lines) > 5 {
			lines = lines[len(lines)-5:]
		}
		b.Logf("%s: %.0f checks/s of %d; last failures:\n%s", who, r.rate, s.n, strings.Join(lines, "\n"))
	}
	if who == "vigil" {
		parent1, _ := sampleProc(p.Pid())
		r.other = fmt.Sprintf("VRRP parent: %.1f %% CPU, %.1f MB", CPUPercent(parent1.ticks-parent0.ticks, userHZ, wall), mb(parent1.rss))
	}
	return r
}

// BenchmarkCheckers runs the checker loads side by side: Vigil's
// LVS process (the whole daemon, in a throwaway namespace, with the proxy
// plane: a listener per virtual server that no client uses, since this
// host has no IPVS and the nftables plane takes minutes to load 10,000
// destinations one transaction at a time) and HAProxy 2.6 with the same real servers, one after the
// other, alternating, against listeners this process serves on addresses
// local to the namespace. It reports each one's CPU (utime+stime of all
// threads, from /proc/PID/stat) and RSS over the window, and the rate of
// checks the listeners served, which must be about N/s for the figures
// to count (a run below 90 % is marked void). keepalived's checker process
// cannot run here: it exits when the kernel has no IPVS.
func BenchmarkCheckers(b *testing.B) {
	if os.Geteuid() != 0 {
		b.Skip("bench: the checker benchmark runs daemons in a network namespace and needs root; skipping")
	}
	if _, err := os.Stat(haproxyBin); err != nil {
		b.Skipf("bench: HAProxy is the reference for health checks and is not installed (%v); skipping", err)
	}
	if buildErr != nil {
		b.Fatal(buildErr)
	}
	rep.header(secCheckers, "| load | implementation | checks/s (listener) | CPU (% of one core) | RSS (MB) | CPU µs per check | note |")
	cert, err := selfSigned()
	if err != nil {
		b.Fatal(err)
	}
	// The listeners are this process: on a machine shared with other
	// work they must not be the bottleneck (TLS handshakes cost them as
	// much as the checker), so every thread of this process gets a
	// higher priority (nice -10; threads made later inherit it).
	if tasks, err := os.ReadDir("/proc/self/task"); err == nil {
		for _, t := range tasks {
			if tid, err := strconv.Atoi(t.Name()); err == nil {
				syscall.Setpriority(syscall.PRIO_PROCESS, tid, -10)
			}
		}
	}
	rounds := 2
	if quick {
		rounds = 1
		steadyAfter = 5 * time.Second
	}
	win := window(15 * time.Second)
	for _, s := range checkScenarios() {
		b.Run(s.name, func(b *testing.B) {
			lab := netlab.New(b)
			h := lab.AddHost("ck", "10.77.0.2/24")
			// Every address of 10.NET.0.0/16 is local, on lo.
			if out, err := h.Exec(b.Context(), "ip", "route", "add", "local", fmt.Sprintf("10.%d.0.0/16", s.net), "dev", "lo"); err != nil {
				b.Fatalf("ip route: %v: %s", err, out)
			}
			l, err := listen(h, s, cert)
			if err != nil {
				b.Fatal(err)
			}
			defer l.close()
			runs := map[string][]checkRun{}
			for round := 0; round < rounds; round++ {
				for _, who := range []string{"vigil", "haproxy"} {
					r := measureChecker(b, h, s, l, who, win)
					runs[who] = append(runs[who], r)
					note := r.other
					if r.rate < minRate*float64(s.n) {
						note = strings.TrimPrefix(note+"; ", "; ") + fmt.Sprintf("VOID: %.0f checks/s, not %d", r.rate, s.n)
					}
					b.Logf("%s round %d: %s: %.0f checks/s, CPU %.1f %%, RSS %.1f MB (load %s) %s", s.name, round+1, who, r.rate, r.cpu, r.rss, loadAvg(), note)
					rep.add(secCheckers, []string{s.desc, who, fmt.Sprintf("%.0f", r.rate), fmt.Sprintf("%.1f", r.cpu), fmt.Sprintf("%.1f", r.rss),
						fmt.Sprintf("%.0f", r.cpu/100*1e6/max(r.rate, 1)), note + " (load " + loadAvg() + ")"})
				}
			}
			for who, rs := range runs {
				var cpu, rss, rate float64
				for _, r := range rs {
					cpu += r.cpu / float64(len(rs))
					rss += r.rss / float64(len(rs))
					rate += r.rate / float64(len(rs))
				}
				b.ReportMetric(cpu, who+"_cpu_pct")
				b.ReportMetric(rss, who+"_rss_MB")
				b.ReportMetric(rate, who+"_checks/s")
			}
		})
	}
}

// benchPlane is the data plane Vigil runs with: VIGIL_BENCH_DATAPLANE, or
// proxy (the earlier runs' plane, a listener and destination records per
// virtual server in the LVS process). With "auto" the daemon picks the
// host's kernel plane (nftables here), whose table the kernel holds, as
// IPVS's is on a director.
func benchPlane() string {
	if p := os.Getenv("VIGIL_BENCH_DATAPLANE"); p != "" {
		return p
	}
	return "proxy"
}
