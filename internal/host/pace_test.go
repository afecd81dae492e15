package host

import (
	"fmt"
	"slices"
	"testing"
	"time"
)

// testMsg is a message told apart by kind and n (its one-byte frame).
func testMsg(k msgKind, n int) pacedMsg {
	return pacedMsg{kind: k, key: connKey{ifname: "eth0", index: 1, proto: int(k)}, frame: []byte{byte(n)}}
}

func names(ms []pacedMsg) []string {
	var out []string
	for _, m := range ms {
		p := "arp"
		if m.kind == kindNA {
			p = "na"
		}
		out = append(out, fmt.Sprintf("%s%d", p, m.frame[0]))
	}
	return out
}

// paceStep is one moment of a pacer script: messages offered at `at`, then
// what must leave (sent at offer, then due(at)), and when the pacer must next wake (-1: idle).
type paceStep struct {
	at       time.Duration
	arp, na  []int
	want     []string
	wantWake time.Duration
}

func TestPacer(t *testing.T) {
	const ms = time.Millisecond
	cases := []struct {
		name      string
		garp, gna time.Duration
		steps     []paceStep
	}{
		{
			name: "ARPs an interval apart, the first at once",
			garp: 100 * ms,
			steps: []paceStep{
				{at: 0, arp: []int{1, 2, 3}, want: []string{"arp1"}, wantWake: 100 * ms},
				{at: 50 * ms, wantWake: 100 * ms},
				{at: 100 * ms, want: []string{"arp2"}, wantWake: 200 * ms},
				{at: 200 * ms, want: []string{"arp3"}, wantWake: -1},
				// Idle for longer than the interval: the next leaves at once.
				{at: 350 * ms, arp: []int{4}, want: []string{"arp4"}, wantWake: -1},
				// Within the interval of arp4: waits.
				{at: 400 * ms, arp: []int{5}, wantWake: 450 * ms},
				{at: 450 * ms, want: []string{"arp5"}, wantWake: -1},
			},
		},
		{
			name: "a late wake-up sends one, and the next waits a whole interval from it",
			garp: 100 * ms,
			steps: []paceStep{
				{at: 0, arp: []int{1, 2, 3}, want: []string{"arp1"}, wantWake: 100 * ms},
				{at: 370 * ms, want: []string{"arp2"}, wantWake: 470 * ms},
				{at: 470 * ms, want: []string{"arp3"}, wantWake: -1},
			},
		},
		{
			name: "ARP and NA are paced independently",
			garp: 100 * ms, gna: 30 * ms,
			steps: []paceStep{
				{at: 0, arp: []int{1, 2}, na: []int{1, 2, 3}, want: []string{"arp1", "na1"}, wantWake: 30 * ms},
				{at: 30 * ms, want: []string{"na2"}, wantWake: 60 * ms},
				{at: 60 * ms, want: []string{"na3"}, wantWake: 100 * ms},
				{at: 100 * ms, want: []string{"arp2"}, wantWake: -1},
			},
		},
		{
			name: "a kind without an interval is not held back",
			garp: 100 * ms,
			steps: []paceStep{
				{at: 0, arp: []int{1, 2}, na: []int{1, 2, 3}, want: []string{"arp1", "na1", "na2", "na3"}, wantWake: 100 * ms},
				{at: 10 * ms, na: []int{4}, want: []string{"na4"}, wantWake: 100 * ms},
			},
		},
		{
			name: "a message offered when its kind is due still queues behind one waiting",
			garp: 100 * ms,
			steps: []paceStep{
				{at: 0, arp: []int{1, 2}, want: []string{"arp1"}, wantWake: 100 * ms},
				{at: 100 * ms, arp: []int{3}, want: []string{"arp2"}, wantWake: 200 * ms},
				{at: 200 * ms, want: []string{"arp3"}, wantWake: -1},
			},
		},
		{
			name: "a message identical to a waiting one is absorbed",
			garp: 100 * ms,
			steps: []paceStep{
				// keepalived's garp_master_repeat 3 of one address:
				// the first leaves, the repeats collapse into one.
				{at: 0, arp: []int{1, 1, 1}, want: []string{"arp1"}, wantWake: 100 * ms},
				{at: 10 * ms, arp: []int{1, 2, 1}, wantWake: 100 * ms},
				{at: 100 * ms, want: []string{"arp1"}, wantWake: 200 * ms},
				{at: 200 * ms, want: []string{"arp2"}, wantWake: -1},
			},
		},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			p := newPacer(tc.garp, tc.gna)
			t0 := time.Unix(1000, 0)
			for i, st := range tc.steps {
				now := t0.Add(st.at)
				var sent []pacedMsg
				offer := func(m pacedMsg) {
					send, ok := p.offer(now, m)
					if !ok {
						t.Fatalf("step %d: offer %v refused", i, names([]pacedMsg{m}))
					}
					if send {
						sent = append(sent, m)
					}
				}
				for _, n := range st.arp {
					offer(testMsg(kindARP, n))
				}
				for _, n := range st.na {
					offer(testMsg(kindNA, n))
				}
				got := names(append(sent, p.due(now)...))
				if !slices.Equal(got, st.want) {
					t.Errorf("step %d (t=%v): sent %v, want %v", i, st.at, got, st.want)
				}
				at, ok := p.wake()
				switch {
				case st.wantWake < 0 && ok:
					t.Errorf("step %d (t=%v): wakes at %v, want idle", i, st.at, at.Sub(t0))
				case st.wantWake >= 0 && (!ok || !at.Equal(t0.Add(st.wantWake))):
					t.Errorf("step %d (t=%v): wakes at %v (%v), want %v", i, st.at, at.Sub(t0), ok, st.wantWake)
				}
			}
		})
	}
}

func TestPacerLimitAndDrain(t *testing.T) {
	p := newPacer(time.Second, time.Second)
	p.limit = 2
	t0 := time.Unix(1000, 0)
	if got := names(p.due(t0)); got != nil {
		t.Fatalf("empty pacer sent %v", got)
	}
	for n := 1; n <= 2; n++ {
		if !p.add(testMsg(kindARP, n)) {
			t.Fatalf("arp%d refused below the limit", n)
		}
	}
	if p.add(testMsg(kindARP, 3)) {
		t.Error("arp3 accepted beyond the limit")
	}
	if !p.add(testMsg(kindARP, 2)) {
		t.Error("a duplicate of a waiting message is refused at the limit; it should be absorbed")
	}
	if !p.add(testMsg(kindNA, 1)) {
		t.Error("the NA queue is full because the ARP queue is")
	}
	if got := p.pending(); got != 3 {
		t.Errorf("pending = %d, want 3", got)
	}
	if got := names(p.due(t0)); !slices.Equal(got, []string{"arp1", "na1"}) {
		t.Errorf("due = %v", got)
	}
	if !p.add(testMsg(kindARP, 3)) {
		t.Error("arp3 refused after the queue shrank")
	}
	if got := names(p.drain()); !slices.Equal(got, []string{"arp2", "arp3"}) {
		t.Errorf("drain = %v", got)
	}
	if _, ok := p.wake(); ok || p.pending() != 0 {
		t.Error("drained pacer still has work")
	}
}

func TestPacerIntervalChange(t *testing.T) {
	const ms = time.Millisecond
	p := newPacer(time.Second, 0)
	t0 := time.Unix(1000, 0)
	p.add(testMsg(kindARP, 1))
	p.add(testMsg(kindARP, 2))
	p.due(t0)
	if at, _ := p.wake(); !at.Equal(t0.Add(time.Second)) {
		t.Fatalf("wake %v", at.Sub(t0))
	}
	// Shorter: due the new interval after the last send.
	p.setIntervals(100*ms, 0)
	if at, _ := p.wake(); !at.Equal(t0.Add(100 * ms)) {
		t.Errorf("after shortening, wake %v, want 100ms", at.Sub(t0))
	}
	// None: due at once.
	p.setIntervals(0, 0)
	if got := names(p.due(t0.Add(ms))); !slices.Equal(got, []string{"arp2"}) {
		t.Errorf("after removing the interval, due %v", got)
	}
}
