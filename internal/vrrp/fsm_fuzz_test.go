package vrrp

import (
	"net/netip"
	"testing"
	"time"
)

// FuzzMachine drives a machine with an arbitrary event sequence (two bytes per
// event: kind and argument, the time advancing by the argument in 10 ms
// steps) and checks the invariants every state must keep:
//   - the addresses are held exactly while MASTER (AddVIPs on entering,
//     RemoveVIPs on leaving, never twice);
//   - only a MASTER sends adverts with a non-zero priority;
//   - the timer is armed exactly in BACKUP and MASTER, never in the past;
//   - every Transition starts from the state the machine was in;
//   - a sync group member (flag 64) becomes master only when its group
//     says so (SyncMaster), asks for the role only from BACKUP, and reports
//     its own faults exactly when they change.
func FuzzMachine(f *testing.F) {
	f.Add(uint8(100), uint8(0), []byte{0, 0, 1, 255, 1, 255, 2, 150, 3, 0, 4, 0})
	f.Add(uint8(255), uint8(1), []byte{0, 0, 2, 0, 1, 100, 5, 3, 6, 3, 8, 0})
	f.Add(uint8(50), uint8(2), []byte{3, 0, 0, 0, 4, 0, 1, 255, 7, 200, 1, 255, 2, 40, 1, 255})
	f.Add(uint8(200), uint8(3), []byte{0, 0, 2, 255, 2, 200, 2, 0, 1, 255, 7, 10, 2, 201})
	f.Add(uint8(100), uint8(64), []byte{0, 0, 1, 255, 9, 0, 2, 50, 10, 0, 11, 1, 3, 0, 11, 0, 4, 0, 1, 255, 9, 0})
	f.Add(uint8(255), uint8(66), []byte{11, 1, 0, 0, 11, 0, 9, 0, 2, 255, 10, 0, 8, 0})
	f.Fuzz(func(t *testing.T, prio, flags uint8, script []byte) {
		if prio == 0 {
			prio = 1
		}
		cfg := baseConfig()
		cfg.Priority = prio
		cfg.Version = 2 + flags&1
		cfg.StartAsMaster = flags&2 != 0
		cfg.Preempt = flags&4 == 0
		cfg.LowerPrioNoAdvert = flags&8 != 0
		cfg.HigherPrioSendAdvert = flags&16 != 0
		if flags&32 != 0 {
			cfg.PreemptDelay = 2 * time.Second
		}
		cfg.Synced = flags&64 != 0
		m, err := NewMachine(cfg)
		if err != nil {
			t.Fatal(err)
		}
		now := t0
		holding, armed := false, false
		srcs := []netip.Addr{peer, low, high, local}
		for k := 0; k+1 < len(script) && k < 400; k += 2 {
			kind, arg := script[k], script[k+1]
			now = now.Add(time.Duration(arg) * 10 * time.Millisecond)
			var ev Event
			switch kind % 12 {
			case 0:
				ev = Start{}
			case 1:
				if d := m.Deadline(); !d.IsZero() && now.Before(d) && arg%2 == 0 {
					now = d // fire on time half of the time
				}
				ev = TimerExpired{}
			case 2:
				ev = AdvertReceived{Src: srcs[arg%4], Priority: arg, Interval: time.Duration(1+arg%3) * time.Second}
			case 3:
				ev = InterfaceDown{}
			case 4:
				ev = InterfaceUp{}
			case 5:
				ev = FaultSet{Source: string('a' + rune(arg%2))}
			case 6:
				ev = FaultClear{Source: string('a' + rune(arg%2))}
			case 7:
				ev = PriorityChanged{Delta: int(int8(arg))}
			case 8:
				ev = Shutdown{}
			case 9:
				ev = SyncMaster{Reason: "sync"}
			case 10:
				ev = SyncBackup{Reason: "sync"}
			case 11:
				ev = SyncFault{Fault: arg%2 == 1, Reason: "sync"}
			}
			state := m.State()
			ownBefore := m.ownFaulty()
			reported := false
			for _, a := range m.Handle(now, ev) {
				switch a := a.(type) {
				case WantMaster:
					if !cfg.Synced || (a.Want && state != StateBackup) {
						t.Fatalf("WantMaster %v in %v (synced=%v)", a.Want, state, cfg.Synced)
					}
				case OwnFault:
					if !cfg.Synced || a.Fault != m.ownFaulty() || a.Fault == ownBefore || a.Reason == "" {
						t.Fatalf("OwnFault %+v, own fault %v -> %v", a, ownBefore, m.ownFaulty())
					}
					reported = true
				case Transition:
					if a.From != state {
						t.Fatalf("transition %v->%v from state %v", a.From, a.To, state)
					}
					if _, ok := ev.(SyncMaster); cfg.Synced && a.To == StateMaster && !ok {
						t.Fatalf("synced machine became master on %T", ev)
					}
					if a.Reason == "" {
						t.Fatalf("transition %v->%v without a reason", a.From, a.To)
					}
					state = a.To
				case AddVIPs:
					if holding || state != StateMaster {
						t.Fatalf("AddVIPs in %v, holding=%v", state, holding)
					}
					holding = true
				case RemoveVIPs:
					if !holding || state == StateMaster {
						t.Fatalf("RemoveVIPs in %v, holding=%v", state, holding)
					}
					holding = false
				case SendAdvert:
					if a.Priority != 0 && state != StateMaster {
						t.Fatalf("advert with priority %d in %v", a.Priority, state)
					}
				case ResetTimer:
					if a.At.Before(now) {
						t.Fatalf("timer reset to %v, before now %v", a.At, now)
					}
					armed = true
				case StopTimer:
					armed = false
				}
			}
			if state != m.State() {
				t.Fatalf("actions end in %v, machine in %v", state, m.State())
			}
			if cfg.Synced && ownBefore != m.ownFaulty() && !reported {
				t.Fatalf("own fault %v -> %v on %T not reported", ownBefore, m.ownFaulty(), ev)
			}
			if holding != (state == StateMaster) {
				t.Fatalf("holding=%v in %v", holding, state)
			}
			if want := state == StateBackup || state == StateMaster; armed != want {
				t.Fatalf("timer armed=%v in %v", armed, state)
			}
			if armed != !m.Deadline().IsZero() {
				t.Fatalf("armed=%v but deadline %v", armed, m.Deadline())
			}
		}
	})
}
