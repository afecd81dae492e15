package status

import (
	"bufio"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"syscall"
	"time"

	"vigil/internal/vrrp"
)

// Where keepalived writes its dumps; tools (exporters, scripts) read them
// there. SIGUSR1 writes the data dump, SIGUSR2 the statistics, SIGJSON the
// JSON dump.
const (
	DefaultDataFile  = "/tmp/keepalived.data"
	DefaultStatsFile = "/tmp/keepalived.stats"
	DefaultJSONFile  = "/tmp/keepalived.json"
)

// SignalJSON is keepalived's JSON dump signal, SIGRTMIN+2 as glibc numbers
// it (glibc keeps the first two real-time signals for itself, so SIGRTMIN is
// 34): 36, what `keepalived --signum=JSON` prints.
const SignalJSON = 36

// kaStats are keepalived's per-instance statistics, under the names of its
// JSON dump.
type kaStats struct {
	AdvertRcvd        uint64 `json:"advert_rcvd"`
	AdvertSent        uint64 `json:"advert_sent"`
	BecomeMaster      uint64 `json:"become_master"`
	ReleaseMaster     uint64 `json:"release_master"`
	PacketLenErr      uint64 `json:"packet_len_err"`
	AdvertIntervalErr uint64 `json:"advert_interval_err"`
	IPTTLErr          uint64 `json:"ip_ttl_err"`
	InvalidTypeRcvd   uint64 `json:"invalid_type_rcvd"`
	AddrListErr       uint64 `json:"addr_list_err"`
	// Vigil counts every authentication mismatch as one drop reason, so
	// the two finer keepalived counters stay zero and Failure has them all.
	InvalidAuthtype  uint64 `json:"invalid_authtype"`
	AuthtypeMismatch uint64 `json:"authtype_mismatch"`
	AuthFailure      uint64 `json:"auth_failure"`
	PriZeroRcvd      uint64 `json:"pri_zero_rcvd"`
	PriZeroSent      uint64 `json:"pri_zero_sent"`
}

// keepalivedStats maps Vigil's counters and drop reasons onto keepalived's.
func keepalivedStats(s vrrp.Snapshot) kaStats {
	d := s.Drops
	return kaStats{
		AdvertRcvd:    s.Counters.AdvertsRx,
		AdvertSent:    s.Counters.AdvertsTx,
		BecomeMaster:  s.Counters.BecomeMaster,
		ReleaseMaster: s.Counters.ReleaseMaster,
		// keepalived counts a packet whose address count disagrees with its
		// length as a length error.
		PacketLenErr:      d[vrrp.DropLength] + d[vrrp.DropAddrCount],
		AdvertIntervalErr: d[vrrp.DropInterval],
		IPTTLErr:          d[vrrp.DropTTL],
		InvalidTypeRcvd:   d[vrrp.DropType],
		// Every address list error is also counted as an addr_list drop:
		// one of the two, not their sum.
		AddrListErr: s.Counters.AddrListErrors,
		AuthFailure: d[vrrp.DropAuth],
		PriZeroRcvd: s.Counters.PriorityZeroRx,
		PriZeroSent: s.Counters.PriorityZeroTx,
	}
}

// DumpFiles names the files the dump signals write; empty fields take the
// keepalived defaults.
type DumpFiles struct {
	Data, Stats, JSON string
}

func (f DumpFiles) withDefaults() DumpFiles {
	if f.Data == "" {
		f.Data = DefaultDataFile
	}
	if f.Stats == "" {
		f.Stats = DefaultStatsFile
	}
	if f.JSON == "" {
		f.JSON = DefaultJSONFile
	}
	return f
}

// DumpSignals are the signals HandleDumpSignal answers; the daemon passes
// them to signal.Notify.
var DumpSignals = []os.Signal{syscall.SIGUSR1, syscall.SIGUSR2, syscall.Signal(SignalJSON)}

// HandleDumpSignal writes the dump sig asks for, as keepalived does:
// SIGUSR1 the data dump, SIGUSR2 the statistics, SIGRTMIN+2 the JSON dump.
// handled is false for any other signal.
func (h *Hub) HandleDumpSignal(sig os.Signal, f DumpFiles) (handled bool, err error) {
	switch sig {
	case syscall.SIGUSR1:
		return true, h.DumpData(f)
	case syscall.SIGUSR2:
		return true, h.DumpStats(f)
	case syscall.Signal(SignalJSON):
		return true, h.DumpJSON(f)
	}
	return false, nil
}

// DumpData writes the SIGUSR1 data dump to f.Data.
func (h *Hub) DumpData(f DumpFiles) error {
	ins := h.Instances()
	return writeFile(f.withDefaults().Data, func(w io.Writer) error { return WriteData(w, ins) })
}

// DumpStats writes the SIGUSR2 statistics dump to f.Stats.
func (h *Hub) DumpStats(f DumpFiles) error {
	ins := h.Instances()
	return writeFile(f.withDefaults().Stats, func(w io.Writer) error { return WriteStats(w, ins) })
}

// DumpJSON writes the SIGJSON dump to f.JSON.
func (h *Hub) DumpJSON(f DumpFiles) error {
	ins := h.Instances()
	return writeFile(f.withDefaults().JSON, func(w io.Writer) error { return WriteJSON(w, ins) })
}

// writeFile writes path through a temporary file and a rename, so that a
// reader never sees half a dump, with mode 0600 as keepalived does (the
// dumps show the configuration).
func writeFile(path string, fill func(io.Writer) error) error {
	tmp, err := os.CreateTemp(filepath.Dir(path), "."+filepath.Base(path)+".*")
	if err != nil {
		return fmt.Errorf("dump: %w", err)
	}
	defer os.Remove(tmp.Name()) // after a successful rename there is nothing to remove
	bw := bufio.NewWriter(tmp)
	err = fill(bw)
	if err == nil {
		err = bw.Flush()
	}
	if err == nil {
		err = tmp.Chmod(0o600)
	}
	if cerr := tmp.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(tmp.Name(), path)
	}
	if err != nil {
		return fmt.Errorf("dump %s: %w", path, err)
	}
	return nil
}

// WriteData writes keepalived's data dump layout (the "VRRP Topology"
// section, which is what tools parse) for ins.
func WriteData(w io.Writer, ins []Instance) error {
	ew := &errWriter{w: w}
	ew.printf("------< VRRP Topology >------\n")
	for _, in := range ins {
		s, c := in.Snapshot, in.Config
		ew.printf(" VRRP Instance = %s\n", in.name())
		ew.printf("   VRRP Version = %d\n", c.Version)
		if c.Family == 6 {
			ew.printf("   Using Native IPv6\n")
		}
		ew.printf("   State = %s\n", s.State)
		ew.printf("   Wantstate = %s\n", s.State)
		if !s.LastTransition.IsZero() {
			ew.printf("   Last transition = %s (%s)\n", unixMicros(s.LastTransition), s.LastTransition.Format("Mon Jan _2 15:04:05.000000 2006"))
		} else {
			ew.printf("   Last transition = 0.000000\n")
		}
		if s.LastReason != "" {
			ew.printf("   Last transition reason = %s\n", s.LastReason)
		}
		ew.printf("   Interface = %s\n", c.Interface)
		if c.SrcAddr.IsValid() {
			ew.printf("   Using src_ip = %s\n", c.SrcAddr)
		}
		if c.Unicast {
			ew.printf("   Unicast Peer :\n")
			for _, p := range c.Peers {
				ew.printf("     %s\n", p)
			}
		} else if c.Group.IsValid() {
			ew.printf("   Multicast address %s\n", c.Group)
		}
		ew.printf("   Gratuitous ARP delay = %d\n", int(c.GarpDelay.Seconds()))
		ew.printf("   Gratuitous ARP repeat = %d\n", c.GarpRepeat)
		ew.printf("   Gratuitous ARP refresh = %d\n", int(c.GarpRefresh.Seconds()))
		ew.printf("   Gratuitous ARP refresh repeat = %d\n", c.GarpRefreshRepeat)
		ew.printf("   Send advert after receive lower priority advert = %t\n", !c.LowerPrioNoAdvert)
		ew.printf("   Send advert after receive higher priority advert = %t\n", c.HigherPrioSendAdvert)
		ew.printf("   Virtual Router ID = %d\n", c.VRID)
		ew.printf("   Priority = %d\n", s.BasePriority)
		ew.printf("   Effective priority = %d\n", s.EffectivePriority)
		if s.MasterAddr.IsValid() {
			ew.printf("   Master router = %s\n", s.MasterAddr)
			ew.printf("   Master priority = %d\n", s.MasterPriority)
		}
		if c.Version == 2 {
			ew.printf("   Advert interval = %d sec\n", int(c.AdvertInterval.Seconds()))
		} else {
			ew.printf("   Advert interval = %d milli-sec\n", c.AdvertInterval.Milliseconds())
		}
		ew.printf("   Preempt = %s\n", enabled(c.Preempt))
		if c.PreemptDelay > 0 {
			ew.printf("   Preempt delay = %g secs\n", c.PreemptDelay.Seconds())
		}
		switch c.AuthType {
		case vrrp.AuthPass:
			ew.printf("   Authentication type = SIMPLE_PASSWORD\n")
		case vrrp.AuthAH:
			ew.printf("   Authentication type = IPSEC_AH\n")
		}
		ew.printf("   Virtual IP (%d):\n", len(c.VIPs))
		for _, v := range c.VIPs {
			ew.printf("     %s\n", dumpVIP(v, c.Interface, s.State))
		}
		if len(c.ExcludedVIPs) > 0 {
			ew.printf("   Virtual IP Excluded :\n")
			for _, v := range c.ExcludedVIPs {
				ew.printf("     %s\n", dumpVIP(v, c.Interface, s.State))
			}
		}
		if len(in.Trackers) > 0 {
			ew.printf("   Tracked objects :\n")
			for _, t := range in.Trackers {
				ew.printf("     %s %s weight %d state %s\n", t.Kind, t.Name, t.Weight, t.State)
			}
		}
	}
	return ew.err
}

// dumpVIP renders a VIP as keepalived's dumps do:
// "10.0.0.1/24 dev eth0 scope global label eth0:1 set", the prefix length
// left off a host address and "set" while the address is held.
func dumpVIP(v vrrp.VIP, ifname string, st vrrp.State) string {
	s := vipLabel(v.Prefix) + " dev " + vipDev(v, ifname)
	scope := v.Scope
	if scope == "" {
		scope = "global"
	}
	s += " scope " + scope
	if v.Label != "" {
		s += " label " + v.Label
	}
	if v.Prefix.Addr().Is6() {
		s += " preferred_lft forever"
	}
	if st == vrrp.StateMaster {
		s += " set"
	}
	return s
}

func enabled(b bool) string {
	if b {
		return "enabled"
	}
	return "disabled"
}

// unixMicros is keepalived's "seconds.microseconds" timestamp.
func unixMicros(t time.Time) string {
	us := t.UnixMicro()
	sec, frac := us/1e6, us%1e6
	if frac < 0 {
		sec, frac = sec-1, frac+1e6
	}
	return fmt.Sprintf("%d.%06d", sec, frac)
}

// WriteStats writes keepalived's statistics dump layout for ins.
func WriteStats(w io.Writer, ins []Instance) error {
	ew := &errWriter{w: w}
	for _, in := range ins {
		st := keepalivedStats(in.Snapshot)
		ew.printf("VRRP Instance: %s\n", in.name())
		ew.printf("  Advertisements:\n")
		ew.printf("    Received: %d\n", st.AdvertRcvd)
		ew.printf("    Sent: %d\n", st.AdvertSent)
		ew.printf("  Became master: %d\n", st.BecomeMaster)
		ew.printf("  Released master: %d\n", st.ReleaseMaster)
		ew.printf("  Packet Errors:\n")
		ew.printf("    Length: %d\n", st.PacketLenErr)
		ew.printf("    TTL: %d\n", st.IPTTLErr)
		ew.printf("    Invalid Type: %d\n", st.InvalidTypeRcvd)
		ew.printf("    Advertisement Interval: %d\n", st.AdvertIntervalErr)
		ew.printf("    Address List: %d\n", st.AddrListErr)
		ew.printf("  Authentication Errors:\n")
		ew.printf("    Invalid Type: %d\n", st.InvalidAuthtype)
		ew.printf("    Type Mismatch: %d\n", st.AuthtypeMismatch)
		ew.printf("    Failure: %d\n", st.AuthFailure)
		ew.printf("  Priority Zero:\n")
		ew.printf("    Received: %d\n", st.PriZeroRcvd)
		ew.printf("    Sent: %d\n", st.PriZeroSent)
	}
	return ew.err
}

// kaData is the "data" object of keepalived's JSON dump, the fields Vigil
// has. The password is left out: no tool needs it, and dumps get pasted
// into tickets.
type kaData struct {
	IName                string   `json:"iname"`
	IfpIfname            string   `json:"ifp_ifname"`
	MasterPriority       uint8    `json:"master_priority"`
	LastTransition       float64  `json:"last_transition"`
	GarpDelay            int      `json:"garp_delay"`
	GarpRefresh          int      `json:"garp_refresh"`
	GarpRep              int      `json:"garp_rep"`
	GarpRefreshRep       int      `json:"garp_refresh_rep"`
	LowerPrioNoAdvert    int      `json:"lower_prio_no_advert"`
	HigherPrioSendAdvert int      `json:"higher_prio_send_advert"`
	VRID                 uint8    `json:"vrid"`
	BasePriority         uint8    `json:"base_priority"`
	EffectivePriority    uint8    `json:"effective_priority"`
	VIPSet               bool     `json:"vipset"`
	AdverInt             float64  `json:"adver_int"`
	NoPreempt            bool     `json:"nopreempt"`
	PreemptDelay         float64  `json:"preempt_delay"`
	State                int      `json:"state"`
	WantState            int      `json:"wantstate"`
	Version              uint8    `json:"version"`
	VIPs                 []string `json:"vips"`
	EVIPs                []string `json:"evips,omitempty"`
	AuthType             uint8    `json:"auth_type"`
}

type kaEntry struct {
	Data  kaData  `json:"data"`
	Stats kaStats `json:"stats"`
}

// WriteJSON writes keepalived's JSON dump layout for ins: an array of
// {"data": ..., "stats": ...}.
func WriteJSON(w io.Writer, ins []Instance) error {
	out := make([]kaEntry, 0, len(ins))
	for _, in := range ins {
		s, c := in.Snapshot, in.Config
		d := kaData{
			IName:                in.name(),
			IfpIfname:            c.Interface,
			MasterPriority:       s.MasterPriority,
			GarpDelay:            int(c.GarpDelay.Seconds()),
			GarpRefresh:          int(c.GarpRefresh.Seconds()),
			GarpRep:              c.GarpRepeat,
			GarpRefreshRep:       c.GarpRefreshRepeat,
			LowerPrioNoAdvert:    b2i(c.LowerPrioNoAdvert),
			HigherPrioSendAdvert: b2i(c.HigherPrioSendAdvert),
			VRID:                 c.VRID,
			BasePriority:         s.BasePriority,
			EffectivePriority:    s.EffectivePriority,
			VIPSet:               s.State == vrrp.StateMaster,
			AdverInt:             c.AdvertInterval.Seconds(),
			NoPreempt:            !c.Preempt,
			PreemptDelay:         c.PreemptDelay.Seconds(),
			State:                keepalivedState(s.State),
			WantState:            keepalivedState(s.State),
			Version:              c.Version,
			VIPs:                 []string{},
			AuthType:             uint8(c.AuthType),
		}
		if !s.LastTransition.IsZero() {
			d.LastTransition = float64(s.LastTransition.UnixMicro()) / 1e6
		}
		for _, v := range c.VIPs {
			d.VIPs = append(d.VIPs, dumpVIP(v, c.Interface, s.State))
		}
		for _, v := range c.ExcludedVIPs {
			d.EVIPs = append(d.EVIPs, dumpVIP(v, c.Interface, s.State))
		}
		out = append(out, kaEntry{Data: d, Stats: keepalivedStats(s)})
	}
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(out)
}

func b2i(b bool) int {
	if b {
		return 1
	}
	return 0
}

// errWriter keeps the first write error so that a dump is written with
// plain printf calls and checked once.
type errWriter struct {
	w   io.Writer
	err error
}

func (e *errWriter) printf(format string, args ...any) {
	if e.err != nil {
		return
	}
	_, e.err = fmt.Fprintf(e.w, format, args...)
}
