package dataplane

import (
	"errors"
	"fmt"
	"slices"
)

// Capabilities describe what a plane can express, so that a service it
// cannot run is refused with a reason before anything is applied, instead of
// being half-applied or silently simplified.
type Capabilities struct {
	// Name is the plane's name as the --dataplane flag spells it.
	Name string
	// Schedulers lists the schedulers the plane implements; nil means any
	// name (the plane itself refuses an unknown one, as the kernel does).
	Schedulers []string
	Methods    []Method
	// FwmarkMethods, if not nil, narrows Methods for the destinations of
	// a fwmark service (nftables: DR runs at ingress, before any firewall
	// marks the packet, so a fwmark service is NAT only).
	FwmarkMethods []Method
	// TunnelTypes lists the encapsulations of Tunnel forwarding.
	TunnelTypes []TunnelType
	// TunnelOptions is whether GUE ports and tunnel checksum options are
	// honoured.
	TunnelOptions bool
	Protocols     []Protocol
	Fwmark        bool
	IPv6          bool
	// MixedFamily is whether a destination may be of another family than
	// its service.
	MixedFamily bool
	SchedFlags  bool
	OnePacket   bool
	Persistence bool
	// PersistenceEngines lists the engines the plane has (IPVS: "sip").
	PersistenceEngines []string
	Thresholds         bool
	Timeouts           bool
	SyncDaemon         bool
	// Stats is whether Services and Destinations fill in the traffic
	// counters (Service.Stats, Destination.Stats); without it they are
	// zero and mean nothing.
	Stats bool
	// Advice, if set, ends every refusal: what the operator can do instead
	// (another --dataplane, another lb_kind).
	Advice string
}

// CheckService returns nil if the plane can express s, else an error
// wrapping ErrUnsupported that names every attribute it cannot.
func (c Capabilities) CheckService(s Service) error {
	var errs []error
	no := func(format string, args ...any) {
		errs = append(errs, fmt.Errorf("%w: "+format, append([]any{ErrUnsupported}, args...)...))
	}
	if s.Key.Fwmark != 0 && !c.Fwmark {
		no("fwmark services")
	}
	if s.Key.Fwmark == 0 && !slices.Contains(c.Protocols, s.Key.Protocol) {
		no("protocol %s", s.Key.Protocol)
	}
	if s.Key.Family == IPv6 && !c.IPv6 {
		no("IPv6")
	}
	if c.Schedulers != nil && !slices.Contains(c.Schedulers, s.Scheduler) {
		no("scheduler %s", s.Scheduler)
	}
	if s.Flags != 0 && !c.SchedFlags {
		no("scheduler flags")
	}
	if s.OnePacket && !c.OnePacket {
		no("one-packet scheduling (ops)")
	}
	if s.Persistence != 0 && !c.Persistence {
		no("persistence")
	}
	if s.PersistenceEngine != "" && !slices.Contains(c.PersistenceEngines, s.PersistenceEngine) {
		no("persistence engine %s", s.PersistenceEngine)
	}
	return c.wrapAll(errs)
}

// CheckDestination returns nil if the plane can express d as a destination
// of svc, else an error wrapping ErrUnsupported.
func (c Capabilities) CheckDestination(svc ServiceKey, d Destination) error {
	var errs []error
	no := func(format string, args ...any) {
		errs = append(errs, fmt.Errorf("%w: "+format, append([]any{ErrUnsupported}, args...)...))
	}
	f := d.Forwarding
	if !slices.Contains(c.Methods, f.Method) {
		no("forwarding method %s", f.Method)
	} else if svc.Fwmark != 0 && c.FwmarkMethods != nil && !slices.Contains(c.FwmarkMethods, f.Method) {
		no("forwarding method %s for a fwmark service", f.Method)
	}
	if f.Method == Tunnel && !slices.Contains(c.TunnelTypes, f.TunnelType) {
		no("tunnel type %d", f.TunnelType)
	}
	if f.Method == Tunnel && (f.TunnelPort != 0 || f.TunnelChecksum != NoChecksum) && !c.TunnelOptions {
		no("tunnel port and checksum options")
	}
	if FamilyOf(d.Key.Addr) == IPv6 && !c.IPv6 {
		no("IPv6")
	}
	if FamilyOf(d.Key.Addr) != svc.Family && !c.MixedFamily {
		no("a destination of another family than its service")
	}
	if (d.UpperThreshold != 0 || d.LowerThreshold != 0) && !c.Thresholds {
		no("connection thresholds")
	}
	return c.wrapAll(errs)
}

func (c Capabilities) wrapAll(errs []error) error {
	if len(errs) == 0 {
		return nil
	}
	if c.Advice != "" {
		return fmt.Errorf("data plane %s: %w (%s)", c.Name, errors.Join(errs...), c.Advice)
	}
	return fmt.Errorf("data plane %s: %w", c.Name, errors.Join(errs...))
}
