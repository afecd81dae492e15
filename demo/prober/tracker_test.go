package main

import (
	"reflect"
	"strings"
	"testing"
	"time"
)

var t0 = time.Date(2024, 1, 1, 0, 0, 0, 0, time.UTC)

// at is a result sent ms milliseconds after t0, answered by node ("" = failed).
func at(ms int, node string) result {
	r := result{sent: t0.Add(time.Duration(ms) * time.Millisecond), node: node}
	if node == "" {
		r.err = "timeout"
	}
	return r
}

func TestTrackerLines(t *testing.T) {
	tests := []struct {
		name    string
		results []result
		lines   []string // every line printed, in order
		summary []string
	}{
		{
			name:    "steady",
			results: []result{at(0, "node1"), at(20, "node1"), at(40, "node1")},
			lines:   []string{"+  0.00s  answered by node1"},
			summary: []string{
				"3 requests, 0 failed; answers by node: node1=3",
				"longest interruption: 0 ms (no request failed)",
			},
		},
		{
			name: "failover",
			results: []result{
				at(0, "node1"), at(20, "node1"),
				at(40, ""), at(60, ""), at(80, ""),
				at(3620, "node2"), at(3640, "node2"),
			},
			lines: []string{
				"+  0.00s  answered by node1",
				"+  0.04s  requests failing (timeout); last answer from node1 at +  0.02s",
				"+  3.62s  answered by node2 instead of node1: no answer for 3600 ms (3 failed request(s))",
			},
			summary: []string{
				"7 requests, 3 failed; answers by node: node1=2 node2=2",
				"longest interruption: 3600 ms, from +  0.02s until node2 answered",
			},
		},
		{
			name:    "switch without failure",
			results: []result{at(0, "node2"), at(20, "node1"), at(40, "node1")},
			lines: []string{
				"+  0.00s  answered by node2",
				"+  0.02s  now answered by node1 instead of node2, without a failed request",
			},
			summary: []string{
				"3 requests, 0 failed; answers by node: node1=2 node2=1",
				"longest interruption: 0 ms (no request failed)",
			},
		},
		{
			name: "longest of two outages",
			results: []result{
				at(0, "node1"), at(20, ""), at(500, "node2"),
				at(520, ""), at(540, ""), at(1520, "node1"),
				at(1540, ""), at(1600, "node1"),
			},
			lines: []string{
				"+  0.00s  answered by node1",
				"+  0.02s  requests failing (timeout); last answer from node1 at +  0.00s",
				"+  0.50s  answered by node2 instead of node1: no answer for 500 ms (1 failed request(s))",
				"+  0.52s  requests failing (timeout); last answer from node2 at +  0.50s",
				"+  1.52s  answered by node1 instead of node2: no answer for 1020 ms (2 failed request(s))",
				"+  1.54s  requests failing (timeout); last answer from node1 at +  1.52s",
				"+  1.60s  answered by node1 again: no answer for 80 ms (1 failed request(s))",
			},
			summary: []string{
				"8 requests, 4 failed; answers by node: node1=3 node2=1",
				"longest interruption: 1020 ms, from +  0.50s until node1 answered",
			},
		},
		{
			name:    "failing before the first answer is not an interruption",
			results: []result{at(0, ""), at(20, ""), at(40, "node1"), at(60, "node1")},
			lines: []string{
				"+  0.00s  requests failing (timeout), no answer yet",
				"+  0.04s  answered by node1, after 2 failed request(s) since +  0.00s",
			},
			summary: []string{
				"4 requests, 2 failed; answers by node: node1=2",
				"longest interruption: 0 ms (no request failed)",
			},
		},
		{
			name:    "still failing at the end",
			results: []result{at(0, "node1"), at(20, ""), at(40, "")},
			lines: []string{
				"+  0.00s  answered by node1",
				"+  0.02s  requests failing (timeout); last answer from node1 at +  0.00s",
			},
			summary: []string{
				"3 requests, 2 failed; answers by node: node1=1",
				// summary is taken at t0+2s below
				"longest interruption: 2000 ms, from +  0.00s, still failing at the end",
			},
		},
		{
			name:    "never answered",
			results: []result{at(0, ""), at(20, "")},
			lines:   []string{"+  0.00s  requests failing (timeout), no answer yet"},
			summary: []string{
				"2 requests, 2 failed; answers by node: none",
				"no request was ever answered",
			},
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			tr := newTracker(t0)
			var lines []string
			for _, r := range tc.results {
				lines = append(lines, tr.observe(r)...)
			}
			if !reflect.DeepEqual(lines, tc.lines) {
				t.Errorf("lines:\n%s\nwant:\n%s", strings.Join(lines, "\n"), strings.Join(tc.lines, "\n"))
			}
			if got := tr.summary(t0.Add(2 * time.Second)); !reflect.DeepEqual(got, tc.summary) {
				t.Errorf("summary:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(tc.summary, "\n"))
			}
		})
	}
}

func TestReorder(t *testing.T) {
	tests := []struct {
		name string
		in   []int   // seq numbers in completion order
		out  [][]int // what each add releases
	}{
		{"in order", []int{0, 1, 2}, [][]int{{0}, {1}, {2}}},
		{"timeout finishes last", []int{1, 2, 0, 3}, [][]int{nil, nil, {0, 1, 2}, {3}}},
		{"two gaps", []int{2, 0, 3, 1}, [][]int{nil, {0}, nil, {1, 2, 3}}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			o := newReorder()
			for i, s := range tc.in {
				var got []int
				for _, r := range o.add(result{seq: s}) {
					got = append(got, r.seq)
				}
				if !reflect.DeepEqual(got, tc.out[i]) {
					t.Errorf("add(%d) released %v, want %v", s, got, tc.out[i])
				}
			}
			if len(o.pending) != 0 {
				t.Errorf("%d results left pending", len(o.pending))
			}
		})
	}
}
