package daemon

import (
	"fmt"
	"maps"
	"slices"
	"strings"
	"testing"
)

// planConf has an instance of every kind the reload planner must tell
// apart: a VMAC, virtual_rules with preference and fwmask, virtual_routes,
// tracking, a sync group, unicast peers, the address owner, plain, IPv6.
// Each case edits it by replacing one unique line.
const planConf = `
vrrp_script chk {
	script "/bin/true"
	interval 1
	weight -10
}
vrrp_instance VMAC {
	interface eth0
	virtual_router_id 1
	priority 100
	use_vmac
	virtual_ipaddress {
		10.1.0.101/24
	}
}
vrrp_instance RULES {
	interface eth0
	virtual_router_id 2
	priority 100
	virtual_ipaddress {
		10.1.0.102/24
	}
	virtual_rules {
		from 10.2.0.0/16 table 100 preference 100
		from all fwmark 1/0xff table 101 preference 101
	}
}
vrrp_instance ROUTES {
	interface eth0
	virtual_router_id 3
	priority 100
	virtual_ipaddress {
		10.1.0.103/24
	}
	virtual_routes {
		10.3.0.0/16 via 10.1.0.254 dev eth0
	}
}
vrrp_instance TRACKED {
	interface eth0
	virtual_router_id 4
	priority 100
	virtual_ipaddress {
		10.1.0.104/24
	}
	track_script {
		chk
	}
	track_interface {
		eth0
	}
}
vrrp_sync_group SG {
	group {
		G1
		G2
	}
}
vrrp_instance G1 {
	interface eth0
	virtual_router_id 5
	priority 100
	virtual_ipaddress {
		10.1.0.105/24
	}
}
vrrp_instance G2 {
	interface eth0
	virtual_router_id 6
	priority 100
	virtual_ipaddress {
		10.1.0.106/24
	}
}
vrrp_instance UNICAST {
	interface eth0
	virtual_router_id 7
	priority 100
	unicast_peer {
		10.1.0.2
	}
	virtual_ipaddress {
		10.1.0.107/24
	}
}
vrrp_instance OWNER {
	interface eth0
	virtual_router_id 8
	priority 255
	virtual_ipaddress {
		10.1.0.108/24
	}
}
vrrp_instance PLAIN {
	interface eth0
	virtual_router_id 9
	priority 100
	advert_int 1
	virtual_ipaddress {
		10.1.0.109/24
	}
}
vrrp_instance V6 {
	interface eth0
	virtual_router_id 10
	priority 100
	virtual_ipaddress {
		fd00::110/64
	}
}
`

// planInstanceNames are planConf's instances, in order.
var planInstanceNames = []string{"VMAC", "RULES", "ROUTES", "TRACKED", "G1", "G2", "UNICAST", "OWNER", "PLAIN", "V6"}

// edit replaces each old line of planConf (which must occur once) by its new
// text.
func edit(t *testing.T, pairs ...string) string {
	t.Helper()
	s := planConf
	for i := 0; i+1 < len(pairs); i += 2 {
		if n := strings.Count(s, pairs[i]); n != 1 {
			t.Fatalf("edit: %q occurs %d times", pairs[i], n)
		}
		s = strings.Replace(s, pairs[i], pairs[i+1], 1)
	}
	return s
}

// planFor loads both texts as separate models (so nothing is shared
// between them, pointers included) and plans the reload from one to the
// other.
func planFor(t *testing.T, oldText, newText string) reloadPlan {
	t.Helper()
	wanted := func(text string) []planInstance {
		cfg := load(t, text)
		icfgs, extras, err := translateWith(cfg, fakePrimary)
		if err != nil {
			t.Fatalf("translate: %v", err)
		}
		return planInstances(icfgs, extras, syncGroups(cfg))
	}
	running := map[instKey]planInstance{}
	var order []instKey
	for _, w := range wanted(oldText) {
		running[keyOf(w.Config)] = w
		order = append(order, keyOf(w.Config))
	}
	return planReload(running, order, wanted(newText))
}

// actions renders a plan as name → action, removed ones included.
func actions(p reloadPlan) map[string]string {
	out := map[string]string{}
	for _, st := range slices.Concat(p.Removed, p.Steps) {
		out[st.Config.Name] = st.Action.String()
	}
	return out
}

func TestPlanReload(t *testing.T) {
	tests := []struct {
		name    string
		newConf func(t *testing.T) string
		// want lists the instances that are not kept; every other one of
		// the new configuration must be planKeep.
		want map[string]string
	}{
		{"unchanged file plans nothing", func(t *testing.T) string { return planConf }, nil},
		{"only whitespace and a comment", func(t *testing.T) string {
			return strings.ReplaceAll(planConf, "\t", "    ") + "\n# a comment\n"
		}, nil},
		{"VMAC: address added", func(t *testing.T) string {
			return edit(t, "10.1.0.101/24", "10.1.0.101/24\n10.1.0.201/24")
		}, map[string]string{"VMAC": "addresses"}},
		{"VMAC: renamed", func(t *testing.T) string {
			return edit(t, "\tuse_vmac\n", "\tuse_vmac vrrp.one\n")
		}, map[string]string{"VMAC": "restart"}},
		{"rules: fwmask changed", func(t *testing.T) string {
			return edit(t, "fwmark 1/0xff", "fwmark 1/0xf0")
		}, map[string]string{"RULES": "restart"}},
		{"rules: preference changed", func(t *testing.T) string {
			return edit(t, "table 100 preference 100", "table 100 preference 99")
		}, map[string]string{"RULES": "restart"}},
		{"rules: priority changed, applied in place", func(t *testing.T) string {
			return edit(t, "virtual_router_id 2\n\tpriority 100", "virtual_router_id 2\n\tpriority 90")
		}, map[string]string{"RULES": "priority"}},
		{"routes: gateway changed", func(t *testing.T) string {
			return edit(t, "via 10.1.0.254", "via 10.1.0.253")
		}, map[string]string{"ROUTES": "restart"}},
		{"tracking: weight changed, the instance is kept (trackers restart alone)", func(t *testing.T) string {
			return edit(t, "weight -10", "weight -20")
		}, nil},
		{"sync group: one member restarted takes the group along", func(t *testing.T) string {
			return edit(t, "virtual_router_id 5\n\tpriority 100\n", "virtual_router_id 5\n\tpriority 100\n\tadvert_int 2\n")
		}, map[string]string{"G1": "restart", "G2": "restart"}},
		{"sync group: an address change stays in place", func(t *testing.T) string {
			return edit(t, "10.1.0.106/24", "10.1.0.206/24")
		}, map[string]string{"G2": "addresses"}},
		{"sync group: member left the group", func(t *testing.T) string {
			return edit(t, "\t\tG1\n\t\tG2\n", "\t\tG1\n")
		}, map[string]string{"G1": "restart", "G2": "restart"}},
		{"unicast: peer changed", func(t *testing.T) string {
			return edit(t, "\t\t10.1.0.2\n", "\t\t10.1.0.3\n")
		}, map[string]string{"UNICAST": "restart"}},
		{"address-only change", func(t *testing.T) string {
			return edit(t, "10.1.0.109/24", "10.1.0.209/24")
		}, map[string]string{"PLAIN": "addresses"}},
		{"priority change", func(t *testing.T) string {
			return edit(t, "virtual_router_id 9\n\tpriority 100", "virtual_router_id 9\n\tpriority 150")
		}, map[string]string{"PLAIN": "priority"}},
		{"priority and address change", func(t *testing.T) string {
			return edit(t, "virtual_router_id 9\n\tpriority 100", "virtual_router_id 9\n\tpriority 150", "10.1.0.109/24", "10.1.0.209/24")
		}, map[string]string{"PLAIN": "priority"}},
		{"advert_int change restarts", func(t *testing.T) string {
			return edit(t, "advert_int 1", "advert_int 2")
		}, map[string]string{"PLAIN": "restart"}},
		{"owner: from 255 restarts", func(t *testing.T) string {
			return edit(t, "priority 255", "priority 200")
		}, map[string]string{"OWNER": "restart"}},
		{"to 255 restarts", func(t *testing.T) string {
			return edit(t, "virtual_router_id 9\n\tpriority 100", "virtual_router_id 9\n\tpriority 255")
		}, map[string]string{"PLAIN": "restart"}},
		{"IPv6: address changed", func(t *testing.T) string {
			return edit(t, "fd00::110/64", "fd00::210/64")
		}, map[string]string{"V6": "addresses"}},
		{"instance removed and one added", func(t *testing.T) string {
			return edit(t, "vrrp_instance PLAIN {\n\tinterface eth0\n\tvirtual_router_id 9",
				"vrrp_instance NEW {\n\tinterface eth0\n\tvirtual_router_id 19")
		}, map[string]string{"PLAIN": "remove", "NEW": "add"}},
		{"instance moved to another VRID is a new one", func(t *testing.T) string {
			return edit(t, "virtual_router_id 9\n", "virtual_router_id 29\n")
		}, map[string]string{"PLAIN": "add"}}, // the removal of the old PLAIN is listed too, see below
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			p := planFor(t, planConf, tc.newConf(t))
			got := actions(p)
			want := map[string]string{}
			for _, st := range p.Steps {
				want[st.Config.Name] = "keep"
			}
			maps.Copy(want, tc.want)
			if tc.name == "instance moved to another VRID is a new one" {
				// The same name under a new key: removed, then added.
				if len(p.Removed) != 1 || p.Removed[0].Config.Name != "PLAIN" || p.Removed[0].Key.vrid != 9 {
					t.Errorf("removed %+v, want the old PLAIN", p.Removed)
				}
			}
			for name, w := range want {
				if got[name] != w {
					t.Errorf("%s: %s, want %s", name, got[name], w)
				}
			}
			if len(got) != len(want) {
				t.Errorf("plan %v, want %v", got, want)
			}
		})
	}
}

// TestPlanReloadSummary checks the counts and names a plan reports.
func TestPlanReloadSummary(t *testing.T) {
	s := planFor(t, planConf, planConf).summary()
	if s.Unchanged != len(planInstanceNames) || !slices.Equal(s.UnchangedNames, planInstanceNames) {
		t.Errorf("unchanged %d %v, want all of %v", s.Unchanged, s.UnchangedNames, planInstanceNames)
	}
	if s.AddressesChanged+s.PriorityChanged+s.Restarted+s.Added+s.Removed != 0 {
		t.Errorf("an unchanged file plans changes: %+v", s)
	}

	newConf := edit(t, "10.1.0.109/24", "10.1.0.209/24", "priority 255", "priority 200",
		"vrrp_instance V6 {\n\tinterface eth0\n\tvirtual_router_id 10", "vrrp_instance V6B {\n\tinterface eth0\n\tvirtual_router_id 11",
		"virtual_router_id 4\n\tpriority 100", "virtual_router_id 4\n\tpriority 101")
	s = planFor(t, planConf, newConf).summary()
	got := fmt.Sprint(s.AddressesChangedNames, s.PriorityChangedNames, s.RestartedNames, s.AddedNames, s.RemovedNames)
	if want := "[PLAIN] [TRACKED] [OWNER] [V6B] [V6]"; got != want {
		t.Errorf("names by category %s, want %s", got, want)
	}
	if s.Unchanged != len(planInstanceNames)-4 || s.AddressesChanged != 1 || s.PriorityChanged != 1 || s.Restarted != 1 || s.Added != 1 || s.Removed != 1 {
		t.Errorf("counts %+v", s)
	}
}
