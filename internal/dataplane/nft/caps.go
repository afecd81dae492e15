package nft

import (
	"errors"
	"fmt"

	"vigil/internal/dataplane"
)

// Caps is what the nftables plane can express.
//
// Where it differs from IPVS on what it does express:
//   - A real server at weight 0 leaves every scheduler map, and its
//     persistence entries are deleted, so persistent clients move at once
//     (IPVS keeps sending them to a quiescent server unless
//     expire_quiescent_template is set).
//   - sh and mh always skip a drained real server by recomputing their
//     tables without it, with or without sh-fallback/mh-fallback (IPVS
//     without the flag refuses those clients). sh's hash is nftables'
//     jhash, not IPVS's, so a given client may land on another real server
//     than under IPVS; the shares and the stickiness are the same.
//   - rr and wrr follow IPVS's sequence over the real servers in address
//     order (IPVS uses the order they were added in).
//   - A persistence entry lives persistence_timeout after the client's
//     last new connection (IPVS: after its last connection ends).
//   - A service with no real server available leaves new connections
//     untranslated: they reach the director's own stack (a reset for TCP);
//     IPVS answers with ICMP port unreachable.
//
// Not in it, with the reason:
//   - DR: needs a netdev ingress chain per VIP interface, the real server's
//     MAC and per-packet (conntrack-less) scheduling; not built yet.
//   - TUN: nftables cannot encapsulate (and this kernel has no ipip).
//   - lc, wlc, sed, nq, lblc, lblcr, ovf: they need per-real-server
//     connection counts at scheduling time; IPVS or the proxy plane.
//   - ops, thresholds, persistence engines, lvs_timeouts (conntrack's are
//     host-wide), lvs_sync_daemon (conntrackd's job), SCTP, a real server
//     of another family than its service.
var Caps = dataplane.Capabilities{
	Name:        "nftables",
	Schedulers:  schedulers,
	Methods:     []dataplane.Method{dataplane.NAT, dataplane.DR},
	Protocols:   []dataplane.Protocol{dataplane.ProtoTCP, dataplane.ProtoUDP},
	Fwmark:      true,
	IPv6:        true,
	SchedFlags:  true,
	Persistence: true,
}

// suggestions complete an unsupported feature's message with what a user
// can do instead.
var suggestions = []struct {
	match func(s dataplane.Service, d *dataplane.Destination) bool
	text  string
}{
	{func(_ dataplane.Service, d *dataplane.Destination) bool {
		return d != nil && d.Forwarding.Method == dataplane.Tunnel
	}, "lb_kind TUN needs IPVS; nftables cannot encapsulate here"},
	{func(s dataplane.Service, d *dataplane.Destination) bool {
		if d != nil {
			return false
		}
		switch s.Scheduler {
		case "lc", "wlc", "sed", "nq", "lblc", "lblcr", "ovf":
			return true
		}
		return false
	}, "connection-count schedulers need IPVS or the proxy plane; use wrr or mh with nftables"},
}

// Explain returns nil if the plane can serve e, else an error naming every
// attribute it cannot, each with a suggestion where there is one, for the
// configuration layer to prefix with the block's file:line.
func Explain(e dataplane.Entry) error {
	var errs []error
	if err := Caps.CheckService(e.Service); err != nil {
		errs = append(errs, err)
	}
	hint := func(d *dataplane.Destination) {
		for _, s := range suggestions {
			if s.match(e.Service, d) {
				errs = append(errs, fmt.Errorf("%w: %s", dataplane.ErrUnsupported, s.text))
			}
		}
	}
	hint(nil)
	for _, d := range e.Dests {
		if err := Caps.CheckDestination(e.Service.Key, d); err != nil {
			errs = append(errs, err)
			hint(&d)
		}
	}
	if err := func() error { _, err := portMode(e); return err }(); err != nil {
		errs = append(errs, err)
	}
	return errors.Join(errs...)
}
