package lvsproc

import (
	"fmt"
	"log/slog"
	"os"
	"os/exec"
	"runtime"
	"sync"
	"syscall"
	"time"

	"golang.org/x/sys/unix"

	"vigil/internal/status"
)

// ChildFlag is the hidden first argument that makes vigil the LVS child.
const ChildFlag = "--lvs-child"

// Backoff bounds between restarts of a dying LVS child: the first restart
// waits MinBackoff, each quick death doubles it up to MaxBackoff; a child
// that ran StableAfter resets it.
const (
	MinBackoff  = 500 * time.Millisecond
	MaxBackoff  = 30 * time.Second
	StableAfter = time.Minute
)

// Supervisor is the parent's side of the LVS child: it starts it, keeps
// its last status, restarts it when it dies and stops it with SIGTERM.
type Supervisor struct {
	path string
	args []string
	log  *slog.Logger
	emit func(status.Event)
	// noRespawn: see SuperviseOptions.
	noRespawn  bool
	minBackoff time.Duration
	changed    func()

	mu       sync.Mutex
	last     status.LVSJSON
	pid      int
	restarts int
	proc     *os.Process
	// dead is set when the child died and will not be restarted.
	dead bool
	// vrrp holds every VRRP instance's last state, replayed to each new
	// child; ctl is the running child's control pipe (nil between
	// children).
	vrrp map[string]string
	ctl  *os.File

	stop chan struct{}
	done chan struct{}
}

// SuperviseOptions configure Supervise.
type SuperviseOptions struct {
	// Path is the executable (the running vigil); Args its arguments
	// after ChildFlag (the parent's own).
	Path string
	Args []string
	Log  *slog.Logger
	// Emit receives the child's events.
	Emit func(status.Event)
	// NoRespawn (-R) leaves a dead child dead, as keepalived's
	// --dont-respawn; status then shows it "stopped".
	NoRespawn bool
	// MinBackoff replaces the package's MinBackoff (tests).
	MinBackoff time.Duration
	// Changed, if set, is called after every change of Status (tests
	// wait on it instead of polling).
	Changed func()
}

// Supervise starts the LVS child and keeps it running until Stop.
func Supervise(o SuperviseOptions) *Supervisor {
	if o.Log == nil {
		o.Log = slog.New(slog.DiscardHandler)
	}
	if o.Emit == nil {
		o.Emit = func(status.Event) {}
	}
	if o.Changed == nil {
		o.Changed = func() {}
	}
	if o.MinBackoff == 0 {
		o.MinBackoff = MinBackoff
	}
	s := &Supervisor{path: o.Path, args: o.Args, log: o.Log, emit: o.Emit, noRespawn: o.NoRespawn, minBackoff: o.MinBackoff, changed: o.Changed, stop: make(chan struct{}), done: make(chan struct{}),
		vrrp: map[string]string{},
		last: status.LVSJSON{Mode: "child", State: "starting", VirtualServers: []status.LVSVirtualServerJSON{}}}
	go s.loop()
	return s
}

// Status returns the child's last status with the parent's knowledge of
// it (pid, restarts).
func (s *Supervisor) Status() *status.LVSJSON {
	s.mu.Lock()
	defer s.mu.Unlock()
	st := s.last
	st.Mode, st.PID, st.Restarts = "child", s.pid, s.restarts
	if s.pid == 0 && !s.dead {
		st.State = "restarting"
	}
	return &st
}

// Reload forwards a reload (SIGHUP) to the child.
func (s *Supervisor) Reload() {
	s.mu.Lock()
	p := s.proc
	s.mu.Unlock()
	if p != nil {
		_ = p.Signal(syscall.SIGHUP)
	}
}

// SetVRRPState records a VRRP instance's state and tells the running
// child; a child started later is told every state first. It never waits
// on the child for more than controlWriteTimeout.
func (s *Supervisor) SetVRRPState(instance, state string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.vrrp[instance] == state {
		return
	}
	s.vrrp[instance] = state
	if s.ctl != nil {
		s.sendLocked(map[string]string{instance: state})
	}
}

// sendLocked writes states to the child's control pipe; s.mu is held.
func (s *Supervisor) sendLocked(states map[string]string) {
	_ = s.ctl.SetWriteDeadline(time.Now().Add(controlWriteTimeout))
	if err := writeStates(s.ctl, states); err != nil {
		s.log.Error("the LVS process was not told a VRRP state", "err", err)
	}
}

// Stop sends SIGTERM to the child, so that it removes what it added, and
// waits for it (SIGKILL after timeout).
func (s *Supervisor) Stop(timeout time.Duration) {
	close(s.stop)
	s.mu.Lock()
	p := s.proc
	s.mu.Unlock()
	if p != nil {
		_ = p.Signal(syscall.SIGTERM)
	}
	select {
	case <-s.done:
	case <-time.After(timeout):
		s.log.Error("the LVS process did not stop in time; killing it", "timeout", timeout)
		s.mu.Lock()
		if s.proc != nil {
			_ = s.proc.Kill()
		}
		s.mu.Unlock()
		<-s.done
	}
}

func (s *Supervisor) loop() {
	defer close(s.done)
	// Pdeathsig follows the thread that started the child: keep this
	// goroutine on one thread, so the child is told only when the parent
	// process dies.
	runtime.LockOSThread()
	backoff := s.minBackoff
	for first := true; ; first = false {
		select {
		case <-s.stop:
			return
		default:
		}
		started := time.Now()
		err := s.runOnce(first)
		select {
		case <-s.stop:
			s.log.Info("LVS process stopped", "err", err)
			return
		default:
		}
		if s.noRespawn {
			s.log.Error("LVS process died; not restarted (--dont-respawn)", "err", err)
			s.mu.Lock()
			s.last.State, s.last.Error = "stopped", fmt.Sprintf("the LVS process died (%v) and --dont-respawn keeps it down", err)
			s.dead = true
			s.mu.Unlock()
			s.changed()
			<-s.stop
			return
		}
		if time.Since(started) > StableAfter {
			backoff = s.minBackoff
		}
		s.log.Error("LVS process died; restarting it", "err", err, "in", backoff)
		select {
		case <-s.stop:
			return
		case <-time.After(backoff):
		}
		backoff = min(2*backoff, MaxBackoff)
	}
}

// runOnce runs one child until it exits.
func (s *Supervisor) runOnce(first bool) error {
	r, w, err := os.Pipe()
	if err != nil {
		return err
	}
	cr, cw, err := os.Pipe()
	if err != nil {
		r.Close()
		w.Close()
		return err
	}
	cmd := exec.Command(s.path, append([]string{ChildFlag}, s.args...)...)
	cmd.Stdout, cmd.Stderr = os.Stderr, os.Stderr
	// fd 3: the child's messages; fd 4: the VRRP states (ControlPipe).
	cmd.ExtraFiles = []*os.File{w, cr}
	// Its own process group: a Ctrl-C on the terminal reaches the parent,
	// which stops the child in order.
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGTERM}
	if err := cmd.Start(); err != nil {
		r.Close()
		w.Close()
		cr.Close()
		cw.Close()
		return err
	}
	w.Close()
	cr.Close()
	normalScheduling(cmd.Process.Pid)
	s.mu.Lock()
	s.proc, s.pid = cmd.Process, cmd.Process.Pid
	if !first {
		s.restarts++
	}
	s.last = status.LVSJSON{State: "starting", VirtualServers: []status.LVSVirtualServerJSON{}}
	// A restarted child knows nothing: tell it every state first.
	s.ctl = cw
	s.sendLocked(s.vrrp)
	s.mu.Unlock()
	s.changed()
	s.log.Info("LVS process started", "pid", cmd.Process.Pid)
	_ = readMessages(r, func(m message) {
		if m.Status != nil {
			s.mu.Lock()
			s.last = *m.Status
			s.mu.Unlock()
			s.changed()
		}
		if m.Event != nil {
			s.emit(*m.Event)
		}
	})
	r.Close()
	err = cmd.Wait()
	s.mu.Lock()
	s.proc, s.pid = nil, 0
	s.ctl = nil
	s.mu.Unlock()
	cw.Close()
	s.changed()
	return err
}

// normalScheduling puts a process on the normal scheduler: the LVS child
// inherits the VRRP process's real-time policy at fork, and its checkers
// must never compete with the VRRP timers. The child resets its own
// threads too (ResetScheduling), since threads it started before this
// call inherited the policy.
func normalScheduling(pid int) {
	attr, err := unix.SchedGetAttr(0, 0)
	if err != nil || (attr.Policy != unix.SCHED_RR && attr.Policy != unix.SCHED_FIFO) {
		return
	}
	_ = unix.SchedSetAttr(pid, &unix.SchedAttr{Size: unix.SizeofSchedAttr, Policy: unix.SCHED_NORMAL}, 0)
}

// ResetScheduling puts every thread of this process on the normal
// scheduler; the LVS child calls it first.
func ResetScheduling() {
	ents, err := os.ReadDir("/proc/self/task")
	if err != nil {
		return
	}
	for _, e := range ents {
		var tid int
		for _, c := range e.Name() {
			tid = tid*10 + int(c-'0')
		}
		attr, err := unix.SchedGetAttr(tid, 0)
		if err != nil || (attr.Policy != unix.SCHED_RR && attr.Policy != unix.SCHED_FIFO) {
			continue
		}
		_ = unix.SchedSetAttr(tid, &unix.SchedAttr{Size: unix.SizeofSchedAttr, Policy: unix.SCHED_NORMAL}, 0)
	}
}

// Pipe returns the child's end of the pipe to the parent (fd 3), or nil
// when vigil was not started as the LVS child.
func Pipe() *os.File { return os.NewFile(3, "lvs-parent") }
