package daemon

import (
	"errors"
	"fmt"
	"net/netip"

	"vigil/internal/config"
	"vigil/internal/vrrp"
)

// instanceConfig translates one vrrp_instance of the model into what the
// vrrp package runs. The parser has already folded global_defs defaults into
// the instance; what is left here is choosing the family and the source
// address, which depend on the host.
func instanceConfig(in *config.VRRPInstance, primary func(ifname string, family int, exclude ...netip.Addr) (netip.Addr, error)) (vrrp.InstanceConfig, error) {
	fam := 4
	if in.IPv6 {
		fam = 6
	}
	c := vrrp.InstanceConfig{
		Name:                 in.Name,
		Interface:            in.Interface,
		VRID:                 uint8(in.VRID),
		Version:              uint8(in.Version),
		Family:               fam,
		Priority:             uint8(in.Priority),
		AdvertInterval:       in.AdvertInt,
		StartAsMaster:        in.State == config.StateMaster,
		Preempt:              !in.NoPreempt,
		PreemptDelay:         in.PreemptDelay,
		LowerPrioNoAdvert:    in.LowerPrioNoAdvert,
		HigherPrioSendAdvert: in.HigherPrioSendAdvert,
		Unicast:              len(in.UnicastPeers) > 0,
		Group:                in.McastDstIP,
		GarpDelay:            in.Garp.MasterDelay,
		GarpRepeat:           in.Garp.MasterRepeat,
		GarpRefresh:          in.Garp.MasterRefresh,
		GarpRefreshRepeat:    in.Garp.MasterRefreshRepeat,
		GarpLowerPrioDelay:   in.Garp.LowerPrioDelay,
		GarpLowerPrioRepeat:  in.Garp.LowerPrioRepeat,
	}
	if in.Priority == 255 {
		// The address owner takes the master role at once whatever its
		// configured state, as keepalived 2.2.7 does.
		c.StartAsMaster = true
	}
	if in.Auth != nil && in.Version == 2 {
		switch in.Auth.Type {
		case config.AuthPass:
			c.AuthType = vrrp.AuthPass
			c.AuthPass = in.Auth.Pass
		case config.AuthAH:
			c.AuthType = vrrp.AuthAH
			c.AuthPass = in.Auth.Pass
		}
	}
	for _, p := range in.UnicastPeers {
		c.Peers = append(c.Peers, p.Address)
	}
	var errs []error
	for _, a := range in.VirtualAddresses {
		v, err := vipOf(a, in.Interface)
		errs = append(errs, err)
		c.VIPs = append(c.VIPs, v)
	}
	for _, a := range in.ExcludedAddresses {
		v, err := vipOf(a, in.Interface)
		errs = append(errs, err)
		c.ExcludedVIPs = append(c.ExcludedVIPs, v)
	}
	if err := errors.Join(errs...); err != nil {
		return c, err
	}
	// The source of our adverts: unicast_src_ip for unicast, mcast_src_ip
	// for multicast, else the interface's primary address, as keepalived.
	switch {
	case c.Unicast && in.UnicastSrcIP.IsValid():
		c.SrcAddr = in.UnicastSrcIP
	case in.McastSrcIP.IsValid():
		c.SrcAddr = in.McastSrcIP
	case in.UnicastSrcIP.IsValid():
		c.SrcAddr = in.UnicastSrcIP
	default:
		// Our own VIPs are never the primary address, even when a crashed
		// run left them on the interface.
		var vips []netip.Addr
		for _, v := range c.VIPs {
			vips = append(vips, v.Prefix.Addr())
		}
		a, err := primary(in.Interface, fam, vips...)
		if err != nil {
			return c, fmt.Errorf("vrrp_instance %s: no IPv%d address on %s to send adverts from: %w", in.Name, fam, in.Interface, err)
		}
		c.SrcAddr = a
	}
	if err := c.Validate(); err != nil {
		return c, err
	}
	return c, nil
}
