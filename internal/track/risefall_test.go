package track

import "testing"

func TestRiseFall(t *testing.T) {
	const P, G, B = Pending, Good, Bad
	tests := []struct {
		name       string
		rise, fall int
		initFail   bool
		runs       string // '+' success, '-' failure
		want       []Status
	}{
		{"first success is enough", 3, 3, false, "+", []Status{G}},
		{"first failure fails at once", 3, 3, false, "-", []Status{B}},
		{"fall 1", 1, 1, false, "+-+-", []Status{G, B, G, B}},
		{"fall 3 needs three failures", 2, 3, false, "+---", []Status{G, G, G, B}},
		{"success resets the fall count", 2, 3, false, "+--+--", []Status{G, G, G, G, G, G}},
		{"rise 3 needs three successes", 3, 2, false, "-+++", []Status{B, B, B, G}},
		{"failure resets the rise count", 3, 2, false, "-++-+++", []Status{B, B, B, B, B, B, G}},
		{"init_fail starts bad, needs rise", 2, 2, true, "++", []Status{B, G}},
		{"init_fail rise 1", 1, 1, true, "-+", []Status{B, G}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			rf := NewRiseFall(tc.rise, tc.fall, tc.initFail)
			want0 := P
			if tc.initFail {
				want0 = B
			}
			if rf.Status() != want0 {
				t.Fatalf("initial status %v, want %v", rf.Status(), want0)
			}
			prev := rf.Status()
			for i, c := range tc.runs {
				got, changed := rf.Record(c == '+')
				if got != tc.want[i] || changed != (got != prev) {
					t.Fatalf("run %d (%c): got %v changed=%v, want %v (previous %v)", i, c, got, changed, tc.want[i], prev)
				}
				prev = got
			}
		})
	}
}
