package daemon

import (
	"time"

	"vigil/internal/config"
	"vigil/internal/host"
)

// Pacing of gratuitous ARPs and unsolicited NAs: global_defs'
// vrrp_garp_interval / vrrp_gna_interval for every interface, and
// garp_group blocks for the interfaces they name. keepalived keeps one
// timer per interface (or per group, shared by its interfaces), across all
// instances; the host Announcer does the same.

// garpGroups returns the garp_group blocks as the Announcer's pacing
// groups, as keepalived applies them: an interface named by an earlier
// group stays there, and a group that sets no interval has no effect, so
// its interfaces follow global_defs.
func garpGroups(cfg *config.Config) []host.PacingGroup {
	var out []host.PacingGroup
	taken := map[string]bool{}
	for _, gg := range cfg.GarpGroups {
		if gg.GarpInterval <= 0 && gg.GnaInterval <= 0 {
			continue
		}
		names := gg.Interfaces
		if gg.Interface != "" {
			names = append([]string{gg.Interface}, names...)
		}
		var members []string
		for _, n := range names {
			if n != "" && !taken[n] {
				taken[n] = true
				members = append(members, n)
			}
		}
		if len(members) > 0 {
			out = append(out, host.PacingGroup{Interfaces: members, GARP: gg.GarpInterval, GNA: gg.GnaInterval})
		}
	}
	return out
}

// garpPacing returns the default intervals ([0] gratuitous ARP, [1]
// unsolicited NA) and the intervals of every interface a garp_group names.
// Interfaces of one group share a single timer; garpGroups keeps that
// grouping, this per-interface view is for reports and tests.
func garpPacing(cfg *config.Config) (def [2]time.Duration, perIf map[string][2]time.Duration) {
	def = [2]time.Duration{cfg.Global.VRRPGarpInterval, cfg.Global.VRRPGnaInterval}
	perIf = map[string][2]time.Duration{}
	for _, g := range garpGroups(cfg) {
		for _, n := range g.Interfaces {
			perIf[n] = [2]time.Duration{g.GARP, g.GNA}
		}
	}
	return def, perIf
}

// applyGarpPacing sets a's pacing from cfg, replacing what an earlier
// configuration set. Groups that did not change keep their queues, so a
// reload does not reset the spacing of announcements in flight.
func applyGarpPacing(a *host.Announcer, cfg *config.Config) {
	if a == nil || cfg == nil {
		return
	}
	def, _ := garpPacing(cfg)
	a.ConfigurePacing(def[0], def[1], garpGroups(cfg))
}
