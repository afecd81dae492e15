package lvsproc

import (
	"bufio"
	"encoding/json"
	"io"
	"os"
	"slices"
	"time"
)

// VRRPState is what the parent (the VRRP side) tells the LVS child of one
// instance: its state's name as `vigil status` shows it ("MASTER",
// "BACKUP", "FAULT", ...). The LVS child needs it for lvs_sync_daemon,
// whose role follows its instance, as keepalived's VRRP process switches
// it on a transition.
type VRRPState struct {
	Instance string `json:"instance"`
	State    string `json:"state"`
}

// control is one line on the pipe from the parent to the LVS child.
type control struct {
	VRRP *VRRPState `json:"vrrp,omitempty"`
}

// controlWriteTimeout bounds one write to a child that does not read: the
// parent's VRRP side must never wait on the LVS side.
const controlWriteTimeout = time.Second

// writeStates sends states (sorted by instance, for a stable replay) to w.
func writeStates(w io.Writer, states map[string]string) error {
	names := make([]string, 0, len(states))
	for n := range states {
		names = append(names, n)
	}
	slices.Sort(names)
	enc := json.NewEncoder(w)
	for _, n := range names {
		if err := enc.Encode(control{VRRP: &VRRPState{Instance: n, State: states[n]}}); err != nil {
			return err
		}
	}
	return nil
}

// ReadVRRPStates returns the VRRP states the parent sends on r, in order;
// the channel is closed when r ends (the parent is gone). Lines it cannot
// read are skipped.
func ReadVRRPStates(r io.Reader) <-chan VRRPState {
	out := make(chan VRRPState, 64)
	go func() {
		defer close(out)
		sc := bufio.NewScanner(r)
		sc.Buffer(make([]byte, 4<<10), 64<<10)
		for sc.Scan() {
			var c control
			if err := json.Unmarshal(sc.Bytes(), &c); err != nil || c.VRRP == nil {
				continue
			}
			out <- *c.VRRP
		}
	}()
	return out
}

// ControlPipe returns the child's end of the pipe from the parent (fd 4):
// the VRRP instances' states, all of them again after every (re)start of
// the child.
func ControlPipe() *os.File { return os.NewFile(4, "lvs-control") }
