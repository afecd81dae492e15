package vrrp

import (
	"errors"
	"fmt"
	"reflect"
	"regexp"
	"testing"
)

func TestDropCounters(t *testing.T) {
	var c DropCounters // the zero value must work
	if got := c.Get(DropTTL); got != 0 {
		t.Fatalf("fresh Get = %d", got)
	}
	if s := c.Snapshot(); len(s) != 0 {
		t.Fatalf("fresh Snapshot = %v", s)
	}
	for _, r := range []DropReason{DropTTL, DropChecksum, DropTTL, DropUnknownVRID, DropTTL} {
		c.Add(r)
	}
	want := map[DropReason]uint64{DropTTL: 3, DropChecksum: 1, DropUnknownVRID: 1}
	snap := c.Snapshot()
	if !reflect.DeepEqual(snap, want) {
		t.Fatalf("Snapshot = %v, want %v", snap, want)
	}
	for r, n := range want {
		if got := c.Get(r); got != n {
			t.Errorf("Get(%q) = %d, want %d", r, got, n)
		}
	}
	// A snapshot is a copy: later drops do not show in it, edits do not leak back.
	c.Add(DropChecksum)
	snap[DropTTL] = 100
	if snap[DropChecksum] != 1 || c.Get(DropTTL) != 3 {
		t.Fatalf("snapshot shares storage with the counters")
	}
}

func TestDropReasons(t *testing.T) {
	snake := regexp.MustCompile(`^[a-z]+(_[a-z]+)*$`)
	seen := map[DropReason]bool{}
	for _, r := range DropReasons() {
		if !snake.MatchString(string(r)) {
			t.Errorf("reason %q is not snake_case", r)
		}
		if seen[r] {
			t.Errorf("reason %q listed twice", r)
		}
		seen[r] = true
	}
	for _, r := range []DropReason{DropLength, DropVersion, DropType, DropChecksum, DropAddrCount, DropInterval,
		DropAuth, DropTTL, DropUnknownVRID, DropFamily, DropNotPeer} {
		if !seen[r] {
			t.Errorf("reason %q missing from DropReasons", r)
		}
	}
}

func TestDropError(t *testing.T) {
	err := fmt.Errorf("instance VI_1: %w", dropf(DropTTL, "ttl %d, want 255", 64))
	if r, ok := ReasonOf(err); !ok || r != DropTTL {
		t.Fatalf("ReasonOf = %q, %v", r, ok)
	}
	if got, want := err.Error(), "instance VI_1: vrrp: drop (ttl): ttl 64, want 255"; got != want {
		t.Fatalf("Error() = %q, want %q", got, want)
	}
	if got, want := (&DropError{Reason: DropType}).Error(), "vrrp: drop (type)"; got != want {
		t.Fatalf("Error() = %q, want %q", got, want)
	}
	if r, ok := ReasonOf(errors.New("plain")); ok {
		t.Fatalf("ReasonOf(plain error) = %q, true", r)
	}
}
