package status

import (
	"fmt"
	"net"
	"net/http"
	"strconv"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"vigil/internal/vrrp"
)

// The keepalived_* names and labels are those of the widely deployed
// keepalived exporter (mehdy/keepalived-exporter), so that existing
// dashboards and alerts keep working when keepalived is replaced by Vigil.
// Vigil's own metrics are vigil_*.
var (
	instLabels = []string{"iname", "intf", "vrid"}
	vipLabels  = []string{"iname", "intf", "vrid", "ip_address"}

	descUp = prometheus.NewDesc("keepalived_up", "Status", nil, nil)
	// Value: 0 INIT, 1 BACKUP, 2 MASTER, 3 FAULT (keepalived's numbers).
	descState         = prometheus.NewDesc("keepalived_vrrp_state", "State of vrrp", vipLabels, nil)
	descExcludedState = prometheus.NewDesc("keepalived_vrrp_excluded_state", "State of vrrp with excluded VIP", vipLabels, nil)
	descGarpDelay     = prometheus.NewDesc("keepalived_gratuitous_arp_delay_total", "Gratuitous ARP delay", instLabels, nil)

	descAdvertRx       = prometheus.NewDesc("keepalived_advertisements_received_total", "Advertisements received", instLabels, nil)
	descAdvertTx       = prometheus.NewDesc("keepalived_advertisements_sent_total", "Advertisements sent", instLabels, nil)
	descBecomeMaster   = prometheus.NewDesc("keepalived_become_master_total", "Became master", instLabels, nil)
	descReleaseMaster  = prometheus.NewDesc("keepalived_release_master_total", "Released master", instLabels, nil)
	descPacketLen      = prometheus.NewDesc("keepalived_packet_length_errors_total", "Packet length errors", instLabels, nil)
	descIntervalErr    = prometheus.NewDesc("keepalived_advertisements_interval_errors_total", "Advertisement interval errors", instLabels, nil)
	descTTLErr         = prometheus.NewDesc("keepalived_ip_ttl_errors_total", "TTL errors", instLabels, nil)
	descInvalidType    = prometheus.NewDesc("keepalived_invalid_type_received_total", "Invalid type errors", instLabels, nil)
	descAddrListErr    = prometheus.NewDesc("keepalived_address_list_errors_total", "Address list errors", instLabels, nil)
	descAuthFailure    = prometheus.NewDesc("keepalived_authentication_failure_total", "Authentication failure", instLabels, nil)
	descPrioZeroRx     = prometheus.NewDesc("keepalived_priority_zero_received_total", "Priority zero received", instLabels, nil)
	descPrioZeroTx     = prometheus.NewDesc("keepalived_priority_zero_sent_total", "Priority zero sent", instLabels, nil)
	descDrops          = prometheus.NewDesc("vigil_vrrp_drops_total", "Received VRRP packets dropped, by reason.", append(instLabels[:3:3], "reason"), nil)
	descEffPrio        = prometheus.NewDesc("vigil_vrrp_effective_priority", "Priority the instance advertises: the configured one plus the trackers' weights.", instLabels, nil)
	descBasePrio       = prometheus.NewDesc("vigil_vrrp_base_priority", "Configured priority of the instance.", instLabels, nil)
	descSendErrors     = prometheus.NewDesc("vigil_vrrp_send_errors_total", "Advertisements that could not be sent.", instLabels, nil)
	descAddressErrors  = prometheus.NewDesc("vigil_vrrp_address_errors_total", "Virtual addresses that could not be added or removed.", instLabels, nil)
	descAnnounceErrors = prometheus.NewDesc("vigil_vrrp_announce_errors_total", "Gratuitous ARP / unsolicited NA rounds that could not be sent.", instLabels, nil)
	descLastTrans      = prometheus.NewDesc("vigil_vrrp_last_transition_timestamp_seconds", "Time of the instance's last state change (0: none yet).", instLabels, nil)

	descConfigTolerated = prometheus.NewDesc("vigil_config_tolerated_errors", "Errors in the running configuration that the daemon ran past, as keepalived does (unknown keywords); vigil -t rejects the file.", nil, nil)
	descConfigWarnings  = prometheus.NewDesc("vigil_config_warnings", "Warnings the running configuration carried (keywords not acted on, interfaces missing here).", nil, nil)
)

// collector turns the hub's instances into metrics at scrape time; it keeps
// no counters of its own, so nothing is counted twice or goes stale.
type collector struct{ h *Hub }

// Describe implements prometheus.Collector.
func (collector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{
		descUp, descState, descExcludedState, descGarpDelay, descAdvertRx, descAdvertTx,
		descBecomeMaster, descReleaseMaster, descPacketLen, descIntervalErr, descTTLErr,
		descInvalidType, descAddrListErr, descAuthFailure, descPrioZeroRx, descPrioZeroTx,
		descDrops, descEffPrio, descBasePrio, descSendErrors, descAddressErrors,
		descAnnounceErrors, descLastTrans, descConfigTolerated, descConfigWarnings,
		descLVSUp, descLVSRestarts, descLVSOps, descLVSQuorum, descLVSSorry, descLVSWeightSum, descLVSRealUp, descLVSRealWeight,
	} {
		ch <- d
	}
}

// Collect implements prometheus.Collector.
func (c collector) Collect(ch chan<- prometheus.Metric) {
	// The exporter reports 0 when keepalived does not answer; Vigil is
	// answering the scrape itself.
	ch <- prometheus.MustNewConstMetric(descUp, prometheus.GaugeValue, 1)
	if r := c.h.configReport(); r != nil {
		ch <- prometheus.MustNewConstMetric(descConfigTolerated, prometheus.GaugeValue, float64(len(r.Tolerated)))
		ch <- prometheus.MustNewConstMetric(descConfigWarnings, prometheus.GaugeValue, float64(len(r.Warnings)))
	}
	for _, in := range c.h.Instances() {
		collectInstance(ch, in)
	}
	collectLVS(ch, c.h.lvsStatus())
}

func collectInstance(ch chan<- prometheus.Metric, in Instance) {
	s, cfg := in.Snapshot, in.Config
	lv := []string{in.name(), cfg.Interface, strconv.Itoa(int(cfg.VRID))}
	counter := func(d *prometheus.Desc, v uint64) {
		ch <- prometheus.MustNewConstMetric(d, prometheus.CounterValue, float64(v), lv...)
	}
	gauge := func(d *prometheus.Desc, v float64) {
		ch <- prometheus.MustNewConstMetric(d, prometheus.GaugeValue, v, lv...)
	}
	state := float64(keepalivedState(s.State))
	for _, v := range cfg.VIPs {
		ch <- prometheus.MustNewConstMetric(descState, prometheus.GaugeValue, state,
			lv[0], vipDev(v, cfg.Interface), lv[2], vipLabel(v.Prefix))
	}
	if len(cfg.VIPs) == 0 {
		// As the exporter does: the state is still worth a series.
		ch <- prometheus.MustNewConstMetric(descState, prometheus.GaugeValue, state, lv[0], lv[1], lv[2], "")
	}
	for _, v := range cfg.ExcludedVIPs {
		ch <- prometheus.MustNewConstMetric(descExcludedState, prometheus.GaugeValue, state,
			lv[0], vipDev(v, cfg.Interface), lv[2], vipLabel(v.Prefix))
	}
	ch <- prometheus.MustNewConstMetric(descGarpDelay, prometheus.CounterValue, cfg.GarpDelay.Seconds(), lv...)

	st := keepalivedStats(s)
	counter(descAdvertRx, st.AdvertRcvd)
	counter(descAdvertTx, st.AdvertSent)
	counter(descBecomeMaster, st.BecomeMaster)
	counter(descReleaseMaster, st.ReleaseMaster)
	counter(descPacketLen, st.PacketLenErr)
	counter(descIntervalErr, st.AdvertIntervalErr)
	counter(descTTLErr, st.IPTTLErr)
	counter(descInvalidType, st.InvalidTypeRcvd)
	counter(descAddrListErr, st.AddrListErr)
	counter(descAuthFailure, st.AuthFailure)
	counter(descPrioZeroRx, st.PriZeroRcvd)
	counter(descPrioZeroTx, st.PriZeroSent)

	for _, r := range dropReasons(s.Drops) {
		ch <- prometheus.MustNewConstMetric(descDrops, prometheus.CounterValue, float64(s.Drops[r]), lv[0], lv[1], lv[2], string(r))
	}
	gauge(descEffPrio, float64(s.EffectivePriority))
	gauge(descBasePrio, float64(s.BasePriority))
	counter(descSendErrors, s.Counters.SendErrors)
	counter(descAddressErrors, s.Counters.AddressErrors)
	counter(descAnnounceErrors, s.Counters.AnnounceErrors)
	var last float64
	if !s.LastTransition.IsZero() {
		last = float64(s.LastTransition.UnixNano()) / 1e9
	}
	gauge(descLastTrans, last)
}

// dropReasons is every known reason (so that each series exists from the
// start, at zero) followed by any other reason present in drops.
func dropReasons(drops map[vrrp.DropReason]uint64) []vrrp.DropReason {
	rs := vrrp.DropReasons()
	known := make(map[vrrp.DropReason]bool, len(rs))
	for _, r := range rs {
		known[r] = true
	}
	for r := range drops {
		if !known[r] {
			rs = append(rs, r)
		}
	}
	return rs
}

// NewRegistry returns a registry (not the global one) holding the hub's
// collector and the Go runtime and process collectors.
func NewRegistry(h *Hub) *prometheus.Registry {
	reg := prometheus.NewRegistry()
	reg.MustRegister(
		collector{h},
		collectors.NewGoCollector(),
		collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}),
	)
	return reg
}

// MetricsHandler returns the handler of the metrics listener: the metrics
// on GET /metrics, 404 elsewhere.
func (h *Hub) MetricsHandler() http.Handler {
	mux := http.NewServeMux()
	mux.Handle("GET /metrics", promhttp.HandlerFor(NewRegistry(h), promhttp.HandlerOpts{}))
	return mux
}

// ListenMetrics opens the metrics listener on addr (host:port, from
// global_defs), so that a taken port fails the start rather than a
// goroutine later; serve it with Serve(ctx, ln, hub.MetricsHandler()).
func ListenMetrics(addr string) (net.Listener, error) {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("metrics listener: %w", err)
	}
	return ln, nil
}
