package daemon

import (
	"context"
	"slices"
	"sync"
	"testing"

	"vigil/internal/status"
	"vigil/internal/vrrp"
)

// stateRec records SetVRRPState calls and signals each on calls.
type stateRec struct {
	mu    sync.Mutex
	got   []string
	calls chan struct{}
}

func (r *stateRec) SetVRRPState(instance, state string) {
	r.mu.Lock()
	r.got = append(r.got, instance+"="+state)
	r.mu.Unlock()
	r.calls <- struct{}{}
}

func TestFollowVRRPSeedsThenForwardsTransitions(t *testing.T) {
	hub := status.NewHub()
	hub.SetSource(func() []status.Instance {
		return []status.Instance{
			{Snapshot: vrrp.Snapshot{Name: "VI_1", State: vrrp.StateBackup}},
			{Snapshot: vrrp.Snapshot{Name: "VI_2", State: vrrp.StateMaster}},
		}
	})
	rec := &stateRec{calls: make(chan struct{}, 16)}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); followVRRP(ctx, hub, rec) }()
	// The seed comes after the subscription: once both are told, every
	// event published from here on reaches it.
	<-rec.calls
	<-rec.calls
	hub.Publish(status.Event{Instance: "VS [10.0.0.1]:tcp:80", Kind: "real-up"}) // the LVS side's: not a state
	hub.Publish(status.Event{Instance: "VI_1", From: "BACKUP", To: "MASTER"})
	<-rec.calls
	cancel()
	<-done
	want := []string{"VI_1=BACKUP", "VI_2=MASTER", "VI_1=MASTER"}
	if !slices.Equal(rec.got, want) {
		t.Fatalf("told %v, want %v", rec.got, want)
	}
}
