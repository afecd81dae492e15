package lvs

import (
	"net/netip"
	"testing"
	"time"

	"vigil/internal/dataplane"
)

func TestGlobals(t *testing.T) {
	cfg := load(t, `global_defs {
 lvs_timeouts tcp 900 tcpfin 120 udp 300
 lvs_sync_daemon eth0 VI_1 maxlen 1472 port 8848 ttl 2 group 224.0.0.81
}
vrrp_instance VI_1 {
 interface eth0
 virtual_router_id 51
 priority 100
 virtual_ipaddress {
  10.0.0.1
 }
}
`)
	to, ok := TimeoutsOf(cfg)
	if want := (dataplane.Timeouts{TCP: 900 * time.Second, TCPFin: 120 * time.Second, UDP: 300 * time.Second}); !ok || to != want {
		t.Errorf("timeouts %+v %t, want %+v", to, ok, want)
	}
	sd, ok := SyncDaemonOf(cfg, dataplane.SyncBackup)
	want := dataplane.SyncDaemon{State: dataplane.SyncBackup, Interface: "eth0", SyncID: 51, MaxLen: 1472, Port: 8848, TTL: 2, Group: netip.MustParseAddr("224.0.0.81")}
	if !ok || sd != want {
		t.Errorf("sync daemon %+v %t, want %+v (sync id defaults to the instance's VRID)", sd, ok, want)
	}
	empty := load(t, "global_defs {\n router_id x\n}\n")
	if _, ok := TimeoutsOf(empty); ok {
		t.Error("timeouts without lvs_timeouts")
	}
	if _, ok := SyncDaemonOf(empty, dataplane.SyncMaster); ok {
		t.Error("sync daemon without lvs_sync_daemon")
	}
}
