package track

import (
	"context"
	"errors"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"vigil/internal/config"
	"vigil/internal/notify/script"
)

func ip(v int) *int { return &v }

// syncTarget is a Target safe for use from the Set's goroutine while the
// test reads it.
type syncTarget struct {
	mu     sync.Mutex
	delta  int
	faults map[string]bool
	ch     chan struct{}
}

func newSyncTarget() *syncTarget {
	return &syncTarget{faults: map[string]bool{}, ch: make(chan struct{}, 100)}
}
func (s *syncTarget) SetPriorityDelta(d int) {
	s.mu.Lock()
	s.delta = d
	s.mu.Unlock()
	s.ch <- struct{}{}
}
func (s *syncTarget) SetFault(src string, f bool) {
	s.mu.Lock()
	if f {
		s.faults[src] = true
	} else {
		delete(s.faults, src)
	}
	s.mu.Unlock()
	s.ch <- struct{}{}
}
func (s *syncTarget) state() (int, []string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	var f []string
	for k := range s.faults {
		f = append(f, k)
	}
	slices.Sort(f)
	return s.delta, f
}

func TestRefsFor(t *testing.T) {
	cfg := &config.Config{
		Scripts:    []*config.VRRPScript{{Name: "chk", Weight: -20}, {Name: "chk2", Weight: 5, Reverse: true}},
		TrackFiles: []*config.TrackFile{{Name: "tf", Weight: 1}},
		Processes:  []*config.TrackProcess{{Name: "tp", Weight: 3}},
		Instances: []*config.VRRPInstance{
			{Name: "VI_1", Track: config.Tracking{
				Interfaces: []config.TrackRef{{Name: "eth1"}, {Name: "eth2", Weight: ip(-10), Reverse: true}},
				Scripts:    []config.TrackRef{{Name: "chk"}, {Name: "chk2", Weight: ip(7)}},
				Files:      []config.TrackRef{{Name: "tf", Weight: ip(2)}},
				Processes:  []config.TrackRef{{Name: "tp"}},
			}},
			{Name: "VI_2", Track: config.Tracking{Scripts: []config.TrackRef{{Name: "chk"}}}},
			{Name: "VI_3", Track: config.Tracking{Scripts: []config.TrackRef{{Name: "missing"}}}},
		},
		SyncGroups: []*config.SyncGroup{{Name: "G", Group: []string{"VI_2"}, Track: config.Tracking{Files: []config.TrackRef{{Name: "tf"}}}}},
	}
	refs, warns, err := RefsFor(cfg, cfg.Instances[0])
	if err != nil || len(warns) != 0 {
		t.Fatal(err, warns)
	}
	want := []Ref{
		{KindInterface, "eth1", 0, false},
		{KindInterface, "eth2", -10, true},
		{KindScript, "chk", -20, false},
		{KindScript, "chk2", 7, false},
		{KindFile, "tf", 2, false},
		{KindProcess, "tp", 3, false},
	}
	if !slices.Equal(refs, want) {
		t.Fatalf("refs %+v\nwant %+v", refs, want)
	}
	refs, warns, err = RefsFor(cfg, cfg.Instances[1])
	if err != nil {
		t.Fatal(err)
	}
	want = []Ref{{KindScript, "chk", 0, false}, {KindFile, "tf", 0, false}}
	if !slices.Equal(refs, want) || len(warns) != 2 {
		t.Fatalf("sync group member: refs %+v warnings %q, want %+v and 2 warnings", refs, warns, want)
	}
	cfg.SyncGroups[0].SyncGroupTrackingWeight = true
	refs, _, _ = RefsFor(cfg, cfg.Instances[1])
	if refs[0].Weight != -20 || refs[1].Weight != 1 {
		t.Fatalf("sync_group_tracking_weight did not keep weights: %+v", refs)
	}
	if _, _, err := RefsFor(cfg, cfg.Instances[2]); err == nil || !strings.Contains(err.Error(), "missing") {
		t.Fatalf("unknown script: %v", err)
	}
}

// fakeCheck is a Runner whose result the test sets.
type fakeCheck struct {
	mu sync.Mutex
	ok bool
}

func (f *fakeCheck) set(ok bool) { f.mu.Lock(); f.ok = ok; f.mu.Unlock() }
func (f *fakeCheck) Run(ctx context.Context, _ time.Duration, _ ...string) script.Result {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.ok {
		return script.Result{}
	}
	return script.Result{ExitCode: 1}
}

func TestSet(t *testing.T) {
	dir := t.TempDir()
	check := &fakeCheck{ok: true}
	v := int64(4)
	cfg := &config.Config{
		Scripts: []*config.VRRPScript{
			{Name: "chk", Script: config.Command{Argv: []string{"/fake/chk"}}, Interval: 20 * time.Millisecond, Rise: 1, Fall: 1, Weight: 10},
			{Name: "refused", Script: config.Command{Argv: []string{"/fake/refused"}}, Interval: time.Second, Rise: 1, Fall: 1},
			{Name: "unused", Script: config.Command{Argv: []string{"/fake/unused"}}, Interval: time.Second, Rise: 1, Fall: 1},
		},
		TrackFiles: []*config.TrackFile{{Name: "tf", File: filepath.Join(dir, "v"), Weight: -1, InitFile: &v}},
		Instances: []*config.VRRPInstance{
			{Name: "VI_1", Track: config.Tracking{
				Interfaces: []config.TrackRef{{Name: "eth9"}},
				Scripts:    []config.TrackRef{{Name: "chk"}, {Name: "refused"}},
				Files:      []config.TrackRef{{Name: "tf"}},
			}},
		},
	}
	var prepared []string
	tgt := newSyncTarget()
	s, err := New(cfg, map[string]Target{"VI_1": tgt}, Options{Prepare: func(c config.Command, _ script.Policy) (Runner, error) {
		prepared = append(prepared, c.Argv[0])
		if c.Argv[0] == "/fake/refused" {
			return nil, errors.New("refused by enable_script_security")
		}
		return check, nil
	}})
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(prepared, []string{"/fake/chk", "/fake/refused"}) {
		t.Fatalf("prepared %q: unused scripts must not be prepared", prepared)
	}
	if len(s.Problems()) != 1 || !strings.Contains(s.Problems()[0].Error(), "refused") {
		t.Fatalf("problems %v", s.Problems())
	}
	if !slices.Equal(s.Interfaces(), []string{"eth9"}) {
		t.Fatalf("interfaces %q", s.Interfaces())
	}
	// The file was initialised to 4, weight -1: delta -4 before Run.
	if d, f := tgt.state(); d != -4 || len(f) != 0 {
		t.Fatalf("before Run: delta %d faults %q, want -4", d, f)
	}

	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { s.Run(ctx); close(done) }()
	defer func() { cancel(); <-done }()

	waitFor := func(what string, cond func(int, []string) bool) {
		t.Helper()
		deadline := time.After(5 * time.Second)
		for {
			if cond(tgt.state()) {
				return
			}
			select {
			case <-tgt.ch:
			case <-deadline:
				d, f := tgt.state()
				t.Fatalf("%s: delta %d faults %q", what, d, f)
			}
		}
	}
	waitFor("script OK adds 10", func(d int, f []string) bool { return d == 6 })
	s.SetInterface("eth9", false)
	waitFor("interface down faults", func(d int, f []string) bool { return slices.Equal(f, []string{"track_interface eth9"}) })
	s.SetInterface("eth9", true)
	waitFor("interface up clears", func(d int, f []string) bool { return len(f) == 0 })
	check.set(false)
	waitFor("script failure removes 10", func(d int, f []string) bool { return d == -4 })
}
