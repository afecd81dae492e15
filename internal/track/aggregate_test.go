package track

import (
	"fmt"
	"slices"
	"testing"
)

// recorder is a Target that records every call.
type recorder struct {
	calls []string
}

func (r *recorder) SetPriorityDelta(d int) { r.calls = append(r.calls, fmt.Sprintf("delta %d", d)) }
func (r *recorder) SetFault(src string, f bool) {
	r.calls = append(r.calls, fmt.Sprintf("fault %s %v", src, f))
}

func up(kind Kind, name string) Update   { return Update{Kind: kind, Name: name, Status: Good} }
func down(kind Kind, name string) Update { return Update{Kind: kind, Name: name, Status: Bad} }
func file(name string, v int64) Update   { return Update{Kind: KindFile, Name: name, Value: v} }

func TestAggregator(t *testing.T) {
	refs := []Ref{
		{Kind: KindScript, Name: "chk_up", Weight: 10},
		{Kind: KindScript, Name: "chk_down", Weight: -20},
		{Kind: KindScript, Name: "chk_fault"},
		{Kind: KindInterface, Name: "eth1", Weight: -5},
		{Kind: KindInterface, Name: "eth2"},
		{Kind: KindFile, Name: "f", Weight: 2},
		{Kind: KindProcess, Name: "haproxy", Weight: 15, Reverse: true},
	}
	tests := []struct {
		name       string
		updates    []Update
		wantCalls  []string
		wantDelta  int
		wantFaults []string
	}{
		{"nothing known, nothing done", nil, nil, 0, nil},
		{"pending has no effect", []Update{{Kind: KindScript, Name: "chk_fault", Status: Pending}}, nil, 0, nil},
		{"positive weight while up", []Update{up(KindScript, "chk_up")}, []string{"delta 10"}, 10, nil},
		{"positive weight removed when down", []Update{up(KindScript, "chk_up"), down(KindScript, "chk_up")},
			[]string{"delta 10", "delta 0"}, 0, nil},
		{"negative weight while failed", []Update{up(KindScript, "chk_down"), down(KindScript, "chk_down")},
			[]string{"delta -20"}, -20, nil},
		{"weight 0 failure is a fault, cleared on success", []Update{down(KindScript, "chk_fault"), up(KindScript, "chk_fault")},
			[]string{"fault track_script chk_fault true", "fault track_script chk_fault false"}, 0, nil},
		{"interface with weight changes priority, not fault", []Update{down(KindInterface, "eth1")}, []string{"delta -5"}, -5, nil},
		{"interface without weight faults", []Update{down(KindInterface, "eth2")}, []string{"fault track_interface eth2 true"}, 0, []string{"track_interface eth2"}},
		{"file value times weight", []Update{file("f", 3), file("f", -4)}, []string{"delta 6", "delta -8"}, -8, nil},
		{"file fault", []Update{file("f", 3), file("f", -200)}, []string{"delta 6", "delta 0", "fault track_file f true"}, 0, []string{"track_file f"}},
		{"reverse process weight", []Update{up(KindProcess, "haproxy")}, []string{"delta -15"}, -15, nil},
		{"deltas add up", []Update{up(KindScript, "chk_up"), down(KindScript, "chk_down"), file("f", 1)},
			[]string{"delta 10", "delta -10", "delta -8"}, -8, nil},
		{"repeated news changes nothing", []Update{up(KindScript, "chk_up"), up(KindScript, "chk_up")}, []string{"delta 10"}, 10, nil},
		{"untracked objects are ignored", []Update{down(KindScript, "other"), file("g", 100)}, nil, 0, nil},
		{"two faults", []Update{down(KindInterface, "eth2"), down(KindScript, "chk_fault")},
			[]string{"fault track_interface eth2 true", "fault track_script chk_fault true"}, 0, []string{"track_interface eth2", "track_script chk_fault"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			r := &recorder{}
			a := NewAggregator(refs, r)
			for _, u := range tc.updates {
				a.Apply(u)
			}
			if !slices.Equal(r.calls, tc.wantCalls) {
				t.Fatalf("calls %q, want %q", r.calls, tc.wantCalls)
			}
			d, f := a.State()
			if d != tc.wantDelta || !slices.Equal(f, tc.wantFaults) && !(len(f) == 0 && len(tc.wantFaults) == 0) {
				t.Fatalf("state delta %d faults %q, want %d %q", d, f, tc.wantDelta, tc.wantFaults)
			}
			if len(a.Describe()) != len(refs) {
				t.Fatalf("Describe has %d lines, want %d", len(a.Describe()), len(refs))
			}
		})
	}
}
