package lvsproc

import (
	"maps"
	"os"
	"os/signal"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"vigil/internal/status"
)

// childEnv makes the test binary act as an LVS child: "wait" publishes a
// status, counts SIGHUPs in it and exits on SIGTERM; "die" publishes and
// exits 1 at once.
const childEnv = "VIGIL_LVSPROC_TEST_CHILD"

func TestMain(m *testing.M) {
	switch os.Getenv(childEnv) {
	case "":
		os.Exit(m.Run())
	case "die":
		NewReporter(Pipe()).Publish(status.LVSJSON{State: "running"})
		os.Exit(1)
	case "states":
		// Publishes the VRRP states it was told, as "VI_1=MASTER ...",
		// in its status's Error field.
		rep := NewReporter(Pipe())
		seen := map[string]string{}
		rep.Publish(status.LVSJSON{State: "running"})
		for st := range ReadVRRPStates(ControlPipe()) {
			seen[st.Instance] = st.State
			var b strings.Builder
			for _, n := range slices.Sorted(maps.Keys(seen)) {
				b.WriteString(n + "=" + seen[n] + " ")
			}
			rep.Publish(status.LVSJSON{State: "running", Error: b.String()})
		}
		os.Exit(0)
	case "wait":
		sigs := make(chan os.Signal, 4)
		signal.Notify(sigs, syscall.SIGHUP, syscall.SIGTERM)
		rep := NewReporter(Pipe())
		reloads := 0
		rep.Publish(status.LVSJSON{State: "running"})
		rep.Emit(status.Event{Instance: "VS x", Kind: "real-up"})
		for sig := range sigs {
			if sig == syscall.SIGTERM {
				os.Exit(0)
			}
			reloads++
			rep.Publish(status.LVSJSON{State: "running", Reloads: reloads})
		}
	}
}

// changes is a Supervisor's Changed hook as a channel.
type changes chan struct{}

func (c changes) hook() {
	select {
	case c <- struct{}{}:
	default:
	}
}

// waitFor checks cond after each change of the Supervisor's status, for
// at most 10 s (the child is a real process).
func (c changes) waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	limit := time.After(10 * time.Second)
	for !cond() {
		select {
		case <-c:
		case <-limit:
			t.Fatalf("not within 10 s: %s", what)
		}
	}
}

func TestSupervisorRunsReloadsStops(t *testing.T) {
	t.Setenv(childEnv, "wait")
	evs := make(chan status.Event, 4)
	ch := make(changes, 1)
	s := Supervise(SuperviseOptions{Path: os.Args[0], Emit: func(e status.Event) { evs <- e }, Changed: ch.hook})
	ch.waitFor(t, "the child reports running", func() bool { st := s.Status(); return st.State == "running" && st.PID != 0 })
	if ev := <-evs; ev.Kind != "real-up" {
		t.Fatalf("event %+v", ev)
	}
	pid := s.Status().PID
	s.Reload()
	ch.waitFor(t, "the child saw the reload", func() bool { return s.Status().Reloads == 1 })
	s.Stop(5 * time.Second)
	if err := syscall.Kill(pid, 0); err != syscall.ESRCH {
		t.Fatalf("child %d still exists after Stop (%v)", pid, err)
	}
	if st := s.Status(); st.Restarts != 0 {
		t.Fatalf("restarts %d after a clean run", st.Restarts)
	}
}

func TestSupervisorRestartsADeadChild(t *testing.T) {
	t.Setenv(childEnv, "die")
	ch := make(changes, 1)
	s := Supervise(SuperviseOptions{Path: os.Args[0], MinBackoff: time.Millisecond, Changed: ch.hook})
	ch.waitFor(t, "two restarts", func() bool { return s.Status().Restarts >= 2 })
	s.Stop(5 * time.Second)
}

func TestSupervisorDontRespawn(t *testing.T) {
	t.Setenv(childEnv, "die")
	ch := make(changes, 1)
	s := Supervise(SuperviseOptions{Path: os.Args[0], NoRespawn: true, MinBackoff: time.Millisecond, Changed: ch.hook})
	ch.waitFor(t, "the child stays down", func() bool { return s.Status().State == "stopped" })
	if st := s.Status(); st.Restarts != 0 || st.PID != 0 {
		t.Fatalf("status %+v, want no restart and no pid", st)
	}
	s.Stop(5 * time.Second)
}

func TestSupervisorTellsAndReplaysVRRPStates(t *testing.T) {
	t.Setenv(childEnv, "states")
	ch := make(changes, 1)
	s := Supervise(SuperviseOptions{Path: os.Args[0], MinBackoff: time.Millisecond, Changed: ch.hook})
	defer s.Stop(5 * time.Second)
	s.SetVRRPState("VI_1", "BACKUP")
	s.SetVRRPState("VI_2", "BACKUP")
	s.SetVRRPState("VI_1", "MASTER")
	const want = "VI_1=MASTER VI_2=BACKUP "
	ch.waitFor(t, "the child was told both states", func() bool { return s.Status().Error == want })
	first := s.Status().PID
	// The child is killed; the new one is told every state again before
	// anything else.
	if err := syscall.Kill(first, syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	ch.waitFor(t, "a new child was told the states again", func() bool {
		st := s.Status()
		return st.PID != 0 && st.PID != first && st.Error == want
	})
	s.SetVRRPState("VI_2", "MASTER")
	ch.waitFor(t, "the new child was told the transition", func() bool { return s.Status().Error == "VI_1=MASTER VI_2=MASTER " })
}
