package lvs

import (
	"vigil/internal/config"
	"vigil/internal/dataplane"
)

// TimeoutsOf returns cfg's lvs_timeouts; ok is false when none is set, and
// the plane's timeouts are then left alone, as keepalived does.
func TimeoutsOf(cfg *config.Config) (t dataplane.Timeouts, ok bool) {
	lt := cfg.Global.LVSTimeouts
	if lt == nil || (lt.TCP == 0 && lt.TCPFin == 0 && lt.UDP == 0) {
		return t, false
	}
	return dataplane.Timeouts{TCP: lt.TCP, TCPFin: lt.TCPFin, UDP: lt.UDP}, true
}

// SyncDaemonOf returns cfg's lvs_sync_daemon in the given role; ok is false
// when none is configured. Which role runs when follows the VRRP state of the
// daemon's instance (master while MASTER, backup otherwise), which the
// caller drives.
func SyncDaemonOf(cfg *config.Config, state dataplane.SyncState) (d dataplane.SyncDaemon, ok bool) {
	sd := cfg.Global.LVSSyncDaemon
	if sd == nil {
		return d, false
	}
	d = dataplane.SyncDaemon{
		State:     state,
		Interface: sd.Interface,
		MaxLen:    uint16(sd.MaxLen),
		Port:      uint16(sd.Port),
		TTL:       uint8(sd.TTL),
	}
	if sd.SyncID != nil {
		d.SyncID = uint32(*sd.SyncID)
	} else {
		d.SyncID = defaultSyncID(cfg, sd.Instance)
	}
	if sd.Group.IsValid() {
		d.Group = sd.Group
	}
	return d, true
}

// defaultSyncID is keepalived's default sync id: the VRID of the instance
// named in lvs_sync_daemon.
func defaultSyncID(cfg *config.Config, instance string) uint32 {
	for _, in := range cfg.Instances {
		if in.Name == instance {
			return uint32(in.VRID)
		}
	}
	return 0
}
