package check

import (
	"context"
	"math"
	"os"
	"os/user"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"vigil/internal/config"
	"vigil/internal/notify/script"
	"vigil/internal/track"
)

// prepareScript writes body as an executable script and prepares it to run
// as the current user.
func prepareScript(t *testing.T, body string, args ...string) *script.Script {
	t.Helper()
	p := filepath.Join(t.TempDir(), "check.sh")
	if err := os.WriteFile(p, []byte("#!/bin/sh\n"+body+"\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	u, err := user.Current()
	if err != nil {
		t.Fatal(err)
	}
	s, err := script.Prepare(config.Command{Argv: append([]string{p}, args...)}, script.Policy{User: u.Username})
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func TestMiscProber(t *testing.T) {
	tests := []struct {
		name    string
		body    string
		dynamic bool
		timeout time.Duration
		want    Result
		why     string
	}{
		{name: "exit 0", body: "exit 0", want: Result{OK: true}},
		{name: "exit 1", body: "exit 1", why: "exited with status 1"},
		{name: "exit 7 without misc_dynamic fails", body: "exit 7", why: "status 7"},
		{name: "dynamic: exit 7 is weight 5", body: "exit 7", dynamic: true, want: Result{OK: true, HasWeight: true, Weight: 5}},
		{name: "dynamic: exit 0 is back to the configured weight", body: "exit 0", dynamic: true, want: Result{OK: true, HasWeight: true, WeightIsDelta: true}},
		{name: "dynamic: exit 1 fails", body: "exit 1", dynamic: true, why: "status 1"},
		{name: "arguments passed", body: `[ "$1" = "10.0.0.2" ] || exit 1`, want: Result{OK: true}},
		{name: "killed by a signal", body: "kill -9 $$", why: "signal"},
		{name: "hung script killed at misc_timeout", body: "sleep 30", timeout: 200 * time.Millisecond, why: "timed out"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			p := &MiscProber{Script: prepareScript(t, tc.body, "10.0.0.2"), Timeout: tc.timeout, Dynamic: tc.dynamic}
			if p.Timeout == 0 {
				p.Timeout = 10 * time.Second
			}
			r := p.Probe(context.Background(), 0)
			if tc.why != "" {
				if r.OK || !strings.Contains(r.Why, tc.why) {
					t.Errorf("got %+v, want a failure with %q", r, tc.why)
				}
				return
			}
			if !reflect.DeepEqual(r, tc.want) {
				t.Errorf("got %+v, want %+v", r, tc.want)
			}
		})
	}
}

func TestFileResult(t *testing.T) {
	okd := func(w int) Result { return Result{OK: true, HasWeight: true, WeightIsDelta: true, Weight: w} }
	tests := []struct {
		value   int64
		weight  int
		reverse bool
		want    Result
		fault   bool
	}{
		{0, 0, false, okd(0), false},
		{1, 0, false, Result{}, true},
		{0, 0, true, Result{}, true},
		{5, 0, true, okd(0), false},
		{3, 2, false, okd(6), false},
		{3, 2, true, okd(-6), false},
		{-200, math.MaxInt32, false, Result{}, true},
		{200, math.MaxInt32, false, okd(math.MaxInt32), false},
	}
	for _, tc := range tests {
		r := FileResult(tc.value, tc.weight, tc.reverse)
		if tc.fault {
			if r.OK {
				t.Errorf("value %d weight %d reverse %v: %+v, want a fault", tc.value, tc.weight, tc.reverse, r)
			}
			continue
		}
		if !reflect.DeepEqual(r, tc.want) {
			t.Errorf("value %d weight %d reverse %v: %+v, want %+v", tc.value, tc.weight, tc.reverse, r, tc.want)
		}
	}
}

func TestFileWatcher(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "weight")
	if err := os.WriteFile(path, []byte("2\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	got := make(chan Result, 8)
	go (&FileWatcher{File: track.FileConfig{Name: "f", Path: path}, Weight: 10}).Watch(ctx, func(r Result) { got <- r })
	next := func() Result {
		select {
		case r := <-got:
			return r
		case <-time.After(10 * time.Second):
			t.Fatal("no result from the file watcher")
		}
		return Result{}
	}
	if r := next(); !r.OK || r.Weight != 20 {
		t.Fatalf("initial: %+v, want up with delta 20", r)
	}
	os.WriteFile(path, []byte("-3\n"), 0o644)
	for r := next(); r.Weight != -30; r = next() {
		// a write may be seen twice (truncate, then data)
		if !r.OK {
			t.Fatalf("unexpected fault %+v", r)
		}
	}
}
