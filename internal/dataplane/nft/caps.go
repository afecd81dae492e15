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
//   - DR (lb_kind DR) runs at netdev ingress on the interface of each DR
//     real server's route (see dr.go): the real servers must be on a
//     directly connected Ethernet network, as with IPVS, and the clients'
//     frames must arrive on that same interface (the classic one-LAN DR
//     layout); the VIP need not be local, but the director must answer ARP
//     for it (VRRP does). A flow map per service is the connection table
//     (client address and port, idle timeout 15 min for TCP and 5 min for
//     UDP, IPVS's established and UDP defaults, refreshed by every packet;
//     no TCP state tracking). Not carried over from IPVS DR: fwmark
//     services (the firewall marks packets after ingress), connections
//     from the director itself to the VIP (no ingress), fragments after
//     the first (no port), and a restart (Replace) or Flush starts with
//     empty flow maps, so rr/wrr flows may land on another real server
//     (sh/dh/mh put them back on the same one). A real server whose MAC is
//     unknown takes no new connection; its flows' frames are dropped until
//     the kernel resolves it again.
//   - lc, wlc, sed, nq (cc.go, ccsched.go) follow IPVS's formulas over
//     conntrack's counts (active: ESTABLISHED and the handshake; inactive:
//     the rest, and UDP), read every 100 ms: the map is a plan of the next
//     64 choices IPVS would make if no connection ended meanwhile, rewritten
//     when the counts leave it (ties as IPVS: the real server added last
//     first). IPVS decides at each connection from exact counts; here
//     connections ending between two reads are seen up to 100 ms late. NAT address virtual servers only (conntrack sees neither DR
//     frames nor a fwmark service's own tuple).
//
// Not in it, with the reason:
//   - TUN: nftables cannot encapsulate; an ipip device per real server and
//     routing would, but the kernel here has no ipip module to test it on,
//     so it is refused at start (IPVS, the VM lab's kernel, has it).
//   - lblc, lblcr (a per-destination-address assignment that moves when
//     its real server is overloaded: a decision per packet on live counts,
//     which nftables cannot compare) and ovf: IPVS or the proxy plane.
//   - ops, thresholds, persistence engines, lvs_timeouts (conntrack's are
//     host-wide), lvs_sync_daemon (conntrackd's job), SCTP, a real server
//     of another family than its service, NAT and DR real servers in one
//     service.
var Caps = dataplane.Capabilities{
	Name:          "nftables",
	Schedulers:    schedulers,
	Methods:       []dataplane.Method{dataplane.NAT, dataplane.DR},
	FwmarkMethods: []dataplane.Method{dataplane.NAT},
	Protocols:     []dataplane.Protocol{dataplane.ProtoTCP, dataplane.ProtoUDP},
	Fwmark:        true,
	IPv6:          true,
	SchedFlags:    true,
	Persistence:   true,
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
		return d != nil && d.Forwarding.Method == dataplane.DR && s.Key.Fwmark != 0
	}, "lb_kind DR with a fwmark service: the firewall marks packets after the ingress hook DR runs at; use an address virtual server, or lb_kind NAT"},
	{func(s dataplane.Service, d *dataplane.Destination) bool {
		if d != nil {
			return false
		}
		switch s.Scheduler {
		case "lblc", "lblcr", "ovf":
			return true
		}
		return false
	}, "lblc, lblcr and ovf need IPVS or the proxy plane (--dataplane ipvs or --dataplane proxy); with nftables use wlc, dh or mh"},
}

// advise adds to err, a refusal of s or of its destination d, the
// suggestions that apply.
func advise(err error, s dataplane.Service, d *dataplane.Destination) error {
	errs := []error{err}
	for _, sg := range suggestions {
		if sg.match(s, d) {
			errs = append(errs, fmt.Errorf("%w: %s", dataplane.ErrUnsupported, sg.text))
		}
	}
	return errors.Join(errs...)
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
	if len(errs) == 0 {
		// What only the whole service shows: real servers' ports of a
		// fwmark service, a wrr cycle, lb_kind DR with a fwmark or mixed
		// with NAT.
		if _, err := compile(e, 1, facts{}); err != nil {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

// Explain implements dataplane.Explainer: the package's Explain.
func (p *Plane) Explain(e dataplane.Entry) error { return Explain(e) }

var _ dataplane.Explainer = (*Plane)(nil)
