// Package runpath says where a Vigil daemon keeps its runtime files: its pid
// files, its control socket and the record of the addresses it added. It
// follows keepalived's rules, so that two daemons on one host (in two
// network namespaces, or two instances of one config) keep their files apart
// with the flags and keywords that separate two keepalived daemons.
package runpath

import (
	"path/filepath"
	"strings"
)

// Dir is the runtime directory of the default daemon; a network namespace
// gets a directory of its own below it, as keepalived's /run/keepalived/NS.
const Dir = "/run/vigil"

// RunDir is where keepalived writes its default pid files (RUNSTATEDIR);
// Vigil writes its own default pid files there too, under its own names.
const RunDir = "/run"

// Input is what decides the paths: keepalived's flags and global_defs
// keywords, and Vigil's two environment overrides.
type Input struct {
	// Namespace is -s/--namespace, or global_defs net_namespace when the
	// flag is not given.
	Namespace string
	// Instance is global_defs instance: keepalived's name for one of
	// several daemons run from one configuration.
	Instance string
	// UsePidDir is global_defs use_pid_dir: the default pid files go in
	// the runtime directory even without a namespace or instance name.
	UsePidDir bool
	// PidFile, VRRPPidFile, CheckersPidFile are -p, -r and -c as given
	// ("" when not).
	PidFile, VRRPPidFile, CheckersPidFile string
	// StateDirEnv is $VIGIL_STATE_DIR: a directory that replaces the
	// runtime directory (tests, benchmarks and the demo use it).
	StateDirEnv string
	// SocketEnv is $VIGIL_SOCKET: the control socket, whatever else says.
	SocketEnv string
}

// Files are a daemon's runtime files.
type Files struct {
	PidFile         string // the main process (keepalived's -p)
	VRRPPidFile     string // the VRRP subsystem (-r)
	CheckersPidFile string // the checkers (-c)
	Socket          string // the control socket that vigil status, events and reload talk to
	StateFile       string // the record of added addresses, for the cleanup after a crash
}

// Resolve applies the rules, in this order:
//
//   - The pid files are -p, -r and -c when given. Otherwise, with neither a
//     namespace nor an instance name, /run/vigil.pid, /run/vigil_vrrp.pid
//     and /run/vigil_checkers.pid (keepalived: /run/keepalived.pid,
//     /run/vrrp.pid, /run/checkers.pid); with a namespace NS they are in
//     /run/vigil/NS, with an instance name I they are vigil_I.pid,
//     vrrp_I.pid and checkers_I.pid (keepalived: /run/keepalived/NS,
//     keepalived_I.pid, ...); use_pid_dir puts them in /run/vigil too.
//   - The control socket and the state file are vigil.sock and
//     addresses.json in the runtime directory (/run/vigil, /run/vigil/NS
//     with a namespace), with _I before the extension for an instance name.
//   - A main pid file given with -p names them instead: beside it, with its
//     name: -p /run/lb1.pid gives /run/lb1.sock and /run/lb1.addresses.json,
//     so that the flags that keep two keepalived daemons apart keep two
//     Vigils apart too.
//   - $VIGIL_STATE_DIR replaces the runtime directory (pid files included,
//     unless given); $VIGIL_SOCKET replaces the socket.
func Resolve(in Input) Files {
	dir := Dir
	if in.Namespace != "" {
		dir = filepath.Join(Dir, in.Namespace)
	}
	if in.StateDirEnv != "" {
		dir = in.StateDirEnv
	}
	sfx := ""
	if in.Instance != "" {
		sfx = "_" + in.Instance
	}
	var f Files
	switch {
	case in.StateDirEnv == "" && in.Namespace == "" && in.Instance == "" && !in.UsePidDir:
		f.PidFile = filepath.Join(RunDir, "vigil.pid")
		f.VRRPPidFile = filepath.Join(RunDir, "vigil_vrrp.pid")
		f.CheckersPidFile = filepath.Join(RunDir, "vigil_checkers.pid")
	default:
		f.PidFile = filepath.Join(dir, "vigil"+sfx+".pid")
		f.VRRPPidFile = filepath.Join(dir, "vrrp"+sfx+".pid")
		f.CheckersPidFile = filepath.Join(dir, "checkers"+sfx+".pid")
	}
	f.Socket = filepath.Join(dir, "vigil"+sfx+".sock")
	f.StateFile = filepath.Join(dir, "addresses"+sfx+".json")
	if in.PidFile != "" && in.StateDirEnv == "" {
		stem := strings.TrimSuffix(in.PidFile, ".pid")
		f.Socket = stem + ".sock"
		f.StateFile = stem + ".addresses.json"
	}
	if in.PidFile != "" {
		f.PidFile = in.PidFile
	}
	if in.VRRPPidFile != "" {
		f.VRRPPidFile = in.VRRPPidFile
	}
	if in.CheckersPidFile != "" {
		f.CheckersPidFile = in.CheckersPidFile
	}
	if in.SocketEnv != "" {
		f.Socket = in.SocketEnv
	}
	return f
}
