// Package script runs the external programs keepalived.conf names: vrrp_script
// checks, notify scripts and the notify FIFO readers. It resolves the command
// the way keepalived does (path search for a bare name, /bin/sh for a file
// without a "#!" line or a redirection-only command), applies keepalived's
// script security rules, and runs each invocation in its own process group
// so that a timeout kills the script together with everything it started.
package script

import (
	"golang.org/x/sys/unix"

	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"

	"vigil/internal/config"
)

// DefaultUser is the user keepalived runs scripts as when script_user is not
// set and the user exists.
const DefaultUser = "keepalived_script"

// Policy is the global script settings of global_defs.
type Policy struct {
	// Secure is enable_script_security: a script run with root privileges
	// whose path a non-root user could change is refused rather than
	// merely warned about.
	Secure bool
	// User and Group are script_user; an empty User means keepalived_script
	// if it exists, else the daemon's own user.
	User, Group string
}

// PolicyFrom extracts the script policy from global_defs.
func PolicyFrom(g config.GlobalDefs) Policy {
	p := Policy{Secure: g.EnableScriptSecurity}
	if su := g.ScriptUser; su != nil {
		// The parser keeps the user in User (as for a command's own
		// "user group" words); Argv[0] is accepted too, so that a
		// hand-built GlobalDefs is not silently ignored.
		p.User, p.Group = su.User, su.Group
		if p.User == "" && len(su.Argv) > 0 {
			p.User = su.Argv[0]
		}
	}
	return p
}

// Identity is the user and group a script runs as.
type Identity struct {
	UID, GID uint32
	// Name is the user name, for logs.
	Name string
}

// Script is a command ready to run: resolved, checked and with its identity.
type Script struct {
	// Argv is the command as it will be executed; Argv[0] is the resolved
	// path (or the redirection for a shell-only command).
	Argv []string
	// Shell is set when the command must go through /bin/sh -c, as
	// keepalived does for a command that is only a redirection ("</dev/...").
	Shell bool
	// As is the identity the script runs as.
	As Identity
	// Insecure is set when the path is writable by a non-root user but
	// enable_script_security is off: the script runs, and the caller should
	// log the warning in Warnings.
	Insecure bool
	// Warnings lists what the caller should log once (path search used,
	// unsafe permissions with security off).
	Warnings []string

	self Identity
}

// lookups are the user database and file system queries Prepare makes;
// tests replace them.
type lookups struct {
	lookupUser  func(name string) (*user.User, error)
	lookupGroup func(name string) (*user.Group, error)
	uid, gid    func() int
	getenv      func(string) string
}

var sys = lookups{
	lookupUser:  user.Lookup,
	lookupGroup: user.LookupGroup,
	uid:         os.Getuid,
	gid:         os.Getgid,
	getenv:      os.Getenv,
}

// Prepare resolves cmd under policy p. It returns an error, saying why, for a
// command that keepalived would disable: not found, not executable by the
// user it runs as, an unknown user or group, or (with enable_script_security)
// a path a non-root user can write.
func Prepare(cmd config.Command, p Policy) (*Script, error) {
	return prepare(cmd, p, sys)
}

func prepare(cmd config.Command, p Policy, l lookups) (*Script, error) {
	if len(cmd.Argv) == 0 || cmd.Argv[0] == "" {
		return nil, errors.New("empty command")
	}
	self := Identity{UID: uint32(l.uid()), GID: uint32(l.gid())}
	if u, err := user.LookupId(strconv.Itoa(int(self.UID))); err == nil {
		self.Name = u.Username
	}
	as, err := identity(cmd, p, self, l)
	if err != nil {
		return nil, err
	}
	s := &Script{Argv: append([]string(nil), cmd.Argv...), As: as, self: self}

	// A command that starts with a redirection ("</dev/tcp/host/port") only
	// tests whether something can be opened; keepalived hands it to the
	// shell as it is.
	if a0 := cmd.Argv[0]; a0[0] == '<' || a0[0] == '>' {
		s.Shell = true
		return s, nil
	}

	path := cmd.Argv[0]
	if !strings.Contains(path, "/") {
		found, err := searchPath(path, as, l.getenv("PATH"))
		if err != nil {
			return nil, err
		}
		s.Warnings = append(s.Warnings, fmt.Sprintf("script %q resolved by path search to %q; please give the full path", path, found))
		path = found
	}
	if !filepath.IsAbs(path) {
		abs, err := filepath.Abs(path)
		if err != nil {
			return nil, fmt.Errorf("script %s: %w", path, err)
		}
		path = abs
	}
	s.Argv[0] = filepath.Clean(path)

	real, err := filepath.EvalSymlinks(s.Argv[0])
	if err != nil {
		return nil, fmt.Errorf("script %s cannot be accessed: %w", s.Argv[0], err)
	}
	fi, err := os.Stat(real)
	if err != nil {
		return nil, fmt.Errorf("script %s cannot be accessed: %w", s.Argv[0], err)
	}
	if !fi.Mode().IsRegular() {
		return nil, fmt.Errorf("script %s is not a regular file", s.Argv[0])
	}
	st := fi.Sys().(*syscall.Stat_t)
	if !executable(st, as) {
		return nil, fmt.Errorf("script %s is not executable for uid:gid %d:%d", s.Argv[0], as.UID, as.GID)
	}

	// Only a script that runs with root privileges needs its path checked:
	// anyone who can change it could otherwise run code as root.
	privileged := as.UID == 0 || as.GID == 0 ||
		(st.Uid == 0 && st.Mode&syscall.S_ISUID != 0 && st.Mode&syscall.S_IXUSR != 0) ||
		(st.Gid == 0 && st.Mode&syscall.S_ISGID != 0 && st.Mode&syscall.S_IXGRP != 0)
	if privileged {
		paths := []string{s.Argv[0]}
		if real != s.Argv[0] {
			paths = append(paths, real)
		}
		for _, p0 := range paths {
			if err := CheckPath(p0); err != nil {
				if p.Secure {
					return nil, fmt.Errorf("enable_script_security: refusing script %s: %w", s.Argv[0], err)
				}
				s.Insecure = true
				s.Warnings = append(s.Warnings, fmt.Sprintf("unsafe permissions for script %s (%v); it runs as root anyway because enable_script_security is off", s.Argv[0], err))
				break
			}
		}
	}
	return s, nil
}

// identity works out the user and group a command runs as: its own user
// (and group, default the user's), else script_user, else keepalived_script
// if it exists, else the daemon's own identity.
func identity(cmd config.Command, p Policy, self Identity, l lookups) (Identity, error) {
	name, group := cmd.User, cmd.Group
	if name == "" {
		name, group = p.User, p.Group
	}
	if name == "" {
		u, err := l.lookupUser(DefaultUser)
		if err != nil {
			if p.Secure {
				return Identity{}, fmt.Errorf("enable_script_security: default script user %s does not exist; create it or set script_user", DefaultUser)
			}
			return self, nil
		}
		return toIdentity(u, "", l)
	}
	u, err := l.lookupUser(name)
	if err != nil {
		return Identity{}, fmt.Errorf("script user %q: %w", name, err)
	}
	return toIdentity(u, group, l)
}

func toIdentity(u *user.User, group string, l lookups) (Identity, error) {
	uid, err1 := strconv.ParseUint(u.Uid, 10, 32)
	gid, err2 := strconv.ParseUint(u.Gid, 10, 32)
	if err1 != nil || err2 != nil {
		return Identity{}, fmt.Errorf("script user %q has a non-numeric uid/gid", u.Username)
	}
	if group != "" {
		g, err := l.lookupGroup(group)
		if err != nil {
			return Identity{}, fmt.Errorf("script group %q: %w", group, err)
		}
		gid, err = strconv.ParseUint(g.Gid, 10, 32)
		if err != nil {
			return Identity{}, fmt.Errorf("script group %q has a non-numeric gid", group)
		}
	}
	return Identity{UID: uint32(uid), GID: uint32(gid), Name: u.Username}, nil
}

// executable reports whether the file is executable for the identity, with
// the same rule as the kernel minus ACLs (root needs any x bit).
func executable(st *syscall.Stat_t, id Identity) bool {
	m := st.Mode
	switch {
	case id.UID == 0:
		return m&(syscall.S_IXUSR|syscall.S_IXGRP|syscall.S_IXOTH) != 0
	case id.UID == st.Uid:
		return m&syscall.S_IXUSR != 0
	case id.GID == st.Gid:
		return m&syscall.S_IXGRP != 0
	default:
		return m&syscall.S_IXOTH != 0
	}
}

// searchPath finds a bare command name in PATH as execvp would, keeping the
// first regular file executable for id.
func searchPath(name string, id Identity, pathEnv string) (string, error) {
	if pathEnv == "" {
		pathEnv = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
	}
	denied := false
	for _, dir := range filepath.SplitList(pathEnv) {
		if dir == "" {
			dir = "."
		}
		p := filepath.Join(dir, name)
		fi, err := os.Stat(p)
		if err != nil {
			continue
		}
		if !fi.Mode().IsRegular() || !executable(fi.Sys().(*syscall.Stat_t), id) {
			denied = true
			continue
		}
		return p, nil
	}
	if denied {
		return "", fmt.Errorf("script %s: permission denied for uid:gid %d:%d in PATH", name, id.UID, id.GID)
	}
	return "", fmt.Errorf("script %s: not found in PATH", name)
}

// CheckPath applies keepalived's script security rule to every component of
// path, from "/" down: each must be owned by root, and neither a directory
// without the sticky bit nor the file itself may be writable by a non-root
// group or by others. Symbolic links are not followed (the caller checks the
// resolved path as well).
func CheckPath(path string) error {
	if !filepath.IsAbs(path) {
		return fmt.Errorf("%s is not an absolute path", path)
	}
	parts := strings.Split(filepath.Clean(path), "/")
	cur := "/"
	for i := 0; i < len(parts); i++ {
		if i > 0 {
			if parts[i] == "" {
				continue
			}
			cur = filepath.Join(cur, parts[i])
		}
		last := i == len(parts)-1
		fi, err := os.Lstat(cur)
		if err != nil {
			return err
		}
		st := fi.Sys().(*syscall.Stat_t)
		if st.Uid != 0 {
			return fmt.Errorf("%s is owned by uid %d, not root", cur, st.Uid)
		}
		if fi.Mode()&os.ModeSymlink != 0 {
			// A root-owned link (/bin -> usr/bin) cannot be changed by
			// anyone else; where it leads is checked on the resolved path.
			continue
		}
		if !last && !fi.IsDir() {
			return fmt.Errorf("%s is not a directory", cur)
		}
		checkWrite := fi.Mode().IsRegular() || (fi.IsDir() && fi.Mode()&os.ModeSticky == 0)
		if checkWrite {
			if st.Gid != 0 && st.Mode&syscall.S_IWGRP != 0 {
				return fmt.Errorf("%s is writable by group %d", cur, st.Gid)
			}
			if st.Mode&syscall.S_IWOTH != 0 {
				return fmt.Errorf("%s is writable by everyone", cur)
			}
		}
	}
	return nil
}

// Result is the outcome of one run.
type Result struct {
	// ExitCode is the exit status, or -1 when the script was killed by a
	// signal or could not start.
	ExitCode int
	// Signal is set when the script died from a signal.
	Signal syscall.Signal
	// TimedOut is set when Run killed the script at its timeout.
	TimedOut bool
	// Err is set when the script could not be started.
	Err      error
	Duration time.Duration
}

// OK reports whether the script exited with status 0.
func (r Result) OK() bool { return r.Err == nil && !r.TimedOut && r.Signal == 0 && r.ExitCode == 0 }

// String describes the result for a log line.
func (r Result) String() string {
	switch {
	case r.Err != nil:
		return "could not start: " + r.Err.Error()
	case r.TimedOut:
		return "timed out"
	case r.Signal != 0:
		return "killed by signal " + r.Signal.String()
	default:
		return fmt.Sprintf("exited with status %d", r.ExitCode)
	}
}

// Run runs the script with extra arguments appended and waits for it. A
// timeout above zero bounds the run: at the timeout (or when ctx ends) the
// script's whole process group is killed with SIGKILL and the result says
// TimedOut. The script's standard input and outputs are /dev/null.
func (s *Script) Run(ctx context.Context, timeout time.Duration, extra ...string) Result {
	start := time.Now()
	res := s.run(ctx, timeout, extra)
	res.Duration = time.Since(start)
	return res
}

func (s *Script) run(ctx context.Context, timeout time.Duration, extra []string) Result {
	cmd := s.command(s.Argv, extra)
	err := cmd.Start()
	if errors.Is(err, syscall.ENOEXEC) && !s.Shell {
		// No "#!" line: like execvp (and keepalived's system() fallback),
		// let the shell interpret the file.
		cmd = s.command(append([]string{"/bin/sh"}, s.Argv...), extra)
		err = cmd.Start()
	}
	if err != nil {
		return Result{ExitCode: -1, Err: err}
	}
	normalScheduling(cmd.Process.Pid)
	pgid := cmd.Process.Pid // Setpgid with Pgid 0: the group is the child's pid

	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()

	var expire <-chan time.Time
	if timeout > 0 {
		t := time.NewTimer(timeout)
		defer t.Stop()
		expire = t.C
	}
	timedOut := false
	var werr error
	select {
	case werr = <-done:
	case <-expire:
		timedOut = true
	case <-ctx.Done():
		timedOut = true
	}
	if timedOut {
		// Kill the group, not just the child: a shell script's children
		// would otherwise outlive it and keep running.
		_ = syscall.Kill(-pgid, syscall.SIGKILL)
		werr = <-done
	}
	res := Result{TimedOut: timedOut, ExitCode: -1}
	var ee *exec.ExitError
	switch {
	case werr == nil:
		res.ExitCode = 0
	case errors.As(werr, &ee):
		if ws, ok := ee.Sys().(syscall.WaitStatus); ok && ws.Signaled() {
			res.Signal = ws.Signal()
		} else {
			res.ExitCode = ee.ExitCode()
		}
	default:
		res.Err = werr
	}
	return res
}

// command builds the exec.Cmd for argv plus extra arguments.
func (s *Script) command(argv, extra []string) *exec.Cmd {
	var cmd *exec.Cmd
	if s.Shell {
		cmd = exec.Command("/bin/sh", "-c", shellLine(append(append([]string(nil), argv...), extra...)))
	} else {
		all := append(append([]string(nil), argv...), extra...)
		cmd = exec.Command(all[0], all[1:]...)
	}
	cmd.Env = scriptEnv(os.Environ())
	attr := &syscall.SysProcAttr{Setpgid: true}
	// Parent-death signals are deliberately not used: Go delivers them when
	// the forking OS thread exits, which is not tied to the daemon's life.
	if s.As.UID != s.self.UID || s.As.GID != s.self.GID {
		attr.Credential = &syscall.Credential{Uid: s.As.UID, Gid: s.As.GID, Groups: []uint32{}}
	}
	cmd.SysProcAttr = attr
	return cmd
}

// scriptEnv drops the variables keepalived removes before running a script
// (loader overrides and IFS), as defence in depth.
func scriptEnv(env []string) []string {
	out := env[:0:0]
	for _, kv := range env {
		if strings.HasPrefix(kv, "IFS=") || strings.HasPrefix(kv, "LD_PRELOAD=") || strings.HasPrefix(kv, "LD_LIBRARY_PATH=") {
			continue
		}
		out = append(out, kv)
	}
	return out
}

// shellLine quotes words for /bin/sh -c; a leading redirection word is
// passed as it is, so that the shell performs it.
func shellLine(words []string) string {
	var b strings.Builder
	for i, w := range words {
		if i > 0 {
			b.WriteByte(' ')
		}
		if i == 0 && (strings.HasPrefix(w, "<") || strings.HasPrefix(w, ">")) {
			b.WriteString(w)
			continue
		}
		b.WriteByte('\'')
		b.WriteString(strings.ReplaceAll(w, "'", `'\''`))
		b.WriteByte('\'')
	}
	return b.String()
}

// LookupIdentity resolves a user name and optional group name (default:
// the user's group).
func LookupIdentity(name, group string) (Identity, error) {
	u, err := sys.lookupUser(name)
	if err != nil {
		return Identity{}, fmt.Errorf("user %q: %w", name, err)
	}
	return toIdentity(u, group, sys)
}

// normalScheduling puts a script back on the normal scheduler when Vigil
// runs with real-time priority (vrrp_rt_priority): a child inherits the
// policy, and a busy script must not compete with the VRRP timers at
// real-time priority. keepalived uses SCHED_RESET_ON_FORK for this, which
// the Go runtime's own threads cannot have; resetting the child right after
// it starts leaves it a moment at most with the inherited policy.
func normalScheduling(pid int) {
	attr, err := unix.SchedGetAttr(0, 0)
	if err != nil || (attr.Policy != unix.SCHED_RR && attr.Policy != unix.SCHED_FIFO) {
		return
	}
	_ = unix.SchedSetAttr(pid, &unix.SchedAttr{Size: unix.SizeofSchedAttr, Policy: unix.SCHED_NORMAL}, 0)
}
