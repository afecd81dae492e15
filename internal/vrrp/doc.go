// Package vrrp implements VRRP (RFC 3768 version 2 and RFC 5798 version 3)
// the way keepalived does: the packet codec, the pure state machine
// (Machine) and the instance runner (Instance) that owns one machine.
//
// The package never touches the host. It sends packets, adds addresses and
// announces them through the small interfaces declared in instance.go
// (Sender, Addresses, Announcer, Clock); the daemon plugs the transport and
// host packages into them.
//
// Layering inside the package:
//
//   - Machine (fsm.go) is deterministic: Handle(now, event) returns actions.
//     It knows nothing about packets, sockets or goroutines, so every rule of
//     the protocol is tested with a fake clock and no sleeps.
//   - Instance (instance.go) is one vrrp_instance. It decodes and validates
//     received packets, feeds events to its Machine, executes the returned
//     actions and publishes snapshots.
//   - Loop (loop.go) runs instances, hundreds of them on one goroutine as
//     keepalived does on one thread: their timers (one heap), their
//     mailboxes, and the sockets it reads itself (Source). Instance.Run is a
//     loop of one.
//   - SyncGroup (syncgroup.go) is a vrrp_sync_group. It has no goroutine of
//     its own: its members report to it from their loops (through the actions of
//     a machine built with MachineConfig.Synced) and it answers by posting
//     Sync* events to the members' mailboxes, so that the members change
//     state together.
package vrrp
