package notify

import (
	"fmt"
	"strconv"
)

// Event kinds.
const (
	KindInstance = "INSTANCE"
	KindGroup    = "GROUP"
)

// Event states: the four transitions, DELETED (notify_deleted at reload),
// and the FIFO-only events.
const (
	StateMaster           = "MASTER"
	StateBackup           = "BACKUP"
	StateFault            = "FAULT"
	StateStop             = "STOP"
	StateDeleted          = "DELETED"
	StateMasterRxLowerPri = "MASTER_RX_LOWER_PRI"
	StateMasterPriority   = "MASTER_PRIORITY"
	StateBackupPriority   = "BACKUP_PRIORITY"
)

// Event is one notification: an instance or sync group entering a state.
type Event struct {
	Kind     string // KindInstance or KindGroup
	Name     string
	State    string // one of the State constants
	Priority int    // effective priority; always 0 for a group, as keepalived
}

// Validate reports an event Notify cannot deliver.
func (e Event) Validate() error {
	if e.Kind != KindInstance && e.Kind != KindGroup {
		return fmt.Errorf("notify: kind %q is not INSTANCE or GROUP", e.Kind)
	}
	if e.Name == "" {
		return fmt.Errorf("notify: event without a name")
	}
	switch e.State {
	case StateMaster, StateBackup, StateFault, StateStop, StateDeleted:
	case StateMasterRxLowerPri, StateMasterPriority, StateBackupPriority:
		if e.Kind == KindGroup {
			return fmt.Errorf("notify: %s applies to instances only", e.State)
		}
	default:
		return fmt.Errorf("notify: unknown state %q", e.State)
	}
	return nil
}

// transition reports whether the state is one the notify scripts and
// mails see (the others go to the FIFOs only).
func (e Event) transition() bool {
	switch e.State {
	case StateMaster, StateBackup, StateFault, StateStop, StateDeleted:
		return true
	}
	return false
}

// priority is the priority as keepalived reports it: 0 for a group.
func (e Event) priority() int {
	if e.Kind == KindGroup {
		return 0
	}
	return e.Priority
}

// FIFOLine is the line keepalived writes to notify_fifo/vrrp_notify_fifo:
// `INSTANCE "VI_1" MASTER 100` and a newline.
func (e Event) FIFOLine() string {
	return e.Kind + ` "` + e.Name + `" ` + e.State + " " + strconv.Itoa(e.priority()) + "\n"
}

// NotifyArgs are the four arguments appended to the generic notify script:
// INSTANCE|GROUP, name, state, priority.
func (e Event) NotifyArgs() []string {
	return []string{e.Kind, e.Name, e.State, strconv.Itoa(e.priority())}
}
