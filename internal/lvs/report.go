package lvs

import (
	"errors"
	"fmt"
	"net/netip"

	"vigil/internal/dataplane"
)

// Explain rewrites the errors of Reconciler.Apply (joined *OpError and
// *UnsupportedError values) so that each starts with the file:line of the
// virtual server that asked for the service, as the operator wrote it.
// Errors it cannot place are kept as they are.
func (e *Engine) Explain(err error) error {
	if err == nil {
		return nil
	}
	var list []error
	if j, ok := err.(interface{ Unwrap() []error }); ok {
		list = j.Unwrap()
	} else {
		list = []error{err}
	}
	out := make([]error, 0, len(list))
	for _, one := range list {
		var key dataplane.ServiceKey
		var oe *OpError
		var ue *UnsupportedError
		switch {
		case errors.As(one, &oe):
			key = oe.Op.Service.Key
		case errors.As(one, &ue):
			key = ue.Key
		default:
			out = append(out, one)
			continue
		}
		if pos, ok := e.Origin(key); ok {
			one = fmt.Errorf("%s: virtual_server: %w", pos, one)
		}
		out = append(out, one)
	}
	return errors.Join(out...)
}

// VSStatus is the state of one virtual server, for status and metrics.
type VSStatus struct {
	ID VSID
	// QuorumUp and WeightSum explain the pool: the live weight against
	// Quorum (± Hysteresis).
	QuorumUp              bool
	WeightSum             int64
	Quorum, Hysteresis    int64
	SorryInUse, Suspended bool
	Reals                 []RealStatus
	// Keys are the plane's services of the virtual server (several for a
	// group), so that the plane's counters can be summed per virtual server.
	Keys []dataplane.ServiceKey
}

// RealStatus is the state of one real server.
type RealStatus struct {
	Real netip.AddrPort
	// Alive is the health verdict; Weight the weight the plane is given
	// (0..2^31-1): 0 while the real server is out of the plane (down, or
	// replaced by the sorry server) or inhibited (inhibit_on_failure).
	Alive  bool
	Weight int32
	// Dest is the destination as configured; DestKey gives its key under
	// one of the virtual server's services.
	Dest dataplane.Destination
}

// DestKey returns the key of the real server's destination under service
// k, as Desired programs it: only NAT keeps the real server's own port.
func (r RealStatus) DestKey(k dataplane.ServiceKey) dataplane.DestKey {
	dk := r.Dest.Key
	if r.Dest.Forwarding.Method != dataplane.NAT {
		dk.Port = k.Port
	}
	return dk
}

// Snapshot returns the state of every started virtual server, in
// configuration order.
func (e *Engine) Snapshot() []VSStatus {
	// Sized once: a status of thousands of virtual servers is built on
	// every publish, and the daemon keeps the last one.
	var out []VSStatus
	if len(e.vss) > 0 {
		out = make([]VSStatus, 0, len(e.vss))
	}
	for _, st := range e.vss {
		if !st.started {
			continue
		}
		s := VSStatus{
			ID: st.v.id, QuorumUp: st.quorumUp, WeightSum: st.weightSum(),
			Quorum: st.v.quorum, Hysteresis: st.v.hysteresis,
			SorryInUse: st.v.sorry != nil && !st.quorumUp, Suspended: e.suspended(st),
			Keys: st.v.keys,
		}
		// The weight each real server's destination is given, as Desired
		// programs it: 0 when it is not in the plane (down, or replaced
		// by the sorry server) or held at 0 (inhibit_on_failure).
		given := map[dataplane.DestKey]int32{}
		for _, d := range e.dests(st) {
			given[d.Key] = d.Weight
		}
		if len(st.reals) > 0 {
			s.Reals = make([]RealStatus, 0, len(st.reals))
		}
		for i := range st.reals {
			rs := &st.reals[i]
			s.Reals = append(s.Reals, RealStatus{Real: rs.r.addr(), Alive: rs.alive, Weight: given[rs.r.dest.Key], Dest: rs.r.dest})
		}
		out = append(out, s)
	}
	return out
}
