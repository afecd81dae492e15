package daemon

import (
	"errors"
	"net/netip"
	"strings"
	"testing"
	"time"

	"vigil/internal/config"
	"vigil/internal/vrrp"
)

// load parses text as a keepalived.conf and fails the test on errors.
func load(t *testing.T, text string) *config.Config {
	t.Helper()
	cfg, diags := config.LoadBytes("test.conf", []byte(text), config.LoadOptions{})
	if diags.HasErrors() {
		t.Fatalf("config errors:\n%s", diags)
	}
	return cfg
}

func fakePrimary(ifname string, family int, exclude ...netip.Addr) (netip.Addr, error) {
	if ifname != "eth0" {
		return netip.Addr{}, errors.New("no such interface")
	}
	if family == 6 {
		return netip.MustParseAddr("fe80::1"), nil
	}
	return netip.MustParseAddr("10.1.0.1"), nil
}

func TestInstanceConfig(t *testing.T) {
	tests := []struct {
		name  string
		conf  string
		check func(t *testing.T, ic vrrp.InstanceConfig)
	}{
		{"defaults from keepalived", `vrrp_instance VI_1 {
	interface eth0
	virtual_router_id 51
	priority 100
	virtual_ipaddress {
		10.1.0.100/24 label eth0:1
	}
}`, func(t *testing.T, ic vrrp.InstanceConfig) {
			if ic.Version != 2 || ic.Family != 4 || ic.AdvertInterval != time.Second || !ic.Preempt || ic.StartAsMaster {
				t.Errorf("basic fields: %+v", ic)
			}
			if ic.SrcAddr != netip.MustParseAddr("10.1.0.1") {
				t.Errorf("source %v, want the interface's primary address", ic.SrcAddr)
			}
			if ic.GarpDelay != 5*time.Second || ic.GarpRepeat != 5 {
				t.Errorf("garp %v x%d, want keepalived's 5s x5", ic.GarpDelay, ic.GarpRepeat)
			}
			if len(ic.VIPs) != 1 || ic.VIPs[0].Label != "eth0:1" || ic.VIPs[0].Prefix != netip.MustParsePrefix("10.1.0.100/24") {
				t.Errorf("VIPs %+v", ic.VIPs)
			}
		}},
		{"owner without state starts master", `vrrp_instance VI_1 {
	interface eth0
	virtual_router_id 9
	priority 255
	virtual_ipaddress {
		10.1.0.100
	}
}`, func(t *testing.T, ic vrrp.InstanceConfig) {
			if !ic.StartAsMaster {
				t.Error("priority 255 without a state should start as master, as keepalived")
			}
		}},
		{"ipv6 v3 nodad", `vrrp_instance V6 {
	interface eth0
	virtual_router_id 9
	priority 100
	version 3
	advert_int 0.1
	virtual_ipaddress {
		fd00::100/64
	}
}`, func(t *testing.T, ic vrrp.InstanceConfig) {
			if ic.Family != 6 || ic.Version != 3 || ic.AdvertInterval != 100*time.Millisecond {
				t.Errorf("family %d version %d interval %v", ic.Family, ic.Version, ic.AdvertInterval)
			}
			if !ic.VIPs[0].NoDAD {
				t.Error("IPv6 VIPs are added without DAD, as keepalived does")
			}
			if ic.SrcAddr != netip.MustParseAddr("fe80::1") {
				t.Errorf("source %v, want the link-local primary", ic.SrcAddr)
			}
		}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			cfg := load(t, tc.conf)
			ic, err := instanceConfig(cfg.Instances[0], fakePrimary)
			if err != nil {
				t.Fatal(err)
			}
			tc.check(t, ic)
		})
	}
}

func TestInstanceConfigUnicastAndAuth(t *testing.T) {
	cfg := load(t, `vrrp_instance VI_1 {
	state MASTER
	interface eth0
	virtual_router_id 7
	priority 150
	advert_int 2
	unicast_src_ip 10.1.0.5
	unicast_peer {
		10.1.0.6
		10.1.0.7
	}
	authentication {
		auth_type PASS
		auth_pass s3cret
	}
	virtual_ipaddress {
		10.1.0.100/24
	}
}`)
	ic, err := instanceConfig(cfg.Instances[0], fakePrimary)
	if err != nil {
		t.Fatal(err)
	}
	if !ic.Unicast || len(ic.Peers) != 2 || ic.SrcAddr != netip.MustParseAddr("10.1.0.5") {
		t.Errorf("unicast %v peers %v src %v", ic.Unicast, ic.Peers, ic.SrcAddr)
	}
	if ic.AuthType != vrrp.AuthPass || ic.AuthPass != "s3cret" {
		t.Errorf("auth %v %q", ic.AuthType, ic.AuthPass)
	}
	if !ic.StartAsMaster || ic.AdvertInterval != 2*time.Second {
		t.Errorf("start master %v interval %v", ic.StartAsMaster, ic.AdvertInterval)
	}
}

func TestInstanceConfigNoSourceAddress(t *testing.T) {
	cfg := load(t, `vrrp_instance VI_1 {
	interface eth9
	virtual_router_id 7
	priority 100
	virtual_ipaddress {
		10.1.0.100/24
	}
}`)
	_, err := instanceConfig(cfg.Instances[0], fakePrimary)
	if err == nil || !strings.Contains(err.Error(), "eth9") || !strings.Contains(err.Error(), "VI_1") {
		t.Fatalf("err = %v, want one naming the instance and the interface", err)
	}
}

func TestSameButAddresses(t *testing.T) {
	a := vrrp.InstanceConfig{Name: "A", VRID: 1, Priority: 100, VIPs: []vrrp.VIP{{Prefix: netip.MustParsePrefix("10.0.0.1/32")}}}
	b := a
	b.VIPs = []vrrp.VIP{{Prefix: netip.MustParsePrefix("10.0.0.2/32")}}
	if !sameButAddresses(a, b) {
		t.Error("configs differing only in VIPs should match")
	}
	b.Priority = 101
	if sameButAddresses(a, b) {
		t.Error("a priority change is more than an address change")
	}
}
