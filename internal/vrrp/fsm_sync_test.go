package vrrp

import (
	"reflect"
	"testing"
	"time"
)

func TestMachineSynced(t *testing.T) {
	synced := func(c *MachineConfig) { c.Synced = true }
	want := func(reason string) Action { return WantMaster{Want: true, Reason: reason} }
	withdraw := WantMaster{Want: false}
	tests := []struct {
		name  string
		cfg   func(*MachineConfig)
		steps []step
		final State
	}{
		{
			name: "master down timer asks the group and stays BACKUP, re-asking at each expiry",
			steps: append(startBackup(),
				step{down100, TimerExpired{}, []Action{rt(2 * down100), want("master down timer expired")}},
				step{2 * down100, TimerExpired{}, []Action{rt(3 * down100), want("master down timer expired")}},
			),
			final: StateBackup,
		},
		{
			name: "SyncMaster makes a backup master with the group's reason",
			steps: append(startBackup(),
				step{down100, TimerExpired{}, []Action{rt(2 * down100), want("master down timer expired")}},
				step{5 * time.Second, SyncMaster{Reason: "sync group G: member B went MASTER"},
					join(becameMaster(StateBackup, "sync group G: member B went MASTER", 100, 5*time.Second), []Action{withdraw})},
			),
			final: StateMaster,
		},
		{
			name: "a master heard while waiting withdraws the wish",
			steps: append(startBackup(),
				step{down100, TimerExpired{}, []Action{rt(2 * down100), want("master down timer expired")}},
				step{4 * time.Second, adv(peer, 150), []Action{rt(4*time.Second + down100), withdraw}},
				// Heard again: nothing left to withdraw.
				step{5 * time.Second, adv(peer, 150), []Action{rt(5*time.Second + down100)}},
			),
			final: StateBackup,
		},
		{
			name: "a lower priority master does not withdraw a preempting wish",
			steps: append(startBackup(),
				step{down100, TimerExpired{}, []Action{rt(2 * down100), want("master down timer expired")}},
				step{4 * time.Second, adv(peer, 50), nil},
			),
			final: StateBackup,
		},
		{
			name: "priority 0 from the master: the wish carries that reason",
			steps: append(startBackup(),
				step{time.Second, adv(peer, 150), []Action{rt(time.Second + down100)}},
				step{2 * time.Second, adv(peer, 0), []Action{rt(2*time.Second + skew100)}},
				step{2*time.Second + skew100, TimerExpired{}, []Action{rt(2*time.Second + skew100 + down100), want("master 10.0.0.2 sent priority 0")}},
			),
			final: StateBackup,
		},
		{
			name: "address owner starting as MASTER waits for the group",
			cfg:  func(c *MachineConfig) { c.Priority = 255; c.StartAsMaster = true },
			steps: []step{
				{0, Start{}, []Action{
					tr(StateInit, StateBackup, "initial state MASTER, address owner (priority 255): waiting for the sync group"),
					rt(down255),
					want("initial state MASTER, address owner (priority 255)"),
				}},
			},
			final: StateBackup,
		},
		{
			name: "SyncBackup releases the master role with priority 0",
			steps: append(startBackup(),
				step{down100, TimerExpired{}, []Action{rt(2 * down100), want("master down timer expired")}},
				step{4 * time.Second, SyncMaster{Reason: "r"}, join(becameMaster(StateBackup, "r", 100, 4*time.Second), []Action{withdraw})},
				step{6 * time.Second, SyncBackup{Reason: "sync group G: member B went BACKUP"}, []Action{
					SendAdvert{Priority: 0},
					tr(StateMaster, StateBackup, "sync group G: member B went BACKUP"),
					RemoveVIPs{},
					rt(6*time.Second + down100),
				}},
				// Already BACKUP: nothing to do, no bounce.
				step{7 * time.Second, SyncBackup{Reason: "again"}, nil},
			),
			final: StateBackup,
		},
		{
			name: "SyncMaster outside BACKUP is ignored",
			steps: []step{
				{0, SyncMaster{Reason: "early"}, nil},
				{0, InterfaceDown{}, []Action{OwnFault{Fault: true, Reason: "interface eth0 down"}}},
				{0, Start{}, []Action{tr(StateInit, StateFault, "interface eth0 down"), StopTimer{}}},
				{time.Second, SyncMaster{Reason: "in fault"}, nil},
			},
			final: StateFault,
		},
		{
			name: "the group's fault holds a member whose own fault cleared, until the group clears it",
			steps: append(startBackup(),
				step{time.Second, InterfaceDown{}, []Action{
					tr(StateBackup, StateFault, "interface eth0 down"), StopTimer{},
					OwnFault{Fault: true, Reason: "interface eth0 down"},
				}},
				step{time.Second, SyncFault{Fault: true, Reason: "sync group G: member A went FAULT: interface eth0 down"}, nil},
				step{2 * time.Second, InterfaceUp{}, []Action{OwnFault{Fault: false, Reason: "interface eth0 up"}}},
				step{3 * time.Second, SyncFault{Fault: false, Reason: "sync group G: member A recovered: interface eth0 up"}, []Action{
					tr(StateFault, StateBackup, "sync group G: member A recovered: interface eth0 up"),
					rt(3*time.Second + down100),
				}},
			),
			final: StateBackup,
		},
		{
			name: "a master put in FAULT by the group releases with priority 0; a tracker fault is its own",
			steps: append(startBackup(),
				step{down100, TimerExpired{}, []Action{rt(2 * down100), want("master down timer expired")}},
				step{4 * time.Second, SyncMaster{Reason: "r"}, join(becameMaster(StateBackup, "r", 100, 4*time.Second), []Action{withdraw})},
				step{5 * time.Second, SyncFault{Fault: true, Reason: "sync group G: fault: chk"}, []Action{
					SendAdvert{Priority: 0}, tr(StateMaster, StateFault, "sync group G: fault: chk"), RemoveVIPs{}, StopTimer{},
				}},
				step{6 * time.Second, FaultSet{Source: "chk_own"}, []Action{OwnFault{Fault: true, Reason: "fault: chk_own"}}},
				// The group clears, but our own fault remains.
				step{7 * time.Second, SyncFault{Fault: false, Reason: "x"}, nil},
				step{8 * time.Second, FaultClear{Source: "chk_own"}, []Action{
					tr(StateFault, StateBackup, "fault cleared: chk_own"), rt(8*time.Second + down100),
					OwnFault{Fault: false, Reason: "fault cleared: chk_own"},
				}},
			),
			final: StateBackup,
		},
		{
			name: "a group fault before Start is the reason of the first transition",
			steps: []step{
				{0, SyncFault{Fault: true, Reason: "sync group G: member B went FAULT: interface eth1 down"}, nil},
				{0, Start{}, []Action{tr(StateInit, StateFault, "sync group G: member B went FAULT: interface eth1 down"), StopTimer{}}},
			},
			final: StateFault,
		},
		{
			name: "a clear without a set changes nothing",
			steps: append(startBackup(),
				step{time.Second, SyncFault{Fault: false, Reason: "x"}, nil},
			),
			final: StateBackup,
		},
		{
			name: "shutdown withdraws the wish",
			steps: append(startBackup(),
				step{down100, TimerExpired{}, []Action{rt(2 * down100), want("master down timer expired")}},
				step{4 * time.Second, Shutdown{}, []Action{tr(StateBackup, StateStop, "shutdown"), StopTimer{}, withdraw}},
			),
			final: StateStop,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg := baseConfig()
			synced(&cfg)
			if tt.cfg != nil {
				tt.cfg(&cfg)
			}
			m, err := NewMachine(cfg)
			if err != nil {
				t.Fatal(err)
			}
			for n, s := range tt.steps {
				got := m.Handle(t0.Add(s.at), s.ev)
				if !reflect.DeepEqual(got, s.want) {
					t.Fatalf("step %d (%T at %v):\n got  %#v\n want %#v", n, s.ev, s.at, got, s.want)
				}
			}
			if m.State() != tt.final {
				t.Errorf("final state %v, want %v", m.State(), tt.final)
			}
		})
	}
}

// TestMachineUnsyncedReportsNothing checks that a machine outside a sync
// group keeps its old behaviour: no WantMaster, no OwnFault.
func TestMachineUnsyncedReportsNothing(t *testing.T) {
	m, err := NewMachine(baseConfig())
	if err != nil {
		t.Fatal(err)
	}
	var got []Action
	got = append(got, m.Handle(t0, InterfaceDown{})...)
	got = append(got, m.Handle(t0, Start{})...)
	got = append(got, m.Handle(t0, InterfaceUp{})...)
	got = append(got, m.Handle(t0.Add(down100), TimerExpired{})...)
	for _, a := range got {
		switch a.(type) {
		case WantMaster, OwnFault:
			t.Errorf("unsynced machine returned %#v", a)
		}
	}
	if m.State() != StateMaster {
		t.Errorf("state %v, want MASTER on its own", m.State())
	}
}
