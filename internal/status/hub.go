package status

import (
	"context"
	"errors"
	"slices"
	"sync"
	"time"
)

// Hub is where the daemon hands status its data: a function to pull
// snapshots at read time (so that nothing is copied or counted twice), the
// stream of transitions, and the reload hook. Everything that serves status
// (control socket, metrics, dumps) reads from one Hub. It is safe for
// concurrent use.
type Hub struct {
	now func() time.Time

	mu     sync.Mutex
	source func() []Instance
	reload func(context.Context) (ReloadJSON, error)
	// config is the running configuration's report; nil until set.
	config *ConfigReport
	// lvs returns the LVS side's status; nil: none.
	lvs  func() *LVSJSON
	subs map[*Subscription]struct{}
	// onSubscribers, if set, is called with the number of subscriptions
	// whenever it changes; tests use it to wait for a reader to come or go.
	onSubscribers func(n int)
}

// NewHub returns a Hub with no source (it reports no instances until
// SetSource) and no reload hook.
func NewHub() *Hub {
	return &Hub{now: time.Now, subs: map[*Subscription]struct{}{}}
}

// SetSource sets the function that returns the current instances. It is
// called from the status goroutines, so it must be safe to call
// concurrently with the daemon (vrrp.Instance.Snapshot and Config are); the
// daemon replaces it on reload when its set of instances changes.
func (h *Hub) SetSource(f func() []Instance) {
	h.mu.Lock()
	h.source = f
	h.mu.Unlock()
}

// SetReload sets the hook POST /reload calls. It returns what the reload
// did when the new configuration is running, or the reasons it was refused
// (the old one then keeps running).
func (h *Hub) SetReload(f func(context.Context) (ReloadJSON, error)) {
	h.mu.Lock()
	h.reload = f
	h.mu.Unlock()
}

// Instances returns the current instances from the source, sorted by name.
func (h *Hub) Instances() []Instance {
	h.mu.Lock()
	f := h.source
	h.mu.Unlock()
	if f == nil {
		return nil
	}
	src := f()
	ins := make([]Instance, len(src)) // sorting must not reorder the source's slice
	for i, in := range src {
		ins[i] = in.normalized()
	}
	slices.SortStableFunc(ins, func(a, b Instance) int {
		switch {
		case a.name() < b.name():
			return -1
		case a.name() > b.name():
			return 1
		}
		return 0
	})
	return ins
}

func (in Instance) name() string {
	if in.Snapshot.Name != "" {
		return in.Snapshot.Name
	}
	return in.Config.Name
}

// Status returns the body of GET /status.
func (h *Hub) Status() StatusJSON {
	ins := h.Instances()
	out := StatusJSON{Time: h.now(), Config: h.configReport().JSON(), Instances: make([]InstanceJSON, 0, len(ins)), LVS: h.lvsStatus()}
	for _, in := range ins {
		out.Instances = append(out.Instances, in.JSON())
	}
	return out
}

// ErrNoReload is returned by Reload when the daemon has set no hook.
var ErrNoReload = errors.New("reload is not available")

// Reload runs the reload hook.
func (h *Hub) Reload(ctx context.Context) (ReloadJSON, error) {
	h.mu.Lock()
	f := h.reload
	h.mu.Unlock()
	if f == nil {
		return ReloadJSON{}, ErrNoReload
	}
	return f(ctx)
}

// subscriptionBuffer is how many events wait for a slow subscriber before it
// is cut off.
const subscriptionBuffer = 256

// Subscription is one reader of the event stream.
type Subscription struct {
	c   chan Event
	hub *Hub
	// lost is set (under hub.mu) when the subscriber fell behind and was cut
	// off, so that it can say so rather than end as if all was well.
	lost bool
}

// Events delivers the events; it is closed when the subscription ends
// (Close, or the reader fell more than a buffer behind).
func (s *Subscription) Events() <-chan Event { return s.c }

// Lost reports whether the subscription was cut off because its reader did
// not keep up. Read it after Events is closed.
func (s *Subscription) Lost() bool {
	s.hub.mu.Lock()
	defer s.hub.mu.Unlock()
	return s.lost
}

// Close ends the subscription. It may be called more than once.
func (s *Subscription) Close() {
	s.hub.mu.Lock()
	s.hub.remove(s)
	s.hub.mu.Unlock()
}

// remove ends s; h.mu must be held.
func (h *Hub) remove(s *Subscription) {
	if _, ok := h.subs[s]; ok {
		delete(h.subs, s)
		close(s.c)
		h.changed()
	}
}

// changed runs the test hook; h.mu must be held.
func (h *Hub) changed() {
	if h.onSubscribers != nil {
		h.onSubscribers(len(h.subs))
	}
}

// Subscribe starts a subscription to the events published from now on.
func (h *Hub) Subscribe() *Subscription {
	s := &Subscription{c: make(chan Event, subscriptionBuffer), hub: h}
	h.mu.Lock()
	h.subs[s] = struct{}{}
	h.changed()
	h.mu.Unlock()
	return s
}

// Publish hands ev to every subscriber. It never blocks: a subscriber whose
// buffer is full is cut off (and told so by Lost) rather than holding up
// the daemon or silently missing transitions.
func (h *Hub) Publish(ev Event) {
	h.mu.Lock()
	defer h.mu.Unlock()
	for s := range h.subs {
		select {
		case s.c <- ev:
		default:
			s.lost = true
			h.remove(s)
		}
	}
}

// Subscribers returns how many subscriptions are open.
func (h *Hub) Subscribers() int {
	h.mu.Lock()
	defer h.mu.Unlock()
	return len(h.subs)
}
