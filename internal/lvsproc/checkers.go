package lvsproc

import (
	"vigil/internal/check"
	"vigil/internal/status"
)

// keptCheck is one check as the LVS loop keeps it between a read of the
// Runner's checks and the statuses published until the next read. The
// status's form (status.LVSCheckerJSON, 136 bytes, a slice of the real
// servers' names and a string per name) is built for each status and
// dropped after it: with one check per real server, holding that form
// would cost about 190 bytes per check for as long as the process runs.
// This record keeps what the status is built from: the times as
// check.Stamps, the flags in one byte, the first real server's key in
// place (a check reports to one real server but for a shared checker).
type keptCheck struct {
	name      string
	lastError string
	// lastAt and startedAt are 0 for a zero time (lastAt before the
	// check's first outcome: the status then omits it).
	lastAt    check.Stamp
	startedAt check.Stamp
	start     uint64
	weight    int
	first     check.ServerKey
	// more are the real servers after first, for a checker shared by
	// several (nil for the usual one).
	more  *[]check.ServerKey
	flags uint8
	// servers is 0 for a check that reports to no real server.
	servers uint8
}

const (
	keptUp uint8 = 1 << iota
	keptHasRun
	keptHasWeight
	keptLastOK
)

// keepChecks compacts the Runner's checks for the loop to keep.
func keepChecks(checks []check.CheckStatus) []keptCheck {
	out := make([]keptCheck, len(checks))
	for i, c := range checks {
		k := &out[i]
		k.name, k.lastError, k.start, k.weight = c.Name, c.LastError, c.Start, c.Weight
		k.startedAt, k.lastAt = check.StampOf(c.StartedAt), check.StampOf(c.LastAt)
		k.flags = flag(c.Up, keptUp) | flag(c.HasRun, keptHasRun) | flag(c.HasWeight, keptHasWeight) | flag(c.LastOK, keptLastOK)
		if len(c.Servers) > 0 {
			k.servers = 1
			k.first = c.Servers[0]
		}
		if len(c.Servers) > 1 {
			more := append([]check.ServerKey(nil), c.Servers[1:]...)
			k.more = &more
		}
	}
	return out
}

// Checkers builds the status's form of the kept checks, naming each real
// server as the virtual servers of SnapshotWith do.
func (s *Side) Checkers(kept []keptCheck) []status.LVSCheckerJSON {
	if kept == nil {
		return nil
	}
	out := make([]status.LVSCheckerJSON, 0, len(kept))
	for i := range kept {
		c := &kept[i]
		j := status.LVSCheckerJSON{Name: c.name, Up: c.flags&keptUp != 0, HasRun: c.flags&keptHasRun != 0,
			Weight: c.weight, HasWeight: c.flags&keptHasWeight != 0, LastOK: c.flags&keptLastOK != 0,
			LastError: c.lastError, Start: c.start, StartedAt: c.startedAt.Time(), LastAt: c.lastAt.Time()}
		n := int(c.servers)
		if c.more != nil {
			n += len(*c.more)
		}
		j.Reals = make([]status.LVSCheckerRealJSON, 0, n)
		if c.servers != 0 {
			j.Reals = append(j.Reals, s.realName(c.first))
		}
		if c.more != nil {
			for _, k := range *c.more {
				j.Reals = append(j.Reals, s.realName(k))
			}
		}
		out = append(out, j)
	}
	return out
}

func flag(on bool, bit uint8) uint8 {
	if on {
		return bit
	}
	return 0
}
