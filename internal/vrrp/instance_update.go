package vrrp

import (
	"net/netip"
	"slices"
)

// vipUpdate replaces the instance's address lists; it is handled by the
// instance itself, on its loop, not by the Machine, because the protocol state does not
// change: only what a master holds and advertises does.
type vipUpdate struct {
	vips, excluded []VIP
	done           chan struct{}
}

func (vipUpdate) isEvent() {}

// UpdateVIPs replaces the virtual addresses of a running instance without a
// state transition (a reload that changed only virtual_ipaddress or
// virtual_ipaddress_excluded). A master removes the addresses that left the
// lists, adds and announces the new ones, and advertises the new list from
// its next advert on; a backup only records them. It returns when the
// instance has applied the change, or at once if it has stopped.
func (i *Instance) UpdateVIPs(vips, excluded []VIP) {
	u := vipUpdate{vips: slices.Clone(vips), excluded: slices.Clone(excluded), done: make(chan struct{})}
	i.send(u)
	select {
	case <-u.done:
	case <-i.done:
	}
}

// applyVIPs is UpdateVIPs on the instance's loop.
func (i *Instance) applyVIPs(u vipUpdate) {
	defer close(u.done)
	oldAll := slices.Concat(i.cfg.VIPs, i.cfg.ExcludedVIPs)
	newAll := slices.Concat(u.vips, u.excluded)
	master := i.m.State() == StateMaster
	if master {
		for _, v := range oldAll {
			if !slices.Contains(newAll, v) {
				if err := i.deps.Addresses.Remove(v); err != nil {
					i.counters.AddressErrors++
					i.log.Warn("cannot remove virtual address", "addr", v.Prefix, "dev", i.vipDev(v), "err", err)
				}
			}
		}
	}
	var added []VIP
	for _, v := range newAll {
		if !slices.Contains(oldAll, v) {
			added = append(added, v)
		}
	}
	i.cfg.VIPs, i.cfg.ExcludedVIPs = u.vips, u.excluded
	i.publishConfig()
	i.pubVIPsStale = true
	i.advAddrs = i.advAddrs[:0]
	i.good.valid = false // the address list check's answer may change
	for _, v := range i.cfg.VIPs {
		i.advAddrs = append(i.advAddrs, v.Prefix.Addr())
	}
	i.mismatch = false
	i.log.Info("virtual addresses updated", "vips", len(i.cfg.VIPs), "excluded", len(i.cfg.ExcludedVIPs), "added", len(added), "master", master)
	if !master {
		return
	}
	byDev := map[string][]netip.Addr{}
	var devs []string
	for _, v := range added {
		if err := i.deps.Addresses.Add(v); err != nil {
			i.counters.AddressErrors++
			i.log.Warn("cannot add virtual address", "addr", v.Prefix, "dev", i.vipDev(v), "err", err)
			continue
		}
		d := i.vipDev(v)
		if _, ok := byDev[d]; !ok {
			devs = append(devs, d)
		}
		byDev[d] = append(byDev[d], v.Prefix.Addr())
	}
	for _, d := range devs {
		if err := i.deps.Announcer.Announce(d, byDev[d]); err != nil {
			i.counters.AnnounceErrors++
			i.log.Warn("cannot announce virtual addresses", "dev", d, "err", err)
		}
	}
	// Tell the backups the new list at once rather than at the next tick,
	// so their address-list check does not log a spurious mismatch.
	_, eff := i.m.Priority()
	i.sendAdvert(eff)
}
