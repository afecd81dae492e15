package vrrp

import (
	"errors"
	"fmt"
)

// DropReason says why a received packet was dropped. It is a stable
// snake_case string: it is used as a metric label and in logs, so a value,
// once released, never changes.
type DropReason string

// Drop reasons. The codec (Parse) returns the first group; the others exist
// so that the instance, the transport's callers and the status exporter all
// count the same event with the same name.
const (
	// DropLength: the packet is shorter than the fixed VRRP header (plus the
	// authentication data for v2).
	DropLength DropReason = "length"
	// DropVersion: the version field is neither 2 nor 3, or not the version
	// the instance runs.
	DropVersion DropReason = "version"
	// DropType: the type field is not 1 (advertisement).
	DropType DropReason = "type"
	// DropChecksum: the checksum does not verify.
	DropChecksum DropReason = "checksum"
	// DropAddrCount: the address count does not match the packet length, or
	// (checked by the instance) the number of configured virtual addresses.
	DropAddrCount DropReason = "addr_count"
	// DropInterval: the advertisement interval is zero, or (v2, checked by
	// the instance) differs from the configured one.
	DropInterval DropReason = "interval"
	// DropAuth: an unknown v2 authentication type, or (checked by the
	// instance) an authentication type or password that does not match.
	DropAuth DropReason = "auth"
	// DropTTL: the IP TTL / hop limit is not 255 (checked by the caller).
	DropTTL DropReason = "ttl"
	// DropUnknownVRID: no instance on the interface has this VRID.
	DropUnknownVRID DropReason = "unknown_vrid"
	// DropFamily: the addresses, source or destination are of the wrong
	// address family for the version or for each other.
	DropFamily DropReason = "family"
	// DropNotPeer: a unicast advert from a source that is not a configured
	// unicast peer (checked by the instance).
	DropNotPeer DropReason = "not_peer"

	// DropAddrList: the advertised virtual addresses differ from the
	// configured ones (checked by the instance, keepalived's addr_list_err).
	// Counted for every such advert; unlike the other reasons the advert is
	// still acted on, since a peer whose list differs during a migration
	// must still be heard (keepalived 2.2.7 ignores it instead, but for
	// adverts of the master a backup already follows).
	DropAddrList DropReason = "addr_list"
	// DropOwnPacket: our own advertisement came back to us (checked by the
	// instance, by source address).
	DropOwnPacket DropReason = "own_packet"
	// DropQueueFull: the receiving instance's queue was full.
	DropQueueFull DropReason = "queue_full"
)

// DropReasons lists every reason, in a stable order, so that an exporter can
// publish a zero for each one before the first drop happens.
func DropReasons() []DropReason {
	return []DropReason{
		DropLength, DropVersion, DropType, DropChecksum, DropAddrCount,
		DropInterval, DropAuth, DropTTL, DropUnknownVRID, DropFamily,
		DropNotPeer, DropAddrList, DropOwnPacket, DropQueueFull,
	}
}

// DropError is the error returned for a packet that must be dropped. Reason is
// what gets counted; Detail is for the log.
type DropError struct {
	Reason DropReason
	Detail string
}

// Error implements error.
func (e *DropError) Error() string {
	if e.Detail == "" {
		return "vrrp: drop (" + string(e.Reason) + ")"
	}
	return "vrrp: drop (" + string(e.Reason) + "): " + e.Detail
}

// ReasonOf returns the drop reason carried by err (anywhere in its chain) and
// whether there is one.
func ReasonOf(err error) (DropReason, bool) {
	var de *DropError
	if errors.As(err, &de) {
		return de.Reason, true
	}
	return "", false
}

// dropf builds a *DropError with a formatted detail.
func dropf(reason DropReason, format string, args ...any) *DropError {
	return &DropError{Reason: reason, Detail: fmt.Sprintf(format, args...)}
}

// DropCounters counts dropped packets by reason. It is not safe for concurrent
// use: the goroutine that owns the instance (or socket) owns its counters, and
// publishes Snapshot copies to others. The zero value is ready to use.
type DropCounters struct {
	n       map[DropReason]uint64
	version uint64 // bumped by every Add, so a reader can tell nothing changed
}

// Add counts one drop for reason.
func (c *DropCounters) Add(reason DropReason) {
	if c.n == nil {
		c.n = make(map[DropReason]uint64)
	}
	c.n[reason]++
	c.version++
}

// Version changes whenever a drop is counted.
func (c *DropCounters) Version() uint64 { return c.version }

// Get returns the number of drops counted for reason.
func (c *DropCounters) Get(reason DropReason) uint64 {
	return c.n[reason]
}

// Snapshot returns a copy of the non-zero counters, safe to hand to another
// goroutine.
func (c *DropCounters) Snapshot() map[DropReason]uint64 {
	out := make(map[DropReason]uint64, len(c.n))
	for r, v := range c.n {
		out[r] = v
	}
	return out
}
