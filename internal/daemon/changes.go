package daemon

import (
	"sync"

	"vigil/internal/vrrp"
)

// changeFeed carries the state transitions of every instance, and their
// ends, to one goroutine that publishes them (status hub, notifications).
// Instances hand it their transitions on the loop goroutine (vrrp.ChangeSink),
// so it never blocks: the queue is unbounded, and a transition is never
// dropped. One feed instead of a reader goroutine and a channel buffer per
// instance is what keeps hundreds of instances small (docs/BENCHMARKS.md).
type changeFeed struct {
	mu     sync.Mutex
	items  []changeItem
	closed bool
	wake   chan struct{} // one pending wake-up at most
	done   chan struct{} // closed when run has returned
	// changed gets a token (one pending at most) after transitions were
	// published, for the daemon's memory trim.
	changed chan struct{}
}

// changeItem is a transition, or (end set) the end of an instance, which
// comes after its last transition.
type changeItem struct {
	sc  vrrp.StateChange
	end *instanceSink
}

func newChangeFeed() *changeFeed {
	return &changeFeed{wake: make(chan struct{}, 1), done: make(chan struct{}), changed: make(chan struct{}, 1)}
}

func (f *changeFeed) push(it changeItem) {
	f.mu.Lock()
	f.items = append(f.items, it)
	f.mu.Unlock()
	select {
	case f.wake <- struct{}{}:
	default:
	}
}

// run publishes every transition in order and finishes every ended
// instance, until close has been called and the queue is empty.
func (f *changeFeed) run(publish func(vrrp.StateChange)) {
	defer close(f.done)
	var batch []changeItem
	for {
		f.mu.Lock()
		batch, f.items = f.items, batch[:0]
		closed := f.closed
		f.mu.Unlock()
		published := false
		for i, it := range batch {
			if it.end != nil {
				it.end.ended()
			} else {
				publish(it.sc)
				published = true
			}
			batch[i] = changeItem{}
		}
		if published {
			select {
			case f.changed <- struct{}{}:
			default:
			}
		}
		if len(batch) == 0 && closed {
			return
		}
		if len(batch) == 0 {
			<-f.wake
		}
	}
}

// close ends run once what is queued has been handled, and waits for it.
func (f *changeFeed) close() {
	f.mu.Lock()
	f.closed = true
	f.mu.Unlock()
	select {
	case f.wake <- struct{}{}:
	default:
	}
	<-f.done
}

// instanceSink is one instance's side of the feed. Its end unsubscribes the
// instance from its socket and closes the running instance's done channel.
type instanceSink struct {
	feed *changeFeed

	mu       sync.Mutex
	done     chan struct{} // the runningInstance's; set before the instance runs
	unsub    func()
	finished bool
}

// Change implements vrrp.ChangeSink.
func (s *instanceSink) Change(sc vrrp.StateChange) { s.feed.push(changeItem{sc: sc}) }

// Finished implements vrrp.ChangeSink.
func (s *instanceSink) Finished() { s.feed.push(changeItem{end: s}) }

// setUnsub records how to unsubscribe the instance; if it has ended
// already, that is done at once.
func (s *instanceSink) setUnsub(unsub func()) {
	s.mu.Lock()
	if s.finished {
		s.mu.Unlock()
		unsub()
		return
	}
	s.unsub = unsub
	s.mu.Unlock()
}

// ended runs on the feed's goroutine, after the instance's last transition
// was published.
func (s *instanceSink) ended() {
	s.mu.Lock()
	s.finished = true
	unsub, done := s.unsub, s.done
	s.unsub = nil
	s.mu.Unlock()
	if unsub != nil {
		unsub()
	}
	if done != nil {
		close(done)
	}
}
