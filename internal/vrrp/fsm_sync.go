package vrrp

import (
	"fmt"
	"net/netip"
	"time"
)

// The events a sync group sends to its members' machines. They carry the
// transition reason, which names the group and the member that caused it.

// SyncMaster tells a BACKUP member that the group becomes master: it takes
// the role at once, like keepalived's forced election. Other states ignore it.
type SyncMaster struct{ Reason string }

// SyncBackup tells a MASTER member that the group leaves the master role
// because another member did: it releases the role (priority 0 advert, so
// that the peer's member takes over within its skew time) and becomes BACKUP.
// Other states ignore it.
type SyncBackup struct{ Reason string }

// SyncFault sets (Fault) or clears the group's fault on a member. While set
// the member is in FAULT whatever its own trackers say; clearing it lets the
// member leave FAULT if it has no fault of its own. Members therefore leave
// FAULT together, when the group clears it for all of them.
type SyncFault struct {
	Fault  bool
	Reason string
}

func (SyncMaster) isEvent() {}
func (SyncBackup) isEvent() {}
func (SyncFault) isEvent()  {}

// The actions a synced machine (MachineConfig.Synced) returns for its group.

// WantMaster reports that the machine is ready to be master (its master down
// timer expired, or it is an address owner) or, with Want false, that it no
// longer is (it accepted a master, left BACKUP, or was told to). Reason is
// why it wants the role; it becomes the transition reason if the group agrees.
type WantMaster struct {
	Want   bool
	Reason string
}

// OwnFault reports a change of the instance's own faults (interface, its
// trackers), as opposed to the fault the group holds it in.
type OwnFault struct {
	Fault  bool
	Reason string
}

// LowerPriorityAdvert reports that the master received an advert with a lower
// priority (a peer that thinks it is master): the instance answers with
// garp_lower_prio_repeat gratuitous ARPs, and so do the other members of its
// sync group. keepalived also raises its MASTER_RX_LOWER_PRI event here.
type LowerPriorityAdvert struct {
	Src      netip.Addr
	Priority uint8
}

func (WantMaster) isAction()          {}
func (OwnFault) isAction()            {}
func (LowerPriorityAdvert) isAction() {}

func (m *Machine) syncMaster(now time.Time, ev SyncMaster) []Action {
	if m.state != StateBackup {
		return nil
	}
	return m.becomeMaster(now, ev.Reason)
}

func (m *Machine) syncBackup(now time.Time, ev SyncBackup) []Action {
	if m.state != StateMaster {
		return nil
	}
	m.masterAdverInt = m.cfg.AdvertInterval
	m.masterAddr, m.masterPrio = netip.Addr{}, 0
	m.prioZeroFrom = netip.Addr{}
	m.preempting = false
	m.wantMaster = false
	m.deadline = now.Add(m.MasterDownInterval())
	return []Action{
		SendAdvert{Priority: priorityStop},
		m.transition(StateBackup, ev.Reason),
		RemoveVIPs{},
		ResetTimer{At: m.deadline},
	}
}

func (m *Machine) syncFaultEvent(now time.Time, ev SyncFault) []Action {
	if ev.Fault {
		m.syncFault, m.syncFaultReason = true, ev.Reason
		return m.enterFault(ev.Reason)
	}
	if !m.syncFault {
		return nil
	}
	m.syncFault, m.syncFaultReason = false, ""
	return m.leaveFault(now, ev.Reason)
}

// clearReason says which event cleared the instance's own last fault.
func clearReason(ifname string, ev Event) string {
	switch ev := ev.(type) {
	case InterfaceUp:
		return fmt.Sprintf("interface %s up", ifname)
	case FaultClear:
		return "fault cleared: " + ev.Source
	}
	return fmt.Sprintf("%T", ev)
}
