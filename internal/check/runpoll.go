package check

import (
	"context"
	"time"
)

// Pending is a check a PollStarter began and that waits for its peer: an
// HTTP request sent, its response not read yet. The Runner polls it on its
// own goroutine at its next wakeups, with no goroutine, no channel and no
// poller registration; a check still pending after maxPolls polls, or at
// its deadline, goes to a worker (Wait).
type Pending interface {
	// Poll advances the check without blocking; done: r is the outcome
	// and the check has released everything it held.
	Poll() (r Result, done bool)
	// Wait finishes the check on a worker, by ctx's deadline. It is
	// called at most once, and no Poll after it.
	Wait(ctx context.Context) Result
	// Abort drops the check (the Runner stops): it releases what the
	// check holds.
	Abort()
}

// PollStarter is a Prober whose checks can be started and then polled
// (see Pending). StartPoll must not block; it returns the outcome (p and
// wait nil), a Pending to poll, or a wait for a worker, as Starter's.
type PollStarter interface {
	Prober
	StartPoll(step int) (r Result, p Pending, wait func(ctx context.Context) Result)
}

// maxPolls is how many wakeups of the Runner (one tick apart) a Pending
// is polled on before it goes to a worker: a response on a local network
// is there by the first; a server that takes longer than a few ticks is
// waited for on the poller as any other check.
const maxPolls = 3

// pendingCheck is a Pending check in the Runner's list.
type pendingCheck struct {
	ps    *probeState
	gen   uint64
	run   Run
	p     Pending
	polls int
}

// startPoll starts a PollStarter's check; false: the prober is not one.
func (r *Runner) startPoll(now time.Time, ps *probeState, run Run) bool {
	st, ok := ps.p.Prober.(PollStarter)
	if !ok {
		return false
	}
	res, p, wait := st.StartPoll(run.Step)
	switch {
	case p != nil:
		ps.busy = true
		r.timers.push(run.Deadline.Add(Grace), timerEntry{ps: ps, kind: timerDeadline, gen: ps.gen})
		r.pending = append(r.pending, pendingCheck{ps: ps, gen: ps.gen, run: run, p: p})
	case wait != nil:
		r.startJob(ps, job{ps: ps, run: run, prober: ps.p.Prober, wait: wait})
	default:
		ps.gen++
		ps.lastResult, ps.lastAt = res, StampOf(now)
		r.handle(now, ps, res)
	}
	return true
}

// poll polls every pending check once; those that end go to their
// machine, those polled maxPolls times or past their deadline to a worker.
func (r *Runner) poll(now time.Time) {
	if len(r.pending) == 0 {
		return
	}
	list := r.pending
	r.pending = nil
	keep := list[:0]
	var done []probeResult
	for _, c := range list {
		if c.polls >= maxPolls || !now.Before(c.run.Deadline) {
			r.dispatch(job{ps: c.ps, gen: c.gen, run: c.run, prober: c.ps.p.Prober, wait: c.p.Wait})
			continue
		}
		c.polls++
		if res, ok := c.p.Poll(); ok {
			done = append(done, probeResult{ps: c.ps, gen: c.gen, r: res, done: true})
			continue
		}
		keep = append(keep, c)
	}
	// The outcomes go to their machines, which may start checks: those
	// land in r.pending, and join the kept ones after.
	for _, res := range done {
		r.result(now, res)
	}
	started := r.pending
	r.pending = append(keep, started...)
	if len(r.pending) < len(list) {
		clear(list[len(r.pending):])
	}
}

// abortPending drops the pending checks when the Runner stops.
func (r *Runner) abortPending() {
	for _, c := range r.pending {
		c.p.Abort()
	}
	r.pending = nil
}
