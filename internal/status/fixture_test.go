package status

import (
	"net/netip"
	"time"

	"vigil/internal/vrrp"
)

var (
	t0 = time.Date(2026, 3, 14, 15, 9, 26, 535897000, time.UTC)
)

// fixture returns two instances as the daemon would report them: VI_1 is
// the master of an IPv4 pair, VI_6 an IPv6 backup that has heard a master.
func fixture() []Instance {
	vi1 := Instance{
		Config: vrrp.InstanceConfig{
			Name: "VI_1", Interface: "eth0", VRID: 51, Version: 2, Family: 4, Priority: 150,
			AdvertInterval: time.Second, Preempt: true,
			AuthType: vrrp.AuthPass, AuthPass: "secret",
			VIPs: []vrrp.VIP{
				{Prefix: netip.MustParsePrefix("10.77.0.100/24")},
				{Prefix: netip.MustParsePrefix("10.77.0.101/32"), Dev: "eth1", Label: "eth1:1"},
			},
			ExcludedVIPs: []vrrp.VIP{{Prefix: netip.MustParsePrefix("fd00:77::100/64")}},
			SrcAddr:      netip.MustParseAddr("10.77.0.1"),
			Group:        vrrp.MulticastGroup4,
			GarpDelay:    5 * time.Second, GarpRepeat: 5, GarpRefreshRepeat: 1,
		},
		Snapshot: vrrp.Snapshot{
			Name: "VI_1", State: vrrp.StateMaster, BasePriority: 150, EffectivePriority: 140,
			LastTransition: t0, LastReason: "master down timer expired on eth0",
			Counters: vrrp.Counters{
				AdvertsRx: 7, AdvertsTx: 1234, PriorityZeroRx: 1, PriorityZeroTx: 2,
				BecomeMaster: 3, ReleaseMaster: 2, AddrListErrors: 4, SendErrors: 5,
				AddressErrors: 6, AnnounceErrors: 8,
			},
			Drops: map[vrrp.DropReason]uint64{
				vrrp.DropLength: 1, vrrp.DropAddrCount: 2, vrrp.DropTTL: 3, vrrp.DropAuth: 9,
				vrrp.DropInterval: 10, vrrp.DropType: 11, vrrp.DropAddrList: 4, // every address list error is one (see AddrListErrors)
			},
		},
		Trackers: []Tracker{{Kind: "script", Name: "chk_nginx", State: "BAD", Weight: -10}},
	}
	vi6 := Instance{
		Config: vrrp.InstanceConfig{
			Name: "VI_6", Interface: "eth0", VRID: 52, Version: 3, Family: 6, Priority: 100,
			AdvertInterval: 500 * time.Millisecond,
			VIPs:           []vrrp.VIP{{Prefix: netip.MustParsePrefix("fd00:77::200/64")}},
			Unicast:        true,
			Peers:          []netip.Addr{netip.MustParseAddr("fd00:77::2")},
			SrcAddr:        netip.MustParseAddr("fd00:77::1"),
		},
		Snapshot: vrrp.Snapshot{
			Name: "VI_6", State: vrrp.StateBackup, BasePriority: 100, EffectivePriority: 100,
			MasterAddr: netip.MustParseAddr("fd00:77::2"), MasterPriority: 200,
			Counters: vrrp.Counters{AdvertsRx: 99},
		},
	}
	// Out of order on purpose: the hub sorts by name.
	return []Instance{vi6, vi1}
}

func fixtureHub() *Hub {
	h := NewHub()
	h.now = func() time.Time { return t0.Add(time.Hour) }
	h.SetSource(fixture)
	return h
}
