package vrrp

// basePriorityUpdate replaces the configured priority of a running
// instance; handled on the instance's loop, which keeps cfg in step so that
// Config reflects what runs.
type basePriorityUpdate struct {
	priority uint8
	done     chan struct{}
}

func (basePriorityUpdate) isEvent() {}

// UpdatePriority changes the configured priority of a running instance
// without restarting it (a reload that changed only "priority"), keeping
// its state as keepalived does. Changes to or from 255, the address owner,
// change the protocol role and need a restart instead; UpdatePriority
// reports false for them and changes nothing. It returns when the instance
// has applied the change, or at once if the instance has stopped.
func (i *Instance) UpdatePriority(p uint8) bool {
	if p == 0 || p == PriorityOwner || i.pubCfg.Load().Priority == PriorityOwner {
		return false
	}
	u := basePriorityUpdate{priority: p, done: make(chan struct{})}
	i.send(u)
	select {
	case <-u.done:
	case <-i.done:
	}
	return true
}
