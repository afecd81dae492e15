package track

import (
	"context"
	"fmt"
	"log/slog"
	"slices"
	"sync"
	"time"

	"vigil/internal/config"
	"vigil/internal/notify/script"
)

// Options tune a Set; the zero value is usable.
type Options struct {
	Log *slog.Logger
	// Policy is the script security policy (script.PolicyFrom of
	// global_defs).
	Policy script.Policy
	// ProcRoot is where processes are scanned; default /proc.
	ProcRoot string
	// ProcPoll is the process scan interval; default 1 s.
	ProcPoll time.Duration
	// Prepare resolves a script; default script.Prepare. Tests replace it.
	Prepare func(config.Command, script.Policy) (Runner, error)
}

// Set owns every tracker a configuration needs and one Aggregator per
// instance. Trackers report to the Set's goroutine (Run), which alone
// touches the aggregators.
type Set struct {
	log      *slog.Logger
	aggs     map[string]*Aggregator
	order    []string
	scripts  []*ScriptTracker
	files    []*FileTracker
	procs    *ProcessWatcher
	ifaces   map[string]bool
	updates  chan Update
	problems []error
	initial  []Update
	wg       sync.WaitGroup
	done     chan struct{}
}

// RefsFor lists what an instance tracks, its sync group's tracking
// included, with weights defaulted from the tracked objects. As keepalived
// does, the weights of a sync group member are forced to 0 (so failures
// mean FAULT) unless the group sets sync_group_tracking_weight.
func RefsFor(cfg *config.Config, in *config.VRRPInstance) ([]Ref, []string, error) {
	var refs []Ref
	var warnings []string
	var group *config.SyncGroup
	for _, g := range cfg.SyncGroups {
		for _, m := range g.Group {
			if m == in.Name {
				group = g
			}
		}
	}
	add := func(t config.Tracking, owner string) error {
		for _, r := range t.Interfaces {
			refs = append(refs, refOf(KindInterface, r, 0, false))
		}
		for _, r := range t.Scripts {
			s := findScript(cfg, r.Name)
			if s == nil {
				return fmt.Errorf("%s: track_script %s: no vrrp_script of that name", owner, r.Name)
			}
			refs = append(refs, refOf(KindScript, r, s.Weight, s.Reverse))
		}
		for _, r := range t.Files {
			f := findFile(cfg, r.Name)
			if f == nil {
				return fmt.Errorf("%s: track_file %s: no track_file of that name", owner, r.Name)
			}
			refs = append(refs, refOf(KindFile, r, f.Weight, f.Reverse))
		}
		for _, r := range t.Processes {
			p := findProcess(cfg, r.Name)
			if p == nil {
				return fmt.Errorf("%s: track_process %s: no vrrp_track_process of that name", owner, r.Name)
			}
			refs = append(refs, refOf(KindProcess, r, p.Weight, p.Reverse))
		}
		return nil
	}
	if err := add(in.Track, "vrrp_instance "+in.Name); err != nil {
		return nil, nil, err
	}
	if group != nil {
		if err := add(group.Track, "vrrp_sync_group "+group.Name); err != nil {
			return nil, nil, err
		}
		if !group.SyncGroupTrackingWeight {
			for i := range refs {
				if refs[i].Weight != 0 {
					warnings = append(warnings, fmt.Sprintf("vrrp_instance %s is in sync group %s: weight of %s set to 0 (set sync_group_tracking_weight to keep it)", in.Name, group.Name, refs[i].Source()))
					refs[i].Weight = 0
				}
			}
		}
	}
	return refs, warnings, nil
}

// refOf fills a reference's weight from the line, else the object's default.
func refOf(k Kind, r config.TrackRef, defWeight int, defReverse bool) Ref {
	if r.Weight != nil {
		return Ref{Kind: k, Name: r.Name, Weight: *r.Weight, Reverse: r.Reverse}
	}
	return Ref{Kind: k, Name: r.Name, Weight: defWeight, Reverse: defReverse}
}

func findScript(cfg *config.Config, name string) *config.VRRPScript {
	for _, s := range cfg.Scripts {
		if s.Name == name {
			return s
		}
	}
	return nil
}

func findFile(cfg *config.Config, name string) *config.TrackFile {
	for _, f := range cfg.TrackFiles {
		if f.Name == name {
			return f
		}
	}
	return nil
}

func findProcess(cfg *config.Config, name string) *config.TrackProcess {
	for _, p := range cfg.Processes {
		if p.Name == name {
			return p
		}
	}
	return nil
}

// New builds the trackers for the instances named in targets (instance
// name -> the instance). Only objects some instance tracks are run, as in
// keepalived. It reads tracked files and scans processes once, so that Run
// starts from the current state. A script that cannot be run (not found,
// refused by script security, ...) is logged, listed by Problems, and has
// no effect, as keepalived disables it; a reference to an object that does
// not exist is an error.
func New(cfg *config.Config, targets map[string]Target, opts Options) (*Set, error) {
	log := opts.Log
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	prepare := opts.Prepare
	if prepare == nil {
		prepare = func(c config.Command, p script.Policy) (Runner, error) {
			s, err := script.Prepare(c, p)
			if err != nil {
				return nil, err
			}
			for _, w := range s.Warnings {
				log.Warn(w)
			}
			return s, nil
		}
	}
	root := opts.ProcRoot
	if root == "" {
		root = "/proc"
	}
	s := &Set{log: log, aggs: map[string]*Aggregator{}, ifaces: map[string]bool{}, updates: make(chan Update, 64), done: make(chan struct{})}

	used := map[objKey]bool{}
	for _, in := range cfg.Instances {
		t, ok := targets[in.Name]
		if !ok {
			continue
		}
		refs, warns, err := RefsFor(cfg, in)
		if err != nil {
			return nil, err
		}
		for _, w := range warns {
			log.Warn(w, "instance", in.Name)
		}
		for _, r := range refs {
			used[objKey{r.Kind, r.Name}] = true
			if r.Kind == KindInterface {
				s.ifaces[r.Name] = true
			}
		}
		s.aggs[in.Name] = NewAggregator(refs, t)
		s.order = append(s.order, in.Name)
	}

	for _, vs := range cfg.Scripts {
		if !used[objKey{KindScript, vs.Name}] {
			continue
		}
		r, err := prepare(vs.Script, opts.Policy)
		if err != nil {
			err = fmt.Errorf("%s: vrrp_script %s disabled: %w", vs.Pos, vs.Name, err)
			log.Error("vrrp_script cannot run; it has no effect", "script", vs.Name, "err", err)
			s.problems = append(s.problems, err)
			continue
		}
		st := NewScriptTracker(ScriptConfig{Name: vs.Name, Interval: vs.Interval, Timeout: vs.Timeout,
			Rise: vs.Rise, Fall: vs.Fall, InitFail: vs.InitFail}, r, log)
		s.scripts = append(s.scripts, st)
		s.initial = append(s.initial, st.Initial())
	}
	for _, tf := range cfg.TrackFiles {
		if !used[objKey{KindFile, tf.Name}] {
			continue
		}
		ft, err := NewFileTracker(FileConfig{Name: tf.Name, Path: tf.File, InitValue: tf.InitFile, Overwrite: tf.Overwrite}, log)
		if err != nil {
			err = fmt.Errorf("%s: %w", tf.Pos, err)
			log.Error("track_file cannot be watched; it has no effect", "track_file", tf.Name, "err", err)
			s.problems = append(s.problems, err)
			continue
		}
		s.files = append(s.files, ft)
		s.initial = append(s.initial, ft.Initial())
	}
	var pcs []ProcessConfig
	for _, tp := range cfg.Processes {
		if used[objKey{KindProcess, tp.Name}] {
			pcs = append(pcs, ProcessConfigFrom(tp))
		}
	}
	if len(pcs) > 0 {
		s.procs = NewProcessWatcher(pcs, root, opts.ProcPoll, log)
		ups, err := s.procs.Initial()
		if err != nil {
			return nil, fmt.Errorf("tracking processes: %w", err)
		}
		s.initial = append(s.initial, ups...)
	}
	for _, u := range s.initial {
		s.apply(u)
	}
	return s, nil
}

// Problems lists the tracked objects disabled at New, with the reason.
func (s *Set) Problems() []error { return s.problems }

// Interfaces lists the interfaces some instance tracks; the daemon reports
// their state with SetInterface (first the current state, then every
// change). Until then they have no effect.
func (s *Set) Interfaces() []string { return sortedKeys(s.ifaces) }

// SetInterface reports a tracked interface's link state. It may be called
// from any goroutine, before or during Run; it does nothing after Run has
// returned.
func (s *Set) SetInterface(name string, up bool) {
	if !s.ifaces[name] {
		return
	}
	st := Bad
	if up {
		st = Good
	}
	u := Update{Kind: KindInterface, Name: name, Status: st, Reason: "link " + map[bool]string{true: "up", false: "down"}[up]}
	select {
	case s.updates <- u:
	case <-s.done:
	}
}

// Run starts every tracker and applies their news until ctx ends; it
// returns once every tracker (and any script it was running) has stopped.
func (s *Set) Run(ctx context.Context) {
	defer close(s.done)
	ctx, cancel := context.WithCancel(ctx)
	for _, st := range s.scripts {
		s.wg.Add(1)
		go func() { defer s.wg.Done(); st.Run(ctx, s.updates) }()
	}
	for i, ft := range s.files {
		last := s.initialValue(KindFile, s.fileName(i))
		s.wg.Add(1)
		go func() { defer s.wg.Done(); ft.Run(ctx, last, s.updates) }()
	}
	if s.procs != nil {
		s.wg.Add(1)
		go func() { defer s.wg.Done(); s.procs.Run(ctx, s.updates) }()
	}
	stopped := make(chan struct{})
	go func() { <-ctx.Done(); s.wg.Wait(); close(stopped) }()
	defer cancel()
	for {
		select {
		case u := <-s.updates:
			s.apply(u)
		case <-stopped:
			return
		}
	}
}

func (s *Set) fileName(i int) string { return s.files[i].cfg.Name }

func (s *Set) initialValue(k Kind, name string) int64 {
	for _, u := range s.initial {
		if u.Kind == k && u.Name == name {
			return u.Value
		}
	}
	return 0
}

// apply hands u to every aggregator tracking the object.
func (s *Set) apply(u Update) {
	for _, name := range s.order {
		a := s.aggs[name]
		if !a.Tracks(u.Kind, u.Name) {
			continue
		}
		before, oldFaults := a.State()
		a.Apply(u)
		after, faults := a.State()
		if before != after || !slices.Equal(oldFaults, faults) {
			s.log.Info("tracking changed", "instance", name, "object", string(u.Kind)+" "+u.Name,
				"reason", u.Reason, "delta", after, "faults", faults)
		}
	}
}
