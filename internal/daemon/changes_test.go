package daemon

import (
	"slices"
	"testing"
	"time"

	"vigil/internal/vrrp"
)

func TestChangeFeedOrderAndEnds(t *testing.T) {
	f := newChangeFeed()
	var got []string
	running := make(chan struct{})
	go func() {
		close(running)
		f.run(func(c vrrp.StateChange) { got = append(got, c.Instance+" "+c.To.String()) })
	}()
	<-running

	done1, done2 := make(chan struct{}), make(chan struct{})
	unsubbed := 0
	s1 := &instanceSink{feed: f, done: done1}
	s1.setUnsub(func() { unsubbed++ })
	s2 := &instanceSink{feed: f, done: done2}

	s1.Change(vrrp.StateChange{Instance: "A", To: vrrp.StateBackup})
	s2.Change(vrrp.StateChange{Instance: "B", To: vrrp.StateBackup})
	s1.Change(vrrp.StateChange{Instance: "A", To: vrrp.StateMaster})
	s1.Change(vrrp.StateChange{Instance: "A", To: vrrp.StateStop})
	s1.Finished()
	<-done1 // closed only after A's transitions were published
	// The token follows the batch that published them; a bound, not a
	// timing: it comes at once or never.
	select {
	case <-f.changed:
	case <-time.After(10 * time.Second):
		t.Fatal("no token on changed after transitions were published")
	}
	if want := []string{"A BACKUP", "B BACKUP", "A MASTER", "A STOP"}; !slices.Equal(got, want) {
		t.Errorf("published %q, want %q", got, want)
	}
	if unsubbed != 1 {
		t.Errorf("A unsubscribed %d times, want 1", unsubbed)
	}

	// An instance that ends before it was subscribed is unsubscribed as
	// soon as the subscription is known.
	s2.Finished()
	<-done2
	late := 0
	s2.setUnsub(func() { late++ })
	if late != 1 {
		t.Errorf("late unsubscribe ran %d times, want 1", late)
	}

	// close publishes what is still queued, then returns.
	s1.Change(vrrp.StateChange{Instance: "C", To: vrrp.StateFault})
	f.close()
	if got[len(got)-1] != "C FAULT" {
		t.Errorf("last published %q, want the change queued before close", got[len(got)-1])
	}
}
