package vrrp

import (
	"net/netip"
	"reflect"
	"strings"
	"testing"
	"time"
)

// t0 is the fake clock's origin; steps give times as offsets from it.
var t0 = time.Date(2024, 1, 1, 0, 0, 0, 0, time.UTC)

const us = time.Microsecond

var (
	local = netip.MustParseAddr("10.0.0.1")
	peer  = netip.MustParseAddr("10.0.0.2")
	low   = netip.MustParseAddr("9.0.0.1")  // lower than local
	high  = netip.MustParseAddr("10.0.0.9") // higher than local
)

// Precomputed protocol times for the base config (v2, 1 s adverts):
// skew = (256-prio)/256 s, master down = 3 s + skew.
const (
	down100 = 3*time.Second + 609375*us // priority 100: skew 156/256 s
	skew100 = 609375 * us
	down200 = 3*time.Second + 218750*us // priority 200: skew 56/256 s
	down255 = 3*time.Second + 3906250*time.Nanosecond
	down254 = 3*time.Second + 7812500*time.Nanosecond
	down150 = 3*time.Second + 414062500*time.Nanosecond
)

func baseConfig() MachineConfig {
	return MachineConfig{
		Interface:      "eth0",
		Version:        2,
		Priority:       100,
		AdvertInterval: time.Second,
		Preempt:        true,
		LocalAddr:      local,
	}
}

func rt(d time.Duration) Action { return ResetTimer{At: t0.Add(d)} }

func tr(from, to State, reason string) Action { return Transition{From: from, To: to, Reason: reason} }

// slot is the first point of the base config's 1 s advert grid strictly
// after at, i.e. the last one at most 1 s after it. The grid is anchored at
// the Unix epoch; t0 is a whole Unix second (TestMachineAdvertGrid checks
// it), so its points are t0 plus whole seconds.
func slot(at time.Duration) time.Duration { return (at + time.Second).Truncate(time.Second) }

// becameMaster is the take-over at offset at: the first advert goes out at
// once and the next one is armed for the next slot of the grid.
func becameMaster(from State, reason string, prio uint8, at time.Duration) []Action {
	return []Action{tr(from, StateMaster, reason), AddVIPs{}, SendGratuitous{}, SendAdvert{Priority: prio}, rt(slot(at))}
}

func join(parts ...[]Action) []Action {
	var out []Action
	for _, p := range parts {
		out = append(out, p...)
	}
	return out
}

type step struct {
	at   time.Duration
	ev   Event
	want []Action
}

func adv(src netip.Addr, prio uint8) AdvertReceived {
	return AdvertReceived{Src: src, Priority: prio, Interval: time.Second}
}

// startBackup and startMaster are the common openings.
func startBackup() []step {
	return []step{{0, Start{}, []Action{tr(StateInit, StateBackup, "initial state BACKUP"), rt(down100)}}}
}

func startMaster() []step {
	return append(startBackup(), step{down100, TimerExpired{}, becameMaster(StateBackup, "master down timer expired", 100, down100)})
}

func TestMachineScenarios(t *testing.T) {
	tests := []struct {
		name  string
		cfg   func(*MachineConfig)
		steps []step
		final State
	}{
		{
			name: "backup becomes master when the master down timer expires, advert timer does not drift",
			// Master at 3.609375 s: the first advert timer is the next slot of
			// the 1 s grid, 4 s.
			steps: append(startMaster(),
				// 200 ms late: the next deadline is still exactly one interval
				// after the previous one.
				step{4200 * time.Millisecond, TimerExpired{}, []Action{SendAdvert{Priority: 100}, rt(5 * time.Second)}},
				// 2.5 s late: the missed slots (6 s, 7 s) are skipped, no burst.
				step{7500 * time.Millisecond, TimerExpired{}, []Action{SendAdvert{Priority: 100}, rt(8 * time.Second)}},
				// An early wake-up re-arms for the real deadline and sends nothing.
				step{7800 * time.Millisecond, TimerExpired{}, []Action{rt(8 * time.Second)}},
				// Back on time: one interval on.
				step{8 * time.Second, TimerExpired{}, []Action{SendAdvert{Priority: 100}, rt(9 * time.Second)}},
			),
			final: StateMaster,
		},
		{
			name: "v2 skew depends on priority",
			cfg:  func(c *MachineConfig) { c.Priority = 200 },
			steps: []step{
				{0, Start{}, []Action{tr(StateInit, StateBackup, "initial state BACKUP"), rt(down200)}},
				{down200, TimerExpired{}, becameMaster(StateBackup, "master down timer expired", 200, down200)},
			},
			final: StateMaster,
		},
		{
			name: "v3 backup adopts the master's interval for master down and skew",
			cfg:  func(c *MachineConfig) { c.Version = 3 },
			steps: append(startBackup(),
				// 3*2 s + 156*2 s/256 = 7.21875 s after the advert.
				step{time.Second, AdvertReceived{Src: peer, Priority: 150, Interval: 2 * time.Second}, []Action{rt(time.Second + 7218750*us)}},
			),
			final: StateBackup,
		},
		{
			name: "v2 backup keeps its own interval",
			steps: append(startBackup(),
				step{time.Second, AdvertReceived{Src: peer, Priority: 150, Interval: 2 * time.Second}, []Action{rt(time.Second + down100)}},
			),
			final: StateBackup,
		},
		{
			name: "address owner with state MASTER is master at once",
			cfg:  func(c *MachineConfig) { c.Priority = 255; c.StartAsMaster = true },
			steps: []step{
				{0, Start{}, becameMaster(StateInit, "initial state MASTER, address owner (priority 255)", 255, 0)},
			},
			final: StateMaster,
		},
		{
			name: "state MASTER without being address owner starts as BACKUP",
			cfg:  func(c *MachineConfig) { c.StartAsMaster = true },
			steps: []step{
				{0, Start{}, []Action{tr(StateInit, StateBackup, "initial state MASTER but priority 100 is not the address owner: waiting for the master down timer"), rt(down100)}},
			},
			final: StateBackup,
		},
		{
			name: "address owner with state BACKUP waits like keepalived",
			cfg:  func(c *MachineConfig) { c.Priority = 255 },
			steps: []step{
				{0, Start{}, []Action{tr(StateInit, StateBackup, "initial state BACKUP"), rt(down255)}},
			},
			final: StateBackup,
		},
		{
			name: "backup accepts higher and equal priority masters",
			steps: append(startBackup(),
				step{time.Second, adv(peer, 150), []Action{rt(time.Second + down100)}},
				step{2 * time.Second, adv(peer, 100), []Action{rt(2*time.Second + down100)}},
			),
			final: StateBackup,
		},
		{
			name: "backup ignores a lower priority master and preempts at its deadline",
			steps: append(startBackup(),
				step{time.Second, adv(peer, 50), nil},
				step{2 * time.Second, adv(peer, 50), nil},
				step{down100, TimerExpired{}, becameMaster(StateBackup, "preempting lower priority 50 master 10.0.0.2", 100, down100)},
			),
			final: StateMaster,
		},
		{
			name: "nopreempt backup keeps a lower priority master",
			cfg:  func(c *MachineConfig) { c.Preempt = false },
			steps: append(startBackup(),
				step{time.Second, adv(peer, 50), []Action{rt(time.Second + down100)}},
				step{4 * time.Second, adv(peer, 50), []Action{rt(4*time.Second + down100)}},
			),
			final: StateBackup,
		},
		{
			name: "preempt_delay counts from startup",
			cfg:  func(c *MachineConfig) { c.PreemptDelay = 10 * time.Second },
			steps: append(startBackup(),
				step{time.Second, adv(peer, 50), []Action{rt(time.Second + down100)}},
				step{9 * time.Second, adv(peer, 50), []Action{rt(9*time.Second + down100)}},
				step{10 * time.Second, adv(peer, 50), nil},
				step{9*time.Second + down100, TimerExpired{}, becameMaster(StateBackup, "preempting lower priority 50 master 10.0.0.2", 100, 9*time.Second+down100)},
			),
			final: StateMaster,
		},
		{
			name: "preempt_delay restarts when a lower master follows a higher one",
			cfg:  func(c *MachineConfig) { c.PreemptDelay = 5 * time.Second },
			steps: append(startBackup(),
				step{time.Second, adv(peer, 150), []Action{rt(time.Second + down100)}},      // clears the startup delay
				step{2 * time.Second, adv(peer, 50), []Action{rt(2*time.Second + down100)}}, // starts a new one, until 7 s
				step{6 * time.Second, adv(peer, 50), []Action{rt(6*time.Second + down100)}},
				step{7 * time.Second, adv(peer, 50), nil},
			),
			final: StateBackup,
		},
		{
			name: "priority 0 from the master: backup takes over after the skew time",
			steps: append(startBackup(),
				step{time.Second, adv(peer, 150), []Action{rt(time.Second + down100)}},
				step{2 * time.Second, adv(peer, 0), []Action{rt(2*time.Second + skew100)}},
				step{2*time.Second + skew100, TimerExpired{}, becameMaster(StateBackup, "master 10.0.0.2 sent priority 0", 100, 2*time.Second+skew100)},
			),
			final: StateMaster,
		},
		{
			name: "master answers priority 0 with an advert at once",
			steps: append(startMaster(),
				// At 3.909375 s the next slot is still 4 s: the schedule stays
				// on the grid.
				step{down100 + 300*time.Millisecond, adv(peer, 0), []Action{SendAdvert{Priority: 100}, rt(4 * time.Second)}},
				step{4 * time.Second, TimerExpired{}, []Action{SendAdvert{Priority: 100}, rt(5 * time.Second)}},
				step{4500 * time.Millisecond, adv(peer, 0), []Action{SendAdvert{Priority: 100}, rt(5 * time.Second)}},
			),
			final: StateMaster,
		},
		{
			name: "master answers priority 0 but keeps its schedule with lower_prio_no_advert",
			cfg:  func(c *MachineConfig) { c.LowerPrioNoAdvert = true },
			steps: append(startMaster(),
				step{down100 + 300*time.Millisecond, adv(peer, 0), []Action{SendAdvert{Priority: 100}}},
			),
			final: StateMaster,
		},
		{
			name: "master yields to a higher priority",
			steps: append(startMaster(),
				step{5 * time.Second, adv(peer, 150), []Action{tr(StateMaster, StateBackup, "higher priority 150 from 10.0.0.2"), RemoveVIPs{}, rt(5*time.Second + down100)}},
			),
			final: StateBackup,
		},
		{
			name: "master yields to equal priority from a higher address",
			steps: append(startMaster(),
				step{5 * time.Second, adv(high, 100), []Action{tr(StateMaster, StateBackup, "equal priority 100 from higher address 10.0.0.9"), RemoveVIPs{}, rt(5*time.Second + down100)}},
			),
			final: StateBackup,
		},
		{
			name: "master keeps the role against equal priority from a lower address and re-asserts",
			steps: append(startMaster(),
				step{5 * time.Second, adv(low, 100), []Action{SendAdvert{Priority: 100}, rt(6 * time.Second), LowerPriorityAdvert{Src: low, Priority: 100}}},
			),
			final: StateMaster,
		},
		{
			name: "master ignores its own address at equal priority",
			steps: append(startMaster(),
				step{5 * time.Second, adv(local, 100), nil},
			),
			final: StateMaster,
		},
		{
			name: "master re-asserts against a lower priority",
			steps: append(startMaster(),
				step{5 * time.Second, adv(peer, 50), []Action{SendAdvert{Priority: 100}, rt(6 * time.Second), LowerPriorityAdvert{Src: peer, Priority: 50}}},
			),
			final: StateMaster,
		},
		{
			name: "lower_prio_no_advert keeps the master quiet (but for gratuitous ARPs)",
			cfg:  func(c *MachineConfig) { c.LowerPrioNoAdvert = true },
			steps: append(startMaster(),
				step{5 * time.Second, adv(peer, 50), []Action{LowerPriorityAdvert{Src: peer, Priority: 50}}},
			),
			final: StateMaster,
		},
		{
			name: "higher_prio_send_advert sends one advert before yielding",
			cfg:  func(c *MachineConfig) { c.HigherPrioSendAdvert = true },
			steps: append(startMaster(),
				step{5 * time.Second, adv(peer, 150), []Action{SendAdvert{Priority: 100}, tr(StateMaster, StateBackup, "higher priority 150 from 10.0.0.2"), RemoveVIPs{}, rt(5*time.Second + down100)}},
			),
			final: StateBackup,
		},
		{
			name: "v3 master yielding adopts the new master's interval",
			cfg:  func(c *MachineConfig) { c.Version = 3 },
			steps: append(startMaster(),
				// 3*3 s + 156*3 s/256 = 10.828125 s.
				step{5 * time.Second, AdvertReceived{Src: peer, Priority: 150, Interval: 3 * time.Second}, []Action{tr(StateMaster, StateBackup, "higher priority 150 from 10.0.0.2"), RemoveVIPs{}, rt(5*time.Second + 10828125*us)}},
			),
			final: StateBackup,
		},
		{
			name: "two address owners: ours drops to 254 and yields to the higher address",
			cfg:  func(c *MachineConfig) { c.Priority = 255; c.StartAsMaster = true },
			steps: []step{
				{0, Start{}, becameMaster(StateInit, "initial state MASTER, address owner (priority 255)", 255, 0)},
				{time.Second, adv(peer, 255), []Action{PriorityUpdated{From: 255, To: 254}, tr(StateMaster, StateBackup, "higher priority 255 from 10.0.0.2"), RemoveVIPs{}, rt(time.Second + down254)}},
			},
			final: StateBackup,
		},
		{
			name: "interface down: master resigns with priority 0; up: back to backup",
			steps: append(startMaster(),
				step{5 * time.Second, InterfaceDown{}, []Action{SendAdvert{Priority: 0}, tr(StateMaster, StateFault, "interface eth0 down"), RemoveVIPs{}, StopTimer{}}},
				step{6 * time.Second, adv(peer, 50), nil},
				step{7 * time.Second, TimerExpired{}, nil},
				step{8 * time.Second, InterfaceUp{}, []Action{tr(StateFault, StateBackup, "interface eth0 up"), rt(8*time.Second + down100)}},
			),
			final: StateBackup,
		},
		{
			name: "faults from several sources add up",
			steps: append(startBackup(),
				step{time.Second, FaultSet{Source: "chk_a"}, []Action{tr(StateBackup, StateFault, "fault: chk_a"), StopTimer{}}},
				step{2 * time.Second, FaultSet{Source: "chk_b"}, nil},
				step{3 * time.Second, FaultClear{Source: "chk_a"}, nil},
				step{4 * time.Second, InterfaceDown{}, nil},
				step{5 * time.Second, FaultClear{Source: "chk_b"}, nil},
				step{6 * time.Second, InterfaceUp{}, []Action{tr(StateFault, StateBackup, "interface eth0 up"), rt(6*time.Second + down100)}},
			),
			final: StateBackup,
		},
		{
			name: "faults reported before Start",
			steps: []step{
				{0, InterfaceDown{}, nil},
				{0, FaultSet{Source: "chk_a"}, nil},
				{0, Start{}, []Action{tr(StateInit, StateFault, "interface eth0 down, fault: chk_a"), StopTimer{}}},
				{time.Second, InterfaceUp{}, nil},
				{2 * time.Second, FaultClear{Source: "chk_a"}, []Action{tr(StateFault, StateBackup, "fault cleared: chk_a"), rt(2*time.Second + down100)}},
			},
			final: StateBackup,
		},
		{
			name: "address owner leaves FAULT straight to MASTER",
			cfg:  func(c *MachineConfig) { c.Priority = 255; c.StartAsMaster = true },
			steps: []step{
				{0, InterfaceDown{}, nil},
				{0, Start{}, []Action{tr(StateInit, StateFault, "interface eth0 down"), StopTimer{}}},
				{time.Second, InterfaceUp{}, becameMaster(StateFault, "interface eth0 up, address owner", 255, time.Second)},
			},
			final: StateMaster,
		},
		{
			name: "rising priority moves the backup's deadline earlier",
			steps: append(startBackup(),
				// deadline = 0 + 3 s + 106/256 s with the new skew.
				step{time.Second, PriorityChanged{Delta: 50}, []Action{PriorityUpdated{From: 100, To: 150}, rt(down150)}},
			),
			final: StateBackup,
		},
		{
			name: "a deadline moved into the past expires at once",
			steps: append(startBackup(),
				// 250: skew 6/256 s, the deadline would be 3.0234375 s.
				step{3500 * time.Millisecond, PriorityChanged{Delta: 150}, []Action{PriorityUpdated{From: 100, To: 250}, rt(3500 * time.Millisecond)}},
				step{3500 * time.Millisecond, TimerExpired{}, becameMaster(StateBackup, "master down timer expired", 250, 3500*time.Millisecond)},
			),
			final: StateMaster,
		},
		{
			name: "priority is clamped to 1..254",
			steps: append(startBackup(),
				step{time.Second, PriorityChanged{Delta: -200}, []Action{PriorityUpdated{From: 100, To: 1}, rt(3*time.Second + 996093750*time.Nanosecond)}},
				step{2 * time.Second, PriorityChanged{Delta: 500}, []Action{PriorityUpdated{From: 1, To: 254}, rt(down254)}},
				step{3 * time.Second, PriorityChanged{Delta: 400}, nil},
			),
			final: StateBackup,
		},
		{
			name: "an address owner's priority never changes",
			cfg:  func(c *MachineConfig) { c.Priority = 255; c.StartAsMaster = true },
			steps: []step{
				{0, Start{}, becameMaster(StateInit, "initial state MASTER, address owner (priority 255)", 255, 0)},
				{500 * time.Millisecond, PriorityChanged{Delta: -100}, nil},
				{time.Second, TimerExpired{}, []Action{SendAdvert{Priority: 255}, rt(2 * time.Second)}},
			},
			final: StateMaster,
		},
		{
			name: "master with a lowered priority keeps advertising it",
			steps: append(startMaster(),
				step{down100 + 200*time.Millisecond, PriorityChanged{Delta: -30}, []Action{PriorityUpdated{From: 100, To: 70}}},
				step{4 * time.Second, TimerExpired{}, []Action{SendAdvert{Priority: 70}, rt(5 * time.Second)}},
			),
			final: StateMaster,
		},
		{
			name: "backup whose priority rises above the master's preempts it",
			steps: append(startBackup(),
				step{time.Second, adv(peer, 120), []Action{rt(time.Second + down100)}},
				step{1500 * time.Millisecond, PriorityChanged{Delta: 50}, []Action{PriorityUpdated{From: 100, To: 150}, rt(time.Second + down150)}},
				step{2 * time.Second, adv(peer, 120), nil},
				step{time.Second + down150, TimerExpired{}, becameMaster(StateBackup, "preempting lower priority 120 master 10.0.0.2", 150, time.Second+down150)},
			),
			final: StateMaster,
		},
		{
			name: "nopreempt backup whose priority rises keeps the master",
			cfg:  func(c *MachineConfig) { c.Preempt = false },
			steps: append(startBackup(),
				step{time.Second, adv(peer, 120), []Action{rt(time.Second + down100)}},
				step{1500 * time.Millisecond, PriorityChanged{Delta: 50}, []Action{PriorityUpdated{From: 100, To: 150}, rt(time.Second + down150)}},
				step{2 * time.Second, adv(peer, 120), []Action{rt(2*time.Second + down150)}},
			),
			final: StateBackup,
		},
		{
			name: "shutdown as master sends priority 0 and removes the addresses",
			steps: append(startMaster(),
				step{5 * time.Second, Shutdown{}, []Action{SendAdvert{Priority: 0}, tr(StateMaster, StateStop, "shutdown"), RemoveVIPs{}, StopTimer{}}},
				step{6 * time.Second, TimerExpired{}, nil},
				step{6 * time.Second, adv(peer, 50), nil},
				step{6 * time.Second, Start{}, nil},
				step{6 * time.Second, InterfaceDown{}, nil},
			),
			final: StateStop,
		},
		{
			name: "shutdown as backup sends nothing",
			steps: append(startBackup(),
				step{time.Second, Shutdown{}, []Action{tr(StateBackup, StateStop, "shutdown"), StopTimer{}}},
			),
			final: StateStop,
		},
		{
			name: "INIT ignores adverts and timers",
			steps: []step{
				{0, adv(peer, 50), nil},
				{0, TimerExpired{}, nil},
			},
			final: StateInit,
		},
		{
			name: "second Start is ignored",
			steps: append(startBackup(),
				step{time.Second, Start{}, nil},
			),
			final: StateBackup,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg := baseConfig()
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

// TestMachineAdvertGrid checks where a master arms its advert timer: on a
// grid of its interval anchored at the Unix epoch, at the last point at most
// one interval after now, so that masters with the same interval send
// together.
func TestMachineAdvertGrid(t *testing.T) {
	if t0.UnixNano()%int64(time.Second) != 0 {
		t.Fatalf("t0 %v is not a whole Unix second: the scenarios' 1 s grid assumes it is", t0)
	}
	// tick is one event handled at offset at that arms the advert timer for
	// offset want. A machine's first tick is Start (it is an address owner
	// with state MASTER, so it becomes master at once), the others are
	// TimerExpired.
	type tick struct{ at, want time.Duration }
	tests := []struct {
		name     string
		interval time.Duration
		machines [][]tick
	}{
		{
			name:     "became master between slots: the next slot, less than an interval away",
			interval: time.Second,
			machines: [][]tick{{{300 * time.Millisecond, time.Second}}},
		},
		{
			name:     "became master just before a slot: that slot, strictly after now",
			interval: time.Second,
			machines: [][]tick{{{999 * time.Millisecond, time.Second}}},
		},
		{
			name:     "became master on a slot: one full interval away",
			interval: time.Second,
			machines: [][]tick{{{2 * time.Second, 3 * time.Second}}},
		},
		{
			// t0 is 1704067200 s = 3 s past a multiple of 7 s: the slots are
			// at t0 + 4 s, 11 s, 18 s...
			name:     "the grid is anchored at the Unix epoch, not at the clock's origin",
			interval: 7 * time.Second,
			machines: [][]tick{{{0, 4 * time.Second}, {4*time.Second + 3*time.Millisecond, 11 * time.Second}, {11*time.Second + 3*time.Millisecond, 18 * time.Second}}},
		},
		{
			name:     "timer handled 3 ms late: deadlines stay one interval apart",
			interval: time.Second,
			machines: [][]tick{{
				{300 * time.Millisecond, time.Second},
				{1003 * time.Millisecond, 2 * time.Second},
				{2003 * time.Millisecond, 3 * time.Second},
				{3003 * time.Millisecond, 4 * time.Second},
			}},
		},
		{
			name:     "100 ms interval handled 3 ms late: deadlines stay one interval apart",
			interval: 100 * time.Millisecond,
			machines: [][]tick{{
				{1234 * time.Millisecond, 1300 * time.Millisecond},
				{1303 * time.Millisecond, 1400 * time.Millisecond},
				{1403 * time.Millisecond, 1500 * time.Millisecond},
			}},
		},
		{
			name:     "timer handled almost an interval late: still the next slot, nothing skipped",
			interval: time.Second,
			machines: [][]tick{{{300 * time.Millisecond, time.Second}, {1999 * time.Millisecond, 2 * time.Second}, {2003 * time.Millisecond, 3 * time.Second}}},
		},
		{
			name:     "masters that took the role at different times share the grid",
			interval: time.Second,
			machines: [][]tick{
				{{300 * time.Millisecond, time.Second}, {1003 * time.Millisecond, 2 * time.Second}, {2001 * time.Millisecond, 3 * time.Second}},
				{{1700 * time.Millisecond, 2 * time.Second}, {2003 * time.Millisecond, 3 * time.Second}},
				{{2500 * time.Millisecond, 3 * time.Second}},
			},
		},
		{
			name:     "masters with a 7 s interval that took the role at different times share the grid",
			interval: 7 * time.Second,
			machines: [][]tick{
				{{0, 4 * time.Second}, {4*time.Second + 3*time.Millisecond, 11 * time.Second}},
				{{9 * time.Second, 11 * time.Second}},
			},
		},
		{
			name:     "timer handled 2.5 intervals late skips the missed slots",
			interval: time.Second,
			machines: [][]tick{{{300 * time.Millisecond, time.Second}, {3500 * time.Millisecond, 4 * time.Second}, {4003 * time.Millisecond, 5 * time.Second}}},
		},
		{
			name:     "timer handled exactly one interval late: the slot at now is missed too",
			interval: time.Second,
			machines: [][]tick{{{300 * time.Millisecond, time.Second}, {2 * time.Second, 3 * time.Second}}},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			iv := tt.interval
			var last []time.Time
			for n, ticks := range tt.machines {
				cfg := baseConfig()
				// v3 allows the sub-second intervals.
				cfg.Version, cfg.Priority, cfg.StartAsMaster, cfg.AdvertInterval = 3, PriorityOwner, true, iv
				m, err := NewMachine(cfg)
				if err != nil {
					t.Fatal(err)
				}
				var prev time.Time
				for i, tk := range ticks {
					now := t0.Add(tk.at)
					var ev Event = TimerExpired{}
					if i == 0 {
						ev = Start{}
					}
					got, ok := advertDeadline(m.Handle(now, ev))
					if !ok {
						t.Fatalf("machine %d, %T at %v: sent no advert or armed no timer", n, ev, tk.at)
					}
					if want := t0.Add(tk.want); !got.Equal(want) {
						t.Errorf("machine %d, %T at %v: deadline %v, want %v", n, ev, tk.at, got.Sub(t0), tk.want)
					}
					// The contract, whatever the table says.
					if !got.After(now) || got.After(now.Add(iv)) {
						t.Errorf("machine %d at %v: deadline %v not in (now, now+%v]", n, tk.at, got.Sub(t0), iv)
					}
					if r := got.UnixNano() % int64(iv); r != 0 {
						t.Errorf("machine %d at %v: deadline %v is %v off the %v grid", n, tk.at, got.Sub(t0), time.Duration(r), iv)
					}
					if !prev.IsZero() && now.Before(prev.Add(iv)) && !got.Equal(prev.Add(iv)) {
						t.Errorf("machine %d at %v, less than an interval late: deadline %v, want the previous %v + %v", n, tk.at, got.Sub(t0), prev.Sub(t0), iv)
					}
					prev = got
				}
				last = append(last, prev)
			}
			for n := 1; n < len(last); n++ {
				if !last[n].Equal(last[0]) {
					t.Errorf("machine %d's deadline %v differs from machine 0's %v", n, last[n].Sub(t0), last[0].Sub(t0))
				}
			}
		})
	}

	t.Run("deadline keeps now's monotonic reading", func(t *testing.T) {
		cfg := baseConfig()
		cfg.Priority, cfg.StartAsMaster = PriorityOwner, true
		m, err := NewMachine(cfg)
		if err != nil {
			t.Fatal(err)
		}
		now := time.Now()
		got, ok := advertDeadline(m.Handle(now, Start{}))
		if !ok {
			t.Fatal("Start sent no advert or armed no timer")
		}
		// Time.String shows the monotonic reading as "m=±...".
		if !strings.Contains(got.String(), " m=") {
			t.Errorf("deadline %v has no monotonic reading", got)
		}
		if d := got.Sub(now); d <= 0 || d > cfg.AdvertInterval {
			t.Errorf("deadline %v after now, want in (0, %v]", d, cfg.AdvertInterval)
		}
	})
}

// advertDeadline is the timer armed by acts if they also send an advert.
func advertDeadline(acts []Action) (time.Time, bool) {
	var at time.Time
	sent := false
	for _, a := range acts {
		switch a := a.(type) {
		case SendAdvert:
			sent = true
		case ResetTimer:
			at = a.At
		}
	}
	return at, sent && !at.IsZero()
}

func TestMachineTimers(t *testing.T) {
	tests := []struct {
		name                string
		version, prio       uint8
		interval, masterInt time.Duration
		wantSkew, wantDown  time.Duration
	}{
		{"v2 prio 100", 2, 100, time.Second, 0, 609375 * us, down100},
		{"v2 prio 254", 2, 254, 3 * time.Second, 0, 7812500 * time.Nanosecond, 9*time.Second + 7812500*time.Nanosecond},
		{"v2 prio 1", 2, 1, time.Second, 0, 996093750 * time.Nanosecond, 3*time.Second + 996093750*time.Nanosecond},
		{"v3 prio 100 own interval", 3, 100, time.Second, 0, 609375 * us, down100},
		{"v3 prio 100 100ms", 3, 100, 100 * time.Millisecond, 0, 60937500 * time.Nanosecond, 300*time.Millisecond + 60937500*time.Nanosecond},
		{"v3 prio 200 master 4s", 3, 200, time.Second, 4 * time.Second, 875 * time.Millisecond, 12*time.Second + 875*time.Millisecond},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg := baseConfig()
			cfg.Version, cfg.Priority, cfg.AdvertInterval = tt.version, tt.prio, tt.interval
			m, err := NewMachine(cfg)
			if err != nil {
				t.Fatal(err)
			}
			m.Handle(t0, Start{})
			if tt.masterInt != 0 {
				m.Handle(t0, AdvertReceived{Src: peer, Priority: 255, Interval: tt.masterInt})
			}
			if got := m.SkewTime(); got != tt.wantSkew {
				t.Errorf("skew %v, want %v", got, tt.wantSkew)
			}
			if got := m.MasterDownInterval(); got != tt.wantDown {
				t.Errorf("master down %v, want %v", got, tt.wantDown)
			}
		})
	}
}

func TestMachineMaster(t *testing.T) {
	m, err := NewMachine(baseConfig())
	if err != nil {
		t.Fatal(err)
	}
	m.Handle(t0, Start{})
	if a, p := m.Master(); a.IsValid() || p != 0 {
		t.Errorf("before any advert: master %v/%d, want none", a, p)
	}
	m.Handle(t0.Add(time.Second), adv(peer, 150))
	if a, p := m.Master(); a != peer || p != 150 {
		t.Errorf("master %v/%d, want %v/150", a, p, peer)
	}
	m.Handle(t0.Add(time.Second), adv(peer, 0))
	m.Handle(t0.Add(2*time.Second), TimerExpired{})
	if a, p := m.Master(); a != local || p != 100 {
		t.Errorf("as master: %v/%d, want ourselves %v/100", a, p, local)
	}
}

func TestNewMachineValidates(t *testing.T) {
	tests := []struct {
		name string
		mod  func(*MachineConfig)
		want string
	}{
		{"version", func(c *MachineConfig) { c.Version = 4 }, "version 4"},
		{"priority 0", func(c *MachineConfig) { c.Priority = 0 }, "priority 0"},
		{"interval", func(c *MachineConfig) { c.AdvertInterval = 0 }, "advert interval"},
		{"preempt delay", func(c *MachineConfig) { c.PreemptDelay = -time.Second }, "preempt delay"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg := baseConfig()
			tt.mod(&cfg)
			m, err := NewMachine(cfg)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("NewMachine = %v, %v; want error containing %q", m, err, tt.want)
			}
		})
	}
}

func TestNewMachineKeepalivedAdjustments(t *testing.T) {
	tests := []struct {
		name      string
		mod       func(*MachineConfig)
		warnings  int
		wantEvent Event
		want      []Action
	}{
		{
			name:     "owner clears nopreempt",
			mod:      func(c *MachineConfig) { c.Priority = 255; c.Preempt = false },
			warnings: 1,
			// With preempt restored, a lower priority advert is ignored.
			wantEvent: adv(peer, 100),
			want:      nil,
		},
		{
			name:      "state MASTER clears nopreempt and preempt_delay",
			mod:       func(c *MachineConfig) { c.StartAsMaster = true; c.Preempt = false; c.PreemptDelay = time.Minute },
			warnings:  2,
			wantEvent: adv(peer, 50),
			want:      nil,
		},
		{
			name:      "nopreempt clears preempt_delay",
			mod:       func(c *MachineConfig) { c.Preempt = false; c.PreemptDelay = time.Minute },
			warnings:  1,
			wantEvent: adv(peer, 50),
			want:      []Action{rt(time.Second + down100)},
		},
		{
			name:      "plain config has no warnings",
			mod:       func(*MachineConfig) {},
			wantEvent: adv(peer, 50),
			want:      nil,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg := baseConfig()
			tt.mod(&cfg)
			m, err := NewMachine(cfg)
			if err != nil {
				t.Fatal(err)
			}
			if got := len(m.Warnings()); got != tt.warnings {
				t.Errorf("%d warnings %q, want %d", got, m.Warnings(), tt.warnings)
			}
			m.Handle(t0, Start{})
			if m.State() != StateBackup {
				t.Fatalf("state %v after Start, want BACKUP", m.State())
			}
			if got := m.Handle(t0.Add(time.Second), tt.wantEvent); !reflect.DeepEqual(got, tt.want) {
				t.Errorf("got %#v, want %#v", got, tt.want)
			}
		})
	}
}

func TestStateString(t *testing.T) {
	for s, want := range map[State]string{
		StateInit: "INIT", StateBackup: "BACKUP", StateMaster: "MASTER",
		StateFault: "FAULT", StateStop: "STOP", State(42): "State(42)",
	} {
		if got := s.String(); got != want {
			t.Errorf("%d.String() = %q, want %q", uint8(s), got, want)
		}
	}
}

func TestGarpSchedule(t *testing.T) {
	tests := []struct {
		name  string
		g     garpSchedule
		at    []time.Duration // calls to due
		burst []int
		next  []time.Duration // next() after each call; -1: none
	}{
		{
			name:  "keepalived defaults: burst now, second burst after 5 s, nothing after",
			g:     garpSchedule{delay: 5 * time.Second, repeat: 5},
			at:    []time.Duration{5 * time.Second},
			burst: []int{5},
			next:  []time.Duration{-1},
		},
		{
			name:  "refresh keeps its period and skips missed slots",
			g:     garpSchedule{repeat: 2, refresh: 10 * time.Second, refreshRepeat: 1},
			at:    []time.Duration{10 * time.Second, 21 * time.Second, 55 * time.Second},
			burst: []int{1, 1, 1},
			next:  []time.Duration{20 * time.Second, 30 * time.Second, 60 * time.Second},
		},
		{
			name:  "delayed burst and refresh coinciding send one burst of the larger size",
			g:     garpSchedule{delay: 10 * time.Second, repeat: 3, refresh: 10 * time.Second, refreshRepeat: 1},
			at:    []time.Duration{10 * time.Second},
			burst: []int{3},
			next:  []time.Duration{20 * time.Second},
		},
		{
			name:  "early call sends nothing",
			g:     garpSchedule{delay: 5 * time.Second, repeat: 5},
			at:    []time.Duration{4 * time.Second},
			burst: []int{0},
			next:  []time.Duration{5 * time.Second},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			g := tt.g
			if got := g.start(t0); got != tt.g.repeat {
				t.Errorf("start burst %d, want %d", got, tt.g.repeat)
			}
			for n, at := range tt.at {
				if got := g.due(t0.Add(at)); got != tt.burst[n] {
					t.Errorf("due(%v) = %d, want %d", at, got, tt.burst[n])
				}
				want := time.Time{}
				if tt.next[n] >= 0 {
					want = t0.Add(tt.next[n])
				}
				if got := g.next(); !got.Equal(want) {
					t.Errorf("after due(%v): next %v, want %v", at, got, want)
				}
			}
			g.stop()
			if !g.next().IsZero() {
				t.Errorf("next after stop = %v, want none", g.next())
			}
		})
	}
}
