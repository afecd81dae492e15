package check

import (
	"fmt"
	"time"
)

// BootstrapDelay is the pause before a checker's first check, on top of its
// random warmup share: keepalived waits one second after start (or reload)
// before the first check of every checker.
const BootstrapDelay = time.Second

// Family selects the retry rules of a checker kind. keepalived's checkers
// do not share one epilogue: they differ in whether a checker that is
// already down still retries, and HTTP walks its url blocks one at a time.
type Family uint8

// The families.
const (
	// FamilyPlain is UDP_CHECK, PING_CHECK, DNS_CHECK, SMTP_CHECK and
	// MISC_CHECK: retries only while the checker is up (or has not run);
	// a checker that is down is checked again after delay_loop.
	FamilyPlain Family = iota
	// FamilyTCP is TCP_CHECK: retries after delay_before_retry even while
	// down, so a dead server is probed retry+1 times per delay_loop.
	FamilyTCP
	// FamilyHTTP is HTTP_GET and SSL_GET: each url block is a step, one
	// step per delay_loop; a failed url is retried on its own until it
	// passes, then every url is checked again from the first.
	FamilyHTTP
	// FamilyFile is FILE_CHECK: no checks are scheduled, the machine
	// follows the tracked file's value (each value is a Result).
	FamilyFile
)

// Timing is a checker's resolved timing: every default applied.
type Timing struct {
	// DelayLoop is the pause between two rounds of checks.
	DelayLoop time.Duration
	// DelayBeforeRetry is the pause before a retry after a failure.
	DelayBeforeRetry time.Duration
	// Warmup bounds the random delay before the first check.
	Warmup time.Duration
	// Timeout is the hard deadline of one check.
	Timeout time.Duration
	// Retry is how many retries a failure gets before the checker is
	// down: retry+1 failures in a row take it down.
	Retry int
	// FromStart makes the next check due delay_loop after the start of the
	// previous one rather than after its end (MISC_CHECK).
	FromStart bool
}

// MachineConfig is what a checker's state machine needs.
type MachineConfig struct {
	Family Family
	Timing Timing
	// Steps is the number of url blocks (HTTP family); 1 for the others.
	Steps int
	// Alpha starts the checker down: its real server needs a success
	// before it is used.
	Alpha bool
	// FastRecovery (HTTP) checks again at once, without waiting for
	// delay_loop, while the checker is down but no url is known to fail.
	FastRecovery bool
	// LogAllFailures is log_all_failures or checker_log_all_failures:
	// every failure of an up checker is logged, not only the last one.
	LogAllFailures bool
}

// Event is an input of Machine.Handle.
type Event interface{ event() }

// Start begins checking. Jitter, in [0,1), is the random share of Warmup
// to wait before the first check; the caller draws it so that the machine
// stays deterministic.
type Start struct{ Jitter float64 }

// Timer is the expiry of the last Wait.
type Timer struct{}

// Result is the outcome of the check started by the last Run (or, for
// FILE_CHECK, a new value of the tracked file).
type Result struct {
	// Why says what failed, for log lines.
	Why string
	// Weight is the dynamic weight the check reports, when HasWeight:
	// MISC_CHECK with misc_dynamic gives an absolute weight (exit status
	// - 2), FILE_CHECK a delta to the configured weight (see WeightIsDelta).
	Weight int
	// The flags last: 32 bytes, not 40, in each check's record
	// (probeState.lastResult).
	OK            bool
	HasWeight     bool
	WeightIsDelta bool
}

func (Start) event()  {}
func (Timer) event()  {}
func (Result) event() {}

// ActionKind says which of an Action's fields holds it.
type ActionKind uint8

// The kinds of Action.
const (
	ActWait ActionKind = iota + 1
	ActRun
	ActReport
	ActLog
)

// Action is an output of Machine.Handle: a Wait, a Run, a Report or a
// Log, held by value with Kind saying which. It is a plain struct rather
// than an interface so that a steady check's actions (its Run, its next
// Wait) are not boxed: the LVS process hands over 20,000 of them a second
// for 10,000 checks, and any allocation there is collector work.
type Action struct {
	Kind   ActionKind
	Wait   Wait
	Run    Run
	Report Report
	Log    Log
}

// Wait arms the machine's one timer; a Timer event is due at At.
type Wait struct{ At time.Time }

// Run starts a check of url block Step (0 for single-step kinds), which
// must be over by Deadline; its outcome comes back as a Result.
type Run struct {
	Step     int
	Deadline time.Time
}

// Report is a change of the checker's state as its real servers see it:
// up or down, and its dynamic weight. First is set on the first report
// after start, which keepalived uses for the initial notifications even
// when the state did not change.
type Report struct {
	Up    bool
	First bool
	// Why is what the failing check saw, on a report of a down checker
	// (for smtp_alert's mail).
	Why string
	// Weight is the dynamic weight; meaningful when HasWeight.
	Weight        int
	HasWeight     bool
	WeightIsDelta bool
}

// Log is a line for the operator.
type Log struct {
	// Failure marks a failure log line (as opposed to a state change).
	Failure bool
	Msg     string
}

// Action wraps w.
func (w Wait) Action() Action { return Action{Kind: ActWait, Wait: w} }

// Action wraps r.
func (r Run) Action() Action { return Action{Kind: ActRun, Run: r} }

// Action wraps r.
func (r Report) Action() Action { return Action{Kind: ActReport, Report: r} }

// Action wraps l.
func (l Log) Action() Action { return Action{Kind: ActLog, Log: l} }

// Machine is the pure state machine of one checker: keepalived 2.2.7's
// retry, delay_before_retry, delay_loop, warmup, alpha and has_run rules,
// with time and check outcomes coming in as events and what to do going
// out as actions. It owns no timer and does no I/O.
type Machine struct {
	// cfg is shared: the Runner gives every machine with the same
	// configuration one copy (see configs), so that
	// the LVS process's 10,000 machines read one record that stays in
	// the cache rather than one each, a cache miss at every event.
	cfg *MachineConfig
	// name is the checker's description (Probe.Name), read only for log
	// lines.
	name string

	started time.Time

	retryIt int
	step    int
	weight  int

	up, hasRun bool
	// failedStep is set while a url is known to fail (HTTP): only it is
	// checked, at max(delay_before_retry, delay_loop), until it passes.
	failedStep    bool
	running       bool
	hasWeight     bool
	weightIsDelta bool
}

// NewMachine returns a machine in its initial state: down under alpha,
// up otherwise, and with its retry counter spent, so that the first failure
// after start takes the checker down at once, as keepalived does.
func NewMachine(cfg MachineConfig) *Machine {
	m := new(Machine)
	m.init(nil, cfg, "")
	return m
}

// init puts m in its initial state for cfg, sharing its configuration
// record through configs (nil: a copy of its own), with name in its log
// lines. A Steps below 1 is read as 1.
func (m *Machine) init(configs *configs, cfg MachineConfig, name string) {
	cfg.Steps = max(cfg.Steps, 1)
	*m = Machine{name: name, up: !cfg.Alpha, retryIt: cfg.Timing.Retry}
	if configs != nil {
		m.cfg = configs.intern(cfg)
	} else {
		m.cfg = &cfg
	}
}

// configs interns machine configurations: equal ones share one record.
type configs map[MachineConfig]*MachineConfig

// keep adds p, a record in use, to c.
func (c *configs) keep(p *MachineConfig) {
	if *c == nil {
		*c = configs{}
	}
	if _, ok := (*c)[*p]; !ok {
		(*c)[*p] = p
	}
}

func (c *configs) intern(cfg MachineConfig) *MachineConfig {
	if p, ok := (*c)[cfg]; ok {
		return p
	}
	if *c == nil {
		*c = configs{}
	}
	p := &cfg
	(*c)[cfg] = p
	return p
}

// adopt takes over the state of old, the machine of the same check with
// another schedule (a reload), as keepalived migrates a checker: up or
// down, whether it has run, its dynamic weight, the url it was on; retries
// in progress carry over, but no more than the new retry allows short of
// the last one; a checker that has run needs retry+1 failures again.
func (m *Machine) adopt(old *Machine) {
	m.up, m.hasRun = old.up, old.hasRun
	m.weight, m.hasWeight, m.weightIsDelta = old.weight, old.hasWeight, old.weightIsDelta
	if old.cfg.Steps == m.cfg.Steps {
		m.step, m.failedStep = old.step, old.failedStep
	}
	if !m.hasRun {
		return // as a new checker: one failure is enough
	}
	m.retryIt = 0
	if old.retryIt > 0 && m.cfg.Timing.Retry > 0 {
		m.retryIt = min(old.retryIt, m.cfg.Timing.Retry-1)
	}
}

// Up reports whether the checker is up.
func (m *Machine) Up() bool { return m.up }

// HasRun reports whether the checker has reported a first result.
func (m *Machine) HasRun() bool { return m.hasRun }

// State is the checker's current state as a Report (First unset).
func (m *Machine) State() Report {
	return Report{Up: m.up, Weight: m.weight, HasWeight: m.hasWeight, WeightIsDelta: m.weightIsDelta}
}

// Running reports whether a check is in progress.
func (m *Machine) Running() bool { return m.running }

// Handle feeds one event and returns the actions it calls for, in a new
// slice (see Append).
func (m *Machine) Handle(now time.Time, ev Event) []Action {
	return m.Append(nil, now, ev)
}

// Append is Handle appending the actions to dst: a caller that reuses
// its slice (the Runner) takes a steady check's actions with no
// allocation at all.
func (m *Machine) Append(dst []Action, now time.Time, ev Event) []Action {
	switch e := ev.(type) {
	case Start:
		if m.cfg.Family == FamilyFile {
			return dst
		}
		j := min(max(e.Jitter, 0), 1)
		return append(dst, Wait{At: now.Add(BootstrapDelay + time.Duration(j*float64(m.cfg.Timing.Warmup)))}.Action())
	case Timer:
		if m.running || m.cfg.Family == FamilyFile {
			return dst
		}
		m.running = true
		m.started = now
		return append(dst, Run{Step: m.step, Deadline: now.Add(m.cfg.Timing.Timeout)}.Action())
	case Result:
		if m.cfg.Family == FamilyFile {
			return m.file(dst, e)
		}
		if !m.running {
			return dst // a late result of a check already given up on
		}
		m.running = false
		switch m.cfg.Family {
		case FamilyHTTP:
			return m.http(dst, now, e)
		default:
			return m.plain(dst, now, e)
		}
	}
	return dst
}

// next is the Wait for a delay counted from now, or from the start of the
// check for FromStart kinds.
func (m *Machine) next(now time.Time, d time.Duration) Action {
	base := now
	if m.cfg.Timing.FromStart {
		base = m.started
		if at := base.Add(d); !at.After(now) {
			return Wait{At: now}.Action()
		}
	}
	return Wait{At: base.Add(d)}.Action()
}

// report sets the state and appends to dst the Report (and a log line)
// when the real servers must hear of it: a change, the first result, or a
// new dynamic weight. why words the log line; it is called only when
// there is one (a steady check makes no garbage for a line nobody logs).
func (m *Machine) report(dst []Action, up bool, r Result, why func() string) []Action {
	first := !m.hasRun
	m.hasRun = true
	changed := up != m.up
	wchanged := false
	if up && r.HasWeight && (r.Weight != m.weight || !m.hasWeight) {
		wchanged = true
	}
	if !up && m.hasWeight {
		// A checker that goes down gives up its dynamic weight.
		wchanged = true
	}
	m.up = up
	if up && r.HasWeight {
		m.weight, m.hasWeight, m.weightIsDelta = r.Weight, true, r.WeightIsDelta
	} else if !up {
		m.weight, m.hasWeight, m.weightIsDelta = 0, false, false
	}
	if !changed && !first && !wchanged {
		return dst
	}
	if changed || first {
		dst = append(dst, Log{Msg: why()}.Action())
	}
	rep := Report{Up: up, First: first, Weight: m.weight, HasWeight: m.hasWeight, WeightIsDelta: m.weightIsDelta}
	if !up {
		rep.Why = r.Why
	}
	return append(dst, rep.Action())
}

// plain is the epilogue of the single-step kinds.
func (m *Machine) plain(dst []Action, now time.Time, r Result) []Action {
	t := m.cfg.Timing
	if r.OK {
		m.retryIt = 0
		dst = m.report(dst, true, r, func() string { return m.name + " succeeded" })
		return append(dst, m.next(now, t.DelayLoop))
	}
	if m.up && m.cfg.LogAllFailures {
		dst = append(dst, Log{Failure: true, Msg: fmt.Sprintf("%s failed: %s", m.name, r.Why)}.Action())
	}
	retryable := m.up || !m.hasRun || m.cfg.Family == FamilyTCP
	if retryable && m.retryIt < t.Retry {
		m.retryIt++
		return append(dst, m.next(now, t.DelayBeforeRetry))
	}
	m.retryIt = 0
	if m.up || !m.hasRun {
		why := fmt.Sprintf("%s failed: %s", m.name, r.Why)
		if t.Retry > 0 && m.hasRun {
			why = fmt.Sprintf("%s failed after %d retries: %s", m.name, t.Retry, r.Why)
		}
		dst = m.report(dst, false, r, func() string { return why })
	}
	return append(dst, m.next(now, t.DelayLoop))
}

// http is the epilogue of HTTP_GET and SSL_GET, url block by url block.
func (m *Machine) http(dst []Action, now time.Time, r Result) []Action {
	t := m.cfg.Timing
	var delay time.Duration
	if r.OK {
		m.retryIt = 0
		switch {
		case m.failedStep:
			// The failed url passes again: check them all from the first.
			m.failedStep = false
			m.step = 0
		case m.step+1 < m.cfg.Steps:
			m.step++
		default:
			m.step = 0
			dst = m.report(dst, true, r, func() string { return m.name + " succeeded on every url" })
		}
		if !m.hasRun {
			m.retryIt = t.Retry
		}
		delay = t.DelayLoop
	} else {
		if m.up || !m.hasRun {
			if m.cfg.LogAllFailures {
				dst = append(dst, Log{Failure: true, Msg: fmt.Sprintf("%s url %d failed: %s", m.name, m.step+1, r.Why)}.Action())
			}
			m.retryIt++
			if m.retryIt > t.Retry {
				why := fmt.Sprintf("%s failed: %s", m.name, r.Why)
				if m.hasRun && t.Retry > 0 {
					why = fmt.Sprintf("%s failed after %d retries: %s", m.name, m.retryIt-1, r.Why)
				}
				dst = m.report(dst, false, r, func() string { return why })
				m.failedStep = true
			}
			m.hasRun = true
		}
		delay = t.DelayBeforeRetry
		if m.failedStep {
			delay = max(t.DelayBeforeRetry, t.DelayLoop)
		}
	}
	// fast_recovery walks the urls without waiting while they pass. After
	// a failure it waits as usual: keepalived would check a failing url
	// again at once, over and over, when it is down without a url marked
	// failed, which is a busy loop against a server that refuses at once.
	if m.cfg.FastRecovery && r.OK && (!m.hasRun || (!m.up && !m.failedStep)) {
		return append(dst, Wait{At: now}.Action())
	}
	return append(dst, Wait{At: now.Add(delay)}.Action())
}

// file follows a FILE_CHECK value: a failing value is down at once (there
// are no retries for a file), any other value is up with its weight.
func (m *Machine) file(dst []Action, r Result) []Action {
	if r.OK {
		return m.report(dst, true, r, func() string { return m.name + ": tracked file leaves the fault state" })
	}
	return m.report(dst, false, r, func() string { return fmt.Sprintf("%s: tracked file in fault state: %s", m.name, r.Why) })
}
