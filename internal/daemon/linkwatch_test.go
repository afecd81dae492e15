package daemon

import (
	"log/slog"
	"testing"

	"vigil/internal/config"
	"vigil/internal/host"
)

// TestLinkEventsWhileTrackersChange: the link watcher hands events over
// (reading the trackers) while start and reload install trackers. Under
// -race this failed when start set r.trk without the lock the watcher
// takes (found by the chaos campaign, test/chaos, on a daemon's start: the
// watcher lists the existing links at once).
func TestLinkEventsWhileTrackersChange(t *testing.T) {
	log := slog.New(slog.DiscardHandler)
	r := &vrrpRunner{log: log, running: map[instKey]*runningInstance{}}
	var trks []*trackers
	for range 2 {
		trk, err := newTrackers(&config.Config{}, nil, log)
		if err != nil {
			t.Fatal(err)
		}
		trks = append(trks, trk)
	}
	done := make(chan struct{})
	go func() {
		defer close(done)
		for i := range 200 {
			r.linkChanged(host.LinkEvent{Name: "eth0", Up: i%2 == 0})
		}
	}()
	for i := range 200 {
		r.setTrackers(trks[i%2])
	}
	<-done
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.trk != trks[1] {
		t.Errorf("the last trackers set are not the ones in place")
	}
}
