package track

import (
	"context"
	"os"
	"os/user"
	"path/filepath"
	"sync/atomic"
	"testing"
	"testing/synctest"
	"time"

	"vigil/internal/config"
	"vigil/internal/notify/script"
)

// fakeRunner returns scripted results; each run takes hold of virtual time.
type fakeRunner struct {
	results []bool        // outcome of each run, in order; the last repeats
	hold    time.Duration // how long each run takes
	runs    atomic.Int32
	active  atomic.Int32
	maxSeen atomic.Int32
}

func (f *fakeRunner) Run(ctx context.Context, timeout time.Duration, extra ...string) script.Result {
	n := int(f.runs.Add(1)) - 1
	if a := f.active.Add(1); a > f.maxSeen.Load() {
		f.maxSeen.Store(a)
	}
	defer f.active.Add(-1)
	d := min(f.hold, timeout)
	select {
	case <-time.After(d):
	case <-ctx.Done():
		return script.Result{TimedOut: true, ExitCode: -1}
	}
	if f.hold > timeout {
		return script.Result{TimedOut: true, ExitCode: -1}
	}
	ok := f.results[min(n, len(f.results)-1)]
	if ok {
		return script.Result{}
	}
	return script.Result{ExitCode: 1}
}

func TestScriptTrackerLoop(t *testing.T) {
	tests := []struct {
		name     string
		cfg      ScriptConfig
		results  []bool
		hold     time.Duration
		after    time.Duration
		wantRuns int32
		want     []Status
	}{
		{"runs at once then every interval", ScriptConfig{Interval: 2 * time.Second, Rise: 1, Fall: 1}, []bool{true}, 0, 5 * time.Second, 3, []Status{Good}},
		{"fall 2 then rise 2", ScriptConfig{Interval: time.Second, Rise: 2, Fall: 2}, []bool{true, false, false, true, true}, 0, 4500 * time.Millisecond, 5, []Status{Good, Bad, Good}},
		{"a run in progress has no result yet", ScriptConfig{Interval: 2 * time.Second, Timeout: time.Second, Rise: 1, Fall: 1}, []bool{true}, 1500 * time.Millisecond, 500 * time.Millisecond, 1, nil},
		{"hung run is never doubled", ScriptConfig{Interval: time.Second, Timeout: 10 * time.Second, Rise: 1, Fall: 1}, []bool{true}, 3500 * time.Millisecond, 5 * time.Second, 2, []Status{Good}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				tc.cfg.Name = "chk"
				f := &fakeRunner{results: tc.results, hold: tc.hold}
				st := NewScriptTracker(tc.cfg, f, nil)
				out := make(chan Update, 16)
				ctx, cancel := context.WithCancel(context.Background())
				done := make(chan struct{})
				go func() { st.Run(ctx, out); close(done) }()
				time.Sleep(tc.after) // virtual time inside the bubble
				synctest.Wait()
				if got := f.runs.Load(); got != tc.wantRuns {
					t.Errorf("%d runs, want %d", got, tc.wantRuns)
				}
				var got []Status
				for len(out) > 0 {
					u := <-out
					if u.Kind != KindScript || u.Name != "chk" {
						t.Fatalf("bad update %+v", u)
					}
					got = append(got, u.Status)
				}
				if len(got) != len(tc.want) {
					t.Fatalf("updates %v, want %v", got, tc.want)
				}
				for i := range got {
					if got[i] != tc.want[i] {
						t.Fatalf("updates %v, want %v", got, tc.want)
					}
				}
				if f.maxSeen.Load() > 1 {
					t.Errorf("%d runs at the same time", f.maxSeen.Load())
				}
				cancel()
				<-done
				if f.active.Load() != 0 {
					t.Errorf("a run is still active after Run returned")
				}
			})
		})
	}
}

func TestScriptTrackerTimeoutReported(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		f := &fakeRunner{results: []bool{true}, hold: 5 * time.Second}
		st := NewScriptTracker(ScriptConfig{Name: "slow", Interval: 10 * time.Second, Timeout: time.Second, Rise: 1, Fall: 1}, f, nil)
		out := make(chan Update, 4)
		ctx, cancel := context.WithCancel(context.Background())
		defer cancel()
		go st.Run(ctx, out)
		time.Sleep(1500 * time.Millisecond)
		synctest.Wait()
		select {
		case u := <-out:
			if u.Status != Bad || u.Reason != "timed out" {
				t.Fatalf("got %+v, want a failure from the timeout", u)
			}
		default:
			t.Fatal("no update after the timeout")
		}
	})
}

// TestScriptTrackerExec runs real scripts: one that succeeds, one that
// fails, and one that hangs past its timeout with a child, which must be
// killed with it.
func TestScriptTrackerExec(t *testing.T) {
	dir := t.TempDir()
	write := func(name, body string) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(body), 0o755); err != nil {
			t.Fatal(err)
		}
		return p
	}
	pidFile := filepath.Join(dir, "pid")
	tests := []struct {
		name string
		path string
		want Status
	}{
		{"exit 0", write("ok.sh", "#!/bin/sh\nexit 0\n"), Good},
		{"exit 1", write("fail.sh", "#!/bin/sh\nexit 1\n"), Bad},
		{"hang", write("hang.sh", "#!/bin/sh\nsleep 1000 &\necho $! > "+pidFile+"\nwait\n"), Bad},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			s, err := script.Prepare(config.Command{Argv: []string{tc.path}}, script.Policy{User: currentUser(t)})
			if err != nil {
				t.Fatal(err)
			}
			st := NewScriptTracker(ScriptConfig{Name: tc.name, Interval: time.Hour, Timeout: 300 * time.Millisecond, Rise: 1, Fall: 1}, s, nil)
			out := make(chan Update, 1)
			ctx, cancel := context.WithCancel(context.Background())
			done := make(chan struct{})
			go func() { st.Run(ctx, out); close(done) }()
			select {
			case u := <-out:
				if u.Status != tc.want {
					t.Errorf("got %+v, want %v", u, tc.want)
				}
			case <-time.After(10 * time.Second):
				t.Fatal("no result within 10s")
			}
			cancel()
			<-done
		})
	}
	b, err := os.ReadFile(pidFile)
	if err != nil {
		t.Fatalf("hanging script did not start its child: %v", err)
	}
	pid := string(b[:len(b)-1])
	deadline := time.Now().Add(5 * time.Second)
	for procAlive(pid) && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond) // SIGKILL is delivered asynchronously
	}
	if procAlive(pid) {
		t.Fatalf("child %s of the timed-out script is still running", pid)
	}
}

// procAlive reports whether a process exists and is not a zombie.
func procAlive(pid string) bool {
	b, err := os.ReadFile("/proc/" + pid + "/stat")
	if err != nil {
		return false
	}
	_, state, ok := parseStat(b)
	return ok && state != 'Z'
}

// currentUser is the user running the tests: scripts run as themselves, so
// the tests work as root and as an ordinary user alike.
func currentUser(t *testing.T) string {
	t.Helper()
	u, err := user.Current()
	if err != nil {
		t.Fatal(err)
	}
	return u.Username
}
