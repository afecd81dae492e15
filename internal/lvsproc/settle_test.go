package lvsproc

import (
	"testing"
	"time"
)

// TestSettlingWindow: a status published within settleWindow of a start
// or a reload puts the memory's settling off; one after it does not, so
// that checks that keep changing cannot put it off for ever; a reload
// opens the window again.
func TestSettlingWindow(t *testing.T) {
	t0 := time.Unix(1000, 0)
	var s settling
	s.begin(t0)
	steps := []struct {
		name  string
		begin bool
		at    time.Duration
		want  bool
	}{
		{"a first verdict's publish", false, 5 * time.Second, true},
		{"the last moment of the window", false, settleWindow - time.Millisecond, true},
		{"at the window's end", false, settleWindow, false},
		{"later, a check that keeps changing", false, 5 * time.Minute, false},
		{"a reload", true, 10 * time.Minute, false},
		{"a publish after the reload", false, 10*time.Minute + 3*time.Second, true},
		{"past the reload's window", false, 10*time.Minute + settleWindow + time.Second, false},
	}
	for _, st := range steps {
		if st.begin {
			s.begin(t0.Add(st.at))
			continue
		}
		if got := s.putOff(t0.Add(st.at)); got != st.want {
			t.Errorf("%s (at %v): putOff %v; want %v", st.name, st.at, got, st.want)
		}
	}
}
