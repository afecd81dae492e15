// Package netns puts the daemon into a named network namespace, as
// keepalived's -s/--namespace and global_defs net_namespace do.
package netns

import (
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"syscall"

	"golang.org/x/sys/unix"
)

// Dir is where `ip netns` keeps its named namespaces.
const Dir = "/run/netns"

// Inside reports whether the process is in the named namespace already
// (started with `ip netns exec NAME`, or re-executed by Enter).
func Inside(name string) (bool, error) {
	var want, have unix.Stat_t
	if err := unix.Stat(filepath.Join(Dir, name), &want); err != nil {
		return false, fmt.Errorf("network namespace %s: %w", name, err)
	}
	if err := unix.Stat("/proc/self/ns/net", &have); err != nil {
		return false, fmt.Errorf("own network namespace: %w", err)
	}
	return want.Dev == have.Dev && want.Ino == have.Ino, nil
}

// Enter makes the process run in the named namespace. A Go process has
// many threads and setns(2) moves only the calling one, so Enter moves the
// calling thread and then executes the program again from it: the new
// image starts with every thread in the namespace, and finds itself Inside
// there. Enter returns only on an error; when the process is already
// inside it returns nil at once.
func Enter(name string) error {
	in, err := Inside(name)
	if err != nil || in {
		return err
	}
	exe, err := os.Executable()
	if err != nil {
		return fmt.Errorf("network namespace %s: %w", name, err)
	}
	f, err := os.Open(filepath.Join(Dir, name))
	if err != nil {
		return fmt.Errorf("network namespace %s: %w", name, err)
	}
	defer f.Close()
	// This thread is left in the namespace; it must never run another
	// goroutine, so it stays locked (the runtime discards it if Exec fails).
	runtime.LockOSThread()
	if err := unix.Setns(int(f.Fd()), unix.CLONE_NEWNET); err != nil {
		return fmt.Errorf("network namespace %s: setns: %w", name, err)
	}
	err = syscall.Exec(exe, os.Args, os.Environ())
	return fmt.Errorf("network namespace %s: re-executing %s: %w", name, exe, err)
}
