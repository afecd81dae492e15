package bench

import (
	"bufio"
	"errors"
	"fmt"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"
)

// MaxGap returns the longest interval between consecutive times in ts
// (sorted here, so the order given does not matter). With fewer than two
// times there is no interval and it returns 0.
func MaxGap(ts []time.Time) time.Duration {
	if len(ts) < 2 {
		return 0
	}
	s := slices.Clone(ts)
	slices.SortFunc(s, func(a, b time.Time) int { return a.Compare(b) })
	var max time.Duration
	for i := 1; i < len(s); i++ {
		if d := s[i].Sub(s[i-1]); d > max {
			max = d
		}
	}
	return max
}

// Median returns the median of ds (the mean of the middle two for an even
// count), 0 for none.
func Median(ds []time.Duration) time.Duration {
	if len(ds) == 0 {
		return 0
	}
	s := slices.Clone(ds)
	slices.Sort(s)
	n := len(s)
	if n%2 == 1 {
		return s[n/2]
	}
	return (s[n/2-1] + s[n/2]) / 2
}

// Max returns the largest of ds, 0 for none.
func Max(ds []time.Duration) time.Duration {
	if len(ds) == 0 {
		return 0
	}
	return slices.Max(ds)
}

// ProcStat is what the benchmarks read from /proc/PID/stat.
type ProcStat struct {
	Pgrp  int
	Ticks uint64 // utime + stime of every thread, in clock ticks
}

// ParseStat parses the content of /proc/PID/stat. The command name is in
// parentheses and may itself contain spaces and parentheses, so the fields
// are counted from the last ')'.
func ParseStat(s string) (ProcStat, error) {
	i := strings.LastIndexByte(s, ')')
	if i < 0 {
		return ProcStat{}, fmt.Errorf("stat: no ')' in %q", s)
	}
	f := strings.Fields(s[i+1:])
	// After the name: state(3) ppid(4) pgrp(5) ... utime(14) stime(15).
	if len(f) < 13 {
		return ProcStat{}, fmt.Errorf("stat: %d fields after the name, want at least 13", len(f))
	}
	pgrp, err := strconv.Atoi(f[2])
	if err != nil {
		return ProcStat{}, fmt.Errorf("stat: pgrp %q: %w", f[2], err)
	}
	ut, err := strconv.ParseUint(f[11], 10, 64)
	if err != nil {
		return ProcStat{}, fmt.Errorf("stat: utime %q: %w", f[11], err)
	}
	st, err := strconv.ParseUint(f[12], 10, 64)
	if err != nil {
		return ProcStat{}, fmt.Errorf("stat: stime %q: %w", f[12], err)
	}
	return ProcStat{Pgrp: pgrp, Ticks: ut + st}, nil
}

// ParseRSS returns VmRSS in bytes from the content of /proc/PID/status.
func ParseRSS(status string) (int64, error) {
	sc := bufio.NewScanner(strings.NewReader(status))
	for sc.Scan() {
		rest, ok := strings.CutPrefix(sc.Text(), "VmRSS:")
		if !ok {
			continue
		}
		f := strings.Fields(rest)
		if len(f) != 2 || f[1] != "kB" {
			return 0, fmt.Errorf("status: malformed VmRSS line %q", sc.Text())
		}
		kb, err := strconv.ParseInt(f[0], 10, 64)
		if err != nil {
			return 0, fmt.Errorf("status: VmRSS %q: %w", f[0], err)
		}
		return kb * 1024, nil
	}
	return 0, fmt.Errorf("status: no VmRSS line")
}

// CPUPercent is the CPU use, in percent of one CPU, of ticks clock ticks
// (at hz per second) spent over wall.
func CPUPercent(ticks uint64, hz int, wall time.Duration) float64 {
	if wall <= 0 || hz <= 0 {
		return 0
	}
	return float64(ticks) / float64(hz) / wall.Seconds() * 100
}

// transitionLine is a state change as both implementations log it: Vigil's
// slog message is keepalived's text
// (`msg="(VI_1) Entering MASTER STATE" instance=VI_1 ... to=MASTER`),
// keepalived's syslog line says "(VI_1) Entering MASTER STATE".
var transitionLine = regexp.MustCompile(`\) Entering ([A-Z]+) STATE`)

// CountTransitions counts the state changes logged in out by either
// implementation, by target state.
func CountTransitions(out string) map[string]int {
	res := map[string]int{}
	for _, line := range strings.Split(out, "\n") {
		if m := transitionLine.FindStringSubmatch(line); m != nil {
			res[m[1]]++
		}
	}
	return res
}

// Total is the sum of the counts.
func Total(m map[string]int) int {
	n := 0
	for _, v := range m {
		n += v
	}
	return n
}

// LVSConfig returns a keepalived.conf of n virtual servers, each with one or
// two real servers (alternately) and a TCP_CHECK, every server fully
// specified (scheduler, method, protocol) so that keepalived -t has nothing
// to report. It is the file of internal/config's BenchmarkParse, byte for
// byte: 180,003 lines and 3.5 MB for n = 10,000.
func LVSConfig(n int) string {
	var b strings.Builder
	b.WriteString("global_defs {\n    router_id bench\n}\n")
	for i := range n {
		hi, lo := i/250, i%250+1
		fmt.Fprintf(&b, "virtual_server 10.1.%d.%d 80 {\n", hi, lo)
		b.WriteString("    delay_loop 6\n    lb_algo wrr\n    lb_kind NAT\n    protocol TCP\n")
		for r := 0; r <= i%2; r++ {
			fmt.Fprintf(&b, "    real_server 10.%d.%d.%d 8080 {\n", 2+r, hi, lo)
			b.WriteString("        weight 1\n        TCP_CHECK {\n            connect_timeout 3\n            retry 2\n            delay_before_retry 1\n        }\n    }\n")
		}
		b.WriteString("}\n")
	}
	return b.String()
}

// WrkResult is what one wrk run measured.
type WrkResult struct {
	RPS    float64       // requests per second
	P99    time.Duration // 99th percentile latency
	Errors int           // socket errors and non-2xx answers
	// Requests is the count wrk reports ("N requests in 5.00s").
	Requests int64
	// CPUPerReq is filled by the caller: the CPU time of the process
	// under test per request.
	CPUPerReq time.Duration
}

// ParseWrk reads requests per second, the 99th percentile latency (wrk
// --latency) and the error counts from wrk's output.
func ParseWrk(out string) (WrkResult, error) {
	var w WrkResult
	var haveRPS, haveP99 bool
	for _, line := range strings.Split(out, "\n") {
		f := strings.Fields(line)
		switch {
		case len(f) == 2 && f[0] == "Requests/sec:":
			v, err := strconv.ParseFloat(f[1], 64)
			if err != nil {
				return w, fmt.Errorf("wrk: %q: %w", line, err)
			}
			w.RPS, haveRPS = v, true
		case len(f) == 2 && f[0] == "99%":
			d, err := parseWrkDuration(f[1])
			if err != nil {
				return w, fmt.Errorf("wrk: %q: %w", line, err)
			}
			w.P99, haveP99 = d, true
		case len(f) >= 3 && f[1] == "requests" && f[2] == "in":
			n, err := strconv.ParseInt(f[0], 10, 64)
			if err != nil {
				return w, fmt.Errorf("wrk: %q: %w", line, err)
			}
			w.Requests = n
		case len(f) >= 2 && f[0] == "Non-2xx":
			n, _ := strconv.Atoi(f[len(f)-1])
			w.Errors += n
		case len(f) > 2 && f[0] == "Socket" && f[1] == "errors:":
			// "Socket errors: connect 0, read 0, write 0, timeout 0"
			for i := 2; i+1 < len(f); i += 2 {
				n, _ := strconv.Atoi(strings.TrimSuffix(f[i+1], ","))
				w.Errors += n
			}
		}
	}
	if !haveRPS || !haveP99 {
		return w, errors.New("wrk: no Requests/sec or 99% line in its output:\n" + out)
	}
	return w, nil
}

// parseWrkDuration reads wrk's latency values: "812.00us", "4.23ms", "1.02s",
// "2.00m".
func parseWrkDuration(s string) (time.Duration, error) {
	units := []struct {
		suffix string
		d      time.Duration
	}{{"us", time.Microsecond}, {"ms", time.Millisecond}, {"s", time.Second}, {"m", time.Minute}, {"h", time.Hour}}
	for _, u := range units {
		if v, ok := strings.CutSuffix(s, u.suffix); ok {
			f, err := strconv.ParseFloat(v, 64)
			if err != nil {
				return 0, err
			}
			return time.Duration(f * float64(u.d)), nil
		}
	}
	return 0, fmt.Errorf("unknown unit in %q", s)
}
