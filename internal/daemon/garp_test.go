package daemon

import (
	"maps"
	"slices"
	"testing"
	"time"

	"vigil/internal/host"
)

func TestGarpPacing(t *testing.T) {
	const ms = time.Millisecond
	d := func(garp, gna time.Duration) [2]time.Duration { return [2]time.Duration{garp, gna} }
	tests := []struct {
		name      string
		conf      string
		wantDef   [2]time.Duration
		wantPerIf map[string][2]time.Duration
	}{
		{"nothing set: no pacing", `global_defs {
    router_id r1
}`, d(0, 0), map[string][2]time.Duration{}},
		{"global_defs only", `global_defs {
    vrrp_garp_interval 0.1
    vrrp_gna_interval 0.000001
}`, d(100*ms, time.Microsecond), map[string][2]time.Duration{}},
		{"groups by interface and by interfaces", `global_defs {
    vrrp_garp_interval 0.01
}
garp_group {
    garp_interval 0.2
    interface eth1
}
garp_group {
    gna_interval 0.05
    interfaces {
        eth2
        eth3
    }
}`, d(10*ms, 0), map[string][2]time.Duration{
			"eth1": d(200*ms, 0), "eth2": d(0, 50*ms), "eth3": d(0, 50*ms),
		}},
		{"the first group naming an interface keeps it; a group without intervals does nothing", `garp_group {
    garp_interval 0.1
    interfaces {
        eth1
        eth2
    }
}
garp_group {
    garp_interval 0.3
    gna_interval 0.3
    interfaces {
        eth2
        eth4
    }
}
garp_group {
    garp_interval 0
    interface eth5
}`, d(0, 0), map[string][2]time.Duration{
			"eth1": d(100*ms, 0), "eth2": d(100*ms, 0), "eth4": d(300*ms, 300*ms),
		}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			def, perIf := garpPacing(load(t, tc.conf))
			if def != tc.wantDef {
				t.Errorf("default %v, want %v", def, tc.wantDef)
			}
			if !maps.Equal(perIf, tc.wantPerIf) {
				t.Errorf("per interface %v, want %v", perIf, tc.wantPerIf)
			}
		})
	}
}

func TestGarpGroupsShareOneTimer(t *testing.T) {
	cfg := load(t, `garp_group {
    garp_interval 0.1
    interfaces {
        eth1
        eth2
    }
}
garp_group {
    gna_interval 0.2
    interfaces {
        eth2
        eth3
    }
}`)
	got := garpGroups(cfg)
	if len(got) != 2 || !slices.Equal(got[0].Interfaces, []string{"eth1", "eth2"}) || !slices.Equal(got[1].Interfaces, []string{"eth3"}) ||
		got[0].GARP != 100*time.Millisecond || got[1].GNA != 200*time.Millisecond {
		t.Errorf("groups %+v", got)
	}
}

func TestApplyGarpPacing(t *testing.T) {
	const ms = time.Millisecond
	a := host.NewAnnouncer(nil)
	defer a.Close()
	applyGarpPacing(a, load(t, `global_defs {
    vrrp_garp_interval 0.05
}
garp_group {
    garp_interval 0.2
    gna_interval 0.1
    interfaces {
        eth1
        eth2
    }
}`))
	check := func(when, ifname string, members []string, garp, gna time.Duration) {
		t.Helper()
		got := a.PacingOf(ifname)
		if !slices.Equal(got.Interfaces, members) || got.GARP != garp || got.GNA != gna {
			t.Errorf("%s: %s paced %+v, want %v %v/%v", when, ifname, got, members, garp, gna)
		}
	}
	check("start", "eth1", []string{"eth1", "eth2"}, 200*ms, 100*ms)
	check("start", "eth2", []string{"eth1", "eth2"}, 200*ms, 100*ms)
	check("start", "eth0", []string{"eth0"}, 50*ms, 0)

	// A reload without the group and with another default.
	applyGarpPacing(a, load(t, `global_defs {
    vrrp_gna_interval 0.01
}`))
	check("reload", "eth1", []string{"eth1"}, 0, 10*ms)
	check("reload", "eth0", []string{"eth0"}, 0, 10*ms)

	// And back to none at all.
	applyGarpPacing(a, load(t, `global_defs {
    router_id r1
}`))
	check("second reload", "eth2", []string{"eth2"}, 0, 0)
}
