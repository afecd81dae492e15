package vrrp

import (
	"context"
	"log/slog"
	"net/netip"
	"slices"
	"sync"
	"testing"
	"testing/synctest"
	"time"
)

// captured is a slog handler that keeps every record, for tests that assert
// what an operator reads in the log.
type captured struct {
	mu    *sync.Mutex
	recs  *[]slog.Record
	attrs []slog.Attr
}

func newCaptured() *captured { return &captured{mu: &sync.Mutex{}, recs: &[]slog.Record{}} }

func (c *captured) Enabled(context.Context, slog.Level) bool { return true }
func (c *captured) Handle(_ context.Context, r slog.Record) error {
	r = r.Clone()
	r.AddAttrs(c.attrs...)
	c.mu.Lock()
	*c.recs = append(*c.recs, r)
	c.mu.Unlock()
	return nil
}
func (c *captured) WithAttrs(as []slog.Attr) slog.Handler {
	c2 := *c
	c2.attrs = append(slices.Clone(c.attrs), as...)
	return &c2
}
func (c *captured) WithGroup(string) slog.Handler { return c }

// messages are the records' messages, in order.
func (c *captured) messages() []string {
	c.mu.Lock()
	defer c.mu.Unlock()
	var out []string
	for _, r := range *c.recs {
		out = append(out, r.Message)
	}
	return out
}

// attr is the value of key on the first record with message msg.
func (c *captured) attr(msg, key string) (string, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	for _, r := range *c.recs {
		if r.Message != msg {
			continue
		}
		var v string
		found := false
		r.Attrs(func(a slog.Attr) bool {
			if a.Key == key {
				v, found = a.Value.String(), true
				return false
			}
			return true
		})
		return v, found
	}
	return "", false
}

func TestTransitionMessages(t *testing.T) {
	peer := netip.MustParseAddr("10.0.0.2")
	tests := []struct {
		name       string
		t          Transition
		master     netip.Addr
		masterPrio uint8
		ours       uint8
		want       []string
	}{
		{"init to backup", Transition{From: StateInit, To: StateBackup}, netip.Addr{}, 0, 100,
			[]string{"(VI_1) Entering BACKUP STATE (init)"}},
		{"init to fault", Transition{From: StateInit, To: StateFault}, netip.Addr{}, 0, 100,
			[]string{"(VI_1) Entering FAULT STATE (init)"}},
		{"backup to master", Transition{From: StateBackup, To: StateMaster, Reason: "master down timer expired"}, peer, 100, 150,
			[]string{"(VI_1) Entering MASTER STATE"}},
		{"master yields to higher priority", Transition{From: StateMaster, To: StateBackup, Reason: "higher priority 200 from 10.0.0.2"}, peer, 200, 100,
			[]string{"(VI_1) Master received advert from 10.0.0.2 with higher priority 200, ours 100", "(VI_1) Entering BACKUP STATE"}},
		{"master yields to a higher address", Transition{From: StateMaster, To: StateBackup, Reason: "equal priority 100 from higher address 10.0.0.2"}, peer, 100, 100,
			[]string{"(VI_1) Master received advert from 10.0.0.2 with same priority 100 but higher IP address than ours", "(VI_1) Entering BACKUP STATE"}},
		{"master moved by its sync group: no advert", Transition{From: StateMaster, To: StateBackup, Reason: "sync group VG_1 member VI_2 is BACKUP"}, peer, 200, 100,
			[]string{"(VI_1) Entering BACKUP STATE"}},
		{"backup to fault", Transition{From: StateBackup, To: StateFault, Reason: "interface eth0 down"}, netip.Addr{}, 0, 100,
			[]string{"(VI_1) Entering FAULT STATE"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got := transitionMessages("VI_1", tc.t, tc.master, tc.masterPrio, tc.ours)
			if !slices.Equal(got, tc.want) {
				t.Errorf("got %q\nwant %q", got, tc.want)
			}
		})
	}
}

// Two instances running against each other log keepalived's lines, with
// the instance as an attribute: a late higher priority node preempts.
func TestInstanceLogsKeepalivedMessages(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		net := newFakeNet()
		logA, logB := newCaptured(), newCaptured()
		b := net.addLogged(t, instCfg("VI_1", addrB, 100), slog.New(logB))
		a := net.addLogged(t, instCfg("VI_1", addrA, 150), slog.New(logA))
		b.start(t.Context())
		settle(5 * time.Second)
		a.start(t.Context())
		settle(20 * time.Second)
		wantState(t, a, StateMaster)
		wantState(t, b, StateBackup)
		a.stop(t)
		b.stop(t)

		wantB := []string{
			"(VI_1) Entering BACKUP STATE (init)",
			"(VI_1) Entering MASTER STATE",
			"(VI_1) Master received advert from 10.0.0.1 with higher priority 150, ours 100",
			"(VI_1) Entering BACKUP STATE",
		}
		if got := keepalivedLines(logB.messages()); !slices.Equal(got, wantB) {
			t.Errorf("B logged\n %q\nwant\n %q", got, wantB)
		}
		if got := keepalivedLines(logA.messages()); len(got) < 2 || got[0] != "(VI_1) Entering BACKUP STATE (init)" || got[1] != "(VI_1) Entering MASTER STATE" {
			t.Errorf("A logged %q", got)
		}
		for k, want := range map[string]string{"instance": "VI_1", "from": "BACKUP", "to": "MASTER", "vrid": "51"} {
			if v, ok := logB.attr("(VI_1) Entering MASTER STATE", k); !ok || v != want {
				t.Errorf("attribute %s = %q (%v), want %q", k, v, ok, want)
			}
		}
	})
}

// keepalivedLines keeps the messages in keepalived's "(NAME) ..." form,
// up to the stop (whose lines are Vigil's own).
func keepalivedLines(msgs []string) []string {
	var out []string
	for _, m := range msgs {
		if len(m) > 0 && m[0] == '(' && m != "(VI_1) Entering STOP STATE" {
			out = append(out, m)
		}
	}
	return out
}

func TestGroupMessage(t *testing.T) {
	for to, want := range map[State]string{
		StateMaster: "VRRP_Group(VG_1) Syncing instances to MASTER state",
		StateBackup: "VRRP_Group(VG_1) Syncing instances to BACKUP state",
		StateFault:  "VRRP_Group(VG_1) Syncing instances to FAULT state",
		StateStop:   "VRRP_Group(VG_1) entering STOP state",
	} {
		if got := groupMessage("VG_1", to); got != want {
			t.Errorf("groupMessage(%v) = %q, want %q", to, got, want)
		}
	}
}
