package bench

import (
	"strings"
	"testing"
	"time"
)

func TestMaxGap(t *testing.T) {
	t0 := time.Unix(1000, 0)
	at := func(ms ...int) []time.Time {
		var ts []time.Time
		for _, m := range ms {
			ts = append(ts, t0.Add(time.Duration(m)*time.Millisecond))
		}
		return ts
	}
	tests := []struct {
		name string
		ts   []time.Time
		want time.Duration
	}{
		{"none", nil, 0},
		{"one", at(5), 0},
		{"steady", at(0, 5, 10, 15), 5 * time.Millisecond},
		{"outage in the middle", at(0, 5, 10, 400, 405), 390 * time.Millisecond},
		{"unsorted", at(405, 0, 10, 400, 5), 390 * time.Millisecond},
	}
	for _, tt := range tests {
		if got := MaxGap(tt.ts); got != tt.want {
			t.Errorf("%s: MaxGap = %v, want %v", tt.name, got, tt.want)
		}
	}
}

func TestMedianMax(t *testing.T) {
	ms := func(v ...int) []time.Duration {
		var ds []time.Duration
		for _, x := range v {
			ds = append(ds, time.Duration(x)*time.Millisecond)
		}
		return ds
	}
	tests := []struct {
		in          []time.Duration
		median, max time.Duration
	}{
		{nil, 0, 0},
		{ms(7), 7 * time.Millisecond, 7 * time.Millisecond},
		{ms(30, 10, 20), 20 * time.Millisecond, 30 * time.Millisecond},
		{ms(40, 10, 20, 30), 25 * time.Millisecond, 40 * time.Millisecond},
	}
	for _, tt := range tests {
		if got := Median(tt.in); got != tt.median {
			t.Errorf("Median(%v) = %v, want %v", tt.in, got, tt.median)
		}
		if got := Max(tt.in); got != tt.max {
			t.Errorf("Max(%v) = %v, want %v", tt.in, got, tt.max)
		}
	}
}

func TestParseStat(t *testing.T) {
	tests := []struct {
		name    string
		in      string
		want    ProcStat
		wantErr bool
	}{
		{
			name: "keepalived",
			in:   "4242 (keepalived) S 4241 4240 4240 0 -1 4194624 300 0 0 0 17 23 0 0 20 0 1 0 123 10000 500 18446744073709551615",
			want: ProcStat{Pgrp: 4240, Ticks: 40},
		},
		{
			name: "name with spaces and parentheses",
			in:   "77 (a (b) c) R 1 77 77 0 -1 0 0 0 0 0 100 1 0 0 20 0 4 0 1 1 1",
			want: ProcStat{Pgrp: 77, Ticks: 101},
		},
		{name: "truncated", in: "1 (x) S 0 1", wantErr: true},
		{name: "no name", in: "1 x S 0 1 1 0 0 0 0 0 0 0 0 0", wantErr: true},
		{name: "bad utime", in: "1 (x) S 0 1 1 0 -1 0 0 0 0 0 zz 1 0 0", wantErr: true},
	}
	for _, tt := range tests {
		got, err := ParseStat(tt.in)
		if (err != nil) != tt.wantErr {
			t.Errorf("%s: err = %v, wantErr %v", tt.name, err, tt.wantErr)
			continue
		}
		if err == nil && got != tt.want {
			t.Errorf("%s: got %+v, want %+v", tt.name, got, tt.want)
		}
	}
}

func TestParseRSS(t *testing.T) {
	got, err := ParseRSS("Name:\tvigil\nVmPeak:\t  9000 kB\nVmRSS:\t    1234 kB\nThreads:\t7\n")
	if err != nil || got != 1234*1024 {
		t.Errorf("ParseRSS = %d, %v; want %d", got, err, 1234*1024)
	}
	for _, bad := range []string{"Name:\tx\n", "VmRSS:\t12 MB\n", "VmRSS:\tx kB\n"} {
		if _, err := ParseRSS(bad); err == nil {
			t.Errorf("ParseRSS(%q): no error", bad)
		}
	}
}

func TestCPUPercent(t *testing.T) {
	if got := CPUPercent(300, 100, 30*time.Second); got != 10 {
		t.Errorf("300 ticks at 100 Hz over 30 s = %v%%, want 10%%", got)
	}
	if got := CPUPercent(5, 100, 0); got != 0 {
		t.Errorf("zero wall time: %v, want 0", got)
	}
}

func TestCountTransitions(t *testing.T) {
	log := `time=2025-01-01T00:00:00Z level=INFO msg="(VI_1) Entering BACKUP STATE (init)" instance=VI_1 vrid=51 from=INIT to=BACKUP reason=startup
time=2025-01-01T00:00:01Z level=INFO msg="(VI_1) Master received advert from 10.0.0.2 with higher priority 150, ours 100" instance=VI_1 vrid=51 from=MASTER to=BACKUP
time=2025-01-01T00:00:01Z level=INFO msg="(VI_1) Entering MASTER STATE" instance=VI_1 vrid=51 from=BACKUP to=MASTER reason="master down"
time=2025-01-01T00:00:01Z level=INFO msg="effective priority changed" from=100 to=90
Mon Jan  1 00:00:02 2025: (VI_1) Entering MASTER STATE
Mon Jan  1 00:00:03 2025: (VI_1) Entering BACKUP STATE
Mon Jan  1 00:00:03 2025: (VI_1) received lower priority advert
Mon Jan  1 00:00:04 2025: (VI_2) Entering FAULT STATE`
	got := CountTransitions(log)
	want := map[string]int{"BACKUP": 2, "MASTER": 2, "FAULT": 1}
	if len(got) != len(want) {
		t.Fatalf("got %v, want %v", got, want)
	}
	for k, v := range want {
		if got[k] != v {
			t.Errorf("%s: got %d, want %d (all: %v)", k, got[k], v, got)
		}
	}
	if Total(got) != 5 {
		t.Errorf("Total = %d, want 5", Total(got))
	}
}

func TestLVSConfig(t *testing.T) {
	c := LVSConfig(10000)
	if n := strings.Count(c, "\n"); n != 180003 {
		t.Errorf("%d lines, want 180003", n)
	}
	if n := strings.Count(c, "virtual_server "); n != 10000 {
		t.Errorf("%d virtual servers, want 10000", n)
	}
	if n := strings.Count(c, "TCP_CHECK {"); n != 15000 {
		t.Errorf("%d checkers, want 15000 (one per real server)", n)
	}
	if strings.Count(c, "{") != strings.Count(c, "}") {
		t.Error("braces do not balance")
	}
}

// wrkOutput is wrk 4.1's output with --latency, trimmed of nothing.
const wrkOutput = `Running 5s test @ http://10.79.0.100:80/
  2 threads and 50 connections
  Thread Stats   Avg      Stdev     Max   +/- Stdev
    Latency   812.10us  401.22us  12.03ms   88.10%
    Req/Sec    30.12k     2.01k   35.40k    70.00%
  Latency Distribution
     50%  720.00us
     75%    0.95ms
     90%    1.20ms
     99%    2.31ms
  299712 requests in 5.00s, 88.20MB read
  Socket errors: connect 0, read 3, write 1, timeout 2
  Non-2xx or 3xx responses: 4
Requests/sec:  59942.40
Transfer/sec:     17.64MB
`

func TestParseWrk(t *testing.T) {
	w, err := ParseWrk(wrkOutput)
	if err != nil {
		t.Fatal(err)
	}
	want := WrkResult{RPS: 59942.40, P99: 2310 * time.Microsecond, Errors: 10, Requests: 299712}
	if w != want {
		t.Errorf("ParseWrk = %+v, want %+v", w, want)
	}
	if _, err := ParseWrk("Requests/sec:  10.0\n"); err == nil {
		t.Error("output without a 99% line: no error")
	}
	for in, want := range map[string]time.Duration{"812.00us": 812 * time.Microsecond, "1.50s": 1500 * time.Millisecond, "2.00m": 2 * time.Minute} {
		if d, err := parseWrkDuration(in); err != nil || d != want {
			t.Errorf("parseWrkDuration(%q) = %v, %v; want %v", in, d, err, want)
		}
	}
	if _, err := parseWrkDuration("3.0xs"); err == nil {
		t.Error(`parseWrkDuration("3.0xs"): no error`)
	}
}
