// Package status reports what the daemon is doing: a JSON API and an event
// stream on a unix socket (for `vigil status` and `vigil events`),
// Prometheus metrics, keepalived's signal dumps, and the client the command
// line uses.
//
// It reads copies only: the daemon hands it a function that returns
// snapshots, and publishes transitions to it. Of the packages it reports on
// it uses nothing but their exported plain-data types (vrrp.Snapshot,
// vrrp.InstanceConfig, vrrp.StateChange), so a slow or stuck reader of the
// status can never hold up an instance.
package status

import (
	"net/netip"
	"slices"
	"strconv"
	"strings"
	"time"

	"vigil/internal/vrrp"
)

// Instance is what status knows about one VRRP instance: its configuration
// (what an operator needs to read the state: interface, VRID, addresses) and
// a snapshot of its state, taken at the same moment.
type Instance struct {
	Config   vrrp.InstanceConfig
	Snapshot vrrp.Snapshot
	// Trackers are the states of what the instance tracks (scripts,
	// interfaces, files); empty until the daemon reports them.
	Trackers []Tracker
}

// Tracker is the state of one tracked object of an instance.
type Tracker struct {
	Kind   string `json:"kind"` // "script", "interface", "file", "process"
	Name   string `json:"name"`
	State  string `json:"state"` // e.g. "GOOD", "BAD", "UP", "DOWN"
	Weight int    `json:"weight"`
}

// FromVRRP pairs an instance's configuration with its snapshot; the daemon
// calls it with inst.Config() and inst.Snapshot().
func FromVRRP(cfg vrrp.InstanceConfig, snap vrrp.Snapshot) Instance {
	return Instance{Config: cfg, Snapshot: snap}
}

// normalized fills what Config lacks from the snapshot's own copy, so that
// a source that passes snapshots alone still reports interface, VRID and
// addresses. The configuration is preferred when it is there: it knows each
// address's device and label, and which ones are excluded.
func (in Instance) normalized() Instance {
	c, s := &in.Config, in.Snapshot
	if c.Name == "" {
		c.Name = s.Name
	}
	if c.Interface == "" {
		c.Interface = s.Interface
	}
	if c.VRID == 0 {
		c.VRID = s.VRID
	}
	if c.Version == 0 {
		c.Version = s.Version
	}
	if c.Family == 0 {
		c.Family = s.Family
	}
	if len(c.VIPs) == 0 && len(c.ExcludedVIPs) == 0 {
		for _, p := range s.VIPs {
			c.VIPs = append(c.VIPs, vrrp.VIP{Prefix: p})
		}
	}
	return in
}

// InstanceJSON is the JSON form of one instance in GET /status. Field names
// are stable: scripts parse them.
type InstanceJSON struct {
	Name              string            `json:"name"`
	Interface         string            `json:"interface"`
	VRID              uint8             `json:"vrid"`
	Version           uint8             `json:"version"`
	Family            int               `json:"family"`
	State             string            `json:"state"`
	BasePriority      uint8             `json:"base_priority"`
	EffectivePriority uint8             `json:"effective_priority"`
	VIPs              []string          `json:"vips"`
	ExcludedVIPs      []string          `json:"excluded_vips,omitempty"`
	MasterAddr        string            `json:"master_addr,omitempty"`
	MasterPriority    uint8             `json:"master_priority,omitempty"`
	LastTransition    *time.Time        `json:"last_transition,omitempty"`
	LastReason        string            `json:"last_reason,omitempty"`
	Counters          CountersJSON      `json:"counters"`
	Drops             map[string]uint64 `json:"drops"`
	Trackers          []Tracker         `json:"trackers,omitempty"`
}

// CountersJSON is vrrp.Counters with JSON names.
type CountersJSON struct {
	AdvertsRx      uint64 `json:"adverts_rx"`
	AdvertsTx      uint64 `json:"adverts_tx"`
	PriorityZeroRx uint64 `json:"priority_zero_rx"`
	PriorityZeroTx uint64 `json:"priority_zero_tx"`
	BecomeMaster   uint64 `json:"become_master"`
	ReleaseMaster  uint64 `json:"release_master"`
	AddrListErrors uint64 `json:"addr_list_errors"`
	SendErrors     uint64 `json:"send_errors"`
	AddressErrors  uint64 `json:"address_errors"`
	AnnounceErrors uint64 `json:"announce_errors"`
	ChangesDropped uint64 `json:"changes_dropped"`
}

// StatusJSON is the body of GET /status.
type StatusJSON struct {
	Time time.Time `json:"time"`
	// Config is the running configuration's file and the mistakes and
	// warnings it carried; absent before the daemon reports it.
	Config    *ConfigJSON    `json:"config,omitempty"`
	Instances []InstanceJSON `json:"instances"`
	// LVS is the LVS side (virtual servers); absent when none is configured.
	LVS *LVSJSON `json:"lvs,omitempty"`
}

// JSON converts an instance to its JSON form. Every drop reason appears in
// Drops, zero or not, so that a reader sees what is counted.
func (in Instance) JSON() InstanceJSON {
	s, c := in.Snapshot, in.Config
	name := s.Name
	if name == "" {
		name = c.Name
	}
	out := InstanceJSON{
		Name:              name,
		Interface:         c.Interface,
		VRID:              c.VRID,
		Version:           c.Version,
		Family:            c.Family,
		State:             s.State.String(),
		BasePriority:      s.BasePriority,
		EffectivePriority: s.EffectivePriority,
		VIPs:              vipStrings(c.VIPs),
		ExcludedVIPs:      vipStrings(c.ExcludedVIPs),
		LastReason:        s.LastReason,
		Counters: CountersJSON{
			AdvertsRx: s.Counters.AdvertsRx, AdvertsTx: s.Counters.AdvertsTx,
			PriorityZeroRx: s.Counters.PriorityZeroRx, PriorityZeroTx: s.Counters.PriorityZeroTx,
			BecomeMaster: s.Counters.BecomeMaster, ReleaseMaster: s.Counters.ReleaseMaster,
			AddrListErrors: s.Counters.AddrListErrors, SendErrors: s.Counters.SendErrors,
			AddressErrors: s.Counters.AddressErrors, AnnounceErrors: s.Counters.AnnounceErrors,
			ChangesDropped: s.Counters.ChangesDropped,
		},
		Drops:    map[string]uint64{},
		Trackers: slices.Clone(in.Trackers),
	}
	if s.MasterAddr.IsValid() {
		out.MasterAddr = s.MasterAddr.String()
		out.MasterPriority = s.MasterPriority
	}
	if !s.LastTransition.IsZero() {
		t := s.LastTransition
		out.LastTransition = &t
	}
	for _, r := range vrrp.DropReasons() {
		out.Drops[string(r)] = s.Drops[r]
	}
	// A reason the vrrp package adds later still shows up.
	for r, n := range s.Drops {
		out.Drops[string(r)] = n
	}
	return out
}

// vipStrings renders addresses as keepalived.conf writes them, with the
// device when it is not the instance's own.
func vipStrings(vs []vrrp.VIP) []string {
	out := make([]string, 0, len(vs))
	for _, v := range vs {
		s := v.Prefix.String()
		if v.Dev != "" {
			s += " dev " + v.Dev
		}
		out = append(out, s)
	}
	return out
}

// vipDev is the device a VIP lives on.
func vipDev(v vrrp.VIP, ifname string) string {
	if v.Dev != "" {
		return v.Dev
	}
	return ifname
}

// hostPrefix reports whether p covers exactly one address; keepalived
// leaves the prefix length off such addresses in its dumps, and the
// exporters that parse the dumps use that form as the ip_address label.
func hostPrefix(p netip.Prefix) bool { return p.Bits() == p.Addr().BitLen() }

// vipLabel is the ip_address label keepalived exporters use: the address,
// with its prefix length unless it is a host address.
func vipLabel(p netip.Prefix) string {
	if hostPrefix(p) {
		return p.Addr().String()
	}
	return p.String()
}

// keepalivedState is keepalived's numeric state (VRRP_STATE_*), which the
// exporters publish as the value of keepalived_vrrp_state. Vigil's STOP has
// no keepalived number of its own; it is reported as INIT, which is what a
// stopped keepalived instance shows.
func keepalivedState(s vrrp.State) int {
	switch s {
	case vrrp.StateBackup:
		return 1
	case vrrp.StateMaster:
		return 2
	case vrrp.StateFault:
		return 3
	}
	return 0
}

// Event is one state transition, as streamed by GET /events.
type Event struct {
	Time     time.Time `json:"time"`
	Instance string    `json:"instance"`
	From     string    `json:"from"`
	To       string    `json:"to"`
	Reason   string    `json:"reason,omitempty"`
	Priority uint8     `json:"priority"`
	// Kind is empty for a VRRP transition; "real-up", "real-down",
	// "quorum-up" or "quorum-down" for the LVS side's, whose Instance is
	// the virtual server and RealServer the real server ("" for quorum).
	Kind       string `json:"kind,omitempty"`
	RealServer string `json:"real_server,omitempty"`
}

// EventFromVRRP converts a transition an instance published on Changes.
func EventFromVRRP(c vrrp.StateChange) Event {
	return Event{
		Time:     c.At,
		Instance: c.Instance,
		From:     c.From.String(),
		To:       c.To.String(),
		Reason:   c.Reason,
		Priority: c.Priority,
	}
}

// String renders an event as one human line, as `vigil events` prints it.
func (e Event) String() string {
	var b strings.Builder
	b.WriteString(e.Time.Format(time.RFC3339Nano))
	b.WriteString(" ")
	b.WriteString(e.Instance)
	b.WriteString(" ")
	if e.Kind != "" {
		// The LVS side's: "VS [10.0.0.1]:tcp:80 real-down [10.0.0.2]:80".
		b.WriteString(e.Kind)
		if e.RealServer != "" {
			b.WriteString(" ")
			b.WriteString(e.RealServer)
		}
		if e.Reason != "" {
			b.WriteString(" (")
			b.WriteString(e.Reason)
			b.WriteString(")")
		}
		return b.String()
	}
	b.WriteString(e.From)
	b.WriteString(" -> ")
	b.WriteString(e.To)
	b.WriteString(" prio ")
	b.WriteString(strconv.Itoa(int(e.Priority)))
	if e.Reason != "" {
		b.WriteString(" (")
		b.WriteString(e.Reason)
		b.WriteString(")")
	}
	return b.String()
}
