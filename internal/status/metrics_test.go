package status

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/prometheus/client_golang/prometheus/testutil"

	"vigil/internal/vrrp"
)

func TestMetricsKeepalivedNames(t *testing.T) {
	h := fixtureHub()
	const want = `
# HELP keepalived_up Status
# TYPE keepalived_up gauge
keepalived_up 1
# HELP keepalived_vrrp_state State of vrrp
# TYPE keepalived_vrrp_state gauge
keepalived_vrrp_state{iname="VI_1",intf="eth0",ip_address="10.77.0.100/24",vrid="51"} 2
keepalived_vrrp_state{iname="VI_1",intf="eth1",ip_address="10.77.0.101",vrid="51"} 2
keepalived_vrrp_state{iname="VI_6",intf="eth0",ip_address="fd00:77::200/64",vrid="52"} 1
# HELP keepalived_vrrp_excluded_state State of vrrp with excluded VIP
# TYPE keepalived_vrrp_excluded_state gauge
keepalived_vrrp_excluded_state{iname="VI_1",intf="eth0",ip_address="fd00:77::100/64",vrid="51"} 2
# HELP keepalived_gratuitous_arp_delay_total Gratuitous ARP delay
# TYPE keepalived_gratuitous_arp_delay_total counter
keepalived_gratuitous_arp_delay_total{iname="VI_1",intf="eth0",vrid="51"} 5
keepalived_gratuitous_arp_delay_total{iname="VI_6",intf="eth0",vrid="52"} 0
# HELP keepalived_advertisements_received_total Advertisements received
# TYPE keepalived_advertisements_received_total counter
keepalived_advertisements_received_total{iname="VI_1",intf="eth0",vrid="51"} 7
keepalived_advertisements_received_total{iname="VI_6",intf="eth0",vrid="52"} 99
# HELP keepalived_advertisements_sent_total Advertisements sent
# TYPE keepalived_advertisements_sent_total counter
keepalived_advertisements_sent_total{iname="VI_1",intf="eth0",vrid="51"} 1234
keepalived_advertisements_sent_total{iname="VI_6",intf="eth0",vrid="52"} 0
# HELP keepalived_become_master_total Became master
# TYPE keepalived_become_master_total counter
keepalived_become_master_total{iname="VI_1",intf="eth0",vrid="51"} 3
keepalived_become_master_total{iname="VI_6",intf="eth0",vrid="52"} 0
# HELP keepalived_release_master_total Released master
# TYPE keepalived_release_master_total counter
keepalived_release_master_total{iname="VI_1",intf="eth0",vrid="51"} 2
keepalived_release_master_total{iname="VI_6",intf="eth0",vrid="52"} 0
# HELP keepalived_packet_length_errors_total Packet length errors
# TYPE keepalived_packet_length_errors_total counter
keepalived_packet_length_errors_total{iname="VI_1",intf="eth0",vrid="51"} 3
keepalived_packet_length_errors_total{iname="VI_6",intf="eth0",vrid="52"} 0
# HELP keepalived_advertisements_interval_errors_total Advertisement interval errors
# TYPE keepalived_advertisements_interval_errors_total counter
keepalived_advertisements_interval_errors_total{iname="VI_1",intf="eth0",vrid="51"} 10
keepalived_advertisements_interval_errors_total{iname="VI_6",intf="eth0",vrid="52"} 0
# HELP keepalived_ip_ttl_errors_total TTL errors
# TYPE keepalived_ip_ttl_errors_total counter
keepalived_ip_ttl_errors_total{iname="VI_1",intf="eth0",vrid="51"} 3
keepalived_ip_ttl_errors_total{iname="VI_6",intf="eth0",vrid="52"} 0
# HELP keepalived_invalid_type_received_total Invalid type errors
# TYPE keepalived_invalid_type_received_total counter
keepalived_invalid_type_received_total{iname="VI_1",intf="eth0",vrid="51"} 11
keepalived_invalid_type_received_total{iname="VI_6",intf="eth0",vrid="52"} 0
# HELP keepalived_address_list_errors_total Address list errors
# TYPE keepalived_address_list_errors_total counter
keepalived_address_list_errors_total{iname="VI_1",intf="eth0",vrid="51"} 4
keepalived_address_list_errors_total{iname="VI_6",intf="eth0",vrid="52"} 0
# HELP keepalived_authentication_failure_total Authentication failure
# TYPE keepalived_authentication_failure_total counter
keepalived_authentication_failure_total{iname="VI_1",intf="eth0",vrid="51"} 9
keepalived_authentication_failure_total{iname="VI_6",intf="eth0",vrid="52"} 0
# HELP keepalived_priority_zero_received_total Priority zero received
# TYPE keepalived_priority_zero_received_total counter
keepalived_priority_zero_received_total{iname="VI_1",intf="eth0",vrid="51"} 1
keepalived_priority_zero_received_total{iname="VI_6",intf="eth0",vrid="52"} 0
# HELP keepalived_priority_zero_sent_total Priority zero sent
# TYPE keepalived_priority_zero_sent_total counter
keepalived_priority_zero_sent_total{iname="VI_1",intf="eth0",vrid="51"} 2
keepalived_priority_zero_sent_total{iname="VI_6",intf="eth0",vrid="52"} 0
`
	names := []string{
		"keepalived_up", "keepalived_vrrp_state", "keepalived_vrrp_excluded_state",
		"keepalived_gratuitous_arp_delay_total",
		"keepalived_advertisements_received_total", "keepalived_advertisements_sent_total",
		"keepalived_become_master_total", "keepalived_release_master_total",
		"keepalived_packet_length_errors_total", "keepalived_advertisements_interval_errors_total",
		"keepalived_ip_ttl_errors_total", "keepalived_invalid_type_received_total",
		"keepalived_address_list_errors_total", "keepalived_authentication_failure_total",
		"keepalived_priority_zero_received_total", "keepalived_priority_zero_sent_total",
	}
	if err := testutil.CollectAndCompare(collector{h}, strings.NewReader(want), names...); err != nil {
		t.Fatal(err)
	}
}

func TestMetricsVigil(t *testing.T) {
	h := fixtureHub()
	const want = `
# HELP vigil_vrrp_effective_priority Priority the instance advertises: the configured one plus the trackers' weights.
# TYPE vigil_vrrp_effective_priority gauge
vigil_vrrp_effective_priority{iname="VI_1",intf="eth0",vrid="51"} 140
vigil_vrrp_effective_priority{iname="VI_6",intf="eth0",vrid="52"} 100
# HELP vigil_vrrp_base_priority Configured priority of the instance.
# TYPE vigil_vrrp_base_priority gauge
vigil_vrrp_base_priority{iname="VI_1",intf="eth0",vrid="51"} 150
vigil_vrrp_base_priority{iname="VI_6",intf="eth0",vrid="52"} 100
# HELP vigil_vrrp_send_errors_total Advertisements that could not be sent.
# TYPE vigil_vrrp_send_errors_total counter
vigil_vrrp_send_errors_total{iname="VI_1",intf="eth0",vrid="51"} 5
vigil_vrrp_send_errors_total{iname="VI_6",intf="eth0",vrid="52"} 0
# HELP vigil_vrrp_last_transition_timestamp_seconds Time of the instance's last state change (0: none yet).
# TYPE vigil_vrrp_last_transition_timestamp_seconds gauge
vigil_vrrp_last_transition_timestamp_seconds{iname="VI_1",intf="eth0",vrid="51"} 1.773500966535897e+09
vigil_vrrp_last_transition_timestamp_seconds{iname="VI_6",intf="eth0",vrid="52"} 0
`
	if err := testutil.CollectAndCompare(collector{h}, strings.NewReader(want),
		"vigil_vrrp_effective_priority", "vigil_vrrp_base_priority",
		"vigil_vrrp_send_errors_total", "vigil_vrrp_last_transition_timestamp_seconds"); err != nil {
		t.Fatal(err)
	}

	// Drops: one series per known reason and instance, the counts as given.
	n := testutil.CollectAndCount(collector{h}, "vigil_vrrp_drops_total")
	if want := 2 * len(vrrp.DropReasons()); n != want {
		t.Fatalf("%d drop series, want %d", n, want)
	}
	const drops = `
# HELP vigil_vrrp_drops_total Received VRRP packets dropped, by reason.
# TYPE vigil_vrrp_drops_total counter
`
	var b strings.Builder
	b.WriteString(drops)
	for _, in := range h.Instances() {
		for _, r := range vrrp.DropReasons() {
			fmt.Fprintf(&b, "vigil_vrrp_drops_total{iname=%q,intf=%q,reason=%q,vrid=\"%d\"} %d\n",
				in.name(), in.Config.Interface, r, in.Config.VRID, in.Snapshot.Drops[r])
		}
	}
	if err := testutil.CollectAndCompare(collector{h}, strings.NewReader(b.String()), "vigil_vrrp_drops_total"); err != nil {
		t.Fatal(err)
	}
}

func TestMetricsFollowSource(t *testing.T) {
	// Values are read at scrape time: a change in the source shows at once,
	// and an instance removed by a reload disappears.
	h := NewHub()
	ins := fixture()
	h.SetSource(func() []Instance { return ins })
	if n := testutil.CollectAndCount(collector{h}, "keepalived_advertisements_sent_total"); n != 2 {
		t.Fatalf("%d series, want 2", n)
	}
	ins = ins[:1] // VI_6 only
	ins[0].Snapshot.Counters.AdvertsTx = 42
	const want = `
# HELP keepalived_advertisements_sent_total Advertisements sent
# TYPE keepalived_advertisements_sent_total counter
keepalived_advertisements_sent_total{iname="VI_6",intf="eth0",vrid="52"} 42
`
	if err := testutil.CollectAndCompare(collector{h}, strings.NewReader(want), "keepalived_advertisements_sent_total"); err != nil {
		t.Fatal(err)
	}
}

func TestMetricsHandlerAndLint(t *testing.T) {
	h := fixtureHub()
	problems, err := testutil.CollectAndLint(collector{h})
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range problems {
		// keepalived_up and the gARP delay are the exporter's names, kept
		// as they are for compatibility.
		if p.Metric == "keepalived_up" || p.Metric == "keepalived_gratuitous_arp_delay_total" {
			continue
		}
		t.Errorf("lint: %s: %s", p.Metric, p.Text)
	}

	rec := httptest.NewRecorder()
	h.MetricsHandler().ServeHTTP(rec, httptest.NewRequest("GET", "/elsewhere", nil))
	if rec.Code != 404 {
		t.Errorf("GET /elsewhere = %d, want 404", rec.Code)
	}
	rec = httptest.NewRecorder()
	h.MetricsHandler().ServeHTTP(rec, httptest.NewRequest("GET", "/metrics", nil))
	body, _ := io.ReadAll(rec.Body)
	for _, want := range []string{
		`keepalived_vrrp_state{iname="VI_1",intf="eth0",ip_address="10.77.0.100/24",vrid="51"} 2`,
		"go_goroutines",              // the runtime collector is registered
		"process_start_time_seconds", // and the process collector
	} {
		if !strings.Contains(string(body), want) {
			t.Errorf("/metrics lacks %q", want)
		}
	}
}

func TestServeMetricsOverTCP(t *testing.T) {
	ln, err := ListenMetrics("127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- Serve(ctx, ln, fixtureHub().MetricsHandler()) }()
	defer func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("Serve: %v", err)
		}
	}()
	resp, err := http.Get("http://" + ln.Addr().String() + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if !strings.Contains(string(body), `keepalived_become_master_total{iname="VI_1",intf="eth0",vrid="51"} 3`) {
		t.Fatalf("scrape lacks VI_1's become_master:\n%.500s", body)
	}
	// The port is taken now: a second listener says so.
	if ln2, err := ListenMetrics(ln.Addr().String()); err == nil {
		ln2.Close()
		t.Fatal("second listener on a taken port")
	}
}

// TestMetricsConfigReport checks the configuration gauges: absent before
// the daemon reports its configuration, then the counts of its report.
func TestMetricsConfigReport(t *testing.T) {
	h := fixtureHub()
	if n := testutil.CollectAndCount(collector{h}, "vigil_config_tolerated_errors", "vigil_config_warnings"); n != 0 {
		t.Fatalf("%d config series before a report, want 0", n)
	}
	h.SetConfigReport(ConfigReport{Tolerated: []string{"a", "b"}, Warnings: []string{"c"}})
	const want = `
# HELP vigil_config_tolerated_errors Errors in the running configuration that the daemon ran past, as keepalived does (unknown keywords); vigil -t rejects the file.
# TYPE vigil_config_tolerated_errors gauge
vigil_config_tolerated_errors 2
# HELP vigil_config_warnings Warnings the running configuration carried (keywords not acted on, interfaces missing here).
# TYPE vigil_config_warnings gauge
vigil_config_warnings 1
`
	if err := testutil.CollectAndCompare(collector{h}, strings.NewReader(want), "vigil_config_tolerated_errors", "vigil_config_warnings"); err != nil {
		t.Fatal(err)
	}
}
