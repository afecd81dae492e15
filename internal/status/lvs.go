package status

import (
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// LVSJSON is the LVS side of GET /status: the process that runs it, the
// data plane it chose and why, and the virtual servers as `ipvsadm -Ln`
// shows them, with Vigil's reasons (health, quorum, sorry server).
type LVSJSON struct {
	// Mode is "child" (supervised by the VRRP process), "only" (-C) or
	// "off" (-P, or no virtual_server in the configuration).
	Mode string `json:"mode"`
	// PID is the LVS process; 0 while none runs.
	PID int `json:"pid,omitempty"`
	// Restarts counts the LVS processes the parent started after the first.
	Restarts int `json:"restarts"`
	// State is "starting", "running", "error" (no data plane: see Error)
	// or "restarting".
	State string `json:"state"`
	// Error says why the LVS side does not program a data plane.
	Error string `json:"error,omitempty"`
	// Dataplane is the plane in use ("ipvs", ...) and Why it was chosen.
	Dataplane    string `json:"dataplane,omitempty"`
	DataplaneWhy string `json:"dataplane_why,omitempty"`
	// Operations counts the operations sent to the plane since the LVS
	// process started, so that a caller can see that a reload changed
	// nothing.
	Operations int `json:"operations"`
	// Reloads counts the reloads this LVS process applied.
	Reloads        int                    `json:"reloads"`
	VirtualServers []LVSVirtualServerJSON `json:"virtual_servers"`
	// Checkers are the health checks the LVS process runs, one per check
	// (a check shared by several real servers is listed once, with each).
	Checkers []LVSCheckerJSON `json:"checkers,omitempty"`
	// CheckerProblems are the checkers of the running configuration that
	// cannot run (a missing script, an unreadable certificate), each with
	// its file:line and what becomes of its real server.
	CheckerProblems []string `json:"checker_problems,omitempty"`
}

// LVSCheckerJSON is one health check: its state, its latest outcome and
// when it started. Start numbers the checks' starts within the LVS
// process: a reload that keeps a check keeps its Start and StartedAt, one
// that starts it again (a changed checker) gives it a new Start.
type LVSCheckerJSON struct {
	// Name is the checker's kind, target and virtual server, as in logs.
	Name string `json:"name"`
	// Reals are the real servers it reports to.
	Reals  []LVSCheckerRealJSON `json:"real_servers"`
	Up     bool                 `json:"up"`
	HasRun bool                 `json:"has_run"`
	// Weight is the dynamic weight it reports (misc_dynamic,
	// FILE_CHECK), when HasWeight.
	Weight    int       `json:"weight,omitempty"`
	HasWeight bool      `json:"has_weight,omitempty"`
	LastOK    bool      `json:"last_ok"`
	LastError string    `json:"last_error,omitempty"`
	LastAt    time.Time `json:"last_at,omitzero"`
	Start     uint64    `json:"start"`
	StartedAt time.Time `json:"started_at"`
}

// LVSCheckerRealJSON names a real server of a virtual server, as
// LVSVirtualServerJSON.Name and LVSRealJSON.Addr do.
type LVSCheckerRealJSON struct {
	VirtualServer string `json:"virtual_server"`
	Addr          string `json:"addr"`
}

// LVSVirtualServerJSON is one virtual server.
type LVSVirtualServerJSON struct {
	// Name is keepalived's form: "[10.0.0.1]:tcp:80", "FWM 1 IPv4", or the group's.
	Name       string `json:"name"`
	QuorumUp   bool   `json:"quorum_up"`
	WeightSum  int64  `json:"weight_sum"`
	Quorum     int64  `json:"quorum"`
	Hysteresis int64  `json:"hysteresis"`
	SorryInUse bool   `json:"sorry_server_in_use"`
	Suspended  bool   `json:"suspended"`
	// Protocol is the protocol of the virtual server's services ("TCP",
	// "UDP", "SCTP"), empty for a fwmark one.
	Protocol string `json:"protocol,omitempty"`
	// Stats are the plane's counters summed over the virtual server's
	// services, when the plane keeps them (nil otherwise).
	Stats *LVSStatsJSON `json:"stats,omitempty"`
	// Reals are the real servers; Weight is the effective weight the
	// plane is given (0 with inhibit_on_failure for a failed one).
	Reals []LVSRealJSON `json:"real_servers"`
}

// LVSRealJSON is one real server.
type LVSRealJSON struct {
	Addr   string `json:"addr"`
	Alive  bool   `json:"alive"`
	Weight int32  `json:"weight"`
	// ActiveConns and InactiveConns are the plane's counters when it
	// reports them (nil otherwise).
	ActiveConns   *uint32 `json:"active_conns,omitempty"`
	InactiveConns *uint32 `json:"inactive_conns,omitempty"`
	// PersistentConns counts the persistence templates that point at the
	// real server, when the plane reports them.
	PersistentConns *uint32 `json:"persistent_conns,omitempty"`
	// Stats are the plane's traffic counters of the real server.
	Stats *LVSStatsJSON `json:"stats,omitempty"`
}

// LVSStatsJSON are a plane's traffic counters and rates (per second, as
// `ipvsadm -Ln --stats --rate` shows them).
type LVSStatsJSON struct {
	Conns      uint64 `json:"conns"`
	InPackets  uint64 `json:"in_packets"`
	OutPackets uint64 `json:"out_packets"`
	InBytes    uint64 `json:"in_bytes"`
	OutBytes   uint64 `json:"out_bytes"`
	CPS        uint64 `json:"cps"`
	InPPS      uint64 `json:"in_pps"`
	OutPPS     uint64 `json:"out_pps"`
	InBPS      uint64 `json:"in_bps"`
	OutBPS     uint64 `json:"out_bps"`
}

// SetLVSSource sets the function that returns the LVS side's status; nil
// (the default) reports none.
func (h *Hub) SetLVSSource(f func() *LVSJSON) {
	h.mu.Lock()
	h.lvs = f
	h.mu.Unlock()
}

func (h *Hub) lvsStatus() *LVSJSON {
	h.mu.Lock()
	f := h.lvs
	h.mu.Unlock()
	if f == nil {
		return nil
	}
	return f()
}

// RenderLVS writes the LVS side in the layout of `ipvsadm -Ln`, with
// Vigil's reasons after each line.
func RenderLVS(w io.Writer, l *LVSJSON) {
	if l == nil {
		return
	}
	fmt.Fprintf(w, "LVS: %s", l.State)
	if l.PID != 0 {
		fmt.Fprintf(w, " (pid %d, %s, restarts %d)", l.PID, l.Mode, l.Restarts)
	}
	if l.Dataplane != "" {
		fmt.Fprintf(w, ", data plane %s (%s)", l.Dataplane, l.DataplaneWhy)
	}
	fmt.Fprintln(w)
	if l.Error != "" {
		fmt.Fprintf(w, "  error: %s\n", l.Error)
	}
	for _, p := range l.CheckerProblems {
		fmt.Fprintf(w, "  checker not run: %s\n", p)
	}
	if len(l.VirtualServers) == 0 {
		return
	}
	fmt.Fprintf(w, "  %-40s %-8s %-10s %-10s %-8s %-8s %-8s %s\n", "Prot LocalAddress:Port / -> RemoteAddress:Port", "Weight", "ActiveConn", "InActConn", "CPS", "InPPS", "OutPPS", "State")
	for _, vs := range l.VirtualServers {
		var why []string
		if vs.QuorumUp {
			why = append(why, fmt.Sprintf("quorum up (%d of %d)", vs.WeightSum, vs.Quorum))
		} else {
			why = append(why, fmt.Sprintf("quorum down (%d of %d)", vs.WeightSum, vs.Quorum))
		}
		if vs.SorryInUse {
			why = append(why, "sorry server in use")
		}
		if vs.Suspended {
			why = append(why, "suspended (ha_suspend: address not held)")
		}
		cps, inpps, outpps := rates(vs.Stats)
		fmt.Fprintf(w, "  %-40s %-8s %-10s %-10s %-8s %-8s %-8s %s\n", vs.Name, "", "", "", cps, inpps, outpps, strings.Join(why, ", "))
		for _, rs := range vs.Reals {
			st := "up"
			if !rs.Alive {
				st = "down"
			}
			cps, inpps, outpps := rates(rs.Stats)
			fmt.Fprintf(w, "    -> %-37s %-8d %-10s %-10s %-8s %-8s %-8s %s\n", rs.Addr, rs.Weight, conns(rs.ActiveConns), conns(rs.InactiveConns), cps, inpps, outpps, st)
		}
	}
}

// rates formats the connection and packet rates, "-" without counters.
func rates(st *LVSStatsJSON) (cps, inpps, outpps string) {
	if st == nil {
		return "-", "-", "-"
	}
	return fmt.Sprint(st.CPS), fmt.Sprint(st.InPPS), fmt.Sprint(st.OutPPS)
}

func conns(p *uint32) string {
	if p == nil {
		return "-"
	}
	return fmt.Sprint(*p)
}

// The LVS side's metrics. The traffic counters keep the keepalived
// exporter's names (keepalived_lvs_vip_*, keepalived_lvs_rs_*) and its
// labels addr and proto; a real server also gets vs, since one address may
// serve several virtual servers. They are exported only when the plane
// reports counters, never as made-up zeros. What the exporter has no name
// for (connection counts by state, rates) and what Vigil knows is
// vigil_lvs_*.
var (
	lvsVIPLabels = []string{"addr", "proto"}
	rsLVSLabels  = []string{"addr", "proto", "vs"}

	descVIPInPackets  = prometheus.NewDesc("keepalived_lvs_vip_in_packets", "VIP in packets", lvsVIPLabels, nil)
	descVIPOutPackets = prometheus.NewDesc("keepalived_lvs_vip_out_packets", "VIP out packets", lvsVIPLabels, nil)
	descVIPInBytes    = prometheus.NewDesc("keepalived_lvs_vip_in_bytes", "VIP in bytes", lvsVIPLabels, nil)
	descVIPOutBytes   = prometheus.NewDesc("keepalived_lvs_vip_out_bytes", "VIP out bytes", lvsVIPLabels, nil)
	descVIPConn       = prometheus.NewDesc("keepalived_lvs_vip_conn", "VIP connections", lvsVIPLabels, nil)
	descRSInPackets   = prometheus.NewDesc("keepalived_lvs_rs_in_packets", "RS in packets", rsLVSLabels, nil)
	descRSOutPackets  = prometheus.NewDesc("keepalived_lvs_rs_out_packets", "RS out packets", rsLVSLabels, nil)
	descRSInBytes     = prometheus.NewDesc("keepalived_lvs_rs_in_bytes", "RS in bytes", rsLVSLabels, nil)
	descRSOutBytes    = prometheus.NewDesc("keepalived_lvs_rs_out_bytes", "RS out bytes", rsLVSLabels, nil)
	descRSConn        = prometheus.NewDesc("keepalived_lvs_rs_conn", "RS connections", rsLVSLabels, nil)
	descRSActive      = prometheus.NewDesc("vigil_lvs_real_server_active_conns", "Active connections of the real server (ipvsadm's ActiveConn).", rsLabels, nil)
	descRSInactive    = prometheus.NewDesc("vigil_lvs_real_server_inactive_conns", "Inactive connections of the real server (ipvsadm's InActConn).", rsLabels, nil)
	descVSCPS         = prometheus.NewDesc("vigil_lvs_connections_per_second", "Connection rate of the virtual server, as the plane estimates it.", vsLabels, nil)
	descVSInBPS       = prometheus.NewDesc("vigil_lvs_in_bytes_per_second", "Incoming byte rate of the virtual server, as the plane estimates it.", vsLabels, nil)
	descVSOutBPS      = prometheus.NewDesc("vigil_lvs_out_bytes_per_second", "Outgoing byte rate of the virtual server, as the plane estimates it.", vsLabels, nil)

	vsLabels = []string{"vs"}
	rsLabels = []string{"vs", "rs"}

	descLVSUp         = prometheus.NewDesc("vigil_lvs_up", "1 when the LVS side runs a data plane, 0 when it cannot (see vigil status).", []string{"dataplane"}, nil)
	descLVSRestarts   = prometheus.NewDesc("vigil_lvs_process_restarts_total", "LVS processes the parent started again after one died.", nil, nil)
	descLVSQuorum     = prometheus.NewDesc("vigil_lvs_quorum_up", "1 when the virtual server holds its quorum.", vsLabels, nil)
	descLVSSorry      = prometheus.NewDesc("vigil_lvs_sorry_server_in_use", "1 when the sorry server replaces the real servers.", vsLabels, nil)
	descLVSWeightSum  = prometheus.NewDesc("vigil_lvs_weight_sum", "Live weight of the virtual server's real servers (compared with quorum).", vsLabels, nil)
	descLVSRealUp     = prometheus.NewDesc("vigil_lvs_real_server_up", "1 when the real server's checkers pass.", rsLabels, nil)
	descLVSRealWeight = prometheus.NewDesc("vigil_lvs_real_server_weight", "Weight the data plane gives the real server.", rsLabels, nil)
)

func collectLVS(ch chan<- prometheus.Metric, l *LVSJSON) {
	if l == nil {
		return
	}
	b := func(v bool) float64 {
		if v {
			return 1
		}
		return 0
	}
	ch <- prometheus.MustNewConstMetric(descLVSUp, prometheus.GaugeValue, b(l.State == "running"), l.Dataplane)
	ch <- prometheus.MustNewConstMetric(descLVSRestarts, prometheus.CounterValue, float64(l.Restarts))
	ch <- prometheus.MustNewConstMetric(descLVSOps, prometheus.CounterValue, float64(l.Operations))
	for _, vs := range l.VirtualServers {
		ch <- prometheus.MustNewConstMetric(descLVSQuorum, prometheus.GaugeValue, b(vs.QuorumUp), vs.Name)
		ch <- prometheus.MustNewConstMetric(descLVSSorry, prometheus.GaugeValue, b(vs.SorryInUse), vs.Name)
		ch <- prometheus.MustNewConstMetric(descLVSWeightSum, prometheus.GaugeValue, float64(vs.WeightSum), vs.Name)
		if st := vs.Stats; st != nil {
			c := func(d *prometheus.Desc, v uint64) {
				ch <- prometheus.MustNewConstMetric(d, prometheus.CounterValue, float64(v), vs.Name, vs.Protocol)
			}
			c(descVIPInPackets, st.InPackets)
			c(descVIPOutPackets, st.OutPackets)
			c(descVIPInBytes, st.InBytes)
			c(descVIPOutBytes, st.OutBytes)
			c(descVIPConn, st.Conns)
			ch <- prometheus.MustNewConstMetric(descVSCPS, prometheus.GaugeValue, float64(st.CPS), vs.Name)
			ch <- prometheus.MustNewConstMetric(descVSInBPS, prometheus.GaugeValue, float64(st.InBPS), vs.Name)
			ch <- prometheus.MustNewConstMetric(descVSOutBPS, prometheus.GaugeValue, float64(st.OutBPS), vs.Name)
		}
		for _, rs := range vs.Reals {
			ch <- prometheus.MustNewConstMetric(descLVSRealUp, prometheus.GaugeValue, b(rs.Alive), vs.Name, rs.Addr)
			ch <- prometheus.MustNewConstMetric(descLVSRealWeight, prometheus.GaugeValue, float64(rs.Weight), vs.Name, rs.Addr)
			if st := rs.Stats; st != nil {
				c := func(d *prometheus.Desc, v uint64) {
					ch <- prometheus.MustNewConstMetric(d, prometheus.CounterValue, float64(v), rs.Addr, vs.Protocol, vs.Name)
				}
				c(descRSInPackets, st.InPackets)
				c(descRSOutPackets, st.OutPackets)
				c(descRSInBytes, st.InBytes)
				c(descRSOutBytes, st.OutBytes)
				c(descRSConn, st.Conns)
			}
			if rs.ActiveConns != nil {
				ch <- prometheus.MustNewConstMetric(descRSActive, prometheus.GaugeValue, float64(*rs.ActiveConns), vs.Name, rs.Addr)
			}
			if rs.InactiveConns != nil {
				ch <- prometheus.MustNewConstMetric(descRSInactive, prometheus.GaugeValue, float64(*rs.InactiveConns), vs.Name, rs.Addr)
			}
		}
	}
}
