package bench

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"vigil/internal/netlab"
)

// The data planes under wrk: a client namespace runs wrk through a VIP on a
// director namespace to nginx real servers in namespaces of their own, on a
// second segment whose default route is the director (so NAT replies come
// back through it). Four implementations take turns on the director, each
// measured with keep-alive and with a new connection per request:
//
//   - nft-anchor: hand-written nftables DNAT (numgen rr), loaded with nft -f;
//   - vigil-nftables: the real daemon, `vigil -C --dataplane nftables`;
//   - haproxy: HAProxy `mode tcp`, balance roundrobin;
//   - vigil-proxy: the real daemon, `vigil -C --dataplane proxy`.
//
// -C runs the LVS side alone in the daemon's process, so the process whose
// memory is measured is the one that holds the connections.

// Lab addresses (only inside the lab's namespaces).
const (
	dpClientAddr   = "10.79.0.9/24"
	dpDirectorAddr = "10.79.0.1/24"
	dpDirectorBack = "10.79.1.1/24"
	dpVIP          = "10.79.0.100"
	dpPort         = 80
)

// dpReals are the real servers' addresses on the back segment.
var dpReals = []string{"10.79.1.11", "10.79.1.12"}

// Settings, from the environment so that a quick run is possible:
// VIGIL_DPBENCH_DURATION (wrk -d, default 5s), VIGIL_DPBENCH_ROUNDS
// (default 3), VIGIL_DPBENCH_IDLE (idle connections for the memory figure,
// default 9000: each proxied connection holds two descriptors in the LVS
// process and this machine's hard limit may be 20,000).
func dpSettings() (dur time.Duration, rounds, idle int) {
	dur, rounds, idle = 5*time.Second, 3, 9000
	if quick {
		dur, rounds, idle = 2*time.Second, 1, 1000
	}
	if v, err := time.ParseDuration(os.Getenv("VIGIL_DPBENCH_DURATION")); err == nil && v > 0 {
		dur = v
	}
	if v, err := strconv.Atoi(os.Getenv("VIGIL_DPBENCH_ROUNDS")); err == nil && v > 0 {
		rounds = v
	}
	if v, err := strconv.Atoi(os.Getenv("VIGIL_DPBENCH_IDLE")); err == nil && v > 0 {
		idle = v
	}
	return dur, rounds, idle
}

// dpLab is the client, the director and the real servers.
type dpLab struct {
	b        *testing.B
	client   *netlab.Host
	director *netlab.Host
	reals    []*netlab.Host
	dir      string
}

// mustExec runs a command in h, failing the benchmark on error.
func mustExec(b *testing.B, h *netlab.Host, name string, args ...string) {
	b.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if _, err := h.Exec(ctx, name, args...); err != nil {
		b.Fatal(err)
	}
}

// sysctlIn sets a sysctl inside h's namespace.
func sysctlIn(b *testing.B, h *netlab.Host, key, value string) {
	b.Helper()
	mustExec(b, h, "sysctl", "-q", "-w", key+"="+value)
}

func newDPLab(b *testing.B) *dpLab {
	b.Helper()
	l := netlab.New(b)
	trackPrefix(l.Prefix(), true)
	b.Cleanup(func() { trackPrefix(l.Prefix(), false) })
	lab := &dpLab{b: b, dir: b.TempDir()}
	lab.client = l.AddHost("client", dpClientAddr)
	lab.director = l.AddHost("director", dpDirectorAddr)
	l.AddLink(lab.director, "eth1", dpDirectorBack)
	mustExec(b, lab.director, "ip", "addr", "add", dpVIP+"/32", "dev", "eth0")
	sysctlIn(b, lab.director, "net.ipv4.ip_forward", "1")
	for _, h := range []*netlab.Host{lab.client, lab.director} {
		sysctlIn(b, h, "net.ipv4.ip_local_port_range", "1024 65000")
		sysctlIn(b, h, "net.ipv4.tcp_tw_reuse", "1")
		sysctlIn(b, h, "net.core.somaxconn", "4096")
	}
	gw := strings.Split(dpDirectorBack, "/")[0]
	for i, a := range dpReals {
		// eth0 (on the client's segment) stays down without an address:
		// the real servers live on the back segment only.
		h := l.AddHost(fmt.Sprintf("real%d", i+1))
		mustExec(b, h, "ip", "link", "set", "eth0", "down")
		l.AddLink(h, "eth1", a+"/24")
		mustExec(b, h, "ip", "route", "add", "default", "via", gw)
		sysctlIn(b, h, "net.core.somaxconn", "4096")
		lab.reals = append(lab.reals, h)
		lab.startNginx(h, i)
	}
	for _, a := range dpReals {
		if err := waitHTTP(lab.director, net.JoinHostPort(a, strconv.Itoa(dpPort)), 10*time.Second); err != nil {
			b.Fatalf("nginx on %s: %v", a, err)
		}
	}
	return lab
}

// dpPage is the real servers' static page: small, as a health page or an
// API answer, so that the figures are about connections and requests.
const dpPage = "<!DOCTYPE html><html><head><title>dpbench</title></head><body>real server %d</body></html>\n"

// startNginx runs nginx in h with a configuration, page, pid file and logs
// of its own in a temporary directory; netlab stops it at cleanup.
func (lab *dpLab) startNginx(h *netlab.Host, i int) {
	b := lab.b
	dir := filepath.Join(lab.dir, fmt.Sprintf("nginx%d", i+1))
	www := filepath.Join(dir, "www")
	if err := os.MkdirAll(www, 0o755); err != nil {
		b.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(www, "index.html"), fmt.Appendf(nil, dpPage, i+1), 0o644); err != nil {
		b.Fatal(err)
	}
	conf := fmt.Sprintf(`daemon off;
master_process on;
user root;
worker_processes 1;
worker_rlimit_nofile 20000;
pid %[1]s/nginx.pid;
error_log %[1]s/error.log warn;
events { worker_connections 10000; }
http {
    access_log off;
    keepalive_timeout 600s;
    keepalive_requests 100000000;
    client_body_temp_path %[1]s/body;
    proxy_temp_path %[1]s/proxy;
    fastcgi_temp_path %[1]s/fastcgi;
    uwsgi_temp_path %[1]s/uwsgi;
    scgi_temp_path %[1]s/scgi;
    server {
        listen %[2]d backlog=4096;
        root %[1]s/www;
    }
}
`, dir, dpPort)
	path := filepath.Join(dir, "nginx.conf")
	if err := os.WriteFile(path, []byte(conf), 0o644); err != nil {
		b.Fatal(err)
	}
	p, err := h.Start(nginxBin, "-e", filepath.Join(dir, "error.log"), "-p", dir, "-c", path)
	if err != nil {
		b.Fatal(err)
	}
	trackGroup(p.Pid(), true)
	b.Cleanup(func() { trackGroup(p.Pid(), false) })
}

const (
	nginxBin   = "/usr/sbin/nginx"
	haproxyBin = "/usr/sbin/haproxy"
	wrkBin     = "/usr/bin/wrk"
)

// waitHTTP polls GET / on addr from h until it answers 200, bounded by limit.
func waitHTTP(h *netlab.Host, addr string, limit time.Duration) error {
	deadline := time.Now().Add(limit)
	var err error
	for time.Now().Before(deadline) {
		err = h.Do(func() error { return httpGetOnce(addr) })
		if err == nil {
			return nil
		}
		time.Sleep(50 * time.Millisecond)
	}
	return err
}

func httpGetOnce(addr string) error {
	c, err := net.DialTimeout("tcp", addr, time.Second)
	if err != nil {
		return err
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(2 * time.Second))
	return getOn(c, bufio.NewReader(c))
}

// getOn sends one keep-alive GET / on c and reads the whole answer.
func getOn(c net.Conn, r *bufio.Reader) error {
	if _, err := io.WriteString(c, "GET / HTTP/1.1\r\nHost: dpbench\r\n\r\n"); err != nil {
		return err
	}
	resp, err := http.ReadResponse(r, nil)
	if err != nil {
		return err
	}
	_, err = io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	if err == nil && resp.StatusCode != 200 {
		err = fmt.Errorf("status %s", resp.Status)
	}
	return err
}

// dpImpl is one implementation on the director: start puts it in place and
// returns its process id (0 when it has none) and how to remove it.
type dpImpl struct {
	name  string
	start func(lab *dpLab) (pid int, stop func())
}

var dpImpls = []dpImpl{
	{"nft-anchor", (*dpLab).startNftAnchor},
	{"vigil-nftables", func(lab *dpLab) (int, func()) { return lab.startVigil("nftables") }},
	{"haproxy", (*dpLab).startHAProxy},
	{"vigil-proxy", func(lab *dpLab) (int, func()) { return lab.startVigil("proxy") }},
}

// startNftAnchor loads the hand-written rules: DNAT of new connections to
// the real servers in turn (numgen inc), conntrack for the rest.
func (lab *dpLab) startNftAnchor() (int, func()) {
	b := lab.b
	var m []string
	for i, a := range dpReals {
		m = append(m, fmt.Sprintf("%d : %s", i, a))
	}
	rules := fmt.Sprintf(`table ip dpbench_anchor {
	chain pre {
		type nat hook prerouting priority dstnat; policy accept;
		ip daddr %s tcp dport %d dnat to numgen inc mod %d map { %s }
	}
}
`, dpVIP, dpPort, len(dpReals), strings.Join(m, ", "))
	path := filepath.Join(lab.dir, "anchor.nft")
	if err := os.WriteFile(path, []byte(rules), 0o644); err != nil {
		b.Fatal(err)
	}
	mustExec(b, lab.director, "nft", "-f", path)
	lab.ready("nft-anchor", nil)
	return 0, func() { mustExec(b, lab.director, "nft", "delete", "table", "ip", "dpbench_anchor") }
}

// startHAProxy runs HAProxy in the foreground (-db) on the director.
func (lab *dpLab) startHAProxy() (int, func()) {
	b := lab.b
	var servers strings.Builder
	for i, a := range dpReals {
		fmt.Fprintf(&servers, "    server real%d %s:%d\n", i+1, a, dpPort)
	}
	conf := fmt.Sprintf(`global
    maxconn 9500
defaults
    mode tcp
    timeout connect 5s
    timeout client 600s
    timeout server 600s
listen vip
    bind %s:%d
    balance roundrobin
%s`, dpVIP, dpPort, servers.String())
	path := filepath.Join(lab.dir, "haproxy.cfg")
	if err := os.WriteFile(path, []byte(conf), 0o644); err != nil {
		b.Fatal(err)
	}
	p, err := lab.director.Start(haproxyBin, "-db", "-f", path)
	if err != nil {
		b.Fatal(err)
	}
	trackGroup(p.Pid(), true)
	lab.ready("haproxy", p)
	return p.Pid(), func() {
		if err := p.Stop(); err != nil {
			b.Logf("haproxy: %v\n%s", err, tail(p.Output(), 20))
		}
		trackGroup(p.Pid(), false)
	}
}

// startVigil runs the daemon's LVS side alone (-C) with the given plane.
func (lab *dpLab) startVigil(plane string) (int, func()) {
	return lab.startVigilBin(vigilBin, plane, "vigil-"+plane)
}

// startVigilBin runs bin (a Vigil build) as startVigil does.
func (lab *dpLab) startVigilBin(bin, plane, name string) (int, func()) {
	b := lab.b
	dir := filepath.Join(lab.dir, name)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		b.Fatal(err)
	}
	var conf strings.Builder
	fmt.Fprintf(&conf, "global_defs {\n    router_id dpbench\n}\nvirtual_server %s %d {\n    lb_algo rr\n    lb_kind NAT\n    protocol TCP\n", dpVIP, dpPort)
	for _, a := range dpReals {
		fmt.Fprintf(&conf, "    real_server %s %d {\n        weight 1\n    }\n", a, dpPort)
	}
	conf.WriteString("}\n")
	path := filepath.Join(dir, "keepalived.conf")
	if err := os.WriteFile(path, []byte(conf.String()), 0o644); err != nil {
		b.Fatal(err)
	}
	args := []string{"VIGIL_STATE_DIR=" + filepath.Join(dir, "state")}
	// VIGIL_DPBENCH_VIGIL_ENV: extra environment of the daemon only
	// ("GOGC=200 GOMAXPROCS=1"), to measure runtime settings.
	env := os.Getenv("VIGIL_DPBENCH_VIGIL_ENV")
	if strings.HasPrefix(name, "other-proxy") {
		env = otherEnv(name)
	}
	args = append(args, strings.Fields(env)...)
	args = append(args, bin, "-C", "-n", "-l", "-f", path, "--dataplane", plane,
		"-p", filepath.Join(dir, "vigil.pid"), "-c", filepath.Join(dir, "checkers.pid"))
	p, err := lab.director.Start("env", args...)
	if err != nil {
		b.Fatal(err)
	}
	trackGroup(p.Pid(), true)
	lab.ready(name, p)
	return p.Pid(), func() {
		if err := p.Stop(); err != nil {
			b.Logf("vigil: %v\n%s", err, tail(p.Output(), 20))
		}
		trackGroup(p.Pid(), false)
	}
}

// ready waits until the client gets an answer through the VIP.
func (lab *dpLab) ready(name string, p *netlab.Proc) {
	lab.b.Helper()
	if err := waitHTTP(lab.client, net.JoinHostPort(dpVIP, strconv.Itoa(dpPort)), 15*time.Second); err != nil {
		out := ""
		if p != nil {
			out = tail(p.Output(), 30)
		}
		lab.b.Fatalf("%s: no answer through the VIP: %v\n%s", name, err, out)
	}
}

// runWrk runs wrk -t2 -c50 in the client namespace.
func (lab *dpLab) runWrk(dur time.Duration, keepAlive bool) (WrkResult, error) {
	args := []string{"-t2", "-c50", "-d" + strconv.Itoa(int(dur.Seconds())) + "s", "--latency", "--timeout", "5s"}
	if !keepAlive {
		args = append(args, "-H", "Connection: close")
	}
	args = append(args, "http://"+net.JoinHostPort(dpVIP, strconv.Itoa(dpPort))+"/")
	ctx, cancel := context.WithTimeout(context.Background(), dur+30*time.Second)
	defer cancel()
	out, err := lab.client.Exec(ctx, wrkBin, args...)
	if err != nil {
		return WrkResult{}, err
	}
	return ParseWrk(string(out))
}

// dpMode is keep-alive or a new connection per request.
type dpMode struct {
	name      string
	keepAlive bool
}

var dpModes = []dpMode{{"keep-alive", true}, {"new connection per request", false}}

// modes is dpModes, or those whose names start with one of
// VIGIL_DPBENCH_MODES's comma-separated words ("new": a new connection
// per request only).
func modes() []dpMode {
	v := os.Getenv("VIGIL_DPBENCH_MODES")
	if v == "" {
		return dpModes
	}
	var ms []dpMode
	for _, m := range dpModes {
		for _, w := range strings.Split(v, ",") {
			if w != "" && strings.HasPrefix(m.name, w) {
				ms = append(ms, m)
				break
			}
		}
	}
	return ms
}

// otherEnv is the environment of the other build named name
// (other-proxy, other-proxy-2, ...): VIGIL_DPBENCH_OTHER_ENV, or with
// semicolons in it, its part in the order of VIGIL_DPBENCH_OTHER_BIN's
// builds ("GOMAXPROCS=2;GOGC=400": the first build with one, the second
// with the other; a part left out is empty).
func otherEnv(name string) string {
	env := os.Getenv("VIGIL_DPBENCH_OTHER_ENV")
	if !strings.Contains(env, ";") {
		return env
	}
	i := 0
	if n, err := strconv.Atoi(strings.TrimPrefix(name, "other-proxy-")); err == nil {
		i = n - 1
	}
	if parts := strings.Split(env, ";"); i < len(parts) {
		return parts[i]
	}
	return ""
}

// BenchmarkDataplanes measures the four implementations under wrk, in
// rounds; each round runs them in a different order (rotated), each with
// both modes. It reports the medians and the memory of idle proxied
// connections. Root, nginx, wrk and HAProxy needed; nothing is asserted on
// the figures.
func BenchmarkDataplanes(b *testing.B) {
	if os.Geteuid() != 0 {
		b.Skip("bench: the data plane lab needs root; skipping")
	}
	for _, bin := range []string{nginxBin, haproxyBin, wrkBin, "/usr/sbin/nft"} {
		if _, err := os.Stat(bin); err != nil {
			b.Skipf("bench: %s is needed (apt-get install nginx-light haproxy wrk nftables): %v", bin, err)
		}
	}
	if buildErr != nil {
		b.Fatal(buildErr)
	}
	dur, rounds, idle := dpSettings()
	impls := slices.Clone(dpImpls) // filtered below: never dpImpls itself
	if bins := os.Getenv("VIGIL_DPBENCH_OTHER_BIN"); bins != "" {
		// Other builds' proxy plane (or the same build with
		// VIGIL_DPBENCH_OTHER_ENV) as more cases, to compare versions or
		// settings of the plane in the same run: a comma-separated list,
		// named other-proxy, other-proxy-2, ...
		for i, bin := range strings.Split(bins, ",") {
			name := "other-proxy"
			if i > 0 {
				name = fmt.Sprintf("other-proxy-%d", i+1)
			}
			impls = append(impls, dpImpl{name, func(lab *dpLab) (int, func()) {
				return lab.startVigilBin(bin, "proxy", name)
			}})
		}
	}
	if v := os.Getenv("VIGIL_DPBENCH_IMPLS"); v != "" {
		// A subset, for working on one plane: "haproxy,vigil-proxy".
		want := strings.Split(v, ",")
		impls = slices.DeleteFunc(impls, func(im dpImpl) bool { return !slices.Contains(want, im.name) })
	}
	lab := newDPLab(b)
	// The sections' headers first: they note the load average at the start.
	sec, msec := "Data planes under wrk", "Idle proxied connections"
	rep.header(sec, "| case | implementation | rounds (req/s) | median req/s | median p99 (ms) | median CPU µs/request | errors | ratio to anchor | goal |")
	rep.header(msec, "| implementation | connections | RSS before (MB) | RSS after (MB) | per connection (kB) | per 10,000 connections (MB) |")

	type key struct{ impl, mode string }
	res := map[key][]WrkResult{}
	loads := []string{loadAvg()}
	for r := range rounds {
		order := slices.Clone(impls)
		k := r % len(order)
		order = append(order[k:], order[:k]...)
		for _, im := range order {
			pid, stop := im.start(lab)
			for _, m := range modes() {
				var s0 groupSample
				if pid != 0 {
					s0, _ = sampleGroup(pid)
				}
				var endPerf func()
				if dir := os.Getenv("VIGIL_DPBENCH_PERF"); dir != "" && pid != 0 {
					// A profile of the process under test, for work on a
					// plane: perf record into DIR/<impl>-<mode>-<round>.data.
					out := filepath.Join(dir, fmt.Sprintf("%s-%t-%d.data", im.name, m.keepAlive, r+1))
					args := []string{"perf", "record", "-g", "-o", out, "-p", strconv.Itoa(pid)}
					if os.Getenv("VIGIL_DPBENCH_STRACE") != "" {
						// System call counts instead (slows the process).
						args = []string{"strace", "-c", "-f", "-o", out + ".strace", "-p", strconv.Itoa(pid)}
					}
					endPerf = startProfiler(b, args...)
				}
				w, err := lab.runWrk(dur, m.keepAlive)
				if endPerf != nil {
					endPerf()
				}
				if err != nil {
					stop()
					b.Fatalf("%s, %s: %v", im.name, m.name, err)
				}
				cpu := ""
				if pid != 0 {
					// CPU time of the director's process per request:
					// steadier than the rate on a shared machine.
					if s1, err := sampleGroup(pid); err == nil && w.Requests > 0 {
						w.CPUPerReq = time.Duration(float64(cpuTicks(s0, s1)) / userHZ * float64(time.Second) / float64(w.Requests))
						cpu = fmt.Sprintf(" CPU %v/request", w.CPUPerReq)
					}
				}
				b.Logf("round %d %s %s: %.0f req/s p99 %v errors %d%s (load %s)", r+1, im.name, m.name, w.RPS, w.P99, w.Errors, cpu, loadAvg())
				res[key{im.name, m.name}] = append(res[key{im.name, m.name}], w)
			}
			stop()
		}
		loads = append(loads, loadAvg())
	}

	goals := map[key]struct {
		anchor string
		min    float64
	}{
		{"vigil-nftables", "keep-alive"}:                 {"nft-anchor", 0.95},
		{"vigil-nftables", "new connection per request"}: {"nft-anchor", 0.95},
		{"vigil-proxy", "keep-alive"}:                    {"haproxy", 1.2},
		{"vigil-proxy", "new connection per request"}:    {"haproxy", 1.0},
	}
	for _, m := range modes() {
		for _, im := range impls {
			ws := res[key{im.name, m.name}]
			rps := make([]float64, len(ws))
			p99 := make([]time.Duration, len(ws))
			cpus := make([]time.Duration, len(ws))
			errs := 0
			var runs []string
			for i, w := range ws {
				rps[i], p99[i], cpus[i] = w.RPS, w.P99, w.CPUPerReq
				errs += w.Errors
				runs = append(runs, fmt.Sprintf("%.0f", w.RPS))
			}
			if len(ws) == 0 {
				continue
			}
			med := medianF(rps)
			ratio, goal := "", ""
			if g, ok := goals[key{im.name, m.name}]; ok {
				a := medianF(rpsOf(res[key{g.anchor, m.name}]))
				if a > 0 && len(ws) > 0 {
					q := med / a
					ratio = fmt.Sprintf("%.2f× %s", q, g.anchor)
					verdict := "met"
					if q < g.min {
						verdict = "NOT met"
					}
					goal = fmt.Sprintf("≥ %.2f×: %s", g.min, verdict)
					b.ReportMetric(q, strings.ReplaceAll(im.name+"_"+m.name, " ", "_")+"_ratio")
				}
			}
			b.ReportMetric(med, strings.ReplaceAll(im.name+"_"+m.name, " ", "_")+"_req/s")
			rep.add(sec, []string{m.name, im.name, strings.Join(runs, " / "), fmt.Sprintf("%.0f", med),
				fmt.Sprintf("%.2f", float64(Median(p99).Microseconds())/1000), cpuCell(Median(cpus)), strconv.Itoa(errs), ratio, goal})
		}
	}
	b.Logf("load average before and after each round: %s", strings.Join(loads, " → "))
	rep.add(sec, []string{"load average", "before and after each round", strings.Join(loads, " → "), "", "", "", "", "", ""})

	// Memory of idle proxied connections: the LVS process (and HAProxy,
	// for comparison) before and after idle connections are opened.
	for _, name := range []string{"vigil-proxy", "haproxy"} {
		k := slices.IndexFunc(impls, func(x dpImpl) bool { return x.name == name })
		if k < 0 {
			continue
		}
		im := impls[k]
		pid, stop := im.start(lab)
		before, after, n, err := lab.idleMemory(pid, idle)
		stop()
		if err != nil {
			b.Fatalf("%s: idle connections: %v", im.name, err)
		}
		per := float64(after-before) / float64(n)
		b.Logf("%s: %d idle connections: RSS %d → %d kB, %.1f kB each", im.name, n, before>>10, after>>10, per/1024)
		if im.name == "vigil-proxy" {
			b.ReportMetric(per*10000/(1<<20), "vigil-proxy_MB/10k_idle")
		}
		rep.add(msec, []string{im.name, strconv.Itoa(n), fmt.Sprintf("%.1f", float64(before)/(1<<20)),
			fmt.Sprintf("%.1f", float64(after)/(1<<20)), fmt.Sprintf("%.1f", per/1024), fmt.Sprintf("%.0f", per*10000/(1<<20))})
	}
}

// cpuCell shows a CPU time per request in µs, "-" when not measured (the
// kernel's NAT has no process of its own).
func cpuCell(d time.Duration) string {
	if d == 0 {
		return "-"
	}
	return fmt.Sprintf("%.1f", float64(d.Nanoseconds())/1000)
}

// cpuTicks is the CPU time, in clock ticks, of the processes present in
// both samples.
func cpuTicks(s0, s1 groupSample) uint64 {
	var d uint64
	for pid, t1 := range s1.ticks {
		if t0, ok := s0.ticks[pid]; ok && t1 >= t0 {
			d += t1 - t0
		}
	}
	return d
}

func rpsOf(ws []WrkResult) []float64 {
	out := make([]float64, len(ws))
	for i, w := range ws {
		out[i] = w.RPS
	}
	return out
}

func medianF(v []float64) float64 {
	if len(v) == 0 {
		return 0
	}
	s := slices.Clone(v)
	slices.Sort(s)
	n := len(s)
	if n%2 == 1 {
		return s[n/2]
	}
	return (s[n/2-1] + s[n/2]) / 2
}

// rssOf is the resident memory of one process (every thread), in bytes.
func rssOf(pid int) (int64, error) {
	st, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0, err
	}
	return ParseRSS(string(st))
}

// idleMemory opens n connections through the VIP from the client, one
// request and answer each, then leaves them idle, and reads the RSS of pid
// before and after (for HAProxy, the sum over its process group: its
// master and worker). It closes them before returning.
func (lab *dpLab) idleMemory(pid, n int) (before, after int64, opened int, err error) {
	rss := func() (int64, error) {
		s, err := sampleGroup(pid)
		return s.rss, err
	}
	// Warm up: a few connections so that the first-use costs are in
	// "before".
	addr := net.JoinHostPort(dpVIP, strconv.Itoa(dpPort))
	for range 20 {
		if err := lab.client.Do(func() error { return httpGetOnce(addr) }); err != nil {
			return 0, 0, 0, err
		}
	}
	time.Sleep(500 * time.Millisecond)
	if before, err = rss(); err != nil {
		return 0, 0, 0, err
	}
	var conns []net.Conn
	defer func() {
		for _, c := range conns {
			c.Close()
		}
	}()
	deadline := time.Now().Add(2 * time.Minute)
	err = lab.client.Do(func() error {
		for len(conns) < n {
			if time.Now().After(deadline) {
				return fmt.Errorf("only %d of %d connections after 2 minutes", len(conns), n)
			}
			c, err := net.DialTimeout("tcp", addr, 5*time.Second)
			if err != nil {
				return fmt.Errorf("connection %d: %w", len(conns)+1, err)
			}
			conns = append(conns, c)
			c.SetDeadline(time.Now().Add(5 * time.Second))
			if err := getOn(c, bufio.NewReader(c)); err != nil {
				return fmt.Errorf("connection %d: %w", len(conns), err)
			}
			c.SetDeadline(time.Time{})
		}
		return nil
	})
	if err != nil {
		return 0, 0, 0, err
	}
	time.Sleep(time.Second)
	if after, err = rss(); err != nil {
		return 0, 0, 0, err
	}
	return before, after, len(conns), nil
}
