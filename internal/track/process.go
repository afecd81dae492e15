package track

import (
	"bytes"
	"context"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strconv"
	"time"

	"vigil/internal/config"
)

// commLen is the longest process name the kernel keeps (TASK_COMM_LEN-1).
const commLen = 15

// Proc is one running process as read from /proc.
type Proc struct {
	PID  int
	Comm string
	// Argv is the command line; only read when a matcher needs it.
	Argv []string
}

// ProcessMatch says which processes a vrrp_track_process counts.
type ProcessMatch struct {
	// Name is the process name, or with Full the command (argv[0]).
	Name string
	// Params are the parameters to compare with argv[1:] when Full.
	Params []string
	// Mode is how Params compare: exact, partial (the configured
	// parameters come first, more may follow) or initial (as partial, and
	// the last configured parameter may be the start of the actual one).
	Mode config.ParamMatch
	// Full matches the command line instead of the process name.
	Full bool
}

// MatchFrom builds the match of a vrrp_track_process block: parameters or
// param_match imply matching the full command line, as in keepalived.
func MatchFrom(tp *config.TrackProcess) ProcessMatch {
	m := ProcessMatch{Mode: tp.ParamMatch, Full: tp.FullCommand || tp.ParamMatch != ""}
	if len(tp.Process) > 0 {
		m.Name = tp.Process[0]
		m.Params = tp.Process[1:]
	}
	if len(m.Params) > 0 {
		m.Full = true
		if m.Mode == "" {
			m.Mode = config.ParamMatchExact
		}
	}
	if m.Full && m.Mode == "" {
		m.Mode = config.ParamMatchExact
	}
	return m
}

// Matches reports whether p is one of the processes m counts.
func (m ProcessMatch) Matches(p Proc) bool {
	if !m.Full {
		name := m.Name
		if len(name) > commLen {
			name = name[:commLen]
		}
		return p.Comm == name
	}
	if len(p.Argv) == 0 || p.Argv[0] != m.Name {
		return false
	}
	got := p.Argv[1:]
	switch m.Mode {
	case config.ParamMatchPartial:
		return len(got) >= len(m.Params) && equalWords(got[:len(m.Params)], m.Params)
	case config.ParamMatchInitial:
		n := len(m.Params)
		if n == 0 {
			return true
		}
		if len(got) < n || !equalWords(got[:n-1], m.Params[:n-1]) {
			return false
		}
		return len(got[n-1]) >= len(m.Params[n-1]) && got[n-1][:len(m.Params[n-1])] == m.Params[n-1]
	default:
		return equalWords(got, m.Params)
	}
}

func equalWords(a, b []string) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

// ScanProcs lists the live processes under root (normally /proc), skipping
// zombies, which keepalived does not count. The command line is read only
// when withArgv is set. Processes that vanish during the scan are skipped.
func ScanProcs(root string, withArgv bool) ([]Proc, error) {
	ents, err := os.ReadDir(root)
	if err != nil {
		return nil, err
	}
	var out []Proc
	for _, e := range ents {
		pid, err := strconv.Atoi(e.Name())
		if err != nil || pid <= 0 {
			continue
		}
		dir := filepath.Join(root, e.Name())
		stat, err := os.ReadFile(filepath.Join(dir, "stat"))
		if err != nil {
			continue
		}
		comm, state, ok := parseStat(stat)
		if !ok || state == 'Z' || state == 'X' {
			continue
		}
		p := Proc{PID: pid, Comm: comm}
		if withArgv {
			cl, err := os.ReadFile(filepath.Join(dir, "cmdline"))
			if err != nil {
				continue
			}
			p.Argv = parseCmdline(cl)
		}
		out = append(out, p)
	}
	return out, nil
}

// parseStat extracts the name and state from /proc/PID/stat: "pid (comm)
// S ...", where comm may itself contain spaces and parentheses.
func parseStat(b []byte) (comm string, state byte, ok bool) {
	open := bytes.IndexByte(b, '(')
	closing := bytes.LastIndexByte(b, ')')
	if open < 0 || closing < open || closing+2 >= len(b) {
		return "", 0, false
	}
	return string(b[open+1 : closing]), b[closing+2], true
}

// parseCmdline splits /proc/PID/cmdline (NUL-terminated words).
func parseCmdline(b []byte) []string {
	b = bytes.TrimSuffix(b, []byte{0})
	if len(b) == 0 {
		return nil
	}
	parts := bytes.Split(b, []byte{0})
	out := make([]string, len(parts))
	for i, p := range parts {
		out[i] = string(p)
	}
	return out
}

// ProcessConfig is what a process tracker needs from a vrrp_track_process.
type ProcessConfig struct {
	Name  string
	Match ProcessMatch
	// Quorum and QuorumMax bound the number of processes for OK;
	// QuorumMax < 0 means no upper bound.
	Quorum, QuorumMax         int
	ForkDelay, TerminateDelay time.Duration
}

// ProcessConfigFrom translates a vrrp_track_process block.
func ProcessConfigFrom(tp *config.TrackProcess) ProcessConfig {
	c := ProcessConfig{Name: tp.Name, Match: MatchFrom(tp), Quorum: tp.Quorum, QuorumMax: -1,
		ForkDelay: tp.ForkDelay, TerminateDelay: tp.TerminateDelay}
	if tp.QuorumMax != nil {
		c.QuorumMax = *tp.QuorumMax
	}
	return c
}

// ProcessWatcher tracks every vrrp_track_process with one scan of /proc per
// poll. keepalived follows the kernel's process events instead; polling
// costs one directory walk per interval and reacts within it.
type ProcessWatcher struct {
	root   string
	poll   time.Duration
	log    *slog.Logger
	procs  []ProcessConfig
	states []*Quorum
	argv   bool
}

// NewProcessWatcher returns a watcher for procs scanning root (normally
// "/proc") every poll.
func NewProcessWatcher(procs []ProcessConfig, root string, poll time.Duration, log *slog.Logger) *ProcessWatcher {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	if poll <= 0 {
		poll = time.Second
	}
	w := &ProcessWatcher{root: root, poll: poll, log: log, procs: procs}
	for _, p := range procs {
		w.states = append(w.states, NewQuorum(p.Quorum, p.QuorumMax, p.ForkDelay, p.TerminateDelay))
		w.argv = w.argv || p.Match.Full
	}
	return w
}

// Initial scans once and returns one update per tracked process, with the
// quorum state set at once (no delay), as keepalived does at start.
func (w *ProcessWatcher) Initial() ([]Update, error) {
	list, err := ScanProcs(w.root, w.argv)
	if err != nil {
		return nil, err
	}
	now := time.Now()
	var out []Update
	for i, p := range w.procs {
		n := count(list, p.Match)
		up, _, _ := w.states[i].Observe(now, n)
		out = append(out, w.update(i, up, n))
	}
	return out, nil
}

func (w *ProcessWatcher) update(i int, up bool, n int) Update {
	st := Bad
	if up {
		st = Good
	}
	return Update{Kind: KindProcess, Name: w.procs[i].Name, Status: st, Reason: fmt.Sprintf("%d matching processes", n)}
}

func count(list []Proc, m ProcessMatch) int {
	n := 0
	for _, p := range list {
		if m.Matches(p) {
			n++
		}
	}
	return n
}

// Run scans every poll (sooner when a delay is due) until ctx ends, sending
// an Update when a quorum is gained or lost. Call Initial first.
func (w *ProcessWatcher) Run(ctx context.Context, out chan<- Update) {
	timer := time.NewTimer(w.poll)
	defer timer.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-timer.C:
		}
		next := w.poll
		list, err := ScanProcs(w.root, w.argv)
		if err != nil {
			w.log.Warn("cannot scan processes", "err", err)
		} else {
			now := time.Now()
			for i, p := range w.procs {
				n := count(list, p.Match)
				up, changed, wait := w.states[i].Observe(now, n)
				if wait > 0 && wait < next {
					next = wait
				}
				if !changed {
					continue
				}
				if up {
					w.log.Info("quorum gained for tracked process", "track_process", p.Name, "count", n)
				} else {
					w.log.Info("quorum lost for tracked process", "track_process", p.Name, "count", n)
				}
				select {
				case out <- w.update(i, up, n):
				case <-ctx.Done():
					return
				}
			}
		}
		timer.Reset(next)
	}
}
