package main

import (
	"fmt"
	"sort"
	"time"
)

// result is the outcome of one request, stamped with the time it was sent:
// what matters for an outage is when the service was asked, not when the
// (possibly timed-out) answer came back.
type result struct {
	seq  int
	sent time.Time
	node string // who answered; empty when the request failed
	err  string // why it failed, short
}

// tracker turns the stream of results, in send order, into the few lines
// worth printing: the answering node changed, requests started or stopped
// failing. It is pure: time comes only from the results, so it is tested
// without a clock.
type tracker struct {
	t0 time.Time // zero of the printed timestamps

	node      string    // last node that answered
	lastOK    time.Time // send time of the last successful request
	haveOK    bool
	failing   bool
	failSince time.Time // send time of the first failure of the current streak
	failCount int       // failures in the current streak

	total, failed int
	byNode        map[string]int

	longest     time.Duration // longest time without an answer, between two answers
	longestFrom time.Time     // the last answer before it
	longestTo   string        // the node that answered after it
}

func newTracker(t0 time.Time) *tracker {
	return &tracker{t0: t0, byNode: map[string]int{}}
}

// stamp formats a time relative to the tracker's zero.
func (t *tracker) stamp(at time.Time) string {
	return fmt.Sprintf("+%6.2fs", at.Sub(t.t0).Seconds())
}

// observe records one result and returns the lines it is worth printing.
// Results must come in send order.
func (t *tracker) observe(r result) []string {
	t.total++
	if r.node == "" {
		t.failed++
		if t.failing {
			t.failCount++
			return nil
		}
		t.failing, t.failSince, t.failCount = true, r.sent, 1
		if !t.haveOK {
			return []string{fmt.Sprintf("%s  requests failing (%s), no answer yet", t.stamp(r.sent), r.err)}
		}
		return []string{fmt.Sprintf("%s  requests failing (%s); last answer from %s at %s",
			t.stamp(r.sent), r.err, t.node, t.stamp(t.lastOK))}
	}

	t.byNode[r.node]++
	var lines []string
	switch {
	case !t.haveOK && t.failing:
		lines = append(lines, fmt.Sprintf("%s  answered by %s, after %d failed request(s) since %s",
			t.stamp(r.sent), r.node, t.failCount, t.stamp(t.failSince)))
	case !t.haveOK:
		lines = append(lines, fmt.Sprintf("%s  answered by %s", t.stamp(r.sent), r.node))
	case t.failing:
		gap := r.sent.Sub(t.lastOK)
		if gap > t.longest {
			t.longest, t.longestFrom, t.longestTo = gap, t.lastOK, r.node
		}
		who := r.node + " again"
		if r.node != t.node {
			who = fmt.Sprintf("%s instead of %s", r.node, t.node)
		}
		lines = append(lines, fmt.Sprintf("%s  answered by %s: no answer for %d ms (%d failed request(s))",
			t.stamp(r.sent), who, gap.Milliseconds(), t.failCount))
	case r.node != t.node:
		lines = append(lines, fmt.Sprintf("%s  now answered by %s instead of %s, without a failed request",
			t.stamp(r.sent), r.node, t.node))
	}
	t.node, t.lastOK, t.haveOK = r.node, r.sent, true
	t.failing, t.failCount = false, 0
	return lines
}

// summary returns the closing lines: counts per node and the longest
// interruption. A streak of failures still open at the end counts up to
// end, so a demo that never recovered does not report a short outage.
func (t *tracker) summary(end time.Time) []string {
	nodes := make([]string, 0, len(t.byNode))
	for n := range t.byNode {
		nodes = append(nodes, n)
	}
	sort.Strings(nodes)
	per := ""
	for _, n := range nodes {
		per += fmt.Sprintf(" %s=%d", n, t.byNode[n])
	}
	if per == "" {
		per = " none"
	}
	lines := []string{fmt.Sprintf("%d requests, %d failed; answers by node:%s", t.total, t.failed, per)}

	longest, from, to := t.longest, t.longestFrom, t.longestTo
	if t.failing && t.haveOK {
		if open := end.Sub(t.lastOK); open > longest {
			longest, from, to = open, t.lastOK, ""
		}
	}
	switch {
	case !t.haveOK:
		lines = append(lines, "no request was ever answered")
	case longest == 0:
		lines = append(lines, "longest interruption: 0 ms (no request failed)")
	case to == "":
		lines = append(lines, fmt.Sprintf("longest interruption: %d ms, from %s, still failing at the end",
			longest.Milliseconds(), t.stamp(from)))
	default:
		lines = append(lines, fmt.Sprintf("longest interruption: %d ms, from %s until %s answered",
			longest.Milliseconds(), t.stamp(from), to))
	}
	return lines
}

// reorder hands results on in send order although they complete out of
// order (a timed-out request finishes after later, answered ones).
type reorder struct {
	next    int
	pending map[int]result
}

func newReorder() *reorder { return &reorder{pending: map[int]result{}} }

// add stores r and returns every result that is now next in line.
func (o *reorder) add(r result) []result {
	o.pending[r.seq] = r
	var out []result
	for {
		p, ok := o.pending[o.next]
		if !ok {
			return out
		}
		delete(o.pending, o.next)
		out = append(out, p)
		o.next++
	}
}
