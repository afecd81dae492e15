package check

import (
	"reflect"
	"testing"
	"time"
)

var t0 = time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)

// at is t0 plus s seconds.
func at(s float64) time.Time { return t0.Add(time.Duration(s * float64(time.Second))) }

// step is one line of a scenario: at time T, event E gives actions Want
// (Log actions are left out of the comparison unless logs is set).
type step struct {
	T    float64
	E    Event
	Want []Action
}

func ok() Result            { return Result{OK: true} }
func fail() Result          { return Result{Why: "refused"} }
func wait(s float64) Action { return Wait{At: at(s)}.Action() }
func run(s float64, n int, to float64) Action {
	return Run{Step: n, Deadline: at(s + to)}.Action()
}
func up(first bool) Report   { return Report{Up: true, First: first} }
func down(first bool) Report { return Report{Up: false, First: first, Why: "refused"} }

func playMachine(t *testing.T, m *Machine, steps []step, logs bool) {
	t.Helper()
	for i, s := range steps {
		got := m.Handle(at(s.T), s.E)
		if !logs {
			got = withoutLogs(got)
		}
		if len(got) == 0 && len(s.Want) == 0 {
			continue
		}
		if !reflect.DeepEqual(got, s.Want) {
			t.Fatalf("step %d (t=%v %T %+v):\n got  %+v\n want %+v", i, s.T, s.E, s.E, got, s.Want)
		}
	}
}

func withoutLogs(in []Action) []Action {
	var out []Action
	for _, a := range in {
		if a.Kind != ActLog {
			out = append(out, a)
		}
	}
	return out
}

// tim: delay_loop 10 s, delay_before_retry 2 s, warmup 10 s, timeout 3 s.
func tim(retry int) Timing {
	return Timing{DelayLoop: 10 * time.Second, DelayBeforeRetry: 2 * time.Second, Warmup: 10 * time.Second, Timeout: 3 * time.Second, Retry: retry}
}

func TestMachinePlainAndTCP(t *testing.T) {
	tests := []struct {
		name  string
		cfg   MachineConfig
		steps []step
	}{
		{
			name: "warmup share then first success reported once, then steady",
			cfg:  MachineConfig{Family: FamilyTCP, Timing: tim(1)},
			steps: []step{
				{0, Start{Jitter: 0.5}, []Action{wait(6)}}, // 1 s bootstrap + 0.5 × 10 s
				{6, Timer{}, []Action{run(6, 0, 3)}},
				{6.1, ok(), []Action{up(true).Action(), wait(16.1)}},
				{16.1, Timer{}, []Action{run(16.1, 0, 3)}},
				{16.2, ok(), []Action{wait(26.2)}},
			},
		},
		{
			name: "first failure takes it down at once (retry counter starts spent)",
			cfg:  MachineConfig{Family: FamilyPlain, Timing: tim(3)},
			steps: []step{
				{0, Start{}, []Action{wait(1)}},
				{1, Timer{}, []Action{run(1, 0, 3)}},
				{4, fail(), []Action{down(true).Action(), wait(14)}},
			},
		},
		{
			name: "retry failures in a row: retry+1 failures take it down, spaced by delay_before_retry",
			cfg:  MachineConfig{Family: FamilyPlain, Timing: tim(2)},
			steps: []step{
				{0, Start{}, []Action{wait(1)}},
				{1, Timer{}, []Action{run(1, 0, 3)}},
				{1, ok(), []Action{up(true).Action(), wait(11)}},
				{11, Timer{}, []Action{run(11, 0, 3)}},
				{12, fail(), []Action{wait(14)}},
				{14, Timer{}, []Action{run(14, 0, 3)}},
				{15, fail(), []Action{wait(17)}},
				{17, Timer{}, []Action{run(17, 0, 3)}},
				{18, fail(), []Action{down(false).Action(), wait(28)}},
				// Down: a plain checker does not retry, it waits delay_loop.
				{28, Timer{}, []Action{run(28, 0, 3)}},
				{29, fail(), []Action{wait(39)}},
				// One success brings it back.
				{39, Timer{}, []Action{run(39, 0, 3)}},
				{39, ok(), []Action{up(false).Action(), wait(49)}},
			},
		},
		{
			name: "a success between failures resets the count",
			cfg:  MachineConfig{Family: FamilyPlain, Timing: tim(1)},
			steps: []step{
				{0, Start{}, []Action{wait(1)}},
				{1, Timer{}, []Action{run(1, 0, 3)}},
				{1, ok(), []Action{up(true).Action(), wait(11)}},
				{11, Timer{}, []Action{run(11, 0, 3)}},
				{11, fail(), []Action{wait(13)}},
				{13, Timer{}, []Action{run(13, 0, 3)}},
				{13, ok(), []Action{wait(23)}},
				{23, Timer{}, []Action{run(23, 0, 3)}},
				{23, fail(), []Action{wait(25)}},
			},
		},
		{
			name: "TCP keeps retrying while down",
			cfg:  MachineConfig{Family: FamilyTCP, Timing: tim(1)},
			steps: []step{
				{0, Start{}, []Action{wait(1)}},
				{1, Timer{}, []Action{run(1, 0, 3)}},
				{1, fail(), []Action{down(true).Action(), wait(11)}},
				{11, Timer{}, []Action{run(11, 0, 3)}},
				{11, fail(), []Action{wait(13)}},
				{13, Timer{}, []Action{run(13, 0, 3)}},
				{13, fail(), []Action{wait(23)}},
			},
		},
		{
			name: "retry 0: one failure is enough",
			cfg:  MachineConfig{Family: FamilyPlain, Timing: tim(0)},
			steps: []step{
				{0, Start{}, []Action{wait(1)}},
				{1, Timer{}, []Action{run(1, 0, 3)}},
				{1, ok(), []Action{up(true).Action(), wait(11)}},
				{11, Timer{}, []Action{run(11, 0, 3)}},
				{11, fail(), []Action{down(false).Action(), wait(21)}},
			},
		},
		{
			name: "alpha starts down; first failure is reported as first, first success brings it up",
			cfg:  MachineConfig{Family: FamilyPlain, Timing: tim(1), Alpha: true},
			steps: []step{
				{0, Start{}, []Action{wait(1)}},
				{1, Timer{}, []Action{run(1, 0, 3)}},
				{1, fail(), []Action{down(true).Action(), wait(11)}},
				{11, Timer{}, []Action{run(11, 0, 3)}},
				{11, ok(), []Action{up(false).Action(), wait(21)}},
			},
		},
		{
			name: "a timer while a check runs starts nothing; a result without a check is ignored",
			cfg:  MachineConfig{Family: FamilyPlain, Timing: tim(1)},
			steps: []step{
				{0, Start{}, []Action{wait(1)}},
				{1, Timer{}, []Action{run(1, 0, 3)}},
				{2, Timer{}, nil},
				{2, ok(), []Action{up(true).Action(), wait(12)}},
				{3, ok(), nil},
			},
		},
		{
			name: "MISC: next check counted from the start of the last one",
			cfg:  MachineConfig{Family: FamilyPlain, Timing: Timing{DelayLoop: 10 * time.Second, DelayBeforeRetry: time.Second, Timeout: 10 * time.Second, FromStart: true}},
			steps: []step{
				{0, Start{}, []Action{wait(1)}},
				{1, Timer{}, []Action{run(1, 0, 10)}},
				{4, ok(), []Action{up(true).Action(), wait(11)}},
				{11, Timer{}, []Action{run(11, 0, 10)}},
				{21.5, fail(), []Action{down(false).Action(), wait(21.5)}}, // overdue: at once
			},
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			playMachine(t, NewMachine(tc.cfg), tc.steps, false)
		})
	}
}

func TestMachineHTTP(t *testing.T) {
	three := MachineConfig{Family: FamilyHTTP, Timing: tim(1), Steps: 3}
	tests := []struct {
		name  string
		cfg   MachineConfig
		steps []step
	}{
		{
			name: "urls one per delay_loop; up once all passed",
			cfg:  three,
			steps: []step{
				{0, Start{}, []Action{wait(1)}},
				{1, Timer{}, []Action{run(1, 0, 3)}},
				{1, ok(), []Action{wait(11)}},
				{11, Timer{}, []Action{run(11, 1, 3)}},
				{11, ok(), []Action{wait(21)}},
				{21, Timer{}, []Action{run(21, 2, 3)}},
				{21, ok(), []Action{up(true).Action(), wait(31)}},
				{31, Timer{}, []Action{run(31, 0, 3)}},
			},
		},
		{
			name: "failure on a url: retries it, then down; the failed url alone until it passes, then all again",
			cfg:  three,
			steps: []step{
				{0, Start{}, []Action{wait(1)}},
				{1, Timer{}, []Action{run(1, 0, 3)}},
				{1, ok(), []Action{wait(11)}},
				{11, Timer{}, []Action{run(11, 1, 3)}},
				{11, ok(), []Action{wait(21)}},
				{21, Timer{}, []Action{run(21, 2, 3)}},
				{21, ok(), []Action{up(true).Action(), wait(31)}},
				{31, Timer{}, []Action{run(31, 0, 3)}},
				{31, ok(), []Action{wait(41)}},
				{41, Timer{}, []Action{run(41, 1, 3)}},
				{41, fail(), []Action{wait(43)}},
				{43, Timer{}, []Action{run(43, 1, 3)}},
				{43, fail(), []Action{down(false).Action(), wait(53)}}, // max(dbr, delay_loop)
				{53, Timer{}, []Action{run(53, 1, 3)}},
				{53, fail(), []Action{wait(63)}},
				{63, Timer{}, []Action{run(63, 1, 3)}},
				{63, ok(), []Action{wait(73)}},
				{73, Timer{}, []Action{run(73, 0, 3)}},
				{73, ok(), []Action{wait(83)}},
				{83, Timer{}, []Action{run(83, 1, 3)}},
				{83, ok(), []Action{wait(93)}},
				{93, Timer{}, []Action{run(93, 2, 3)}},
				{93, ok(), []Action{up(false).Action(), wait(103)}},
			},
		},
		{
			name: "first failure is down at once",
			cfg:  three,
			steps: []step{
				{0, Start{}, []Action{wait(1)}},
				{1, Timer{}, []Action{run(1, 0, 3)}},
				{1, fail(), []Action{down(true).Action(), wait(11)}},
			},
		},
		{
			name: "fast_recovery: no delay before the first full pass nor while down with no failing url",
			cfg:  MachineConfig{Family: FamilyHTTP, Timing: tim(1), Steps: 2, FastRecovery: true, Alpha: true},
			steps: []step{
				{0, Start{}, []Action{wait(1)}},
				{1, Timer{}, []Action{run(1, 0, 3)}},
				{1.5, ok(), []Action{wait(1.5)}},
				{1.5, Timer{}, []Action{run(1.5, 1, 3)}},
				{2, ok(), []Action{up(true).Action(), wait(12)}},
			},
		},
		{
			name: "fast_recovery never re-checks a failing url at once",
			cfg:  MachineConfig{Family: FamilyHTTP, Timing: tim(0), Steps: 2, FastRecovery: true},
			steps: []step{
				{0, Start{}, []Action{wait(1)}},
				{1, Timer{}, []Action{run(1, 0, 3)}},
				{1, fail(), []Action{down(true).Action(), wait(11)}},
				{11, Timer{}, []Action{run(11, 0, 3)}},
				{11, ok(), []Action{wait(11)}}, // the failed url passes: all again from the first, at once
				{11, Timer{}, []Action{run(11, 0, 3)}},
				{11, ok(), []Action{wait(11)}},
				{11, Timer{}, []Action{run(11, 1, 3)}},
				{11, fail(), []Action{wait(13)}}, // keepalived would loop at once here
				{13, Timer{}, []Action{run(13, 1, 3)}},
				{13, ok(), []Action{up(false).Action(), wait(23)}},
			},
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			playMachine(t, NewMachine(tc.cfg), tc.steps, false)
		})
	}
}

func TestMachineDynamicWeight(t *testing.T) {
	m := NewMachine(MachineConfig{Family: FamilyPlain, Timing: tim(0)})
	w := func(v int) Result { return Result{OK: true, Weight: v, HasWeight: true} }
	playMachine(t, m, []step{
		{0, Start{}, []Action{wait(1)}},
		{1, Timer{}, []Action{run(1, 0, 3)}},
		{1, w(5), []Action{Report{Up: true, First: true, Weight: 5, HasWeight: true}.Action(), wait(11)}},
		{11, Timer{}, []Action{run(11, 0, 3)}},
		{11, w(5), []Action{wait(21)}},
		{21, Timer{}, []Action{run(21, 0, 3)}},
		{21, w(8), []Action{Report{Up: true, Weight: 8, HasWeight: true}.Action(), wait(31)}},
		{31, Timer{}, []Action{run(31, 0, 3)}},
		{31, fail(), []Action{Report{Up: false, Why: "refused"}.Action(), wait(41)}},
	}, false)
}

func TestMachineFile(t *testing.T) {
	m := NewMachine(MachineConfig{Family: FamilyFile})
	d := func(v int) Result { return Result{OK: true, Weight: v, HasWeight: true, WeightIsDelta: true} }
	playMachine(t, m, []step{
		{0, Start{}, nil},
		{0, Timer{}, nil},
		{0, d(0), []Action{Report{Up: true, First: true, HasWeight: true, WeightIsDelta: true}.Action()}},
		{1, d(-3), []Action{Report{Up: true, Weight: -3, HasWeight: true, WeightIsDelta: true}.Action()}},
		{2, fail(), []Action{Report{Up: false, Why: "refused"}.Action()}},
		{3, fail(), nil},
		{4, d(2), []Action{Report{Up: true, Weight: 2, HasWeight: true, WeightIsDelta: true}.Action()}},
	}, false)
}

func TestMachineLogAllFailures(t *testing.T) {
	count := func(all bool) int {
		m := NewMachine(MachineConfig{Family: FamilyPlain, Timing: tim(2), LogAllFailures: all})
		n := 0
		evs := []Event{Start{}, Timer{}, ok(), Timer{}, fail(), Timer{}, fail(), Timer{}, fail()}
		for _, e := range evs {
			for _, a := range m.Handle(t0, e) {
				if a.Kind == ActLog && a.Log.Failure {
					n++
				}
			}
		}
		return n
	}
	if got := count(false); got != 0 {
		t.Errorf("without log_all_failures: %d failure lines, want 0", got)
	}
	if got := count(true); got != 3 {
		t.Errorf("with log_all_failures: %d failure lines, want 3", got)
	}
}

// adopt carries a checker's state to its rescheduled successor as
// keepalived's migrate_checkers does.
func TestMachineAdopt(t *testing.T) {
	tests := []struct {
		name                 string
		up, hasRun           bool
		oldRetryIt, newRetry int
		wantRetryIt          int
	}{
		{"not run yet: one failure is enough", true, false, 1, 3, 3},
		{"run, no retry in progress: retry+1 failures again", true, true, 0, 3, 0},
		{"a retry in progress carries over", true, true, 1, 3, 1},
		{"but short of the last one of the new retry", true, true, 3, 2, 1},
		{"no retry any more", true, true, 1, 0, 0},
		{"down stays down", false, true, 0, 1, 0},
	}
	for _, tc := range tests {
		old := NewMachine(MachineConfig{Timing: Timing{Retry: 3}})
		old.up, old.hasRun, old.retryIt = tc.up, tc.hasRun, tc.oldRetryIt
		m := NewMachine(MachineConfig{Timing: Timing{Retry: tc.newRetry}})
		m.adopt(old)
		if m.up != tc.up || m.hasRun != tc.hasRun || m.retryIt != tc.wantRetryIt {
			t.Errorf("%s: up %v has run %v retry %d; want %v %v %d", tc.name, m.up, m.hasRun, m.retryIt, tc.up, tc.hasRun, tc.wantRetryIt)
		}
	}
}
