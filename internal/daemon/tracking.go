package daemon

import (
	"context"
	"encoding/json"
	"log/slog"
	"maps"
	"slices"
	"sync"
	"time"

	"vigil/internal/config"
	"vigil/internal/host"
	"vigil/internal/notify"
	"vigil/internal/notify/script"
	"vigil/internal/track"
	"vigil/internal/vrrp"
)

// trackTarget stands between the trackers and an instance, by instance
// name. It remembers the last priority delta and faults, so that an
// instance restarted by a reload starts with what its trackers last said
// instead of a clean slate that could make it preempt for a moment.
type trackTarget struct {
	mu     sync.Mutex
	inst   *vrrp.Instance
	delta  int
	faults map[string]bool
}

// SetPriorityDelta implements track.Target.
func (t *trackTarget) SetPriorityDelta(d int) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.delta = d
	if t.inst != nil {
		t.inst.SetPriorityDelta(d)
	}
}

// SetFault implements track.Target.
func (t *trackTarget) SetFault(source string, fault bool) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.faults == nil {
		t.faults = map[string]bool{}
	}
	if fault {
		t.faults[source] = true
	} else {
		delete(t.faults, source)
	}
	if t.inst != nil {
		t.inst.SetFault(source, fault)
	}
}

// attach makes inst the target and hands it the current tracker state; it
// is called before inst runs, so the state applies from its first moment.
func (t *trackTarget) attach(inst *vrrp.Instance) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.inst = inst
	if t.delta != 0 {
		inst.SetPriorityDelta(t.delta)
	}
	for _, src := range slices.Sorted(maps.Keys(t.faults)) {
		inst.SetFault(src, true)
	}
}

// detach forgets inst if it is still the target.
func (t *trackTarget) detach(inst *vrrp.Instance) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.inst == inst {
		t.inst = nil
	}
}

// trackers is one running track.Set and the configuration it was built from.
type trackers struct {
	set    *track.Set
	cancel context.CancelFunc
	done   chan struct{}
	key    string // trackingKey of the config it runs
}

// trackingKey is a canonical rendering of everything the trackers depend
// on; two configs with the same key need no tracker restart on reload. JSON
// leaves out file positions, so moving a block in the file changes nothing.
func trackingKey(cfg *config.Config) string {
	type inst struct {
		Name  string
		Track config.Tracking
	}
	v := struct {
		Scripts    []*config.VRRPScript
		Files      []*config.TrackFile
		Processes  []*config.TrackProcess
		SyncGroups []*config.SyncGroup
		Instances  []inst
		Security   script.Policy
	}{cfg.Scripts, cfg.TrackFiles, cfg.Processes, cfg.SyncGroups, nil, script.PolicyFrom(cfg.Global)}
	for _, in := range cfg.Instances {
		v.Instances = append(v.Instances, inst{in.Name, in.Track})
	}
	b, err := json.Marshal(v)
	if err != nil {
		// Never equal to anything: the trackers are rebuilt, which is safe.
		return err.Error() + time.Now().String()
	}
	return string(b)
}

// newTrackers builds (but does not start) the trackers for cfg, reporting to
// the targets by instance name.
func newTrackers(cfg *config.Config, targets map[string]track.Target, log *slog.Logger) (*trackers, error) {
	set, err := track.New(cfg, targets, track.Options{Log: log, Policy: script.PolicyFrom(cfg.Global)})
	if err != nil {
		return nil, err
	}
	return &trackers{set: set, key: trackingKey(cfg), done: make(chan struct{})}, nil
}

// start reports the tracked interfaces' current state and runs the set.
func (t *trackers) start(parent context.Context, log *slog.Logger) {
	for _, ifn := range t.set.Interfaces() {
		up, err := host.LinkUp(ifn)
		if err != nil {
			log.Warn("tracked interface: cannot read its state; counted as down", "interface", ifn, "err", err)
		}
		t.set.SetInterface(ifn, up && err == nil)
	}
	ctx, cancel := context.WithCancel(parent)
	t.cancel = cancel
	go func() {
		defer close(t.done)
		t.set.Run(ctx)
	}()
}

// stop ends the trackers (killing running scripts) and waits for them.
func (t *trackers) stop() {
	if t == nil || t.cancel == nil {
		return
	}
	t.cancel()
	<-t.done
}

// notifyEvent turns an instance's state change into a notification, or
// reports false for states notifications do not cover (INIT).
func notifyEvent(ch vrrp.StateChange) (notify.Event, bool) {
	st := ch.To.String()
	switch st {
	case notify.StateMaster, notify.StateBackup, notify.StateFault, notify.StateStop:
	default:
		return notify.Event{}, false
	}
	return notify.Event{Kind: notify.KindInstance, Name: ch.Instance, State: st, Priority: int(ch.Priority)}, true
}
